"""Authentication: SigV4 header and query auth, expiry, clock skew, aws-chunked payloads."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

from conformance.conftest import make_client
from conformance.expect import client_error, raw_error, raw_ok
from conformance.rawhttp import Credentials, RawClient, checksum, object_path
from conformance.targets import Target

DATA = b"authenticated bytes\n" * 40


@pytest.fixture
def existing(s3: Any, bucket: str, prefix: str) -> str:
    s3.put_object(Bucket=bucket, Key=prefix + "k", Body=DATA)
    return prefix + "k"


def assert_absent(s3: Any, bucket: str, key: str) -> None:
    with client_error(404, None):
        s3.head_object(Bucket=bucket, Key=key)


def test_anonymous_get_object_is_access_denied(raw: RawClient, bucket: str, existing: str) -> None:
    raw_error(raw.request("GET", object_path(bucket, existing), sign=False), 403, "AccessDenied")


def test_anonymous_put_object_is_access_denied_and_stores_nothing(
    raw: RawClient, s3: Any, bucket: str, prefix: str
) -> None:
    resp = raw.request("PUT", object_path(bucket, prefix + "anon"), body=DATA, sign=False)
    raw_error(resp, 403, "AccessDenied")
    assert_absent(s3, bucket, prefix + "anon")


def test_anonymous_head_bucket_is_403(raw: RawClient, bucket: str) -> None:
    raw_error(raw.request("HEAD", object_path(bucket), sign=False), 403, None)


def test_anonymous_list_objects_is_access_denied(raw: RawClient, bucket: str) -> None:
    raw_error(raw.request("GET", object_path(bucket), sign=False), 403, "AccessDenied")


def test_wrong_secret_is_signature_does_not_match(
    target: Target, bucket: str, existing: str
) -> None:
    client = make_client(target, secret="wrong" + target.secret_key)
    with client_error(403, "SignatureDoesNotMatch"):
        client.get_object(Bucket=bucket, Key=existing)


def test_wrong_secret_put_stores_nothing(target: Target, s3: Any, bucket: str, prefix: str) -> None:
    client = make_client(target, secret="wrong" + target.secret_key)
    with client_error(403, "SignatureDoesNotMatch"):
        client.put_object(Bucket=bucket, Key=prefix + "k", Body=DATA)
    assert_absent(s3, bucket, prefix + "k")


def test_unknown_access_key_is_invalid_access_key_id(
    target: Target, bucket: str, existing: str
) -> None:
    client = make_client(target, access_key="AKIANOSUCHKEY0000000", secret="x" * 40)
    with client_error(403, "InvalidAccessKeyId"):
        client.get_object(Bucket=bucket, Key=existing)


def test_signed_header_tampered_after_signing_is_signature_does_not_match(
    raw: RawClient, bucket: str, existing: str
) -> None:
    signed = raw.sign("GET", object_path(bucket, existing), headers={"x-amz-meta-a": "1"})
    headers = [(k, "2" if k == "x-amz-meta-a" else v) for k, v in signed.headers]
    raw_error(raw.send("GET", signed.target, headers), 403, "SignatureDoesNotMatch")


def test_clock_skew_over_15_minutes_is_request_time_too_skewed(
    raw: RawClient, bucket: str, existing: str
) -> None:
    when = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)
    resp = raw.request("GET", object_path(bucket, existing), when=when)
    raw_error(resp, 403, "RequestTimeTooSkewed")


def test_clock_skew_in_the_future_is_request_time_too_skewed(
    raw: RawClient, bucket: str, existing: str
) -> None:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=20)
    resp = raw.request("GET", object_path(bucket, existing), when=when)
    raw_error(resp, 403, "RequestTimeTooSkewed")


def test_presigned_get_boto3(s3: Any, raw: RawClient, bucket: str, existing: str) -> None:
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": existing}, ExpiresIn=300
    )
    resp = raw.get_url(url)
    raw_ok(resp)
    assert resp.body == DATA


def test_presigned_get_with_response_override(
    s3: Any, raw: RawClient, bucket: str, existing: str
) -> None:
    disposition = 'attachment; filename="report.csv"'
    url = s3.generate_presigned_url(
        "get_object",
        Params={"Bucket": bucket, "Key": existing, "ResponseContentDisposition": disposition},
        ExpiresIn=300,
    )
    resp = raw.get_url(url)
    raw_ok(resp)
    assert resp.header("content-disposition") == disposition
    assert resp.body == DATA


def test_presigned_get_raw(raw: RawClient, bucket: str, existing: str) -> None:
    resp = raw.get_url(raw.presign("GET", object_path(bucket, existing)))
    raw_ok(resp)
    assert resp.body == DATA


def test_presigned_put_stores_object(s3: Any, raw: RawClient, bucket: str, prefix: str) -> None:
    url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": prefix + "up"}, ExpiresIn=300
    )
    parts = urlsplit(url)
    target = parts.path + "?" + parts.query
    resp = raw.send("PUT", target, [("content-length", str(len(DATA)))], DATA)
    raw_ok(resp)
    assert s3.get_object(Bucket=bucket, Key=prefix + "up")["Body"].read() == DATA


def test_presigned_expired_is_access_denied(raw: RawClient, bucket: str, existing: str) -> None:
    when = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    url = raw.presign("GET", object_path(bucket, existing), expires=60, when=when)
    raw_error(raw.get_url(url), 403, "AccessDenied")


def test_presigned_expiry_of_exactly_seven_days_is_accepted(
    raw: RawClient, bucket: str, existing: str
) -> None:
    url = raw.presign("GET", object_path(bucket, existing), expires=604800)
    raw_ok(raw.get_url(url))


def test_presigned_expiry_over_seven_days_is_rejected(
    raw: RawClient, bucket: str, existing: str
) -> None:
    url = raw.presign("GET", object_path(bucket, existing), expires=604801)
    raw_error(raw.get_url(url), 400, "AuthorizationQueryParametersError")


def test_presigned_tampered_signature_is_signature_does_not_match(
    raw: RawClient, bucket: str, existing: str
) -> None:
    url = raw.presign("GET", object_path(bucket, existing))
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    sig = query["X-Amz-Signature"]
    query["X-Amz-Signature"] = ("0" if sig[0] != "0" else "1") + sig[1:]
    tampered = urlunsplit(parts._replace(query=urlencode(query)))
    raw_error(raw.get_url(tampered), 403, "SignatureDoesNotMatch")


def test_presigned_for_other_key_is_signature_does_not_match(
    raw: RawClient, bucket: str, existing: str
) -> None:
    url = raw.presign("GET", object_path(bucket, existing))
    other = url.replace(object_path(bucket, existing), object_path(bucket, existing + "x"), 1)
    raw_error(raw.get_url(other), 403, "SignatureDoesNotMatch")


def test_presigned_with_unknown_key_is_invalid_access_key_id(
    raw: RawClient, bucket: str, existing: str
) -> None:
    creds = Credentials("AKIANOSUCHKEY0000000", "x" * 40)
    url = raw.presign("GET", object_path(bucket, existing), credentials=creds)
    raw_error(raw.get_url(url), 403, "InvalidAccessKeyId")


def test_streaming_signed_payload_is_stored(
    raw: RawClient, s3: Any, bucket: str, prefix: str
) -> None:
    data = bytes(range(256)) * 600  # 150 KiB in three chunks
    resp = raw.put_streaming_signed(object_path(bucket, prefix + "k"), data, chunk_size=64 * 1024)
    raw_ok(resp)
    assert s3.get_object(Bucket=bucket, Key=prefix + "k")["Body"].read() == data


@pytest.mark.parametrize("corrupt", [0, 2, 3], ids=["first-chunk", "last-data-chunk", "final"])
def test_streaming_signed_bad_chunk_signature_is_rejected_and_stores_nothing(
    raw: RawClient, s3: Any, bucket: str, prefix: str, corrupt: int
) -> None:
    data = bytes(range(256)) * 600
    path = object_path(bucket, prefix + "k")
    resp = raw.put_streaming_signed(path, data, chunk_size=64 * 1024, corrupt_chunk=corrupt)
    raw_error(resp, 403, "SignatureDoesNotMatch")
    assert_absent(s3, bucket, prefix + "k")


@pytest.mark.parametrize("algorithm", ["crc32", "crc32c", "crc64nvme", "sha1", "sha256"])
def test_unsigned_trailer_checksum_is_verified_and_stored(
    raw: RawClient, s3: Any, bucket: str, prefix: str, algorithm: str
) -> None:
    path = object_path(bucket, prefix + "k")
    resp = raw.put_unsigned_trailer(path, DATA, algorithm=algorithm, chunk_size=300)
    raw_ok(resp)
    assert s3.get_object(Bucket=bucket, Key=prefix + "k")["Body"].read() == DATA


@pytest.mark.parametrize("algorithm", ["crc32", "crc32c", "crc64nvme", "sha1", "sha256"])
def test_unsigned_trailer_bad_checksum_is_bad_digest_and_stores_nothing(
    raw: RawClient, s3: Any, bucket: str, prefix: str, algorithm: str
) -> None:
    path = object_path(bucket, prefix + "k")
    bad = checksum(algorithm, b"other bytes")
    resp = raw.put_unsigned_trailer(path, DATA, algorithm=algorithm, checksum_value=bad)
    raw_error(resp, 400, "BadDigest")
    assert_absent(s3, bucket, prefix + "k")


def test_expect_100_continue_gets_interim_answer_before_body(
    raw: RawClient, s3: Any, bucket: str, prefix: str
) -> None:
    first, final = raw.put_expect_continue(object_path(bucket, prefix + "k"), DATA)
    assert first == 100, f"no 100 Continue before the body (first answer: {first})"
    raw_ok(final)
    assert s3.get_object(Bucket=bucket, Key=prefix + "k")["Body"].read() == DATA


def test_expect_100_continue_refused_upfront_when_unauthorized(
    raw: RawClient, s3: Any, bucket: str, prefix: str
) -> None:
    bad = raw.with_credentials(Credentials(raw.credentials.access_key, "wrong-secret"))
    first, final = bad.put_expect_continue(object_path(bucket, prefix + "k"), DATA)
    assert final.status == 403
    assert first in (100, 403)
    assert_absent(s3, bucket, prefix + "k")
