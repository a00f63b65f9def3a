"""Keys, bucket names, ranges and dates at the S3 edge."""

from __future__ import annotations

from urllib.parse import unquote_plus

import pytest

from gateway.core.errors import InvalidArgument, InvalidRange
from gateway.core.model import ByteRange
from gateway.s3.errors import InvalidBucketName, InvalidURI, KeyTooLongError
from gateway.s3.keys import (
    content_range,
    decode_path_segment,
    format_http_date,
    format_iso8601,
    parse_http_date,
    parse_iso8601,
    parse_range,
    url_encode_key,
    validate_bucket,
    validate_key,
)


def test_validate_key_limits() -> None:
    validate_key("main/" + "é" * 509)  # 5 + 1018 bytes
    with pytest.raises(KeyTooLongError):
        validate_key("main/" + "é" * 510)
    with pytest.raises(InvalidArgument):
        validate_key("main/a\x00b")
    with pytest.raises(InvalidArgument):
        validate_key("")
    with pytest.raises(InvalidURI):
        validate_key("main/\udcff")


def test_decode_path_segment_is_strict_utf8() -> None:
    assert decode_path_segment("a%20b%2Bc%C3%A9") == "a b+cé"
    assert decode_path_segment("plain") == "plain"
    with pytest.raises(InvalidURI):
        decode_path_segment("bad%FF")


@pytest.mark.parametrize("name", ["abc", "my-repo", "a.b.c", "x" * 63, "0repo9"])
def test_valid_buckets(name: str) -> None:
    validate_bucket(name)


@pytest.mark.parametrize(
    "name",
    [
        "api",
        "ab",
        "x" * 64,
        "Abc",
        "-abc",
        "abc-",
        "a..b",
        "a.-b",
        "192.168.5.4",
        "xn--abc",
        "abc-s3alias",
        "a_b",
        "a b",
    ],
)
def test_invalid_buckets(name: str) -> None:
    with pytest.raises(InvalidBucketName):
        validate_bucket(name)


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-9", 100, ByteRange(0, 9)),
        ("bytes=10-", 100, ByteRange(10, None)),
        ("bytes=-5", 100, ByteRange(None, None, 5)),
        ("bytes=0-1000", 100, ByteRange(0, 1000)),  # clamped by resolve
        ("bytes=0-1,4-5", 100, None),  # several ranges: whole object, as S3
        ("items=0-1", 100, None),
        ("bytes=a-b", 100, None),
        ("bytes=9-2", 100, None),
        ("bytes=-", 100, None),
        (None, 100, None),
        ("", 100, None),
    ],
)
def test_parse_range(header: str | None, size: int, expected: ByteRange | None) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    ("header", "size"), [("bytes=100-", 100), ("bytes=-0", 100), ("bytes=0-", 0)]
)
def test_unsatisfiable_ranges(header: str, size: int) -> None:
    with pytest.raises(InvalidRange):
        parse_range(header, size)


def test_content_range() -> None:
    assert content_range(*ByteRange(None, None, 5).resolve(100), 100) == "bytes 95-99/100"


def test_url_encode_key_roundtrips_with_unquote_plus() -> None:
    key = "main/a b+c&d=é/%~\x01"
    encoded = url_encode_key(key)
    assert " " not in encoded and "+" in encoded and "%2B" in encoded
    assert unquote_plus(encoded) == key


def test_dates() -> None:
    assert format_http_date(1369353600) == "Fri, 24 May 2013 00:00:00 GMT"
    assert parse_http_date("Fri, 24 May 2013 00:00:00 GMT") == 1369353600
    assert parse_http_date("Friday, 24-May-13 00:00:00 GMT") == 1369353600
    assert parse_http_date("garbage") is None
    assert parse_http_date(None) is None
    assert format_iso8601(1369353600.25) == "2013-05-24T00:00:00.250Z"
    assert format_iso8601(1369353600.9999) == "2013-05-24T00:00:01.000Z"
    assert parse_iso8601("2013-05-24T00:00:00.250Z") == 1369353600.25
    with pytest.raises(InvalidArgument):
        parse_iso8601("2013-05-24")
