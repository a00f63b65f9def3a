"""Branch semantics through S3: keys are ``<ref>/<path>``; writes go to branches, reads any ref.

Branches, commits and tags are made with the admin API (lakeFS shapes, HTTP Basic), since S3
has no verb for them; everything else is plain boto3.
"""

from __future__ import annotations

import base64
import http.client
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.functional.conftest import WeirServer


def admin(server: WeirServer, method: str, path: str, body: object, expected: int) -> Any:
    credentials = f"{server.access_key}:{server.secret_key}".encode()
    headers = {
        "Authorization": "Basic " + base64.b64encode(credentials).decode(),
        "Content-Type": "application/json",
    }
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        conn.request(method, "/api/v1" + path, body=json.dumps(body), headers=headers)
        response = conn.getresponse()
        data = response.read()
        assert response.status == expected, data
        if response.getheader("Content-Type", "").startswith("application/json"):
            return json.loads(data)
        return data.decode()
    finally:
        conn.close()


def create_branch(server: WeirServer, repo: str, name: str, source: str) -> None:
    admin(server, "POST", f"/repositories/{repo}/branches", {"name": name, "source": source}, 201)


def commit(server: WeirServer, repo: str, branch: str, message: str) -> str:
    made = admin(
        server, "POST", f"/repositories/{repo}/branches/{branch}/commits", {"message": message}, 201
    )
    return str(made["id"])


def read(s3: Any, bucket: str, key: str) -> bytes | None:
    try:
        return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "NoSuchKey", exc.response
        return None


def test_branch_isolation_and_ref_reads(weir_server: WeirServer, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="main/data/a.txt", Body=b"v1")
    first = commit(weir_server, bucket, "main", "first")
    create_branch(weir_server, bucket, "dev", "main")
    s3.put_object(Bucket=bucket, Key="dev/data/a.txt", Body=b"v2 on dev")
    s3.put_object(Bucket=bucket, Key="dev/data/new.txt", Body=b"only on dev")

    assert read(s3, bucket, "main/data/a.txt") == b"v1"
    assert read(s3, bucket, "dev/data/a.txt") == b"v2 on dev"
    assert read(s3, bucket, "main/data/new.txt") is None

    # Staged on main, invisible to the committed view and to the commit id.
    s3.put_object(Bucket=bucket, Key="main/data/a.txt", Body=b"v3 staged")
    assert read(s3, bucket, "main/data/a.txt") == b"v3 staged"
    assert read(s3, bucket, "main@/data/a.txt") == b"v1"
    assert read(s3, bucket, f"{first}/data/a.txt") == b"v1"
    assert read(s3, bucket, f"{first[:12]}/data/a.txt") == b"v1"
    commit(weir_server, bucket, "main", "second")
    assert read(s3, bucket, "main~1/data/a.txt") == b"v1"
    assert read(s3, bucket, "main/data/a.txt") == b"v3 staged"

    admin(weir_server, "POST", f"/repositories/{bucket}/tags", {"id": "v1.0", "ref": first}, 201)
    assert read(s3, bucket, "v1.0/data/a.txt") == b"v1"
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="v1.0/")
    assert [o["Key"] for o in listed["Contents"]] == ["v1.0/data/a.txt"]
    for key in ("v1.0/data/x", f"{first}/data/x", "main~1/data/x"):
        with pytest.raises(ClientError) as info:
            s3.put_object(Bucket=bucket, Key=key, Body=b"x")
        assert info.value.response["Error"]["Code"] == "AccessDenied", key
    with pytest.raises(ClientError) as info:
        s3.delete_object(Bucket=bucket, Key="v1.0/data/a.txt")
    assert info.value.response["Error"]["Code"] == "AccessDenied"

    # DeleteObjects reports refusals per key and still deletes the rest.
    batch = s3.delete_objects(
        Bucket=bucket,
        Delete={
            "Objects": [{"Key": "v1.0/data/a.txt"}, {"Key": "dev/data/new.txt"}],
            "Quiet": True,
        },
    )
    assert [(e["Key"], e["Code"]) for e in batch["Errors"]] == [("v1.0/data/a.txt", "AccessDenied")]
    assert "Deleted" not in batch
    assert read(s3, bucket, "dev/data/new.txt") is None
    s3.put_object(Bucket=bucket, Key="dev/data/new.txt", Body=b"only on dev")

    # Zero-copy across branches, and from a tag.
    s3.copy_object(Bucket=bucket, Key="main/data/from-dev", CopySource=f"{bucket}/dev/data/new.txt")
    s3.copy_object(Bucket=bucket, Key="dev/data/from-tag", CopySource=f"{bucket}/v1.0/data/a.txt")
    assert read(s3, bucket, "main/data/from-dev") == b"only on dev"
    assert read(s3, bucket, "dev/data/from-tag") == b"v1"


def test_root_listing_spans_branches(weir_server: WeirServer, s3: Any, bucket: str) -> None:
    # "a-b/..." sorts before "a/..." ('-' < '/'): the listing follows key order, not name order.
    s3.put_object(Bucket=bucket, Key="main/m1", Body=b"1")
    commit(weir_server, bucket, "main", "seed")
    create_branch(weir_server, bucket, "a", "main")
    create_branch(weir_server, bucket, "a-b", "main")
    create_branch(weir_server, bucket, "empty", "main")
    s3.put_object(Bucket=bucket, Key="a/x", Body=b"1")
    s3.put_object(Bucket=bucket, Key="a-b/y", Body=b"1")
    s3.delete_object(Bucket=bucket, Key="empty/m1")

    root = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in root["CommonPrefixes"]] == ["a-b/", "a/", "empty/", "main/"]
    filtered = s3.list_objects_v2(Bucket=bucket, Delimiter="/", Prefix="a")
    assert [p["Prefix"] for p in filtered["CommonPrefixes"]] == ["a-b/", "a/"]
    paged: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 1}
    ):
        paged.extend(p["Prefix"] for p in page.get("CommonPrefixes", []))
    assert paged == ["a-b/", "a/", "empty/", "main/"]

    expected = ["a-b/m1", "a-b/y", "a/m1", "a/x", "main/m1"]
    for page_size in (1, 2, 3, 1000):
        keys = [
            o["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, PaginationConfig={"PageSize": page_size}
            )
            for o in page.get("Contents", [])
        ]
        assert keys == expected, page_size
    v1 = [
        o["Key"]
        for page in s3.get_paginator("list_objects").paginate(
            Bucket=bucket, PaginationConfig={"PageSize": 2}
        )
        for o in page.get("Contents", [])
    ]
    assert v1 == expected

    # Objects only on a non-default branch still keep the bucket from being deleted.
    with pytest.raises(ClientError) as info:
        s3.delete_bucket(Bucket=bucket)
    assert info.value.response["Error"]["Code"] == "BucketNotEmpty"


def test_branch_scoped_reader_sees_only_its_branch(
    weir_server: WeirServer, s3: Any, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="main/secret", Body=b"main only")
    commit(weir_server, bucket, "main", "seed")
    create_branch(weir_server, bucket, "dev", "main")
    s3.put_object(Bucket=bucket, Key="dev/mine", Body=b"dev")
    user = f"reader-{bucket}"
    admin(weir_server, "POST", "/auth/users", {"id": user}, 201)
    creds = admin(weir_server, "POST", f"/auth/users/{user}/credentials", {}, 201)
    grant = {"repository": bucket, "branch": "dev", "action": "read"}
    admin(weir_server, "POST", f"/auth/users/{user}/grants", grant, 201)
    reader = WeirServer(
        weir_server.host,
        weir_server.port,
        creds["access_key_id"],
        creds["secret_access_key"],
        weir_server.pid,
        weir_server.data_dir,
        weir_server.log_path,
    ).boto3_client()
    keys = [o["Key"] for o in reader.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["dev/mine", "dev/secret"]
    assert reader.get_object(Bucket=bucket, Key="dev/mine")["Body"].read() == b"dev"
    denied: list[tuple[str, dict[str, Any]]] = [
        ("get_object", {"Key": "main/secret"}),
        ("list_objects_v2", {"Prefix": "main/"}),
        ("put_object", {"Key": "dev/x", "Body": b"x"}),
    ]
    for operation, kwargs in denied:
        with pytest.raises(ClientError) as info:
            getattr(reader, operation)(Bucket=bucket, **kwargs)
        assert info.value.response["Error"]["Code"] == "AccessDenied", operation
    assert [b["Name"] for b in reader.list_buckets()["Buckets"]] == [bucket]
