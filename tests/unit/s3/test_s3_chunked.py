"""aws-chunked decoding: AWS's signed example, boto3's unsigned trailer bodies, every failure."""

from __future__ import annotations

import hashlib
import io
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import boto3  # type: ignore[import-untyped]
import botocore.config
import pytest
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.httpchecksum import _CHECKSUM_CLS, AwsChunkedWrapper
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from gateway.core.errors import IncompleteBody
from gateway.core.model import BlobInfo
from gateway.s3 import sigv4
from gateway.s3.checksums import ALGORITHMS, ChecksumSet, b64, new_hasher
from gateway.s3.chunked import AwsChunkedDecoder, encode_chunked
from gateway.s3.errors import (
    InvalidChunkSizeError,
    MalformedChunkedEncoding,
    SignatureDoesNotMatch,
    s3_error_for,
)

SIGNED = sigv4.STREAMING_SIGNED
SIGNED_TRAILER = sigv4.STREAMING_SIGNED_TRAILER
UNSIGNED_TRAILER = sigv4.STREAMING_UNSIGNED_TRAILER


async def _source(body: bytes, piece: int) -> AsyncIterator[bytes]:
    for start in range(0, len(body), piece):
        yield body[start : start + piece]


async def _decode(
    body: bytes,
    *,
    mode: str,
    signing: sigv4.SigningKey | None,
    decoded_length: int | None = None,
    piece: int = 4096,
) -> tuple[bytes, dict[str, str], int]:
    decoder = AwsChunkedDecoder(
        _source(body, piece), mode=mode, signing=signing, decoded_length=decoded_length
    )
    out = bytearray()
    largest = 0
    async for data in decoder:
        out += data
        largest = max(largest, len(data))
    return bytes(out), decoder.trailers, largest


# -- AWS's documented example (sigv4-streaming "Example: PUT Object") --------------------------

AWS_HEADERS = {
    "host": "s3.amazonaws.com",
    "x-amz-date": "20130524T000000Z",
    "x-amz-storage-class": "REDUCED_REDUNDANCY",
    "x-amz-content-sha256": SIGNED,
    "content-encoding": "aws-chunked",
    "x-amz-decoded-content-length": "66560",
    "content-length": "66824",
    "authorization": (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
        "SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
        "x-amz-decoded-content-length;x-amz-storage-class,"
        "Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
    ),
}
AWS_CHUNK_SIGNATURES = (
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
)


@pytest.fixture(scope="module")
def aws_key() -> sigv4.SigningKey:
    ctx = sigv4.parse_auth("PUT", AWS_HEADERS, [])
    assert ctx is not None and ctx.streaming
    return sigv4.verify(
        ctx,
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        method="PUT",
        raw_path="/examplebucket/chunkObject.txt",
        raw_query="",
        headers=AWS_HEADERS,
        now=datetime(2013, 5, 24, 0, 1, tzinfo=UTC),
    )


def _aws_body() -> bytes:
    sig1, sig2, sig3 = AWS_CHUNK_SIGNATURES
    return (
        f"10000;chunk-signature={sig1}\r\n".encode()
        + b"a" * 65536
        + f"\r\n400;chunk-signature={sig2}\r\n".encode()
        + b"a" * 1024
        + f"\r\n0;chunk-signature={sig3}\r\n\r\n".encode()
    )


@pytest.mark.parametrize("piece", [13, 4096, 70000])
async def test_aws_documented_example(aws_key: sigv4.SigningKey, piece: int) -> None:
    body = _aws_body()
    assert len(body) == 66824  # the example's Content-Length
    assert encode_chunked(b"a" * 66560, chunk_size=65536, signing=aws_key) == body
    data, trailers, largest = await _decode(
        body, mode=SIGNED, signing=aws_key, decoded_length=66560, piece=piece
    )
    assert data == b"a" * 66560 and trailers == {}
    assert largest <= piece  # nothing is accumulated beyond one source chunk


async def test_aws_example_byte_by_byte_framing(aws_key: sigv4.SigningKey) -> None:
    payload = bytes(range(256)) * 40  # 10 KiB: two signed chunks of 8 KiB + 2 KiB
    body = encode_chunked(payload, chunk_size=8192, signing=aws_key)
    data, _, largest = await _decode(body, mode=SIGNED, signing=aws_key, piece=1)
    assert data == payload and largest == 1


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda b: b.replace(AWS_CHUNK_SIGNATURES[0].encode(), b"0" * 64),
        lambda b: b.replace(AWS_CHUNK_SIGNATURES[1].encode(), b"1" * 64),
        lambda b: b.replace(AWS_CHUNK_SIGNATURES[2].encode(), b"2" * 64),  # final empty chunk
        lambda b: b[:100] + b"b" + b[101:],  # payload byte flipped
        lambda b: b.replace(AWS_CHUNK_SIGNATURES[0].encode(), AWS_CHUNK_SIGNATURES[1].encode()),
    ],
)
async def test_corrupted_signed_body_fails(aws_key: sigv4.SigningKey, corrupt: Any) -> None:
    with pytest.raises(SignatureDoesNotMatch) as err:
        await _decode(corrupt(_aws_body()), mode=SIGNED, signing=aws_key)
    assert s3_error_for(err.value).status == 403


async def test_reordered_chunks_fail(aws_key: sigv4.SigningKey) -> None:
    a = encode_chunked(b"x" * 9000, chunk_size=9000, signing=aws_key)
    first_chunk = a[: a.index(b"\r\n0;") + 2]
    with pytest.raises(SignatureDoesNotMatch):
        # The same valid first chunk twice: the second is not chained from the first.
        await _decode(
            first_chunk + first_chunk + a[len(first_chunk) :], mode=SIGNED, signing=aws_key
        )


@pytest.mark.parametrize("cut", [1, 50, 90, 5000, 66700, 66740, 66800, 66822, 66823])
async def test_truncated_bodies_are_incomplete(aws_key: sigv4.SigningKey, cut: int) -> None:
    with pytest.raises(IncompleteBody) as err:
        await _decode(_aws_body()[:cut], mode=SIGNED, signing=aws_key)
    assert s3_error_for(err.value).code == "IncompleteBody"


async def test_decoded_length_mismatch(aws_key: sigv4.SigningKey) -> None:
    with pytest.raises(IncompleteBody):
        await _decode(_aws_body(), mode=SIGNED, signing=aws_key, decoded_length=66561)
    with pytest.raises(IncompleteBody):
        await _decode(_aws_body(), mode=SIGNED, signing=aws_key, decoded_length=1000)


async def test_small_non_final_signed_chunk(aws_key: sigv4.SigningKey) -> None:
    body = encode_chunked(b"x" * 3000, chunk_size=1000, signing=aws_key)
    with pytest.raises(InvalidChunkSizeError) as err:
        await _decode(body, mode=SIGNED, signing=aws_key)
    assert s3_error_for(err.value).code == "InvalidChunkSizeError"


@pytest.mark.parametrize(
    "body",
    [
        b"zz\r\nab\r\n0\r\n\r\n",
        b"2\r\nabc\r\n0\r\n\r\n",  # data longer than declared
        b"2\r\nab\r\n0\r\n\r\ntrailing-garbage",
        b"-1\r\n\r\n",
        b"\r\n",
        b"11111111111111111\r\n",  # 17 hex digits
        b"0\r\nno-colon-trailer\r\n\r\n",
        b"3" + b" " * 5000 + b"\r\n",
    ],
)
async def test_malformed_framing_is_a_400(body: bytes) -> None:
    with pytest.raises(MalformedChunkedEncoding) as err:
        await _decode(body, mode=UNSIGNED_TRAILER, signing=None)
    assert s3_error_for(err.value).status == 400


async def test_missing_chunk_signature_in_signed_mode(aws_key: sigv4.SigningKey) -> None:
    with pytest.raises(MalformedChunkedEncoding):
        await _decode(b"2\r\nab\r\n0\r\n\r\n", mode=SIGNED, signing=aws_key)


# -- trailers ---------------------------------------------------------------------------------


def _checksum(algorithm: str, data: bytes) -> str:
    hasher = new_hasher(algorithm)
    hasher.update(data)
    return b64(hasher.digest())


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_signed_trailer_roundtrip(aws_key: sigv4.SigningKey, algorithm: str) -> None:
    payload = b"q" * 20000
    name = f"x-amz-checksum-{algorithm}"
    body = encode_chunked(
        payload, chunk_size=8192, signing=aws_key, trailers={name: _checksum(algorithm, payload)}
    )
    data, trailers, _ = await _decode(
        body, mode=SIGNED_TRAILER, signing=aws_key, decoded_length=len(payload), piece=777
    )
    assert data == payload
    assert trailers == {name: _checksum(algorithm, payload)}


async def test_signed_trailer_tampered_or_missing_signature(aws_key: sigv4.SigningKey) -> None:
    payload = b"q" * 9000
    body = encode_chunked(
        payload, chunk_size=9000, signing=aws_key, trailers={"x-amz-checksum-crc32": "AAAAAA=="}
    )
    with pytest.raises(SignatureDoesNotMatch):
        await _decode(body.replace(b"AAAAAA==", b"AAAAAB=="), mode=SIGNED_TRAILER, signing=aws_key)
    unsigned_trailers = body[: body.index(b"x-amz-trailer-signature")] + b"\r\n"
    with pytest.raises(SignatureDoesNotMatch):
        await _decode(unsigned_trailers, mode=SIGNED_TRAILER, signing=aws_key)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_botocore_unsigned_trailer_wrapper(algorithm: str) -> None:
    payload = bytes(range(256)) * 5000 + b"end"
    wrapper = AwsChunkedWrapper(
        io.BytesIO(payload),
        checksum_cls=_CHECKSUM_CLS[algorithm],
        checksum_name=f"x-amz-checksum-{algorithm}",
        chunk_size=300_000,
    )
    body = wrapper.read()
    decoder = AwsChunkedDecoder(
        _source(body, 65536), mode=UNSIGNED_TRAILER, signing=None, decoded_length=len(payload)
    )
    checks = ChecksumSet.from_request(
        {"x-amz-trailer": f"x-amz-checksum-{algorithm}"}, trailers=decoder.trailers
    )
    out = bytearray()
    async for data in decoder:
        out += data
        for hasher in checks.hashers.values():
            hasher.update(data)
    assert bytes(out) == payload
    info = BlobInfo("0" * 64, len(payload), hashlib.md5(payload).hexdigest())  # type: ignore[arg-type]
    checks.check(info, {a: h.digest() for a, h in checks.hashers.items()})
    assert checks.results == {algorithm: _checksum(algorithm, payload)}


@pytest.fixture(scope="module")
def https_put() -> Iterator[tuple[AWSRequest, bytes]]:
    """What boto3 really sends for put_object over HTTPS (captured, never sent)."""
    captured: list[AWSRequest] = []

    def before_send(request: AWSRequest, **_: object) -> AWSResponse:
        captured.append(request)

        class _Raw:
            def stream(self, *_a: object, **_k: object) -> Iterator[bytes]:
                yield b""

        return AWSResponse(request.url, 200, {}, _Raw())

    client = boto3.session.Session(
        aws_access_key_id="AK", aws_secret_access_key="SK", region_name="us-east-1"
    ).client(
        "s3",
        endpoint_url="https://127.0.0.1:9443",
        config=botocore.config.Config(s3={"addressing_style": "path"}),
    )
    client.meta.events.register("before-send", before_send)
    client.put_object(Bucket="repo", Key="main/k.bin", Body=io.BytesIO(b"z" * 3_000_000))
    request = captured[-1]
    body = request.body.read() if hasattr(request.body, "read") else bytes(request.body)
    yield request, body


async def test_boto3_https_put_is_unsigned_trailer_and_decodes(
    https_put: tuple[AWSRequest, bytes],
) -> None:
    request, body = https_put
    headers = CIMultiDict(
        {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
    )
    assert headers["x-amz-content-sha256"] == UNSIGNED_TRAILER
    url = urlsplit(request.url)
    ctx = sigv4.parse_auth("PUT", headers, [])
    assert ctx is not None and ctx.streaming
    sigv4.verify(
        ctx,
        "SK",
        method="PUT",
        raw_path=url.path,
        raw_query=url.query,
        headers=headers,
        now=datetime.now(UTC),
    )
    decoder = AwsChunkedDecoder(
        _source(body, 65536),
        mode=ctx.content_sha256,
        signing=None,
        decoded_length=int(headers["x-amz-decoded-content-length"]),
    )
    checks = ChecksumSet.from_request(headers, trailers=decoder.trailers)
    total = 0
    async for data in decoder:
        total += len(data)
        for hasher in checks.hashers.values():
            hasher.update(data)
    assert total == 3_000_000
    info = BlobInfo("0" * 64, total, hashlib.md5(b"z" * total).hexdigest())  # type: ignore[arg-type]
    checks.check(info, {a: h.digest() for a, h in checks.hashers.items()})
    assert set(checks.results) == {headers["x-amz-trailer"].removeprefix("x-amz-checksum-")}


def test_decoder_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        AwsChunkedDecoder(
            _source(b"", 1), mode="UNSIGNED-PAYLOAD", signing=None, decoded_length=None
        )
    with pytest.raises(ValueError):
        AwsChunkedDecoder(_source(b"", 1), mode=SIGNED, signing=None, decoded_length=None)


async def test_large_signed_pieces_hashed_off_loop(aws_key: sigv4.SigningKey) -> None:
    payload = bytes(range(256)) * 8192  # 2 MiB in 1 MiB signed chunks, fed as 512 KiB reads
    body = encode_chunked(payload, chunk_size=1 << 20, signing=aws_key)
    data, _, largest = await _decode(
        body, mode=SIGNED, signing=aws_key, decoded_length=len(payload), piece=512 << 10
    )
    assert data == payload and largest <= 512 << 10
    tampered = body[:700_000] + b"X" + body[700_001:]
    with pytest.raises(SignatureDoesNotMatch):
        await _decode(tampered, mode=SIGNED, signing=aws_key, piece=512 << 10)


@settings(max_examples=60, deadline=None)
@given(
    payload=st.binary(max_size=5000),
    chunk_size=st.integers(min_value=1, max_value=3000),
    piece=st.integers(min_value=1, max_value=7000),
)
async def test_unsigned_trailer_any_framing_roundtrips(
    payload: bytes, chunk_size: int, piece: int
) -> None:
    crc = _checksum("crc32c", payload)
    body = encode_chunked(payload, chunk_size=chunk_size, trailers={"x-amz-checksum-crc32c": crc})
    data, trailers, largest = await _decode(
        body, mode=UNSIGNED_TRAILER, signing=None, decoded_length=len(payload), piece=piece
    )
    assert data == payload
    assert trailers == {"x-amz-checksum-crc32c": crc}
    assert largest <= piece
