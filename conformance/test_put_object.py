"""PutObject: integrity headers, flexible checksums, conditional writes, metadata, key names."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest

from conformance.expect import client_error, raw_error, raw_ok
from conformance.rawhttp import RawClient, checksum, content_md5, object_path

DATA = b"conformance payload\n" * 50
OTHER = b"something else entirely"


def assert_absent(s3: Any, bucket: str, key: str) -> None:
    """The key must not exist: a rejected write stores nothing."""
    with client_error(404, None):
        s3.head_object(Bucket=bucket, Key=key)


def test_put_returns_md5_etag_and_get_reads_it_back(s3: Any, bucket: str, prefix: str) -> None:
    resp = s3.put_object(Bucket=bucket, Key=prefix + "k", Body=DATA)
    assert resp["ETag"] == f'"{hashlib.md5(DATA).hexdigest()}"'
    assert resp["ResponseMetadata"]["HTTPHeaders"].get("x-amz-request-id")
    assert s3.get_object(Bucket=bucket, Key=prefix + "k")["Body"].read() == DATA


def test_put_overwrites_existing_object(s3: Any, bucket: str, prefix: str) -> None:
    s3.put_object(Bucket=bucket, Key=prefix + "k", Body=DATA)
    s3.put_object(Bucket=bucket, Key=prefix + "k", Body=OTHER)
    assert s3.get_object(Bucket=bucket, Key=prefix + "k")["Body"].read() == OTHER


def test_put_zero_byte_object(s3: Any, bucket: str, prefix: str) -> None:
    resp = s3.put_object(Bucket=bucket, Key=prefix + "empty", Body=b"")
    assert resp["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    got = s3.get_object(Bucket=bucket, Key=prefix + "empty")
    assert got["ContentLength"] == 0
    assert got["Body"].read() == b""


def test_put_content_md5_correct_is_accepted(s3: Any, bucket: str, prefix: str) -> None:
    resp = s3.put_object(Bucket=bucket, Key=prefix + "k", Body=DATA, ContentMD5=content_md5(DATA))
    assert resp["ETag"] == f'"{hashlib.md5(DATA).hexdigest()}"'


def test_put_content_md5_mismatch_is_bad_digest(
    raw: RawClient, s3: Any, bucket: str, prefix: str
) -> None:
    path = object_path(bucket, prefix + "k")
    resp = raw.request("PUT", path, headers={"content-md5": content_md5(OTHER)}, body=DATA)
    raw_error(resp, 400, "BadDigest")
    assert_absent(s3, bucket, prefix + "k")


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("not base64 at all!", id="not-base64"),
        pytest.param(base64.b64encode(b"short").decode(), id="wrong-length"),
    ],
)
def test_put_content_md5_malformed_is_invalid_digest(
    raw: RawClient, s3: Any, bucket: str, prefix: str, value: str
) -> None:
    path = object_path(bucket, prefix + "k")
    resp = raw.request("PUT", path, headers={"content-md5": value}, body=DATA)
    raw_error(resp, 400, "InvalidDigest")
    assert_absent(s3, bucket, prefix + "k")


def test_put_content_sha256_mismatch_is_rejected(
    raw: RawClient, s3: Any, bucket: str, prefix: str
) -> None:
    path = object_path(bucket, prefix + "k")
    resp = raw.request("PUT", path, body=DATA, payload_hash=hashlib.sha256(OTHER).hexdigest())
    raw_error(resp, 400, "XAmzContentSHA256Mismatch")
    assert_absent(s3, bucket, prefix + "k")


def test_put_unsigned_payload_is_accepted(
    raw: RawClient, s3: Any, bucket: str, prefix: str
) -> None:
    path = object_path(bucket, prefix + "k")
    raw_ok(raw.request("PUT", path, body=DATA, payload_hash="UNSIGNED-PAYLOAD"))
    assert s3.get_object(Bucket=bucket, Key=prefix + "k")["Body"].read() == DATA


ALGORITHMS = ["crc32", "crc32c", "crc64nvme", "sha1", "sha256"]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_put_checksum_header_correct_is_accepted(
    raw: RawClient, s3: Any, bucket: str, prefix: str, algorithm: str
) -> None:
    value = checksum(algorithm, DATA)
    path = object_path(bucket, prefix + "k")
    resp = raw.request("PUT", path, headers={f"x-amz-checksum-{algorithm}": value}, body=DATA)
    raw_ok(resp)
    assert resp.header(f"x-amz-checksum-{algorithm}") == value
    assert s3.get_object(Bucket=bucket, Key=prefix + "k")["Body"].read() == DATA


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_put_checksum_header_mismatch_is_bad_digest(
    raw: RawClient, s3: Any, bucket: str, prefix: str, algorithm: str
) -> None:
    value = checksum(algorithm, OTHER)
    path = object_path(bucket, prefix + "k")
    resp = raw.request("PUT", path, headers={f"x-amz-checksum-{algorithm}": value}, body=DATA)
    raw_error(resp, 400, "BadDigest")
    assert_absent(s3, bucket, prefix + "k")


def test_put_boto3_default_checksum_round_trip(s3: Any, bucket: str, prefix: str) -> None:
    resp = s3.put_object(Bucket=bucket, Key=prefix + "k", Body=DATA, ChecksumAlgorithm="SHA256")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.get_object(Bucket=bucket, Key=prefix + "k")["Body"].read() == DATA


def test_put_if_none_match_star_creates_when_absent(s3: Any, bucket: str, prefix: str) -> None:
    s3.put_object(Bucket=bucket, Key=prefix + "k", Body=DATA, IfNoneMatch="*")
    assert s3.get_object(Bucket=bucket, Key=prefix + "k")["Body"].read() == DATA


def test_put_if_none_match_star_on_existing_is_precondition_failed(
    s3: Any, bucket: str, prefix: str
) -> None:
    s3.put_object(Bucket=bucket, Key=prefix + "k", Body=DATA)
    with client_error(412, "PreconditionFailed"):
        s3.put_object(Bucket=bucket, Key=prefix + "k", Body=OTHER, IfNoneMatch="*")
    assert s3.get_object(Bucket=bucket, Key=prefix + "k")["Body"].read() == DATA


def test_put_if_match_current_etag_overwrites(s3: Any, bucket: str, prefix: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key=prefix + "k", Body=DATA)["ETag"]
    s3.put_object(Bucket=bucket, Key=prefix + "k", Body=OTHER, IfMatch=etag)
    assert s3.get_object(Bucket=bucket, Key=prefix + "k")["Body"].read() == OTHER


def test_put_if_match_stale_etag_is_precondition_failed(s3: Any, bucket: str, prefix: str) -> None:
    s3.put_object(Bucket=bucket, Key=prefix + "k", Body=DATA)
    with client_error(412, "PreconditionFailed"):
        s3.put_object(
            Bucket=bucket,
            Key=prefix + "k",
            Body=OTHER,
            IfMatch=f'"{hashlib.md5(OTHER).hexdigest()}"',
        )
    assert s3.get_object(Bucket=bucket, Key=prefix + "k")["Body"].read() == DATA


def test_put_if_match_on_missing_key_is_no_such_key(s3: Any, bucket: str, prefix: str) -> None:
    with client_error(404, "NoSuchKey"):
        s3.put_object(
            Bucket=bucket, Key=prefix + "k", Body=DATA, IfMatch=f'"{hashlib.md5(DATA).hexdigest()}"'
        )
    assert_absent(s3, bucket, prefix + "k")


def test_put_user_metadata_round_trips_with_lowercased_names(
    s3: Any, bucket: str, prefix: str
) -> None:
    s3.put_object(
        Bucket=bucket,
        Key=prefix + "k",
        Body=DATA,
        Metadata={"color": "blue", "Mixed-Case": "Value With Spaces"},
    )
    expected = {"color": "blue", "mixed-case": "Value With Spaces"}
    assert s3.head_object(Bucket=bucket, Key=prefix + "k")["Metadata"] == expected
    assert s3.get_object(Bucket=bucket, Key=prefix + "k")["Metadata"] == expected


def test_put_user_metadata_replaced_on_overwrite(s3: Any, bucket: str, prefix: str) -> None:
    s3.put_object(Bucket=bucket, Key=prefix + "k", Body=DATA, Metadata={"a": "1"})
    s3.put_object(Bucket=bucket, Key=prefix + "k", Body=DATA, Metadata={"b": "2"})
    assert s3.head_object(Bucket=bucket, Key=prefix + "k")["Metadata"] == {"b": "2"}


STANDARD_HEADERS = [
    pytest.param("ContentType", "text/plain; charset=utf-8", id="content-type"),
    pytest.param("CacheControl", "max-age=60", id="cache-control"),
    pytest.param("ContentDisposition", 'inline; filename="a.txt"', id="content-disposition"),
    pytest.param("ContentLanguage", "en", id="content-language"),
    pytest.param("ContentEncoding", "identity", id="content-encoding"),
]


@pytest.mark.parametrize(("field", "value"), STANDARD_HEADERS)
def test_put_standard_header_round_trips(
    s3: Any, bucket: str, prefix: str, field: str, value: str
) -> None:
    s3.put_object(Bucket=bucket, Key=prefix + "k", Body=DATA, **{field: value})
    assert s3.head_object(Bucket=bucket, Key=prefix + "k")[field] == value
    assert s3.get_object(Bucket=bucket, Key=prefix + "k")[field] == value


def test_put_expires_header_round_trips(raw: RawClient, bucket: str, prefix: str) -> None:
    expires = "Thu, 01 Dec 2033 16:00:00 GMT"
    path = object_path(bucket, prefix + "k")
    raw_ok(raw.request("PUT", path, headers={"expires": expires}, body=DATA))
    assert raw.request("HEAD", path).header("expires") == expires


def test_put_with_canned_acl_header_is_accepted(s3: Any, bucket: str, prefix: str) -> None:
    s3.put_object(Bucket=bucket, Key=prefix + "k", Body=DATA, ACL="private")
    assert s3.get_object(Bucket=bucket, Key=prefix + "k")["Body"].read() == DATA


ODD_KEYS = [
    pytest.param("with space.txt", id="space"),
    pytest.param("plus+sign", id="plus"),
    pytest.param("percent%20literal", id="percent"),
    pytest.param("unicode-\u00e9\u00e8/\u65e5\u672c\u8a9e/\U0001f600", id="unicode"),
    pytest.param("semi;colon=equals&amp?question#hash", id="reserved-chars"),
    pytest.param("tilde~star*quote'paren()", id="sub-delims"),
    pytest.param("double//slash", id="double-slash"),
    pytest.param("trailing/slash/", id="trailing-slash"),
    pytest.param("xml<&>\"'", id="xml-specials"),
]


@pytest.mark.parametrize("name", ODD_KEYS)
def test_put_get_list_odd_key(s3: Any, bucket: str, prefix: str, name: str) -> None:
    key = prefix + name
    s3.put_object(Bucket=bucket, Key=key, Body=name.encode())
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == name.encode()
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    assert [o["Key"] for o in listed["Contents"]] == [key]


def test_put_key_of_1024_bytes_is_accepted(s3: Any, bucket: str, prefix: str) -> None:
    key = prefix + "k" * (1024 - len(prefix.encode()))
    assert len(key.encode()) == 1024
    s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"x"


def test_put_key_of_1025_bytes_is_key_too_long(s3: Any, bucket: str, prefix: str) -> None:
    key = prefix + "k" * (1025 - len(prefix.encode()))
    with client_error(400, "KeyTooLongError"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")


def test_put_key_too_long_counts_utf8_bytes(s3: Any, bucket: str, prefix: str) -> None:
    # 2-byte characters: fewer than 1024 characters but more than 1024 bytes.
    count = (1025 - len(prefix.encode()) + 1) // 2
    key = prefix + "\u00e9" * count
    assert len(key) < 1024 < len(key.encode())
    with client_error(400, "KeyTooLongError"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")


def test_put_into_missing_bucket_is_no_such_bucket(
    s3: Any, scratch_bucket: str, key_prefix: str
) -> None:
    with client_error(404, "NoSuchBucket"):
        s3.put_object(Bucket=scratch_bucket, Key=key_prefix + "k", Body=DATA)


def test_put_user_metadata_over_2_kib_is_metadata_too_large(
    s3: Any, bucket: str, prefix: str
) -> None:
    with client_error(400, "MetadataTooLarge"):
        s3.put_object(Bucket=bucket, Key=prefix + "k", Body=DATA, Metadata={"big": "x" * 2100})
    assert_absent(s3, bucket, prefix + "k")


def test_put_over_5_gib_is_entity_too_large_before_the_body(
    raw: RawClient, s3: Any, bucket: str, prefix: str
) -> None:
    # Announced with Expect: 100-continue and no body is ever sent: the refusal must come
    # from the headers alone (before or right after an interim 100), not after a 5 GiB read.
    first, resp = raw.put_expect_continue(
        object_path(bucket, prefix + "huge"), b"", content_length=5 * 1024**3 + 1
    )
    assert first in (None, 100, 400), first
    raw_error(resp, 400, "EntityTooLarge")
    assert_absent(s3, bucket, prefix + "huge")


def test_put_expect_100_continue_in_any_letter_case_gets_the_interim_answer(
    raw: RawClient, s3: Any, bucket: str, prefix: str
) -> None:
    # Expectation names are case-insensitive (RFC 9110 section 10.1.1).
    first, resp = raw.put_expect_continue(
        object_path(bucket, prefix + "k"), DATA, expect="100-Continue"
    )
    assert first == 100, first
    raw_ok(resp)
    assert s3.get_object(Bucket=bucket, Key=prefix + "k")["Body"].read() == DATA


@pytest.mark.parametrize("value", ["200-ok", "", "100-continue-please"])
def test_put_with_other_expect_value_is_served(
    raw: RawClient, s3: Any, bucket: str, prefix: str, value: str
) -> None:
    # S3 ignores expectations it does not know and serves the request (no 417).
    resp = raw.request(
        "PUT", object_path(bucket, prefix + "k"), headers={"expect": value}, body=DATA
    )
    raw_ok(resp)
    assert s3.get_object(Bucket=bucket, Key=prefix + "k")["Body"].read() == DATA
