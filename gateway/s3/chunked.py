"""Streaming decoder for ``Content-Encoding: aws-chunked`` request bodies.

Three payload modes (the x-amz-content-sha256 value):

* ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD``: ``<hex>;chunk-signature=<sig>\\r\\n<data>\\r\\n`` ...
  ``0;chunk-signature=<sig>\\r\\n\\r\\n``. Every chunk signature, the final empty chunk's too, is
  verified, chained from the request's seed signature.
* ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER``: the same, but the final chunk is followed by
  trailer lines (``x-amz-checksum-crc32:<b64>\\r\\n``) and ``x-amz-trailer-signature:<sig>``,
  which signs the canonical trailers (``name:value\\n`` each) chained from the final chunk.
* ``STREAMING-UNSIGNED-PAYLOAD-TRAILER``: ``<hex>\\r\\n<data>\\r\\n`` ... ``0\\r\\n`` then
  trailer lines and an empty line (what boto3 sends over HTTPS); no signatures.

Memory: payload bytes are never buffered. Each piece of a source chunk that lies inside a data
chunk is yielded as it arrives (the whole source chunk object when it is all payload, so large
bodies are not copied); only chunk-header and trailer lines (bounded to a few KiB) are
accumulated. Consequently a chunk's bytes are yielded *before* its signature (sent in the
chunk header, checkable only after the chunk's last byte) has been verified: the consumer must
treat an exception from the iterator as "abort and store nothing", which ``Lake.ingest``
guarantees. The iterator only finishes normally after
every signature, the framing and ``x-amz-decoded-content-length`` were verified.

Errors are all 4xx: ``MalformedChunkedEncoding`` (IncompleteBody 400) for broken framing or a
truncated body, ``core.IncompleteBody`` for a decoded-length mismatch, ``InvalidChunkSizeError``
for a signed non-final chunk under 8 KiB, ``SignatureDoesNotMatch`` for a bad chunk or trailer
signature.

Not thread-safe: one decoder per request, iterated by one task.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator

from gateway.core.errors import IncompleteBody
from gateway.s3.errors import (
    InvalidChunkSizeError,
    MalformedChunkedEncoding,
    SignatureDoesNotMatch,
)
from gateway.s3.sigv4 import (
    EMPTY_SHA256,
    STREAMING_SIGNED,
    STREAMING_SIGNED_TRAILER,
    STREAMING_UNSIGNED_TRAILER,
    SigningKey,
    sign,
)

MIN_SIGNED_CHUNK = 8192
#: Signed-chunk pieces at least this large are hashed in a worker thread (a thread hop costs
#: about as much as hashing 64-128 KiB).
OFFLOAD_HASH_BYTES = 256 * 1024
MAX_LINE = 4096
MAX_TRAILER_BYTES = 16 * 1024
_SIG_EXT = b"chunk-signature="
_TRAILER_SIGNATURE = "x-amz-trailer-signature"
_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")


def _malformed(detail: str) -> MalformedChunkedEncoding:
    return MalformedChunkedEncoding(f"Malformed aws-chunked body: {detail}")


def chunk_string_to_sign(key: SigningKey, previous: str, payload_sha256_hex: str) -> str:
    """String-to-sign of one chunk (``AWS4-HMAC-SHA256-PAYLOAD``)."""
    return (
        f"AWS4-HMAC-SHA256-PAYLOAD\n{key.amz_date}\n{key.scope}\n{previous}\n"
        f"{EMPTY_SHA256}\n{payload_sha256_hex}"
    )


def trailer_string_to_sign(key: SigningKey, previous: str, trailers: dict[str, str]) -> str:
    """String-to-sign of the trailer chunk (``AWS4-HMAC-SHA256-TRAILER``)."""
    canonical = "".join(f"{name}:{value}\n" for name, value in sorted(trailers.items()))
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"AWS4-HMAC-SHA256-TRAILER\n{key.amz_date}\n{key.scope}\n{previous}\n{digest}"


class _Reader:
    """Pull-based view over the raw body: lines and bounded pieces, with one pending buffer."""

    __slots__ = ("_buf", "_it", "_pos")

    def __init__(self, source: AsyncIterable[bytes]) -> None:
        self._it: AsyncIterator[bytes] = source.__aiter__()
        self._buf = b""
        self._pos = 0

    async def _more(self) -> bool:
        while True:
            try:
                chunk = await self._it.__anext__()
            except StopAsyncIteration:
                return False
            if not chunk:
                continue
            if not isinstance(chunk, bytes):
                chunk = bytes(chunk)
            if self._pos < len(self._buf):
                # Only a partial header/trailer line (< MAX_LINE bytes) is ever carried over.
                self._buf = self._buf[self._pos :] + chunk
            else:
                self._buf = chunk
            self._pos = 0
            return True

    async def line(self, limit: int = MAX_LINE) -> bytes:
        """The next CRLF-terminated line, without the CRLF."""
        while True:
            end = self._buf.find(b"\r\n", self._pos)
            if end >= 0:
                if end - self._pos > limit:
                    raise _malformed("line too long")
                line = self._buf[self._pos : end]
                self._pos = end + 2
                return line
            if len(self._buf) - self._pos > limit + 1:  # +1: a CR whose LF is still in flight
                raise _malformed("line too long")
            if not await self._more():
                raise _malformed("body ended inside a chunk header or trailer")

    async def piece(self, limit: int) -> bytes:
        """Up to ``limit`` (> 0) bytes; raises if the body has ended."""
        if self._pos >= len(self._buf) and not await self._more():
            raise _malformed("body ended inside chunk data")
        available = len(self._buf) - self._pos
        if self._pos == 0 and available <= limit:
            data = self._buf
            self._pos = available
            return data
        take = min(limit, available)
        data = self._buf[self._pos : self._pos + take]
        self._pos += take
        return data

    async def at_eof(self) -> bool:
        return self._pos >= len(self._buf) and not await self._more()


def _parse_size(text: bytes) -> int:
    if not text or len(text) > 16 or not _HEX_DIGITS.issuperset(text):
        raise _malformed("bad chunk size")
    return int(text, 16)


class AwsChunkedDecoder:
    """Async iterator of the decoded payload of an aws-chunked body.

    Args:
        source: The raw body, in chunks of any size (``request.content.iter_any()``).
        mode: The x-amz-content-sha256 value (one of the three STREAMING-* modes).
        signing: From ``sigv4.verify``; required for the signed modes.
        decoded_length: ``x-amz-decoded-content-length``, checked at the end when given.

    Attributes:
        trailers: Trailer headers (lower-case names, ``x-amz-trailer-signature`` excluded);
            the same dict object throughout, complete once iteration has finished.
        decoded_bytes: Payload bytes yielded so far.
    """

    def __init__(
        self,
        source: AsyncIterable[bytes],
        *,
        mode: str,
        signing: SigningKey | None,
        decoded_length: int | None,
    ) -> None:
        if mode not in (STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER):
            raise ValueError(f"not an aws-chunked payload mode: {mode!r}")
        self._signed = mode != STREAMING_UNSIGNED_TRAILER
        self._trailer = mode != STREAMING_SIGNED
        if self._signed and signing is None:
            raise ValueError(f"{mode} needs the request's signing key")
        self._signing = signing
        self._expected = decoded_length
        self._reader = _Reader(source)
        self.trailers: dict[str, str] = {}
        self.decoded_bytes = 0
        self._gen = self._decode()

    def __aiter__(self) -> AwsChunkedDecoder:
        return self

    async def __anext__(self) -> bytes:
        return await self._gen.__anext__()

    async def aclose(self) -> None:
        await self._gen.aclose()

    def _check_signature(self, string_to_sign: str, provided: str) -> None:
        assert self._signing is not None
        expected = sign(self._signing.key, string_to_sign)
        if not hmac.compare_digest(expected, provided):
            raise SignatureDoesNotMatch(
                "The request signature we calculated does not match the signature you provided. "
                "Check your key and signing method.",
                extra={"StringToSign": string_to_sign, "SignatureProvided": provided},
            )

    def _parse_header(self, line: bytes) -> tuple[int, str]:
        size_text, _, ext = line.partition(b";")
        size = _parse_size(size_text.strip())
        signature = ""
        if self._signed:
            if not ext.startswith(_SIG_EXT):
                raise _malformed("missing chunk-signature")
            signature = ext[len(_SIG_EXT) :].strip().decode("ascii", "replace")
            if len(signature) != 64:
                raise _malformed("bad chunk-signature")
        return size, signature

    async def _decode(self) -> AsyncGenerator[bytes, None]:
        reader = self._reader
        previous = self._signing.seed_signature if self._signing is not None else ""
        expected = self._expected
        short_chunk_seen = False
        while True:
            size, signature = self._parse_header(await reader.line())
            if self._signed and short_chunk_seen and size > 0:
                raise InvalidChunkSizeError(
                    "Only the last chunk is allowed to have a size less than 8192 bytes"
                )
            if 0 < size < MIN_SIGNED_CHUNK:
                short_chunk_seen = True
            if expected is not None and self.decoded_bytes + size > expected:
                raise IncompleteBody(
                    "The decoded body is longer than x-amz-decoded-content-length."
                )
            hasher = hashlib.sha256() if self._signed else None
            remaining = size
            while remaining:
                data = await reader.piece(remaining)
                remaining -= len(data)
                self.decoded_bytes += len(data)
                if hasher is not None:
                    if len(data) >= OFFLOAD_HASH_BYTES:
                        # hashlib releases the GIL: keep the event loop free on large pieces.
                        await asyncio.to_thread(hasher.update, data)
                    else:
                        hasher.update(data)
                yield data
            if self._signed:
                assert self._signing is not None and hasher is not None
                sts = chunk_string_to_sign(self._signing, previous, hasher.hexdigest())
                self._check_signature(sts, signature)
                previous = signature
            if size == 0:
                break
            if await reader.line(0) != b"":
                raise _malformed("chunk data longer than its declared size")
        if self._trailer:
            await self._read_trailers(previous)
        elif await reader.line(0) != b"":
            raise _malformed("missing final CRLF")
        if not await reader.at_eof():
            raise _malformed("data after the final chunk")
        if expected is not None and self.decoded_bytes != expected:
            raise IncompleteBody("The decoded body is shorter than x-amz-decoded-content-length.")

    async def _read_trailers(self, previous: str) -> None:
        reader = self._reader
        total = 0
        trailer_signature: str | None = None
        while True:
            if await reader.at_eof():
                break  # tolerate a missing final empty line after the trailers
            line = await reader.line()
            if not line:
                break
            total += len(line)
            if total > MAX_TRAILER_BYTES:
                raise _malformed("trailers too large")
            name, sep, value = line.partition(b":")
            if not sep:
                raise _malformed("bad trailer line")
            key = name.strip().decode("ascii", "replace").lower()
            text = value.strip().decode("utf-8", "replace")
            if key == _TRAILER_SIGNATURE:
                trailer_signature = text
            else:
                self.trailers[key] = text
        if self._signed:
            if trailer_signature is None:
                raise SignatureDoesNotMatch(
                    "The trailer signature (x-amz-trailer-signature) is missing."
                )
            sts = trailer_string_to_sign(self._signing_key(), previous, self.trailers)
            self._check_signature(sts, trailer_signature)

    def _signing_key(self) -> SigningKey:
        assert self._signing is not None
        return self._signing


def encode_chunked(
    payload: bytes,
    *,
    chunk_size: int,
    signing: SigningKey | None = None,
    trailers: dict[str, str] | None = None,
) -> bytes:
    """Encode a payload as aws-chunked (test and benchmark client side).

    With ``signing`` the chunks are signed (``STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]``);
    without, they are plain (``STREAMING-UNSIGNED-PAYLOAD-TRAILER``). ``trailers`` are appended
    after the final chunk (and signed when ``signing`` is given).
    """
    out: list[bytes] = []
    previous = signing.seed_signature if signing is not None else ""
    view = memoryview(payload)
    offsets = [*range(0, len(payload), chunk_size), len(payload)]
    if len(payload) == 0:
        offsets = [0]
    for start in offsets:
        data = view[start : start + chunk_size] if start < len(payload) else view[0:0]
        header = f"{len(data):x}".encode()
        if signing is not None:
            sts = chunk_string_to_sign(signing, previous, hashlib.sha256(data).hexdigest())
            previous = sign(signing.key, sts)
            header += b";chunk-signature=" + previous.encode()
        out.append(header + b"\r\n")
        if len(data):
            out.append(bytes(data))
            out.append(b"\r\n")
    if trailers is None:
        out.append(b"\r\n")
        return b"".join(out)
    for name, value in trailers.items():
        out.append(f"{name}:{value}\r\n".encode())
    if signing is not None:
        sts = trailer_string_to_sign(signing, previous, dict(trailers))
        out.append(f"{_TRAILER_SIGNATURE}:{sign(signing.key, sts)}\r\n".encode())
    out.append(b"\r\n")
    return b"".join(out)


__all__ = [
    "AwsChunkedDecoder",
    "chunk_string_to_sign",
    "encode_chunked",
    "trailer_string_to_sign",
]
