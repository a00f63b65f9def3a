"""The versioning API on a versioning-enabled bucket: the parts every server shares.

PutBucketVersioning ``Enabled`` then GetBucketVersioning reports it; ListObjectVersions lists
each key's current version (``IsLatest``, ETag, size, a ``VersionId``), paged with
``key-marker``/``version-id-marker`` and URL-encoded on request; GetObject/HeadObject with that
``VersionId`` read it and echo ``x-amz-version-id``; a malformed version id is 400
``InvalidArgument`` (AWS API reference, ListObjectVersions, GetObject ``versionId``).

How versions come to be differs by server (AWS: every write; Weir: every commit of the branch,
plus the uncommitted state as version ``null``), so the history of several versions is tested
for Weir in ``tests/functional/test_s3_versions.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_plus

import pytest

from conformance.expect import client_error, raw_error, raw_ok
from conformance.rawhttp import RawClient, object_path

DATA = {"a": b"first key\n", "b b": b"second key\n"}


@pytest.fixture
def versioned(s3: Any, scratch_bucket: str, key_prefix: str) -> Iterator[str]:
    s3.create_bucket(Bucket=scratch_bucket)
    s3.put_bucket_versioning(Bucket=scratch_bucket, VersioningConfiguration={"Status": "Enabled"})
    for name, body in DATA.items():
        s3.put_object(Bucket=scratch_bucket, Key=key_prefix + name, Body=body)
    yield scratch_bucket


def test_get_bucket_versioning_after_enabling(s3: Any, versioned: str) -> None:
    assert s3.get_bucket_versioning(Bucket=versioned)["Status"] == "Enabled"


def test_list_object_versions_shows_current_versions(
    s3: Any, versioned: str, key_prefix: str
) -> None:
    listed = s3.list_object_versions(Bucket=versioned, Prefix=key_prefix)
    versions = listed["Versions"]
    assert [v["Key"] for v in versions] == [key_prefix + n for n in sorted(DATA)]
    for v in versions:
        assert v["IsLatest"] is True
        assert v["VersionId"]
        assert v["Size"] == len(DATA[v["Key"][len(key_prefix) :]])
        head = s3.head_object(Bucket=versioned, Key=v["Key"])
        assert v["ETag"] == head["ETag"]
    assert "DeleteMarkers" not in listed
    assert listed["IsTruncated"] is False


def test_get_and_head_with_version_id(s3: Any, versioned: str, key_prefix: str) -> None:
    listed = s3.list_object_versions(Bucket=versioned, Prefix=key_prefix + "a")
    version = listed["Versions"][0]["VersionId"]
    got = s3.get_object(Bucket=versioned, Key=key_prefix + "a", VersionId=version)
    assert got["Body"].read() == DATA["a"]
    assert got["VersionId"] == version
    head = s3.head_object(Bucket=versioned, Key=key_prefix + "a", VersionId=version)
    assert head["VersionId"] == version


def test_list_object_versions_pages_with_markers(s3: Any, versioned: str, key_prefix: str) -> None:
    first = s3.list_object_versions(Bucket=versioned, Prefix=key_prefix, MaxKeys=1)
    assert first["IsTruncated"] is True
    assert [v["Key"] for v in first["Versions"]] == [key_prefix + "a"]
    assert first["NextKeyMarker"] == key_prefix + "a"
    second = s3.list_object_versions(
        Bucket=versioned,
        Prefix=key_prefix,
        MaxKeys=1,
        KeyMarker=first["NextKeyMarker"],
        VersionIdMarker=first["NextVersionIdMarker"],
    )
    assert [v["Key"] for v in second["Versions"]] == [key_prefix + "b b"]
    assert second["IsTruncated"] is False


def test_list_object_versions_with_delimiter(s3: Any, versioned: str, key_prefix: str) -> None:
    s3.put_object(Bucket=versioned, Key=key_prefix + "dir/x", Body=b"x")
    listed = s3.list_object_versions(Bucket=versioned, Prefix=key_prefix, Delimiter="/")
    assert [p["Prefix"] for p in listed["CommonPrefixes"]] == [key_prefix + "dir/"]
    assert [v["Key"] for v in listed["Versions"]] == [key_prefix + n for n in sorted(DATA)]


def test_list_object_versions_url_encoding(raw: RawClient, versioned: str, key_prefix: str) -> None:
    query = [("versions", ""), ("prefix", key_prefix + "b "), ("encoding-type", "url")]
    resp = raw.request("GET", object_path(versioned), query=query)
    raw_ok(resp)
    root = resp.xml()
    assert root.findtext("EncodingType") == "url"
    keys = [v.findtext("Key") or "" for v in root.findall("Version")]
    assert [unquote_plus(k) for k in keys] == [key_prefix + "b b"]
    assert " " not in keys[0]
    assert unquote_plus(root.findtext("Prefix") or "") == key_prefix + "b "


def test_get_with_malformed_version_id_is_invalid_argument(
    s3: Any, versioned: str, key_prefix: str
) -> None:
    with client_error(400, "InvalidArgument"):
        s3.get_object(Bucket=versioned, Key=key_prefix + "a", VersionId="not a version!")


def test_list_object_versions_missing_bucket_is_no_such_bucket(
    raw: RawClient, scratch_bucket: str
) -> None:
    resp = raw.request("GET", object_path(scratch_bucket), query=[("versions", "")])
    raw_error(resp, 404, "NoSuchBucket")
