"""S3 error behaviour: error documents, unsupported sub-resources, bad input (never 500 or hang)."""

from __future__ import annotations

import base64
import hashlib
import http.client
import socket
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.functional.conftest import WeirServer
from tests.functional.rawclient import RawResponse, request, send_truncated, sign


def test_error_document_and_request_id(weir_server: WeirServer, bucket: str) -> None:
    missing = request(weir_server, "GET", f"/{bucket}/main/nope")
    assert (missing.status, missing.code) == (404, "NoSuchKey")
    request_id = missing.headers["x-amz-request-id"]
    assert request_id and missing.headers["x-amz-id-2"]
    assert f"<RequestId>{request_id}</RequestId>".encode() in missing.body
    assert f"<Resource>/{bucket}/main/nope</Resource>".encode() in missing.body
    assert b"<Message>" in missing.body
    assert missing.headers["content-type"] == "application/xml"

    no_bucket = request(weir_server, "GET", "/no-such-bucket-here/main/x")
    assert (no_bucket.status, no_bucket.code) == (404, "NoSuchBucket")
    no_bucket_list = request(
        weir_server, "GET", "/no-such-bucket-here", query=[("list-type", "2"), ("prefix", "main/")]
    )
    assert (no_bucket_list.status, no_bucket_list.code) == (404, "NoSuchBucket")
    no_ref = request(weir_server, "GET", f"/{bucket}/no-such-branch/x")
    assert (no_ref.status, no_ref.code) == (404, "NoSuchKey")
    head = request(weir_server, "HEAD", f"/{bucket}/main/nope")
    assert (head.status, head.body) == (404, b"")
    assert head.headers["x-amz-request-id"]
    ok = request(weir_server, "GET", "/")
    assert ok.status == 200 and ok.headers["x-amz-request-id"]


@pytest.mark.parametrize(
    ("method", "target", "sub"),
    [
        ("GET", "bucket", "tagging"),
        ("PUT", "bucket", "policy"),
        ("DELETE", "bucket", "acl"),
        ("GET", "bucket", "lifecycle"),
        ("DELETE", "bucket", "cors"),
        ("POST", "bucket", "versions"),
        ("POST", "object", "tagging"),
        ("DELETE", "object", "acl"),
        ("GET", "object", "retention"),
        ("POST", "object", "restore"),
    ],
)
def test_unsupported_subresources(
    weir_server: WeirServer, bucket: str, method: str, target: str, sub: str
) -> None:
    path = f"/{bucket}" if target == "bucket" else f"/{bucket}/main/key"
    response = request(weir_server, method, path, query=[(sub, "")])
    assert (response.status, response.code) == (501, "NotImplemented")


def test_unsupported_via_boto3(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as info:
        s3.get_bucket_tagging(Bucket=bucket)
    assert info.value.response["Error"]["Code"] == "NotImplemented"
    with pytest.raises(ClientError) as info:
        s3.put_object_retention(Bucket=bucket, Key="main/x", Retention={"Mode": "GOVERNANCE"})
    assert info.value.response["Error"]["Code"] == "NotImplemented"


def test_method_not_allowed_and_unknown_params(weir_server: WeirServer, bucket: str) -> None:
    patch = request(weir_server, "PATCH", f"/{bucket}/main/x", body=b"")
    assert (patch.status, patch.code) == (405, "MethodNotAllowed")
    put = request(weir_server, "PUT", f"/{bucket}/main/x", query=[("x-id", "PutObject")], body=b"1")
    assert put.status == 200  # unknown, non-sub-resource parameters are ignored as on S3


def delete_objects(weir_server: WeirServer, bucket: str, body: bytes) -> RawResponse:
    """POST ?delete with the Content-MD5 S3 requires, payload unsigned."""
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    return request(
        weir_server,
        "POST",
        f"/{bucket}",
        query=[("delete", "")],
        headers={"Content-MD5": md5},
        body=body,
        signed_payload=False,
    )


def test_bad_xml_bodies(weir_server: WeirServer, bucket: str) -> None:
    malformed = delete_objects(weir_server, bucket, b"<Delete><Obj")
    assert (malformed.status, malformed.code) == (400, "MalformedXML")
    entity = (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b"<Delete><Object><Key>&b;</Key></Object></Delete>"
    )
    bomb = delete_objects(weir_server, bucket, entity)
    assert (bomb.status, bomb.code) == (400, "MalformedXML")
    oversize = b"<Delete>" + b"<Object><Key>main/k</Key></Object>" * 80_000 + b"</Delete>"
    big = delete_objects(weir_server, bucket, oversize)
    assert (big.status, big.code) == (400, "MaxMessageLengthExceeded")
    too_many = b"<Delete>" + b"<Object><Key>main/k</Key></Object>" * 1001 + b"</Delete>"
    many = delete_objects(weir_server, bucket, too_many)
    assert (many.status, many.code) == (400, "MalformedXML")
    one = b"<Delete><Object><Key>main/k</Key></Object></Delete>"
    unprotected = request(weir_server, "POST", f"/{bucket}", query=[("delete", "")], body=one)
    assert (unprotected.status, unprotected.code) == (400, "InvalidRequest")
    assert delete_objects(weir_server, bucket, one).status == 200
    complete = request(
        weir_server,
        "POST",
        f"/{bucket}/main/mp",
        query=[("uploadId", "nope")],
        body=b"<CompleteMultipartUpload><Part>",
    )
    assert complete.status in (400, 404) and complete.code in ("MalformedXML", "NoSuchUpload")
    create = request(
        weir_server, "PUT", "/xml-bad-config-bucket", body=b"<CreateBucketConfiguration>"
    )
    assert (create.status, create.code) == (400, "MalformedXML")


def test_invalid_keys_and_names(weir_server: WeirServer, bucket: str) -> None:
    long_key = "main/" + "k" * 1100
    too_long = request(weir_server, "PUT", f"/{bucket}/{long_key}", body=b"x")
    assert (too_long.status, too_long.code) == (400, "KeyTooLongError")
    bad_utf8 = request(weir_server, "PUT", f"/{bucket}/main/%FF%FE", body=b"x")
    assert (bad_utf8.status, bad_utf8.code) == (400, "InvalidURI")
    nul = request(weir_server, "PUT", f"/{bucket}/main/a%00b", body=b"x")
    assert (nul.status, nul.code) == (400, "InvalidArgument")
    no_path = request(weir_server, "PUT", f"/{bucket}/main", body=b"x")
    assert (no_path.status, no_path.code) == (400, "InvalidArgument")
    bad_bucket = request(weir_server, "PUT", "/Bad_Bucket_Name")
    assert (bad_bucket.status, bad_bucket.code) == (400, "InvalidBucketName")
    dotted = request(weir_server, "PUT", "/dotted.bucket.name")  # S3-valid, not a repo name
    assert (dotted.status, dotted.code) == (400, "InvalidBucketName")
    reserved = request(weir_server, "PUT", "/api")  # where the admin API lives
    assert (reserved.status, reserved.code) == (400, "InvalidBucketName")
    bad_max = request(weir_server, "GET", f"/{bucket}", query=[("max-keys", "abc")])
    assert (bad_max.status, bad_max.code) == (400, "InvalidArgument")
    bad_token = request(
        weir_server, "GET", f"/{bucket}", query=[("list-type", "2"), ("continuation-token", "%%%")]
    )
    assert (bad_token.status, bad_token.code) == (400, "InvalidArgument")
    bad_part = request(
        weir_server,
        "PUT",
        f"/{bucket}/main/x",
        query=[("partNumber", "0"), ("uploadId", "u")],
        body=b"x",
    )
    assert bad_part.status == 400
    missing_upload = request(
        weir_server,
        "PUT",
        f"/{bucket}/main/x",
        query=[("partNumber", "1"), ("uploadId", "u")],
        body=b"x",
    )
    assert (missing_upload.status, missing_upload.code) == (404, "NoSuchUpload")


def test_short_body_stores_nothing(weir_server: WeirServer, bucket: str, s3: Any) -> None:
    signed = sign(weir_server, "PUT", f"/{bucket}/main/short")
    reply = send_truncated(weir_server, signed, "PUT", declared=100_000, body=b"x" * 1000)
    assert not reply.startswith(b"HTTP/1.1 5")
    with pytest.raises(ClientError) as info:
        s3.head_object(Bucket=bucket, Key="main/short")
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    # The server is still healthy and the key is writable afterwards.
    s3.put_object(Bucket=bucket, Key="main/short", Body=b"complete")
    assert s3.get_object(Bucket=bucket, Key="main/short")["Body"].read() == b"complete"


def test_signed_body_longer_than_length(weir_server: WeirServer, bucket: str, s3: Any) -> None:
    body = b"0123456789"
    signed = sign(
        weir_server, "PUT", f"/{bucket}/main/long", payload_hash=hashlib.sha256(body).hexdigest()
    )
    conn = http.client.HTTPConnection(weir_server.host, weir_server.port, timeout=30)
    try:
        conn.putrequest("PUT", signed.url_path, skip_host=True)
        for name, value in signed.headers.items():
            conn.putheader(name, value)
        conn.putheader("Content-Length", "5")
        conn.endheaders(body)
        response = conn.getresponse()
        # The first 5 bytes fail the signed SHA-256; the other 5 are not a request: 400 either way.
        assert response.status == 400
    finally:
        conn.close()
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="main/long")


def test_expect_100_continue(weir_server: WeirServer, bucket: str, s3: Any) -> None:
    body = b"sent after 100 Continue"
    signed = sign(
        weir_server, "PUT", f"/{bucket}/main/expect", payload_hash=hashlib.sha256(body).hexdigest()
    )
    lines = [f"PUT {signed.url_path} HTTP/1.1"]
    lines += [f"{k}: {v}" for k, v in signed.headers.items()]
    lines += [f"Content-Length: {len(body)}", "Expect: 100-continue", "Connection: close", "", ""]
    with socket.create_connection((weir_server.host, weir_server.port), timeout=30) as sock:
        sock.sendall("\r\n".join(lines).encode())
        interim = sock.recv(4096)  # the server must ask for the body before we send it
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n")
        sock.sendall(body)
        final = b""
        while chunk := sock.recv(65536):
            final += chunk
    assert final.startswith(b"HTTP/1.1 200")
    assert s3.get_object(Bucket=bucket, Key="main/expect")["Body"].read() == body


def test_size_limits(weir_server: WeirServer, bucket: str) -> None:
    huge = request(
        weir_server,
        "PUT",
        f"/{bucket}/main/huge",
        headers={"Content-Length": str(6 * 1024**3)},
        signed_payload=False,
    )
    assert (huge.status, huge.code) == (400, "EntityTooLarge")
    meta = request(
        weir_server,
        "PUT",
        f"/{bucket}/main/meta",
        headers={"x-amz-meta-big": "v" * 3000},
        body=b"x",
    )
    assert (meta.status, meta.code) == (400, "MetadataTooLarge")


@pytest.mark.parametrize(
    "headers",
    [
        {"x-amz-object-lock-mode": "GOVERNANCE"},
        {"x-amz-server-side-encryption": "aws:kms"},
        {"x-amz-server-side-encryption-customer-algorithm": "AES256"},
        {"x-amz-website-redirect-location": "/elsewhere"},
    ],
)
def test_unsupported_write_headers(
    weir_server: WeirServer, bucket: str, headers: dict[str, str]
) -> None:
    refused = request(weir_server, "PUT", f"/{bucket}/main/h", headers=headers, body=b"x")
    assert (refused.status, refused.code) == (501, "NotImplemented")
