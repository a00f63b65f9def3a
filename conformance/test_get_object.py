"""GetObject and HeadObject: ranges, conditional headers, response overrides, not-found errors."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from email.utils import format_datetime
from typing import Any

import pytest

from conformance.expect import client_error, raw_error, raw_ok
from conformance.rawhttp import RawClient, object_path

BODY = bytes(range(100))
SIZE = len(BODY)


@dataclass(frozen=True)
class Stored:
    key: str
    etag: str
    last_modified: dt.datetime


@pytest.fixture
def stored(s3: Any, bucket: str, prefix: str) -> Stored:
    key = prefix + "object.bin"
    s3.put_object(Bucket=bucket, Key=key, Body=BODY, ContentType="application/x-test")
    head = s3.head_object(Bucket=bucket, Key=key)
    return Stored(key, head["ETag"], head["LastModified"])


def http_date(when: dt.datetime) -> str:
    return format_datetime(when.astimezone(dt.UTC), usegmt=True)


def test_get_object_returns_body_and_headers(s3: Any, bucket: str, stored: Stored) -> None:
    resp = s3.get_object(Bucket=bucket, Key=stored.key)
    assert resp["Body"].read() == BODY
    assert resp["ContentLength"] == SIZE
    assert resp["ContentType"] == "application/x-test"
    assert resp["ETag"] == f'"{hashlib.md5(BODY).hexdigest()}"'
    assert resp["ResponseMetadata"]["HTTPHeaders"].get("accept-ranges") == "bytes"
    assert resp["ResponseMetadata"]["HTTPHeaders"].get("x-amz-request-id")


def test_response_dates_and_etags_are_well_formed(
    raw: RawClient, bucket: str, stored: Stored, prefix: str
) -> None:
    head = raw.request("HEAD", object_path(bucket, stored.key))
    raw_ok(head)
    # RFC 9110 IMF-fixdate in headers, ISO 8601 UTC in XML, ETags quoted.
    assert re.fullmatch(
        r"\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT", head.header("last-modified") or ""
    )
    assert re.fullmatch(r'"[0-9a-f]{32}"', head.header("etag") or "")
    listed = raw.request("GET", object_path(bucket), query=[("list-type", "2"), ("prefix", prefix)])
    raw_ok(listed)
    contents = listed.xml().find("Contents")
    assert contents is not None
    stamp = contents.findtext("LastModified") or ""
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z", stamp), stamp
    assert contents.findtext("ETag") == stored.etag


def test_head_object_returns_metadata_without_body(
    raw: RawClient, bucket: str, stored: Stored
) -> None:
    resp = raw.request("HEAD", object_path(bucket, stored.key))
    raw_ok(resp)
    assert resp.header("content-length") == str(SIZE)
    assert resp.header("etag") == stored.etag
    assert resp.header("last-modified")
    assert resp.body == b""


# (Range header, first byte, last byte) of satisfiable single ranges on a 100-byte object.
RANGES = [
    pytest.param("bytes=0-9", 0, 9, id="first-ten"),
    pytest.param("bytes=10-19", 10, 19, id="middle"),
    pytest.param("bytes=99-99", 99, 99, id="last-byte"),
    pytest.param("bytes=90-", 90, 99, id="open-ended"),
    pytest.param("bytes=-5", 95, 99, id="suffix"),
    pytest.param("bytes=-500", 0, 99, id="suffix-longer-than-object"),
    pytest.param("bytes=90-500", 90, 99, id="end-past-size-clamped"),
]


@pytest.mark.parametrize(("header", "first", "last"), RANGES)
def test_get_range_is_206_with_content_range(
    s3: Any, bucket: str, stored: Stored, header: str, first: int, last: int
) -> None:
    resp = s3.get_object(Bucket=bucket, Key=stored.key, Range=header)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert resp["Body"].read() == BODY[first : last + 1]
    assert resp["ContentRange"] == f"bytes {first}-{last}/{SIZE}"
    assert resp["ContentLength"] == last - first + 1


def test_get_range_of_empty_object_is_416(
    raw: RawClient, s3: Any, bucket: str, prefix: str
) -> None:
    s3.put_object(Bucket=bucket, Key=prefix + "empty", Body=b"")
    path = object_path(bucket, prefix + "empty")
    resp = raw.request("GET", path, headers={"range": "bytes=0-9"})
    raw_error(resp, 416, "InvalidRange")
    assert resp.header("content-range") == "bytes */0"


def test_head_range_is_206(raw: RawClient, bucket: str, stored: Stored) -> None:
    resp = raw.request("HEAD", object_path(bucket, stored.key), headers={"range": "bytes=0-9"})
    assert resp.status == 206
    assert resp.header("content-range") == f"bytes 0-9/{SIZE}"
    assert resp.header("content-length") == "10"


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("bytes=100-", id="start-at-size"),
        pytest.param("bytes=200-300", id="start-past-size"),
    ],
)
def test_get_unsatisfiable_range_is_416_invalid_range(
    raw: RawClient, bucket: str, stored: Stored, header: str
) -> None:
    resp = raw.request("GET", object_path(bucket, stored.key), headers={"range": header})
    raw_error(resp, 416, "InvalidRange")
    assert resp.header("content-range") == f"bytes */{SIZE}"


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("bytes=abc", id="garbage"),
        pytest.param("bytes=9-2", id="last-before-first"),
        pytest.param("items=0-5", id="unknown-unit"),
        pytest.param("bytes=0-1,3-4", id="multiple-ranges"),
    ],
)
def test_get_invalid_range_syntax_is_ignored_200(
    raw: RawClient, bucket: str, stored: Stored, header: str
) -> None:
    resp = raw.request("GET", object_path(bucket, stored.key), headers={"range": header})
    raw_ok(resp, 200)
    assert resp.body == BODY
    assert resp.header("content-range") is None


# Conditional headers. Each case: headers built from the object's ETag and Last-Modified,
# and the status GET and HEAD must both answer (RFC 7232 as S3 documents it).
def _conditions(stored: Stored, case: str) -> dict[str, str]:
    past = http_date(stored.last_modified - dt.timedelta(days=1))
    same = http_date(stored.last_modified)
    future = http_date(stored.last_modified + dt.timedelta(days=1))
    table = {
        "if-match-equal": {"If-Match": stored.etag},
        "if-match-star": {"If-Match": "*"},
        "if-match-other": {"If-Match": '"0123456789abcdef0123456789abcdef"'},
        "if-none-match-equal": {"If-None-Match": stored.etag},
        "if-none-match-other": {"If-None-Match": '"0123456789abcdef0123456789abcdef"'},
        "if-modified-since-past": {"If-Modified-Since": past},
        "if-modified-since-last-modified": {"If-Modified-Since": same},
        "if-unmodified-since-past": {"If-Unmodified-Since": past},
        "if-unmodified-since-last-modified": {"If-Unmodified-Since": same},
        "if-unmodified-since-future": {"If-Unmodified-Since": future},
        # Documented precedence: If-Match true wins over If-Unmodified-Since false.
        "if-match-true-and-unmodified-since-false": {
            "If-Match": stored.etag,
            "If-Unmodified-Since": past,
        },
        "if-match-false-and-unmodified-since-true": {
            "If-Match": '"0123456789abcdef0123456789abcdef"',
            "If-Unmodified-Since": future,
        },
        # Documented precedence: If-None-Match false wins over If-Modified-Since true -> 304.
        "if-none-match-false-and-modified-since-true": {
            "If-None-Match": stored.etag,
            "If-Modified-Since": past,
        },
        "if-none-match-true-and-modified-since-true": {
            "If-None-Match": '"0123456789abcdef0123456789abcdef"',
            "If-Modified-Since": past,
        },
        "if-match-false-and-none-match-true": {
            "If-Match": '"0123456789abcdef0123456789abcdef"',
            "If-None-Match": '"0123456789abcdef0123456789abcdef"',
        },
    }
    return table[case]


CONDITIONAL_CASES = [
    ("if-match-equal", 200),
    ("if-match-star", 200),
    ("if-match-other", 412),
    ("if-none-match-equal", 304),
    ("if-none-match-other", 200),
    ("if-modified-since-past", 200),
    ("if-modified-since-last-modified", 304),
    ("if-unmodified-since-past", 412),
    ("if-unmodified-since-last-modified", 200),
    ("if-unmodified-since-future", 200),
    ("if-match-true-and-unmodified-since-false", 200),
    ("if-match-false-and-unmodified-since-true", 412),
    ("if-none-match-false-and-modified-since-true", 304),
    ("if-none-match-true-and-modified-since-true", 200),
    ("if-match-false-and-none-match-true", 412),
]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize(
    ("case", "status"), CONDITIONAL_CASES, ids=[c for c, _ in CONDITIONAL_CASES]
)
def test_conditional_read(
    raw: RawClient, bucket: str, stored: Stored, method: str, case: str, status: int
) -> None:
    resp = raw.request(method, object_path(bucket, stored.key), headers=_conditions(stored, case))
    if status == 412:
        raw_error(resp, 412, "PreconditionFailed" if method == "GET" else None)
        return
    assert resp.status == status, f"{case}: expected {status}, got {resp.status} {resp.body!r}"
    if status == 304:
        assert resp.body == b""
        assert resp.header("etag") == stored.etag
    elif method == "GET":
        assert resp.body == BODY


def test_conditional_get_with_range_still_206(raw: RawClient, bucket: str, stored: Stored) -> None:
    headers = {"If-Match": stored.etag, "Range": "bytes=0-3"}
    resp = raw.request("GET", object_path(bucket, stored.key), headers=headers)
    assert resp.status == 206
    assert resp.body == BODY[:4]


OVERRIDES = [
    ("ResponseContentType", "text/csv", "ContentType"),
    ("ResponseContentDisposition", 'attachment; filename="x.csv"', "ContentDisposition"),
    ("ResponseCacheControl", "no-cache", "CacheControl"),
    ("ResponseContentLanguage", "de-DE", "ContentLanguage"),
    ("ResponseContentEncoding", "identity", "ContentEncoding"),
]


@pytest.mark.parametrize(("param", "value", "field"), OVERRIDES, ids=[o[0] for o in OVERRIDES])
def test_get_response_header_overrides(
    s3: Any, bucket: str, stored: Stored, param: str, value: str, field: str
) -> None:
    resp = s3.get_object(Bucket=bucket, Key=stored.key, **{param: value})
    assert resp[field] == value
    assert resp["Body"].read() == BODY


def test_get_response_expires_override(raw: RawClient, bucket: str, stored: Stored) -> None:
    expires = "Thu, 01 Dec 2033 16:00:00 GMT"
    query = [("response-expires", expires)]
    resp = raw.request("GET", object_path(bucket, stored.key), query=query)
    raw_ok(resp)
    assert resp.header("expires") == expires


def test_get_missing_key_is_no_such_key(s3: Any, bucket: str, prefix: str) -> None:
    with client_error(404, "NoSuchKey"):
        s3.get_object(Bucket=bucket, Key=prefix + "missing")


def test_head_missing_key_is_404(s3: Any, bucket: str, prefix: str) -> None:
    with client_error(404, None):
        s3.head_object(Bucket=bucket, Key=prefix + "missing")


def test_get_missing_bucket_is_no_such_bucket(
    s3: Any, scratch_bucket: str, key_prefix: str
) -> None:
    with client_error(404, "NoSuchBucket"):
        s3.get_object(Bucket=scratch_bucket, Key=key_prefix + "x")


def test_head_missing_bucket_is_404(s3: Any, scratch_bucket: str, key_prefix: str) -> None:
    with client_error(404, None):
        s3.head_object(Bucket=scratch_bucket, Key=key_prefix + "x")


def test_get_key_under_existing_key_as_directory_is_no_such_key(
    s3: Any, bucket: str, stored: Stored
) -> None:
    with client_error(404, "NoSuchKey"):
        s3.get_object(Bucket=bucket, Key=stored.key + "/child")


def test_get_prefix_with_trailing_slash_is_no_such_key(
    s3: Any, bucket: str, stored: Stored, prefix: str
) -> None:
    with client_error(404, "NoSuchKey"):
        s3.get_object(Bucket=bucket, Key=prefix)
