"""Object versions from Weir's history, through tools that know nothing about Weir: boto3's
version listing and paginator, and ``aws s3api list-object-versions`` / ``get-object
--version-id``. Commits are made with the admin API (S3 has no verb for them)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.functional.conftest import WeirServer
from tests.functional.test_s3_branches import commit, create_branch


@pytest.fixture
def history(weir_server: WeirServer, s3: Any, bucket: str) -> dict[str, str]:
    """main/doc.txt: v1 (c1), v2 (c2), deleted (c3), v4 staged; main/other.txt: c1."""
    s3.put_object(Bucket=bucket, Key="main/doc.txt", Body=b"v1")
    s3.put_object(Bucket=bucket, Key="main/other.txt", Body=b"other")
    c1 = commit(weir_server, bucket, "main", "one")
    s3.put_object(Bucket=bucket, Key="main/doc.txt", Body=b"v2")
    c2 = commit(weir_server, bucket, "main", "two")
    s3.delete_object(Bucket=bucket, Key="main/doc.txt")
    c3 = commit(weir_server, bucket, "main", "three")
    s3.put_object(Bucket=bucket, Key="main/doc.txt", Body=b"v4")
    return {"c1": c1, "c2": c2, "c3": c3}


def test_boto3_lists_versions_from_history(s3: Any, bucket: str, history: dict[str, str]) -> None:
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    listed = s3.list_object_versions(Bucket=bucket, Prefix="main/")
    rows = [(v["Key"], v["VersionId"], v["IsLatest"]) for v in listed["Versions"]]
    assert rows == [
        ("main/doc.txt", "null", True),  # the uncommitted state of the branch
        ("main/doc.txt", history["c2"], False),
        ("main/doc.txt", history["c1"], False),
        ("main/other.txt", history["c1"], True),
    ]
    markers = [(m["Key"], m["VersionId"], m["IsLatest"]) for m in listed["DeleteMarkers"]]
    assert markers == [("main/doc.txt", history["c3"], False)]
    old = s3.get_object(Bucket=bucket, Key="main/doc.txt", VersionId=history["c1"])
    assert old["Body"].read() == b"v1" and old["VersionId"] == history["c1"]
    head = s3.head_object(Bucket=bucket, Key="main/doc.txt", VersionId=history["c2"])
    assert head["ContentLength"] == 2
    assert s3.get_object(Bucket=bucket, Key="main/doc.txt")["Body"].read() == b"v4"


def test_boto3_paginator_visits_every_version_once(
    s3: Any, bucket: str, history: dict[str, str]
) -> None:
    paginator = s3.get_paginator("list_object_versions")
    seen: list[tuple[str, str]] = []
    for page in paginator.paginate(Bucket=bucket, Prefix="main/", PaginationConfig={"PageSize": 1}):
        rows = page.get("Versions", []) + page.get("DeleteMarkers", [])
        seen.extend((v["Key"], v["VersionId"]) for v in rows)
    assert sorted(seen) == sorted(
        [
            ("main/doc.txt", "null"),
            ("main/doc.txt", history["c3"]),
            ("main/doc.txt", history["c2"]),
            ("main/doc.txt", history["c1"]),
            ("main/other.txt", history["c1"]),
        ]
    )


def test_delete_marker_and_foreign_version_reads(
    weir_server: WeirServer, s3: Any, bucket: str, history: dict[str, str]
) -> None:
    with pytest.raises(ClientError) as deleted:
        s3.get_object(Bucket=bucket, Key="main/doc.txt", VersionId=history["c3"])
    response = deleted.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 405
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"
    create_branch(weir_server, bucket, "side", "main")
    s3.put_object(Bucket=bucket, Key="side/other.txt", Body=b"side")
    side = commit(weir_server, bucket, "side", "side change")
    with pytest.raises(ClientError) as foreign:  # a version of another branch's history
        s3.get_object(Bucket=bucket, Key="main/other.txt", VersionId=side)
    assert foreign.value.response["Error"]["Code"] == "NoSuchVersion"
    got = s3.get_object(Bucket=bucket, Key="side/other.txt", VersionId=side)
    assert got["Body"].read() == b"side"


def test_history_is_immutable_through_s3(s3: Any, bucket: str, history: dict[str, str]) -> None:
    with pytest.raises(ClientError) as refused:
        s3.delete_object(Bucket=bucket, Key="main/doc.txt", VersionId=history["c1"])
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    result = s3.delete_objects(
        Bucket=bucket,
        Delete={"Objects": [{"Key": "main/other.txt", "VersionId": history["c1"]}]},
    )
    assert [e["Code"] for e in result["Errors"]] == ["AccessDenied"]
    with pytest.raises(ClientError) as suspended:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert suspended.value.response["Error"]["Code"] == "InvalidBucketState"
    assert s3.get_object(Bucket=bucket, Key="main/other.txt")["Body"].read() == b"other"


def test_tags_are_versions_too(
    weir_server: WeirServer, s3: Any, bucket: str, history: dict[str, str]
) -> None:
    s3.put_object_tagging(
        Bucket=bucket, Key="main/other.txt", Tagging={"TagSet": [{"Key": "pii", "Value": "no"}]}
    )
    tagged = commit(weir_server, bucket, "main", "tag it")
    versions = s3.list_object_versions(Bucket=bucket, Prefix="main/other.txt")["Versions"]
    assert [v["VersionId"] for v in versions] == [tagged, history["c1"]]
    old = s3.get_object_tagging(Bucket=bucket, Key="main/other.txt", VersionId=history["c1"])
    assert old["TagSet"] == []
    new = s3.get_object_tagging(Bucket=bucket, Key="main/other.txt", VersionId=tagged)
    assert new["TagSet"] == [{"Key": "pii", "Value": "no"}]


def aws_s3api(server: WeirServer, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "awscli", "--endpoint-url", server.endpoint, "s3api", *args],
        env=server.aws_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_aws_cli_lists_versions_and_reads_one(
    weir_server: WeirServer, bucket: str, history: dict[str, str], tmp_path: Path
) -> None:
    out = json.loads(
        aws_s3api(weir_server, "list-object-versions", "--bucket", bucket, "--prefix", "main/doc")
    )
    assert [v["VersionId"] for v in out["Versions"]] == ["null", history["c2"], history["c1"]]
    assert [m["VersionId"] for m in out["DeleteMarkers"]] == [history["c3"]]
    target = tmp_path / "v1.txt"
    meta = json.loads(
        aws_s3api(
            weir_server,
            "get-object",
            "--bucket",
            bucket,
            "--key",
            "main/doc.txt",
            "--version-id",
            history["c1"],
            str(target),
        )
    )
    assert meta["VersionId"] == history["c1"]
    assert target.read_bytes() == b"v1"
