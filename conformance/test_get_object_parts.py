"""GetObject / HeadObject with ``partNumber`` (AWS API reference, GetObject ``partNumber``).

A multipart object's part N comes back as a 206 with ``Content-Range`` over the whole object,
the part's ``Content-Length`` and ``x-amz-mp-parts-count``; the ETag stays the object's. A
non-multipart object has exactly one part, the whole object, and no parts count. A part beyond
the last is 416 ``InvalidPartNumber``; a part number outside 1..10000 is 400
``InvalidArgument``; ``partNumber`` together with ``Range`` is 400 ``InvalidRequest``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from conformance.conftest import empty_prefix
from conformance.expect import client_error, raw_error
from conformance.rawhttp import RawClient, object_path

PART1 = bytes(range(256)) * (5 * 1024 * 4)  # 5 MiB: the smallest non-final part
PART2 = b"the final part" * 100


@pytest.fixture(scope="module")
def multipart_key(s3: Any, bucket: str, key_prefix: str) -> Iterator[tuple[str, str]]:
    base = f"{key_prefix}parts-{uuid.uuid4().hex[:8]}/"
    key = base + "mp"
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    etags = [
        s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=n, Body=body)["ETag"]
        for n, body in ((1, PART1), (2, PART2))
    ]
    parts = [{"PartNumber": n, "ETag": e} for n, e in zip((1, 2), etags, strict=True)]
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
    )
    yield key, done["ETag"]
    empty_prefix(s3, bucket, base)


def test_get_part_of_multipart_object(s3: Any, bucket: str, multipart_key: tuple[str, str]) -> None:
    key, etag = multipart_key
    total = len(PART1) + len(PART2)
    first = s3.get_object(Bucket=bucket, Key=key, PartNumber=1)
    assert first["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert first["Body"].read() == PART1
    assert first["ContentLength"] == len(PART1)
    assert first["ContentRange"] == f"bytes 0-{len(PART1) - 1}/{total}"
    assert first["PartsCount"] == 2
    assert first["ETag"] == etag
    second = s3.get_object(Bucket=bucket, Key=key, PartNumber=2)
    assert second["Body"].read() == PART2
    assert second["ContentRange"] == f"bytes {len(PART1)}-{total - 1}/{total}"
    assert second["PartsCount"] == 2


def test_head_part_of_multipart_object(
    s3: Any, bucket: str, multipart_key: tuple[str, str]
) -> None:
    key, etag = multipart_key
    head = s3.head_object(Bucket=bucket, Key=key, PartNumber=2)
    assert head["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert head["ContentLength"] == len(PART2)
    assert head["PartsCount"] == 2
    assert head["ETag"] == etag


def test_get_part_beyond_last_is_invalid_part_number(
    s3: Any, bucket: str, multipart_key: tuple[str, str]
) -> None:
    key, _ = multipart_key
    with client_error(416, "InvalidPartNumber"):
        s3.get_object(Bucket=bucket, Key=key, PartNumber=3)
    with client_error(416, None):
        s3.head_object(Bucket=bucket, Key=key, PartNumber=3)


def test_get_part_one_of_simple_object_is_the_whole_object(
    s3: Any, bucket: str, prefix: str
) -> None:
    s3.put_object(Bucket=bucket, Key=prefix + "k", Body=b"not multipart")
    got = s3.get_object(Bucket=bucket, Key=prefix + "k", PartNumber=1)
    assert got["ResponseMetadata"]["HTTPStatusCode"] in (200, 206)
    assert got["Body"].read() == b"not multipart"
    assert "PartsCount" not in got
    with client_error(416, "InvalidPartNumber"):
        s3.get_object(Bucket=bucket, Key=prefix + "k", PartNumber=2)


@pytest.mark.parametrize("number", ["0", "10001", "abc"])
def test_get_part_number_out_of_range_is_invalid_argument(
    raw: RawClient, s3: Any, bucket: str, prefix: str, number: str
) -> None:
    s3.put_object(Bucket=bucket, Key=prefix + "k", Body=b"x")
    resp = raw.request("GET", object_path(bucket, prefix + "k"), query=[("partNumber", number)])
    raw_error(resp, 400, "InvalidArgument")


def test_get_part_number_with_range_is_invalid_request(
    raw: RawClient, s3: Any, bucket: str, prefix: str
) -> None:
    s3.put_object(Bucket=bucket, Key=prefix + "k", Body=b"0123456789")
    resp = raw.request(
        "GET",
        object_path(bucket, prefix + "k"),
        query=[("partNumber", "1")],
        headers={"range": "bytes=0-1"},
    )
    raw_error(resp, 400, "InvalidRequest")
