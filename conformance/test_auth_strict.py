"""Signature strictness: what a valid signature must cover, and claims AWS refuses outright.

* Every ``x-amz-*`` header must be signed (``x-amz-content-sha256`` excepted, as its value is
  part of the canonical request): AWS answers 403 ``AccessDenied`` "There were headers present
  in the request which were not signed" and names them in ``HeadersNotSigned``.
* A credential scope for another service or region: ``AuthorizationHeaderMalformed`` (header)
  or ``AuthorizationQueryParametersError`` (presigned); the region error carries the expected
  ``<Region>``, which SDKs use to retry in the right region.
* Authenticating twice (two Authorization headers, header and query): ``InvalidArgument``
  "Only one auth mechanism allowed".
* ``x-amz-date`` takes precedence over ``Date``; ``Date`` is used when it is absent (AWS
  "Authenticating Requests (AWS Signature Version 4)", "Handling dates").
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

from conformance.expect import client_error, raw_error, raw_ok
from conformance.rawhttp import Credentials, RawClient, object_path
from conformance.targets import Target

DATA = b"signed bytes\n" * 10


def put_signed(raw: RawClient, path: str, **sign: Any) -> Any:
    return raw.sign("PUT", path, headers={"content-length": str(len(DATA))}, **sign)


def assert_absent(s3: Any, bucket: str, key: str) -> None:
    with client_error(404, None):
        s3.head_object(Bucket=bucket, Key=key)


def test_unsigned_x_amz_meta_header_is_access_denied_and_stores_nothing(
    raw: RawClient, s3: Any, bucket: str, prefix: str
) -> None:
    signed = put_signed(raw, object_path(bucket, prefix + "k"), payload_hash="UNSIGNED-PAYLOAD")
    resp = raw.send("PUT", signed.target, [*signed.headers, ("x-amz-meta-evil", "1")], DATA)
    raw_error(resp, 403, "AccessDenied")
    assert "x-amz-meta-evil" in (resp.xml().findtext("HeadersNotSigned") or "")
    assert_absent(s3, bucket, prefix + "k")


def test_unsigned_x_amz_header_on_presigned_put_is_access_denied(
    raw: RawClient, s3: Any, bucket: str, prefix: str
) -> None:
    url = raw.presign("PUT", object_path(bucket, prefix + "k"))
    parts = urlsplit(url)
    headers = [("content-length", str(len(DATA))), ("x-amz-meta-evil", "1")]
    resp = raw.send("PUT", parts.path + "?" + parts.query, headers, DATA)
    raw_error(resp, 403, "AccessDenied")
    assert_absent(s3, bucket, prefix + "k")


def test_unsigned_x_amz_content_sha256_is_tolerated(
    raw: RawClient, bucket: str, prefix: str, s3: Any
) -> None:
    # Its value is in the canonical request; clients (presigned PUTs) send it unsigned.
    url = raw.presign("PUT", object_path(bucket, prefix + "k"))
    parts = urlsplit(url)
    headers = [("content-length", str(len(DATA))), ("x-amz-content-sha256", "UNSIGNED-PAYLOAD")]
    raw_ok(raw.send("PUT", parts.path + "?" + parts.query, headers, DATA))
    assert s3.get_object(Bucket=bucket, Key=prefix + "k")["Body"].read() == DATA


def test_scope_for_another_service_is_authorization_header_malformed(
    raw: RawClient, bucket: str
) -> None:
    signed = raw.sign("GET", object_path(bucket), service="iam")
    raw_error(raw.send("GET", signed.target, signed.headers), 400, "AuthorizationHeaderMalformed")


def test_presigned_scope_for_another_service_is_query_parameters_error(
    raw: RawClient, bucket: str
) -> None:
    url = raw.presign("GET", object_path(bucket), service="iam")
    raw_error(raw.get_url(url), 400, "AuthorizationQueryParametersError")


def other_region(target: Target) -> str:
    return "eu-north-1" if target.region != "eu-north-1" else "ap-south-1"


def test_scope_for_another_region_names_the_expected_region(
    raw: RawClient, target: Target, bucket: str
) -> None:
    creds = Credentials(target.access_key, target.secret_key, other_region(target))
    signed = raw.sign("GET", object_path(bucket), credentials=creds)
    resp = raw.send("GET", signed.target, signed.headers)
    raw_error(resp, 400, "AuthorizationHeaderMalformed")
    assert resp.xml().findtext("Region") == target.region


def test_presigned_scope_for_another_region_names_the_expected_region(
    raw: RawClient, target: Target, bucket: str
) -> None:
    creds = Credentials(target.access_key, target.secret_key, other_region(target))
    resp = raw.get_url(raw.presign("GET", object_path(bucket), credentials=creds))
    raw_error(resp, 400, "AuthorizationQueryParametersError")
    assert resp.xml().findtext("Region") == target.region


def test_two_authorization_headers_are_invalid_argument(raw: RawClient, bucket: str) -> None:
    signed = raw.sign("GET", object_path(bucket))
    auth = next(v for k, v in signed.headers if k == "Authorization")
    resp = raw.send("GET", signed.target, [*signed.headers, ("Authorization", auth)])
    raw_error(resp, 400, "InvalidArgument")


def test_header_and_query_auth_together_is_invalid_argument(raw: RawClient, bucket: str) -> None:
    url = raw.presign("GET", object_path(bucket))
    signed = raw.sign("GET", object_path(bucket))
    parts = urlsplit(url)
    resp = raw.send("GET", parts.path + "?" + parts.query, signed.headers)
    raw_error(resp, 400, "InvalidArgument")


def test_presigned_signature_given_twice_is_query_parameters_error(
    raw: RawClient, bucket: str
) -> None:
    url = raw.presign("GET", object_path(bucket))
    signature = url.rpartition("X-Amz-Signature=")[2]
    resp = raw.get_url(url + "&X-Amz-Signature=" + signature)
    raw_error(resp, 400, "AuthorizationQueryParametersError")


def test_unknown_authorization_scheme_is_invalid_argument(raw: RawClient, bucket: str) -> None:
    resp = raw.send("GET", object_path(bucket), [("Authorization", "Bearer abc")])
    raw_error(resp, 400, "InvalidArgument")


def test_x_amz_date_takes_precedence_over_date(raw: RawClient, bucket: str) -> None:
    signed = raw.sign("GET", object_path(bucket))
    stale = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    raw_ok(raw.send("GET", signed.target, [*signed.headers, ("Date", stale)]))


def test_date_header_is_used_without_x_amz_date(raw: RawClient, bucket: str) -> None:
    signed = raw.sign("GET", object_path(bucket), date_header=True)
    raw_ok(raw.send("GET", signed.target, signed.headers))
    old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)
    signed = raw.sign("GET", object_path(bucket), date_header=True, when=old)
    raw_error(raw.send("GET", signed.target, signed.headers), 403, "RequestTimeTooSkewed")
