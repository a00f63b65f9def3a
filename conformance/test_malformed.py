"""Malformed input: XML with entities, truncated bodies, bad headers. Never a 500, never data."""

from __future__ import annotations

from typing import Any

from conformance.expect import client_error, raw_error
from conformance.rawhttp import CLOSED, RawClient, content_md5, object_path

ENTITY_DELETE = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE Delete [<!ENTITY k "conformance-entity-key">]>
<Delete><Object><Key>&k;</Key></Object></Delete>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<Delete><Object><Key>&lol4;</Key></Object></Delete>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE Delete [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Delete><Object><Key>&xxe;</Key></Object></Delete>"""


def post_delete(raw: RawClient, bucket: str, body: bytes) -> Any:
    headers = {"content-md5": content_md5(body)}
    return raw.request(
        "POST", object_path(bucket), query=[("delete", "")], headers=headers, body=body
    )


def test_delete_objects_with_doctype_entity_is_malformed_xml(raw: RawClient, bucket: str) -> None:
    raw_error(post_delete(raw, bucket, ENTITY_DELETE), 400, "MalformedXML")


def test_delete_objects_billion_laughs_is_malformed_xml(raw: RawClient, bucket: str) -> None:
    raw_error(post_delete(raw, bucket, BILLION_LAUGHS), 400, "MalformedXML")


def test_delete_objects_external_entity_is_malformed_xml(raw: RawClient, bucket: str) -> None:
    raw_error(post_delete(raw, bucket, EXTERNAL_ENTITY), 400, "MalformedXML")


def test_delete_objects_not_xml_is_malformed_xml(raw: RawClient, bucket: str) -> None:
    raw_error(post_delete(raw, bucket, b"this is not xml"), 400, "MalformedXML")


def test_complete_multipart_with_entity_is_malformed_xml(
    raw: RawClient, s3: Any, bucket: str, prefix: str
) -> None:
    key = prefix + "k"
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=b"x")[
        "ETag"
    ]
    body = (
        '<?xml version="1.0"?><!DOCTYPE C [<!ENTITY e "1">]>'
        f"<CompleteMultipartUpload><Part><PartNumber>&e;</PartNumber><ETag>{etag}</ETag></Part>"
        "</CompleteMultipartUpload>"
    ).encode()
    resp = raw.request("POST", object_path(bucket, key), query=[("uploadId", upload_id)], body=body)
    raw_error(resp, 400, "MalformedXML")
    with client_error(404, "NoSuchKey"):
        s3.get_object(Bucket=bucket, Key=key)


def test_complete_multipart_garbage_is_malformed_xml(
    raw: RawClient, s3: Any, bucket: str, prefix: str
) -> None:
    key = prefix + "k"
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    resp = raw.request(
        "POST", object_path(bucket, key), query=[("uploadId", upload_id)], body=b"<Complete"
    )
    raw_error(resp, 400, "MalformedXML")


def test_body_shorter_than_content_length_creates_no_object(
    raw: RawClient, s3: Any, bucket: str, prefix: str
) -> None:
    path = object_path(bucket, prefix + "short")
    body = b"only part of the promised body"
    resp = raw.request(
        "PUT",
        path,
        body=body,
        payload_hash="UNSIGNED-PAYLOAD",
        content_length=len(body) + 1000,
        half_close=True,
    )
    # The server may answer 400 or just close; it must not store anything, fail with a 5xx,
    # or hang (TIMED_OUT) waiting for bytes that a half-closed connection can never bring.
    assert resp.status == CLOSED or 400 <= resp.status < 500, (resp.status, resp.body[:300])
    with client_error(404, None):
        s3.head_object(Bucket=bucket, Key=prefix + "short")
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)


def test_streaming_signed_body_truncated_creates_no_object(
    raw: RawClient, s3: Any, bucket: str, prefix: str
) -> None:
    # A chunk header announcing more bytes than are sent, then the client stops.
    signed = raw.sign(
        "PUT",
        object_path(bucket, prefix + "chunked"),
        headers={
            "content-encoding": "aws-chunked",
            "x-amz-decoded-content-length": "1000",
            "content-length": "2000",
        },
        payload_hash="STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    )
    frame = b"3e8;chunk-signature=" + b"0" * 64 + b"\r\n" + b"x" * 10
    resp = raw.send("PUT", signed.target, signed.headers, frame, half_close=True)
    assert resp.status == CLOSED or 400 <= resp.status < 500, (resp.status, resp.body[:300])
    with client_error(404, None):
        s3.head_object(Bucket=bucket, Key=prefix + "chunked")


def test_key_with_invalid_utf8_is_rejected(
    raw: RawClient, s3: Any, bucket: str, prefix: str
) -> None:
    path = object_path(bucket, prefix) + "bad%FFkey"
    resp = raw.request("PUT", path, body=b"x")
    assert 400 <= resp.status < 500, (resp.status, resp.body[:300])
    assert resp.error_code() is not None
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)


def test_negative_content_length_is_rejected(
    raw: RawClient, s3: Any, bucket: str, prefix: str
) -> None:
    signed = raw.sign("PUT", object_path(bucket, prefix + "neg"), headers={"content-length": "-1"})
    resp = raw.send("PUT", signed.target, signed.headers, b"", half_close=True)
    assert resp.status == CLOSED or 400 <= resp.status < 500, (resp.status, resp.body[:300])
    with client_error(404, None):
        s3.head_object(Bucket=bucket, Key=prefix + "neg")


def test_expect_100_continue_then_disconnect_creates_no_object(
    raw: RawClient, s3: Any, bucket: str, prefix: str
) -> None:
    # The client announces 1000 bytes, gets (or not) its 100 Continue, then goes away.
    path = object_path(bucket, prefix + "never-sent")
    first, resp = raw.put_expect_continue(path, b"", content_length=1000, wait=1.0)
    assert resp.status < 500, (first, resp.status, resp.body[:300])
    with client_error(404, None):
        s3.head_object(Bucket=bucket, Key=prefix + "never-sent")
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
