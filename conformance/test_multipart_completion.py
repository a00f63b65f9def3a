"""Multipart edge cases SDKs rely on: completion retried after a lost response, a part uploaded
twice at once, and the exact codes of UploadPartCopy range errors.

* A CompleteMultipartUpload repeated after it succeeded succeeds again with the same ETag
  (SDKs retry on a timeout; observed against AWS in public issue threads of S3 mocks and MinIO,
  2021 and 2025, which had answered NoSuchUpload and changed).
* Parts are last-writer-wins by completion time: when the same part number is uploaded twice
  concurrently, the upload that completes last is the part (AWS UploadPart: "If you upload a
  new part using the same part number that was used with a previous part, the previously
  uploaded part is overwritten").
* UploadPartCopy: a range that is not ``bytes=first-last`` is 400 ``InvalidArgument`` naming
  ``x-amz-copy-source-range``; a range past the end of the source is 400 ``InvalidArgument``
  "Range specified is not valid for source object of size: N" (measured against AWS and
  reported in public issues of S3-compatible servers, 2019 and 2024).
"""

from __future__ import annotations

import hashlib
import socket
from typing import Any

import pytest

from conformance.expect import client_error, raw_error, raw_ok
from conformance.rawhttp import RawClient, Response, object_path

PART = b"0123456789abcdef" * 4096  # 64 KiB: a final part may be any size


def start(s3: Any, bucket: str, key: str) -> str:
    upload_id: str = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    return upload_id


def complete_body(parts: list[tuple[int, str]]) -> bytes:
    rows = "".join(
        f"<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>" for n, etag in parts
    )
    return f"<CompleteMultipartUpload>{rows}</CompleteMultipartUpload>".encode()


def test_complete_repeated_after_success_returns_same_etag(
    raw: RawClient, s3: Any, bucket: str, prefix: str
) -> None:
    key = prefix + "k"
    upload_id = start(s3, bucket, key)
    etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=PART)[
        "ETag"
    ]
    body = complete_body([(1, etag)])
    path, query = object_path(bucket, key), [("uploadId", upload_id)]
    first = raw.request("POST", path, query=query, body=body)
    raw_ok(first)
    again = raw.request("POST", path, query=query, body=body)
    raw_ok(again)
    assert again.xml().findtext("ETag") == first.xml().findtext("ETag")
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == PART
    listed = s3.list_multipart_uploads(Bucket=bucket, Prefix=prefix)
    assert "Uploads" not in listed


def test_complete_retried_by_boto3_after_success_succeeds(
    s3: Any, bucket: str, prefix: str
) -> None:
    key = prefix + "k"
    upload_id = start(s3, bucket, key)
    etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=PART)[
        "ETag"
    ]
    parts = {"Parts": [{"PartNumber": 1, "ETag": etag}]}
    first = s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload=parts
    )
    second = s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload=parts
    )
    assert second["ETag"] == first["ETag"]


def test_abort_after_complete_leaves_the_object(s3: Any, bucket: str, prefix: str) -> None:
    key = prefix + "k"
    upload_id = start(s3, bucket, key)
    etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=PART)[
        "ETag"
    ]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )
    with client_error(404, "NoSuchUpload"):
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == PART


def _read_response(sock: socket.socket) -> Response:
    import http.client

    resp = http.client.HTTPResponse(sock, method="PUT")
    resp.begin()
    return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())


def test_part_uploaded_twice_concurrently_resolves_to_the_last_completed(
    raw: RawClient, s3: Any, bucket: str, prefix: str
) -> None:
    key = prefix + "k"
    upload_id = start(s3, bucket, key)
    slow_data, fast_data = b"S" * len(PART), b"F" * len(PART)
    query = [("partNumber", "1"), ("uploadId", upload_id)]
    signed = raw.sign(
        "PUT",
        object_path(bucket, key),
        query,
        headers={"content-length": str(len(slow_data))},
        payload_hash="UNSIGNED-PAYLOAD",
    )
    head = "\r\n".join([f"PUT {signed.target} HTTP/1.1"] + [f"{k}: {v}" for k, v in signed.headers])
    host, _, port = raw.host_header.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=raw.timeout) as slow:
        # The first upload starts, sends half its body and stalls ...
        slow.sendall(head.encode() + b"\r\n\r\n" + slow_data[: len(slow_data) // 2])
        # ... a second upload of the same part number starts later and completes first ...
        fast_etag = s3.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=fast_data
        )["ETag"]
        # ... then the first one completes: it is the last to complete, so it is the part.
        slow.sendall(slow_data[len(slow_data) // 2 :])
        slow_resp = _read_response(slow)
    raw_ok(slow_resp)
    slow_etag = slow_resp.header("etag")
    assert slow_etag == f'"{hashlib.md5(slow_data).hexdigest()}"'
    assert fast_etag == f'"{hashlib.md5(fast_data).hexdigest()}"'
    listed = s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["ETag"]) for p in listed] == [(1, slow_etag)]
    with client_error(400, "InvalidPart"):
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": fast_etag}]},
        )
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": slow_etag}]},
    )
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == slow_data


@pytest.mark.parametrize(
    "copy_range",
    ["0-10", "bytes=0-", "bytes=-5", "bytes=a-b", "bytes=0-1,3-4"],
    ids=["no-unit", "open-ended", "suffix", "not-numbers", "two-ranges"],
)
def test_upload_part_copy_malformed_range_names_the_argument(
    raw: RawClient, s3: Any, bucket: str, prefix: str, copy_range: str
) -> None:
    s3.put_object(Bucket=bucket, Key=prefix + "source", Body=PART)
    key = prefix + "assembled"
    upload_id = start(s3, bucket, key)
    resp = raw.request(
        "PUT",
        object_path(bucket, key),
        query=[("partNumber", "1"), ("uploadId", upload_id)],
        headers={
            "x-amz-copy-source": f"{bucket}/{prefix}source",
            "x-amz-copy-source-range": copy_range,
        },
    )
    raw_error(resp, 400, "InvalidArgument")
    assert resp.xml().findtext("ArgumentName") == "x-amz-copy-source-range"


@pytest.mark.parametrize("copy_range", ["bytes=0-65536", "bytes=70000-70001", "bytes=9-2"])
def test_upload_part_copy_range_outside_source_is_invalid_argument(
    s3: Any, bucket: str, prefix: str, copy_range: str
) -> None:
    s3.put_object(Bucket=bucket, Key=prefix + "source", Body=PART)
    key = prefix + "assembled"
    upload_id = start(s3, bucket, key)
    with client_error(400, "InvalidArgument") as caught:
        s3.upload_part_copy(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=1,
            CopySource={"Bucket": bucket, "Key": prefix + "source"},
            CopySourceRange=copy_range,
        )
    assert f"size: {len(PART)}" in caught.response["Error"]["Message"]
