"""boto3 against a real Weir server: objects, metadata, ranges, conditions, copy, listing."""

from __future__ import annotations

import hashlib
import io
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote_plus

import pytest
from boto3.s3.transfer import TransferConfig  # type: ignore[import-untyped]
from botocore.exceptions import ClientError

from tests.functional.conftest import WeirServer


def error_code(exc: ClientError) -> str:
    return str(exc.response["Error"]["Code"])


def status(exc: ClientError) -> int:
    return int(exc.response["ResponseMetadata"]["HTTPStatusCode"])


def test_bucket_lifecycle(s3: Any) -> None:
    name = "life-" + datetime.now(UTC).strftime("%H%M%S%f")
    s3.create_bucket(Bucket=name, ACL="private")
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.get_bucket_location(Bucket=name).get("LocationConstraint") is None
    s3.put_object(Bucket=name, Key="main/x", Body=b"x")
    with pytest.raises(ClientError) as info:
        s3.delete_bucket(Bucket=name)
    assert error_code(info.value) == "BucketNotEmpty"
    s3.delete_object(Bucket=name, Key="main/x")
    s3.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as info:
        s3.head_bucket(Bucket=name)
    assert status(info.value) == 404


def test_create_bucket_with_configuration(s3: Any) -> None:
    name = "cfg-" + datetime.now(UTC).strftime("%H%M%S%f")
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "us-east-1"})
    s3.head_bucket(Bucket=name)
    with pytest.raises(ClientError) as info:
        s3.create_bucket(Bucket=name)
    assert error_code(info.value) == "BucketAlreadyOwnedByYou"


def test_put_get_head_roundtrip(s3: Any, bucket: str) -> None:
    body = b"hello weir" * 1000
    put = s3.put_object(
        Bucket=bucket,
        Key="main/dir/obj.bin",
        Body=body,
        ContentType="text/plain",
        Metadata={"Color": "blue", "x": "1"},
        ACL="private",
    )
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="main/dir/obj.bin")
    assert got["Body"].read() == body
    assert got["ContentType"] == "text/plain"
    assert got["Metadata"] == {"color": "blue", "x": "1"}
    assert got["ETag"] == put["ETag"]
    assert got["AcceptRanges"] == "bytes"
    head = s3.head_object(Bucket=bucket, Key="main/dir/obj.bin")
    assert head["ContentLength"] == len(body)
    assert head["Metadata"] == {"color": "blue", "x": "1"}
    assert abs(head["LastModified"] - datetime.now(UTC)) < timedelta(minutes=5)
    empty = s3.put_object(Bucket=bucket, Key="main/empty", Body=b"")
    assert empty["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    assert s3.get_object(Bucket=bucket, Key="main/empty")["Body"].read() == b""


def test_large_object_streams_back(s3: Any, bucket: str) -> None:
    body = bytes(range(256)) * 8192  # 2 MiB: past the small-object path, served by sendfile
    s3.put_object(Bucket=bucket, Key="main/big", Body=body)
    assert s3.get_object(Bucket=bucket, Key="main/big")["Body"].read() == body
    part = s3.get_object(Bucket=bucket, Key="main/big", Range="bytes=100000-1500000")
    assert part["Body"].read() == body[100000:1500001]
    assert part["ContentRange"] == f"bytes 100000-1500000/{len(body)}"


def test_ranges(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="main/r", Body=b"0123456789")
    r = s3.get_object(Bucket=bucket, Key="main/r", Range="bytes=2-4")
    assert (r["Body"].read(), r["ContentRange"]) == (b"234", "bytes 2-4/10")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert s3.get_object(Bucket=bucket, Key="main/r", Range="bytes=7-")["Body"].read() == b"789"
    assert s3.get_object(Bucket=bucket, Key="main/r", Range="bytes=-3")["Body"].read() == b"789"
    assert s3.get_object(Bucket=bucket, Key="main/r", Range="bytes=8-100")["Body"].read() == b"89"
    whole = s3.get_object(Bucket=bucket, Key="main/r", Range="bytes=0-1,4-5")
    assert whole["ResponseMetadata"]["HTTPStatusCode"] == 200
    with pytest.raises(ClientError) as info:
        s3.get_object(Bucket=bucket, Key="main/r", Range="bytes=10-")
    assert (error_code(info.value), status(info.value)) == ("InvalidRange", 416)
    headers = info.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["content-range"] == "bytes */10"


def test_conditional_reads(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="main/c", Body=b"abc")["ETag"]
    modified = s3.head_object(Bucket=bucket, Key="main/c")["LastModified"]
    before, after = modified - timedelta(hours=1), modified  # HTTP dates: whole seconds
    assert s3.get_object(Bucket=bucket, Key="main/c", IfMatch=etag)["Body"].read() == b"abc"
    cases: list[tuple[dict[str, Any], int]] = [
        ({"IfMatch": '"nope"'}, 412),
        ({"IfNoneMatch": etag}, 304),
        ({"IfModifiedSince": after}, 304),
        ({"IfUnmodifiedSince": before}, 412),
        # RFC 7232 precedence: If-Match true wins over If-Unmodified-Since false ...
        ({"IfMatch": etag, "IfUnmodifiedSince": before}, 200),
        # ... and If-None-Match false decides alone, ignoring If-Modified-Since.
        ({"IfNoneMatch": '"other"', "IfModifiedSince": after}, 200),
        ({"IfNoneMatch": etag, "IfModifiedSince": before}, 304),
        ({"IfModifiedSince": before}, 200),
    ]
    for kwargs, expected in cases:
        if expected == 200:
            got = s3.get_object(Bucket=bucket, Key="main/c", **kwargs)
            assert got["ResponseMetadata"]["HTTPStatusCode"] == 200, kwargs
            continue
        with pytest.raises(ClientError) as info:
            s3.get_object(Bucket=bucket, Key="main/c", **kwargs)
        assert status(info.value) == expected, kwargs
        with pytest.raises(ClientError) as info:
            s3.head_object(Bucket=bucket, Key="main/c", **kwargs)
        assert status(info.value) == expected, kwargs


def test_standard_headers_round_trip(s3: Any, bucket: str) -> None:
    s3.put_object(
        Bucket=bucket,
        Key="main/h",
        Body=b"<html/>",
        CacheControl="max-age=60",
        ContentDisposition='inline; filename="h.html"',
        ContentEncoding="identity",
        ContentLanguage="en",
        Expires=datetime(2033, 12, 1, 16, 0, tzinfo=UTC),
        Metadata={"k": "v"},
    )
    for got in (
        s3.head_object(Bucket=bucket, Key="main/h"),
        s3.get_object(Bucket=bucket, Key="main/h", ResponseCacheControl="no-store"),
    ):
        assert got["ContentDisposition"] == 'inline; filename="h.html"'
        assert (got["ContentEncoding"], got["ContentLanguage"]) == ("identity", "en")
        assert got["Metadata"] == {"k": "v"}
        assert got["ResponseMetadata"]["HTTPHeaders"]["expires"] == "Thu, 01 Dec 2033 16:00:00 GMT"
    assert s3.head_object(Bucket=bucket, Key="main/h")["CacheControl"] == "max-age=60"
    overridden = s3.get_object(Bucket=bucket, Key="main/h", ResponseCacheControl="no-store")
    assert overridden["CacheControl"] == "no-store"


def test_response_overrides_and_checksum_mode(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="main/o", Body=b"data", ChecksumAlgorithm="SHA256")
    got = s3.get_object(
        Bucket=bucket,
        Key="main/o",
        ResponseContentType="application/x-test",
        ResponseContentDisposition='attachment; filename="o.txt"',
        ResponseCacheControl="no-cache",
        ChecksumMode="ENABLED",
    )
    assert got["ContentType"] == "application/x-test"
    assert got["ContentDisposition"] == 'attachment; filename="o.txt"'
    assert got["CacheControl"] == "no-cache"
    assert got["ChecksumSHA256"] == "Om6weQ85rIfJTzhWst0sXREOaBFgImGpqSPTuyOtyLc="
    assert got["Body"].read() == b"data"


def test_conditional_writes(s3: Any, bucket: str) -> None:
    first = s3.put_object(Bucket=bucket, Key="main/w", Body=b"1", IfNoneMatch="*")["ETag"]
    with pytest.raises(ClientError) as info:
        s3.put_object(Bucket=bucket, Key="main/w", Body=b"2", IfNoneMatch="*")
    assert status(info.value) == 412
    with pytest.raises(ClientError) as info:
        s3.put_object(Bucket=bucket, Key="main/w", Body=b"2", IfMatch='"0000"')
    assert status(info.value) == 412
    s3.put_object(Bucket=bucket, Key="main/w", Body=b"3", IfMatch=first)
    assert s3.get_object(Bucket=bucket, Key="main/w")["Body"].read() == b"3"


def test_copy_object(s3: Any, bucket: str) -> None:
    other = bucket + "-b"
    s3.create_bucket(Bucket=other)
    etag = s3.put_object(
        Bucket=bucket, Key="main/src", Body=b"payload", Metadata={"a": "1"}, ContentType="t/x"
    )["ETag"]
    copied = s3.copy_object(Bucket=bucket, Key="main/dst", CopySource=f"{bucket}/main/src")
    assert copied["CopyObjectResult"]["ETag"] == etag
    dst = s3.get_object(Bucket=bucket, Key="main/dst")
    assert (dst["Body"].read(), dst["Metadata"], dst["ContentType"]) == (
        b"payload",
        {"a": "1"},
        "t/x",
    )
    s3.copy_object(
        Bucket=other,
        Key="main/replaced",
        CopySource={"Bucket": bucket, "Key": "main/src"},
        MetadataDirective="REPLACE",
        Metadata={"b": "2"},
        ContentType="t/y",
    )
    rep = s3.get_object(Bucket=other, Key="main/replaced")
    assert (rep["Body"].read(), rep["Metadata"], rep["ContentType"]) == (
        b"payload",
        {"b": "2"},
        "t/y",
    )
    with pytest.raises(ClientError) as info:
        s3.copy_object(Bucket=bucket, Key="main/src", CopySource=f"{bucket}/main/src")
    assert error_code(info.value) == "InvalidRequest"
    with pytest.raises(ClientError) as info:
        s3.copy_object(
            Bucket=bucket, Key="main/d2", CopySource=f"{bucket}/main/src", CopySourceIfMatch='"x"'
        )
    assert status(info.value) == 412
    with pytest.raises(ClientError) as info:
        s3.copy_object(
            Bucket=bucket,
            Key="main/d2",
            CopySource=f"{bucket}/main/src",
            CopySourceIfNoneMatch=etag,
        )
    assert status(info.value) == 412
    s3.copy_object(
        Bucket=bucket, Key="main/d3", CopySource=f"{bucket}/main/src", CopySourceIfMatch=etag
    )
    with pytest.raises(ClientError) as info:
        s3.copy_object(Bucket=bucket, Key="main/d4", CopySource=f"{bucket}/main/missing")
    assert error_code(info.value) == "NoSuchKey"


def test_delete_object_and_objects(s3: Any, bucket: str) -> None:
    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"main/d/{i}", Body=b"x")
    assert (
        s3.delete_object(Bucket=bucket, Key="main/d/0")["ResponseMetadata"]["HTTPStatusCode"] == 204
    )
    assert (
        s3.delete_object(Bucket=bucket, Key="main/d/0")["ResponseMetadata"]["HTTPStatusCode"] == 204
    )
    gone = s3.delete_object(Bucket=bucket, Key="no-such-branch/x")
    assert gone["ResponseMetadata"]["HTTPStatusCode"] == 204
    result = s3.delete_objects(
        Bucket=bucket,
        Delete={
            "Objects": [
                {"Key": "main/d/1"},
                {"Key": "main/d/2"},
                {"Key": "main/nothing"},
                {"Key": "no-such-branch/y"},
            ]
        },
    )
    assert sorted(d["Key"] for d in result["Deleted"]) == [
        "main/d/1",
        "main/d/2",
        "main/nothing",
        "no-such-branch/y",
    ]
    quiet = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "main/d/3"}], "Quiet": True}
    )
    assert "Deleted" not in quiet and "Errors" not in quiet
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="main/d/")
    assert [o["Key"] for o in listed["Contents"]] == ["main/d/4"]
    with pytest.raises(ClientError) as info:
        s3.get_object(Bucket=bucket, Key="main/d/1")
    assert error_code(info.value) == "NoSuchKey"


def test_listing_v2_pagination_delimiter_and_branches(s3: Any, bucket: str) -> None:
    keys = [f"main/p/{i:03d}" for i in range(25)] + ["main/q/a", "main/q/b/c", "main/top"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"1")
    root = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in root["CommonPrefixes"]] == ["main/"]
    assert "Contents" not in root
    top = s3.list_objects_v2(Bucket=bucket, Prefix="main/", Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["main/p/", "main/q/"]
    assert [o["Key"] for o in top["Contents"]] == ["main/top"]
    seen: list[str] = []
    token: dict[str, str] = {}
    for _ in range(20):
        page = s3.list_objects_v2(Bucket=bucket, Prefix="main/", MaxKeys=7, **token)
        seen.extend(o["Key"] for o in page.get("Contents", []))
        assert page["KeyCount"] == len(page.get("Contents", []))
        if not page["IsTruncated"]:
            break
        token = {"ContinuationToken": page["NextContinuationToken"]}
    assert seen == sorted(keys)
    paginator = s3.get_paginator("list_objects_v2")
    everything = [
        o["Key"]
        for page in paginator.paginate(Bucket=bucket, PaginationConfig={"PageSize": 4})
        for o in page.get("Contents", [])
    ]
    assert everything == sorted(keys)  # no delimiter at the root: every branch's objects
    after = s3.list_objects_v2(Bucket=bucket, Prefix="main/p/", StartAfter="main/p/020")
    assert [o["Key"] for o in after["Contents"]] == [f"main/p/{i:03d}" for i in range(21, 25)]
    owner = s3.list_objects_v2(Bucket=bucket, Prefix="main/top", FetchOwner=True)
    assert owner["Contents"][0]["Owner"]["ID"]
    none = s3.list_objects_v2(Bucket=bucket, Prefix="main/", MaxKeys=0)
    assert (none["KeyCount"], none["IsTruncated"]) == (0, False)
    missing_ref = s3.list_objects_v2(Bucket=bucket, Prefix="no-such-branch/")
    assert missing_ref["KeyCount"] == 0


def test_listing_v1_markers_and_url_encoding(s3: Any, bucket: str) -> None:
    keys = ["main/a b/1", "main/a+b/2", "main/é/3", "main/z"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"1")
    seen: list[str] = []
    marker = ""
    for _ in range(10):
        page = s3.list_objects(Bucket=bucket, Prefix="main/", MaxKeys=2, Marker=marker)
        seen.extend(o["Key"] for o in page.get("Contents", []))
        if not page["IsTruncated"]:
            break
        marker = page.get("NextMarker") or page["Contents"][-1]["Key"]
    assert seen == sorted(keys)
    grouped = s3.list_objects(Bucket=bucket, Prefix="main/", Delimiter="/")
    assert [p["Prefix"] for p in grouped["CommonPrefixes"]] == ["main/a b/", "main/a+b/", "main/é/"]
    # Asked for explicitly, encoding-type=url is left to the caller to decode.
    v2 = s3.list_objects_v2(Bucket=bucket, Prefix="main/", EncodingType="url")
    assert [unquote_plus(o["Key"]) for o in v2["Contents"]] == sorted(keys)
    assert v2["Contents"][0]["Key"] == "main/a+b/1"


def test_write_to_tag_or_commit_refused(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as info:
        s3.put_object(Bucket=bucket, Key="main~1/x", Body=b"x")
    assert status(info.value) in (403, 404)
    with pytest.raises(ClientError) as info:
        s3.put_object(Bucket=bucket, Key="main@/x", Body=b"x")
    assert error_code(info.value) == "AccessDenied"
    assert "branch" in info.value.response["Error"]["Message"]


def test_upload_file_multipart_and_download(s3: Any, bucket: str, tmp_path: Any) -> None:
    data = bytes(range(256)) * (4096 * 13)  # 13 MiB: three 5 MiB-ish parts
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    config = TransferConfig(
        multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024
    )
    s3.upload_file(str(src), bucket, "main/mp/file.bin", Config=config)
    head = s3.head_object(Bucket=bucket, Key="main/mp/file.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].endswith('-3"')
    dst = tmp_path / "dst.bin"
    s3.download_file(bucket, "main/mp/file.bin", str(dst), Config=config)
    assert dst.read_bytes() == data
    buf = io.BytesIO()
    s3.download_fileobj(bucket, "main/mp/file.bin", buf)
    assert hashlib.sha256(buf.getvalue()).digest() == hashlib.sha256(data).digest()
    ranged = s3.get_object(Bucket=bucket, Key="main/mp/file.bin", Range="bytes=5242870-5242889")
    assert ranged["Body"].read() == data[5242870:5242890]


def test_presigned_get(s3: Any, bucket: str, weir_server: WeirServer) -> None:
    s3.put_object(Bucket=bucket, Key="main/presigned.txt", Body=b"signed in the url")
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "main/presigned.txt"}, ExpiresIn=300
    )
    assert url.startswith(weir_server.endpoint)
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        assert response.read() == b"signed in the url"


def test_presigned_put(s3: Any, bucket: str) -> None:
    url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "main/up.txt"}, ExpiresIn=300
    )
    request = urllib.request.Request(url, data=b"uploaded via url", method="PUT")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    assert s3.get_object(Bucket=bucket, Key="main/up.txt")["Body"].read() == b"uploaded via url"
