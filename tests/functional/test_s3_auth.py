"""Authentication and payload verification: every failure gets S3's code and stores nothing."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from typing import Any

import pytest
from awscrt import checksums as crt
from botocore.exceptions import ClientError

from gateway.s3 import sigv4
from gateway.s3.chunked import encode_chunked
from tests.functional.conftest import WeirServer
from tests.functional.rawclient import RawResponse, request, send_raw, send_signed, sign


def stored(s3: Any, bucket: str, key: str) -> bytes | None:
    try:
        return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "NoSuchKey"
        return None


def test_anonymous_and_bad_credentials(weir_server: WeirServer, bucket: str, s3: Any) -> None:
    s3.put_object(Bucket=bucket, Key="main/secret", Body=b"s")
    anonymous = send_raw(weir_server, "GET", f"/{bucket}/main/secret")
    assert (anonymous.status, anonymous.code) == (403, "AccessDenied")
    unknown = send_signed(
        weir_server,
        "GET",
        sign(weir_server, "GET", f"/{bucket}/main/secret", access_key="AKIANOPE"),
    )
    assert (unknown.status, unknown.code) == (403, "InvalidAccessKeyId")
    wrong = send_signed(
        weir_server, "GET", sign(weir_server, "GET", f"/{bucket}/main/secret", secret="wrong")
    )
    assert (wrong.status, wrong.code) == (403, "SignatureDoesNotMatch")
    skewed = send_signed(
        weir_server,
        "GET",
        sign(
            weir_server, "GET", f"/{bucket}/main/secret", now=datetime.now(UTC) - timedelta(hours=1)
        ),
    )
    assert (skewed.status, skewed.code) == (403, "RequestTimeTooSkewed")
    # SigV2 is accepted (auth.sigv2): without a date it is refused as AWS refuses it, with one
    # an unknown key is InvalidAccessKeyId.
    v2 = send_raw(
        weir_server, "GET", f"/{bucket}/main/secret", headers={"Authorization": "AWS AKIA:abc="}
    )
    assert (v2.status, v2.code) == (403, "AccessDenied")
    v2 = send_raw(
        weir_server,
        "GET",
        f"/{bucket}/main/secret",
        headers={"Authorization": "AWS AKIA:abc=", "Date": formatdate(usegmt=True)},
    )
    assert (v2.status, v2.code) == (403, "InvalidAccessKeyId")
    anonymous_put = send_raw(weir_server, "PUT", f"/{bucket}/main/anon", body=b"x")
    assert anonymous_put.status == 403
    assert stored(s3, bucket, "main/anon") is None


def test_presigned_expiry_and_basic_header(weir_server: WeirServer, bucket: str, s3: Any) -> None:
    s3.put_object(Bucket=bucket, Key="main/p", Body=b"presigned")
    fresh = sign(weir_server, "GET", f"/{bucket}/main/p", presign_expires=60)
    assert send_signed(weir_server, "GET", fresh).body == b"presigned"
    basic = dict(fresh.headers)
    basic["Authorization"] = "Basic " + base64.b64encode(b"user:password").decode()
    quirk = send_raw(weir_server, "GET", fresh.url_path, headers=basic)
    assert (quirk.status, quirk.body) == (200, b"presigned")
    old = sign(
        weir_server,
        "GET",
        f"/{bucket}/main/p",
        presign_expires=60,
        now=datetime.now(UTC) - timedelta(minutes=5),
    )
    expired = send_signed(weir_server, "GET", old)
    assert (expired.status, expired.code) == (403, "AccessDenied")
    assert b"expired" in expired.body
    tampered = fresh.url_path.replace("main/p", "main/q")
    bad = send_raw(weir_server, "GET", tampered, headers=fresh.headers)
    assert (bad.status, bad.code) == (403, "SignatureDoesNotMatch")


def test_signed_payload_mismatch(weir_server: WeirServer, bucket: str, s3: Any) -> None:
    signed = sign(
        weir_server,
        "PUT",
        f"/{bucket}/main/sha",
        payload_hash=hashlib.sha256(b"what was signed").hexdigest(),
    )
    response = send_signed(weir_server, "PUT", signed, b"what was sent!!")
    assert (response.status, response.code) == (400, "XAmzContentSHA256Mismatch")
    assert stored(s3, bucket, "main/sha") is None
    good = request(weir_server, "PUT", f"/{bucket}/main/sha", body=b"what was signed")
    assert good.status == 200
    assert stored(s3, bucket, "main/sha") == b"what was signed"


def test_content_md5(weir_server: WeirServer, bucket: str, s3: Any) -> None:
    body = b"md5 me"
    right = base64.b64encode(hashlib.md5(body).digest()).decode()
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    bad = request(
        weir_server, "PUT", f"/{bucket}/main/md5", headers={"Content-MD5": wrong}, body=body
    )
    assert (bad.status, bad.code) == (400, "BadDigest")
    assert stored(s3, bucket, "main/md5") is None
    invalid = request(
        weir_server, "PUT", f"/{bucket}/main/md5", headers={"Content-MD5": "nope"}, body=body
    )
    assert (invalid.status, invalid.code) == (400, "InvalidDigest")
    ok = request(
        weir_server, "PUT", f"/{bucket}/main/md5", headers={"Content-MD5": right}, body=body
    )
    assert ok.status == 200
    assert stored(s3, bucket, "main/md5") == body


def _checksum(algorithm: str, data: bytes) -> str:
    if algorithm == "crc32":
        raw = crt.crc32(data).to_bytes(4, "big")
    elif algorithm == "crc32c":
        raw = crt.crc32c(data).to_bytes(4, "big")
    elif algorithm == "crc64nvme":
        raw = crt.crc64nvme(data).to_bytes(8, "big")
    else:
        raw = hashlib.new(algorithm, data).digest()
    return base64.b64encode(raw).decode()


def test_checksum_header(weir_server: WeirServer, bucket: str, s3: Any) -> None:
    body = b"checked"
    bad = request(
        weir_server,
        "PUT",
        f"/{bucket}/main/ck",
        headers={"x-amz-checksum-crc32c": _checksum("crc32c", b"different")},
        body=body,
    )
    assert (bad.status, bad.code) == (400, "BadDigest")
    assert stored(s3, bucket, "main/ck") is None
    good = request(
        weir_server,
        "PUT",
        f"/{bucket}/main/ck",
        headers={"x-amz-checksum-crc32c": _checksum("crc32c", body)},
        body=body,
    )
    assert good.status == 200
    head = s3.head_object(Bucket=bucket, Key="main/ck", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32C"] == _checksum("crc32c", body)


def _chunked_put(
    server: WeirServer,
    path: str,
    payload: bytes,
    *,
    mode: str,
    trailers: dict[str, str] | None = None,
    corrupt: bool = False,
) -> RawResponse:
    headers = {
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(payload)),
    }
    if trailers:
        headers["x-amz-trailer"] = ",".join(trailers)
    signed = sign(server, "PUT", path, headers=headers, payload_hash=mode)
    signing = None if mode == sigv4.STREAMING_UNSIGNED_TRAILER else signed.signing_key
    body = encode_chunked(payload, chunk_size=64 * 1024, signing=signing, trailers=trailers)
    if corrupt:
        index = body.index(b"\r\n") + 10  # flip a payload byte of the first chunk
        body = body[:index] + bytes([body[index] ^ 1]) + body[index + 1 :]
    return send_signed(server, "PUT", signed, body)


def test_streaming_signed_payload(weir_server: WeirServer, bucket: str, s3: Any) -> None:
    payload = bytes(range(256)) * 1000  # 256,000 bytes: several 64 KiB chunks
    path = f"/{bucket}/main/chunked"
    good = _chunked_put(weir_server, path, payload, mode=sigv4.STREAMING_SIGNED)
    assert good.status == 200, good.body
    assert stored(s3, bucket, "main/chunked") == payload
    bad = _chunked_put(
        weir_server,
        f"/{bucket}/main/chunked-bad",
        payload,
        mode=sigv4.STREAMING_SIGNED,
        corrupt=True,
    )
    assert (bad.status, bad.code) == (403, "SignatureDoesNotMatch")
    assert stored(s3, bucket, "main/chunked-bad") is None


@pytest.mark.parametrize("algorithm", ["crc32", "crc32c", "crc64nvme", "sha1", "sha256"])
def test_streaming_unsigned_trailer(
    weir_server: WeirServer, bucket: str, s3: Any, algorithm: str
) -> None:
    payload = b"trailing checksum " * 5000
    header = f"x-amz-checksum-{algorithm}"
    key = f"main/trailer-{algorithm}"
    good = _chunked_put(
        weir_server,
        f"/{bucket}/{key}",
        payload,
        mode=sigv4.STREAMING_UNSIGNED_TRAILER,
        trailers={header: _checksum(algorithm, payload)},
    )
    assert good.status == 200, good.body
    assert stored(s3, bucket, key) == payload
    head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm.upper()}"] == _checksum(algorithm, payload)
    bad = _chunked_put(
        weir_server,
        f"/{bucket}/{key}-bad",
        payload,
        mode=sigv4.STREAMING_UNSIGNED_TRAILER,
        trailers={header: _checksum(algorithm, b"not the payload")},
    )
    assert (bad.status, bad.code) == (400, "BadDigest")
    assert stored(s3, bucket, f"{key}-bad") is None


def test_streaming_signed_with_trailer(weir_server: WeirServer, bucket: str, s3: Any) -> None:
    payload = b"signed and trailed " * 4000
    good = _chunked_put(
        weir_server,
        f"/{bucket}/main/st",
        payload,
        mode=sigv4.STREAMING_SIGNED_TRAILER,
        trailers={"x-amz-checksum-crc32": _checksum("crc32", payload)},
    )
    assert good.status == 200, good.body
    assert stored(s3, bucket, "main/st") == payload
