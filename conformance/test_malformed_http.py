"""Requests broken at the HTTP level: every answer is an S3 ``<Error>`` document with a request id.

An S3 client reads the ``Code`` of any error body; a plain-text or HTML answer from the HTTP
layer leaves it with nothing but a status. These requests are refused before any S3 operation
runs (invalid header names or values, NUL bytes, oversized header sections, unknown methods,
missing or duplicated ``Host``, malformed request lines, request targets that are not a path),
so the cases assert the shape AWS gives every error (XML ``Error`` with ``Code``, ``Message``
and the ``RequestId`` that the ``x-amz-request-id`` header names) and a 4xx status. Where AWS
documents the code, it is asserted too: a header section over 8 KiB is
``RequestHeaderSectionTooLarge``.

Error messages that echo what the client sent (a key, a request target) must still be
well-formed XML 1.0, whatever characters they carry. A client that sends its headers slowly,
within the server's timeouts, is served.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.expect import raw_ok
from conformance.rawhttp import RawClient, Response, object_path


def s3_xml_error(resp: Response, status: int | None = None, code: str | None = None) -> None:
    """A 4xx S3 XML error document whose RequestId matches the x-amz-request-id header."""
    got = (resp.status, resp.body[:300])
    assert 400 <= resp.status < 500, f"expected a 4xx S3 error, got {got}"
    if status is not None:
        assert resp.status == status, got
    root = resp.xml()  # raises if the body is not well-formed XML
    assert root.tag == "Error", got
    assert root.findtext("Code"), got
    if code is not None:
        assert root.findtext("Code") == code, got
    assert root.findtext("Message"), got
    request_id = resp.header("x-amz-request-id")
    assert request_id, "no x-amz-request-id header"
    assert root.findtext("RequestId") == request_id, got


def head(raw: RawClient, request_line: bytes, *headers: bytes) -> bytes:
    lines = [request_line, b"Host: " + raw.host_header.encode(), *headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


MALFORMED = {
    "header-name-with-space": lambda raw, b: head(raw, b"GET /%s HTTP/1.1" % b, b"Bad Name: x"),
    "nul-in-header-value": lambda raw, b: head(raw, b"GET /%s HTTP/1.1" % b, b"X-A: a\x00b"),
    "control-char-in-header-value": lambda raw, b: head(
        raw, b"GET /%s HTTP/1.1" % b, b"X-A: a\x01b"
    ),
    "nul-in-request-target": lambda raw, b: head(raw, b"GET /%s/a\x00b HTTP/1.1" % b),
    "unknown-method": lambda raw, b: head(raw, b"FROB /%s HTTP/1.1" % b),
    "garbage-request-line": lambda raw, b: b"GARBAGE\r\n\r\n",
    "bad-http-version": lambda raw, b: head(raw, b"GET /%s HTTP/9.9" % b),
    "target-without-slash": lambda raw, b: head(raw, b"GET %s HTTP/1.1" % b),
    "invalid-content-length": lambda raw, b: head(
        raw, b"PUT /%s/k HTTP/1.1" % b, b"Content-Length: 12abc"
    ),
    "two-content-lengths": lambda raw, b: head(
        raw, b"PUT /%s/k HTTP/1.1" % b, b"Content-Length: 1", b"Content-Length: 2"
    ),
    "bad-chunk-size": lambda raw, b: (
        head(raw, b"PUT /%s/k HTTP/1.1" % b, b"Transfer-Encoding: chunked") + b"zz\r\n"
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_request_is_an_s3_xml_error(raw: RawClient, bucket: str, case: str) -> None:
    resp = raw.send_bytes(MALFORMED[case](raw, bucket.encode()))
    s3_xml_error(resp)


def test_missing_host_is_an_s3_xml_error(raw: RawClient, bucket: str) -> None:
    resp = raw.send_bytes(b"GET /%s HTTP/1.1\r\n\r\n" % bucket.encode())
    s3_xml_error(resp, 400)


def test_duplicate_host_is_an_s3_xml_error(raw: RawClient, bucket: str) -> None:
    resp = raw.send_bytes(head(raw, b"GET /%s HTTP/1.1" % bucket.encode(), b"Host: other"))
    s3_xml_error(resp, 400)


def test_header_section_over_8_kib_is_request_header_section_too_large(
    raw: RawClient, bucket: str
) -> None:
    resp = raw.send_bytes(head(raw, b"GET /%s HTTP/1.1" % bucket.encode(), b"X-A: " + b"a" * 9000))
    s3_xml_error(resp, 400, "RequestHeaderSectionTooLarge")


def test_many_headers_over_8_kib_is_request_header_section_too_large(
    raw: RawClient, bucket: str
) -> None:
    many = [b"X-Header-%04d: %s" % (i, b"v" * 20) for i in range(400)]  # ~12 KiB
    resp = raw.send_bytes(head(raw, b"GET /%s HTTP/1.1" % bucket.encode(), *many))
    s3_xml_error(resp, 400, "RequestHeaderSectionTooLarge")


def test_request_line_over_8_kib_is_an_s3_xml_error(raw: RawClient, bucket: str) -> None:
    target = b"/%s/%s" % (bucket.encode(), b"a" * 9000)
    s3_xml_error(raw.send_bytes(head(raw, b"GET %s HTTP/1.1" % target)))


def test_asterisk_request_target_is_an_s3_xml_error(raw: RawClient) -> None:
    s3_xml_error(raw.send_bytes(head(raw, b"OPTIONS * HTTP/1.1")))


def test_nul_in_key_error_is_well_formed_xml(raw: RawClient, bucket: str, prefix: str) -> None:
    path = object_path(bucket, prefix) + "bad%00key"
    s3_xml_error(raw.request("GET", path))


@pytest.mark.parametrize("char", ["%01", "%08", "%0B", "%1F", "%EF%BF%BF"])
def test_key_echoed_in_an_error_is_well_formed_xml(
    raw: RawClient, bucket: str, prefix: str, char: str
) -> None:
    # A missing key whose name holds characters XML 1.0 cannot carry: the error document that
    # names it (Resource, Key) must still parse.
    resp = raw.request("GET", object_path(bucket, prefix) + "missing" + char + "key")
    assert resp.status == 404, (resp.status, resp.body[:300])
    s3_xml_error(resp, 404, "NoSuchKey")


def test_slow_header_sender_is_served(raw: RawClient, s3: Any, bucket: str, prefix: str) -> None:
    s3.put_object(Bucket=bucket, Key=prefix + "k", Body=b"slow but fine")
    signed = raw.sign("GET", object_path(bucket, prefix + "k"))
    lines = [f"GET {signed.target} HTTP/1.1"] + [f"{k}: {v}" for k, v in signed.headers]
    data = ("\r\n".join(lines) + "\r\n\r\n").encode()
    pieces = [data[i : i + len(data) // 12 + 1] for i in range(0, len(data), len(data) // 12 + 1)]
    resp = raw.send_bytes(pieces, pause=0.25)  # the headers take about 3 seconds to arrive
    raw_ok(resp)
    assert resp.body == b"slow but fine"
