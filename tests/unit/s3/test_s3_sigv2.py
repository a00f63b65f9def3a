"""SigV2: botocore's own HmacV1 signers (header and presigned) verify; tampering, expiry, skew,
x-amz-date precedence and malformed claims get AWS's errors. Plus the XML-safe error text."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import parse_qsl, urlsplit

import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from multidict import CIMultiDict

from gateway.s3 import sigv2
from gateway.s3.errors import (
    AccessDenied,
    InvalidArgument,
    MissingSecurityHeader,
    RequestExpired,
    RequestTimeTooSkewed,
    S3ErrorSpec,
    SignatureDoesNotMatch,
    error_xml,
)
from gateway.s3.xmltext import escape_safe, is_xml_char_safe

AKID, SECRET = "AKIAV2EXAMPLE", "v2-secret"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def header_signed(method: str, url: str, headers: dict[str, str]) -> AWSRequest:
    request = AWSRequest(method=method, url=url, headers=headers)
    signer = botocore.auth.HmacV1Auth(Credentials(AKID, SECRET))
    signer._get_date = lambda: format_datetime(NOW, usegmt=True)  # type: ignore[method-assign]
    signer.add_auth(request)
    return request


def verify(method: str, url: str, headers: CIMultiDict[str], now: datetime = NOW) -> None:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    auth = headers.get("Authorization", "")
    claims = sigv2.parse_header(auth, headers) if auth else sigv2.parse_query(query)
    sigv2.verify(
        claims,
        SECRET,
        method=method,
        raw_path=parts.path,
        raw_query=parts.query,
        headers=headers,
        now=now,
    )


@pytest.mark.parametrize(
    ("method", "url", "headers"),
    [
        ("GET", "http://h/bucket/main/a%20b%2Bc.txt", {}),
        ("PUT", "http://h/bucket/main/k", {"Content-Type": "text/csv", "x-amz-meta-a": " 1 "}),
        ("GET", "http://h/bucket", {}),
        ("GET", "http://h/bucket/main/k?response-content-type=text/plain&versionId=x", {}),
        ("POST", "http://h/bucket/main/k?uploads", {}),
        ("GET", "http://h/bucket?list-type=2&prefix=main%2F", {}),
    ],
)
def test_botocore_header_signatures_verify(method: str, url: str, headers: dict[str, str]) -> None:
    signed = header_signed(method, url, dict(headers))
    verify(method, url, CIMultiDict(signed.headers.items()))


def test_botocore_presigned_url_verifies_and_expires() -> None:
    request = AWSRequest(method="GET", url="http://h/bucket/main/k", headers={})
    signer = botocore.auth.HmacV1QueryAuth(Credentials(AKID, SECRET), expires=300)
    signer._get_date = lambda: str(int(NOW.timestamp()) + 300)  # type: ignore[method-assign]
    signer.add_auth(request)
    verify("GET", request.url, CIMultiDict())
    with pytest.raises(RequestExpired):
        verify("GET", request.url, CIMultiDict(), NOW + timedelta(seconds=301))
    with pytest.raises(SignatureDoesNotMatch):
        verify("GET", request.url.replace("/k?", "/other?"), CIMultiDict())


def test_x_amz_date_takes_precedence_and_empties_the_date_line() -> None:
    headers = CIMultiDict({"x-amz-date": format_datetime(NOW, usegmt=True), "Date": "garbage"})
    claims = sigv2.parse_header("AWS AK:c2ln", headers)
    assert claims.date_line == "" and claims.timestamp == NOW.timestamp()
    with pytest.raises(MissingSecurityHeader):
        sigv2.parse_header("AWS AK:c2ln", CIMultiDict())


def test_skew_tampering_and_malformed_claims() -> None:
    signed = header_signed("GET", "http://h/bucket/main/k", {})
    headers = CIMultiDict(signed.headers.items())
    with pytest.raises(RequestTimeTooSkewed):
        verify("GET", "http://h/bucket/main/k", headers, NOW + timedelta(minutes=16))
    headers.add("x-amz-meta-added", "1")  # every x-amz-* header is signed in SigV2
    with pytest.raises(SignatureDoesNotMatch):
        verify("GET", "http://h/bucket/main/k", headers)
    with pytest.raises(InvalidArgument):
        sigv2.parse_header("AWS no-colon", CIMultiDict({"Date": "x"}))
    with pytest.raises(AccessDenied):
        sigv2.parse_query([("AWSAccessKeyId", "AK"), ("Signature", "x")])
    with pytest.raises(InvalidArgument):
        sigv2.parse_query(
            [("AWSAccessKeyId", "AK"), ("Signature", "x"), ("Signature", "y"), ("Expires", "1")]
        )


def test_canonical_resource() -> None:
    assert sigv2.canonical_resource("/b", "") == "/b/"
    assert sigv2.canonical_resource("/", "", bucket_prefix="/b") == "/b/"
    assert sigv2.canonical_resource("/b/k", "uploads=&list-type=2&acl") == "/b/k?acl&uploads"
    got = sigv2.canonical_resource("/b/k", "versionId=a%2Bb&partNumber=2")
    assert got == "/b/k?partNumber=2&versionId=a+b"


@pytest.mark.parametrize("text", ["a\x00b", "\x01\x08\x0b\x1f", "\ufffe\uffff", "\udcff", "a\rb"])
def test_error_documents_stay_well_formed(text: str) -> None:
    assert is_xml_char_safe(escape_safe(text))
    body = error_xml(
        S3ErrorSpec("NoSuchKey", 404, "x"), message=text, resource="/b/" + text, request_id="R"
    )
    root = ET.fromstring(body)
    assert root.findtext("Code") == "NoSuchKey"
