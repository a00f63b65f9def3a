"""AWS Signature Version 2: header (``AWS key:signature``) and presigned query authentication.

AWS still accepts SigV2 for S3 requests, and botocore's ``generate_presigned_url()`` produces
SigV2 URLs for ``s3`` when no ``signature_version`` is configured, so the most common way to
share an object depends on it. Expiry, clock skew and wrong credentials get the same codes as
with SigV4 (AWS "Signing and authenticating REST requests", "Authenticating requests:
query string").
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any
from urllib.parse import urlsplit

import boto3  # type: ignore[import-untyped]
import pytest
from botocore.config import Config

from conformance.expect import raw_error, raw_ok
from conformance.rawhttp import Credentials, RawClient, object_path
from conformance.targets import Target

DATA = b"shared with a presigned url\n" * 10


def default_client(target: Target, **config: Any) -> Any:
    """boto3 exactly as a user gets it: no signature_version configured."""
    return boto3.client(
        "s3",
        endpoint_url=target.endpoint_url,
        aws_access_key_id=target.access_key,
        aws_secret_access_key=target.secret_key,
        region_name=target.region,
        config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}, **config),
    )


@pytest.fixture
def existing(s3: Any, bucket: str, prefix: str) -> str:
    s3.put_object(Bucket=bucket, Key=prefix + "k", Body=DATA)
    return prefix + "k"


def send_url(raw: RawClient, url: str, method: str = "GET", body: bytes = b"") -> Any:
    parts = urlsplit(url)
    headers = [("content-length", str(len(body)))] if method == "PUT" else []
    return raw.send(method, parts.path + "?" + parts.query, headers, body)


def test_boto3_default_presigned_get_is_sigv2_and_works(
    target: Target, raw: RawClient, bucket: str, existing: str
) -> None:
    url = default_client(target).generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": existing}, ExpiresIn=300
    )
    assert "AWSAccessKeyId=" in url and "Signature=" in url and "Expires=" in url
    resp = send_url(raw, url)
    raw_ok(resp)
    assert resp.body == DATA


def test_boto3_default_presigned_put_stores_object(
    target: Target, raw: RawClient, s3: Any, bucket: str, prefix: str
) -> None:
    url = default_client(target).generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": prefix + "up"}, ExpiresIn=300
    )
    raw_ok(send_url(raw, url, "PUT", DATA))
    assert s3.get_object(Bucket=bucket, Key=prefix + "up")["Body"].read() == DATA


def test_boto3_default_presigned_put_with_metadata_stores_it(
    target: Target, raw: RawClient, s3: Any, bucket: str, prefix: str
) -> None:
    # botocore moves x-amz-meta-* into the query string of a SigV2 URL; they are signed there
    # and stand for the headers.
    url = default_client(target).generate_presigned_url(
        "put_object",
        Params={"Bucket": bucket, "Key": prefix + "meta", "Metadata": {"owner": "ada"}},
        ExpiresIn=300,
    )
    raw_ok(send_url(raw, url, "PUT", DATA))
    assert s3.head_object(Bucket=bucket, Key=prefix + "meta")["Metadata"] == {"owner": "ada"}


def test_sigv2_header_auth_put_get_list_delete(target: Target, bucket: str, prefix: str) -> None:
    client = default_client(target, signature_version="s3")
    client.put_object(Bucket=bucket, Key=prefix + "a b+c", Body=DATA, Metadata={"m": "1"})
    got = client.get_object(Bucket=bucket, Key=prefix + "a b+c")
    assert got["Body"].read() == DATA and got["Metadata"] == {"m": "1"}
    listed = client.list_objects_v2(Bucket=bucket, Prefix=prefix)
    assert [o["Key"] for o in listed["Contents"]] == [prefix + "a b+c"]
    client.delete_object(Bucket=bucket, Key=prefix + "a b+c")


def test_sigv2_presigned_expired_is_access_denied(
    raw: RawClient, bucket: str, existing: str
) -> None:
    url = raw.presign_v2("GET", object_path(bucket, existing), expires_at=int(time.time()) - 60)
    raw_error(send_url(raw, url), 403, "AccessDenied")


def test_sigv2_presigned_tampered_is_signature_does_not_match(
    raw: RawClient, bucket: str, existing: str
) -> None:
    url = raw.presign_v2("GET", object_path(bucket, existing), expires_at=int(time.time()) + 300)
    other = url.replace(object_path(bucket, existing), object_path(bucket, existing + "x"), 1)
    raw_error(send_url(raw, other), 403, "SignatureDoesNotMatch")


def test_sigv2_presigned_missing_expires_is_access_denied(
    raw: RawClient, bucket: str, existing: str
) -> None:
    url = raw.presign_v2("GET", object_path(bucket, existing), expires_at=int(time.time()) + 300)
    stripped = "&".join(p for p in url.split("&") if not p.startswith("Expires="))
    raw_error(send_url(raw, stripped), 403, "AccessDenied")


def test_sigv2_wrong_secret_is_signature_does_not_match(
    raw: RawClient, bucket: str, existing: str
) -> None:
    creds = Credentials(raw.credentials.access_key, "wrong-secret")
    signed = raw.sign_v2("GET", object_path(bucket, existing), credentials=creds)
    raw_error(raw.send("GET", signed.target, signed.headers), 403, "SignatureDoesNotMatch")


def test_sigv2_unknown_key_is_invalid_access_key_id(
    raw: RawClient, bucket: str, existing: str
) -> None:
    creds = Credentials("AKIANOSUCHKEY0000000", "x" * 40)
    signed = raw.sign_v2("GET", object_path(bucket, existing), credentials=creds)
    raw_error(raw.send("GET", signed.target, signed.headers), 403, "InvalidAccessKeyId")


def test_sigv2_header_without_any_date_is_access_denied(
    raw: RawClient, bucket: str, existing: str
) -> None:
    signed = raw.sign_v2("GET", object_path(bucket, existing))
    headers = [(k, v) for k, v in signed.headers if k != "date"]
    raw_error(raw.send("GET", signed.target, headers), 403, "AccessDenied")


def test_sigv2_clock_skew_is_request_time_too_skewed(
    raw: RawClient, bucket: str, existing: str
) -> None:
    when = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)
    signed = raw.sign_v2("GET", object_path(bucket, existing), when=when)
    raw_error(raw.send("GET", signed.target, signed.headers), 403, "RequestTimeTooSkewed")


def test_sigv2_x_amz_date_takes_precedence_over_date(
    raw: RawClient, bucket: str, existing: str
) -> None:
    # With x-amz-date present the Date line of the string to sign is empty and the Date header
    # plays no part: an hour-old Date does not matter ...
    signed = raw.sign_v2("GET", object_path(bucket, existing), amz_date=True)
    stale = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    resp = raw.send("GET", signed.target, [*signed.headers, ("Date", stale)])
    raw_ok(resp)
    assert resp.body == DATA
    # ... and a skewed x-amz-date is refused even beside a current Date.
    old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)
    signed = raw.sign_v2("GET", object_path(bucket, existing), amz_date=True, when=old)
    now = dt.datetime.now(dt.UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    resp = raw.send("GET", signed.target, [*signed.headers, ("Date", now)])
    raw_error(resp, 403, "RequestTimeTooSkewed")


def test_sigv2_unsigned_added_x_amz_meta_is_signature_does_not_match_and_stores_nothing(
    raw: RawClient, s3: Any, bucket: str, prefix: str
) -> None:
    # Every x-amz-* header is part of the SigV2 string to sign: one added afterwards breaks it.
    path = object_path(bucket, prefix + "k")
    signed = raw.sign_v2("PUT", path, headers={"content-length": str(len(DATA))})
    resp = raw.send("PUT", signed.target, [*signed.headers, ("x-amz-meta-evil", "1")], DATA)
    raw_error(resp, 403, "SignatureDoesNotMatch")
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
