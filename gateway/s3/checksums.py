"""S3 payload integrity: x-amz-checksum-*, Content-MD5 and signed x-amz-content-sha256.

``ChecksumSet.from_request`` reads what a PUT/UploadPart declares and plugs into
``Lake.ingest(chunks, hashers=cs.hashers, check=cs.check)``: the engine updates every hasher in
its single pass over the body (off the event loop) and calls ``check(info, digests)`` before it
publishes the blob, so a mismatch stores nothing. MD5 is never hashed here: ingest computes it for
the ETag (``BlobInfo.md5_hex``) and Content-MD5 is compared against that.

Trailing checksums (``x-amz-trailer: x-amz-checksum-crc32`` with an aws-chunked body) are read
from the decoder's ``trailers`` dict, which is complete when the body iterator is exhausted,
i.e. before ``check`` runs.

A ``ChecksumSet`` serves one request; it is not thread-safe, but ``check`` runs only after the
hashers are done.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Protocol

from awscrt import checksums as crt

from gateway.core.model import BlobInfo
from gateway.s3.errors import (
    ChecksumMismatch,
    InvalidDigest,
    InvalidRequest,
    XAmzContentSHA256Mismatch,
)

#: S3 flexible-checksum algorithms, by the lower-case name used in ``x-amz-checksum-<name>``.
#: The first five are the classic set; sha512 and the xxhash family are what botocore 1.43
#: (with awscrt) also offers.
ALGORITHMS: tuple[str, ...] = (
    "crc32",
    "crc32c",
    "crc64nvme",
    "sha1",
    "sha256",
    "sha512",
    "xxhash64",
    "xxhash3",
    "xxhash128",
)

#: Digest length in bytes of every algorithm ``new_hasher`` knows.
DIGEST_SIZES: Mapping[str, int] = MappingProxyType(
    {
        "crc32": 4,
        "crc32c": 4,
        "crc64nvme": 8,
        "sha1": 20,
        "sha256": 32,
        "sha512": 64,
        "xxhash64": 8,
        "xxhash3": 8,
        "xxhash128": 16,
        "md5": 16,
    }
)

CHECKSUM_HEADER_PREFIX = "x-amz-checksum-"
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


class Hasher(Protocol):
    """hashlib-like incremental digest (the engine's ``gateway.core.lake.Hasher``)."""

    def update(self, data: bytes, /) -> object: ...

    def digest(self) -> bytes: ...


class _Crc:
    """Incremental CRC over awscrt's one-shot functions (they take the running value)."""

    __slots__ = ("_crc", "_fn", "_size")

    def __init__(self, fn: Callable[[bytes, int], int], size: int) -> None:
        self._fn = fn
        self._crc = 0
        self._size = size

    def update(self, data: bytes, /) -> None:
        self._crc = self._fn(data, self._crc)

    def digest(self) -> bytes:
        return self._crc.to_bytes(self._size, "big")


class _XXHash:
    """awscrt's XXHash behind the hashlib interface (its ``finalize`` may run only once)."""

    __slots__ = ("_digest", "_h")

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._h = factory()
        self._digest: bytes | None = None

    def update(self, data: bytes, /) -> None:
        self._h.update(data)

    def digest(self) -> bytes:
        if self._digest is None:
            self._digest = bytes(self._h.finalize())
        return self._digest


def new_hasher(algorithm: str) -> Hasher:
    """A fresh incremental hasher for any of ``ALGORITHMS`` or ``md5`` (case-insensitive).

    Raises:
        InvalidRequest: unknown algorithm.
    """
    name = algorithm.lower()
    if name == "crc32":
        return _Crc(crt.crc32, 4)
    if name == "crc32c":
        return _Crc(crt.crc32c, 4)
    if name == "crc64nvme":
        return _Crc(crt.crc64nvme, 8)
    if name in ("sha1", "sha256", "sha512", "md5"):
        return hashlib.new(name)
    if name == "xxhash64":
        return _XXHash(crt.XXHash.new_xxhash64)
    if name == "xxhash3":
        return _XXHash(crt.XXHash.new_xxhash3_64)
    if name == "xxhash128":
        return _XXHash(crt.XXHash.new_xxhash3_128)
    raise InvalidRequest(f"Checksum algorithm {algorithm!r} is not supported.")


def b64(digest: bytes) -> str:
    """Standard base64 of a digest, as S3 sends checksums."""
    return base64.b64encode(digest).decode("ascii")


def _decode_checksum(algorithm: str, value: str, header: str) -> bytes:
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != DIGEST_SIZES[algorithm]:
        raise InvalidRequest(f"Value for {header} header is invalid.")
    return raw


def parse_checksum_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The ``x-amz-checksum-<alg>`` headers present, as ``{alg: base64}`` (validated).

    Raises:
        InvalidRequest: a malformed value, or more than one algorithm (S3 allows one).
    """
    found: dict[str, str] = {}
    for algorithm in ALGORITHMS:
        header = CHECKSUM_HEADER_PREFIX + algorithm
        value = headers.get(header)
        if value is not None:
            _decode_checksum(algorithm, value, header)
            found[algorithm] = value.strip()
    if len(found) > 1:
        raise InvalidRequest(
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
        )
    return found


def parse_content_md5(value: str | None) -> str | None:
    """Content-MD5 (base64 of 16 bytes) as lower-case hex, or None when absent.

    Raises:
        InvalidDigest: not base64 of exactly 16 bytes.
    """
    if value is None:
        return None
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 16:
        raise InvalidDigest("The Content-MD5 you specified is not valid.")
    return raw.hex()


class ChecksumSet:
    """Everything one request asks the server to verify about its body.

    Attributes:
        expected: ``{alg: base64}`` from x-amz-checksum-* headers.
        trailer_algorithm: The algorithm announced in ``x-amz-trailer``, if any.
        content_md5_hex: Content-MD5 as hex, if sent.
        content_sha256_hex: x-amz-content-sha256 when it is a hex digest (signed payload).
        hashers: ``{alg: Hasher}`` to hand to ``Lake.ingest`` (no md5: ingest does that).
        results: ``{alg: base64}`` of the declared checksums (header or trailer), filled by a
            successful ``check``; store them on the entry to answer ``x-amz-checksum-*``.
    """

    def __init__(
        self,
        *,
        expected: Mapping[str, str] | None = None,
        trailer_algorithm: str | None = None,
        content_md5_hex: str | None = None,
        content_sha256_hex: str | None = None,
        trailers: Mapping[str, str] | None = None,
        extra_algorithms: tuple[str, ...] = (),
    ) -> None:
        self.expected: dict[str, str] = dict(expected or {})
        self.trailer_algorithm = trailer_algorithm
        self.content_md5_hex = content_md5_hex
        self.content_sha256_hex = content_sha256_hex
        self._trailers: Mapping[str, str] = trailers if trailers is not None else {}
        wanted = set(self.expected) | set(extra_algorithms)
        if trailer_algorithm:
            wanted.add(trailer_algorithm)
        if content_sha256_hex:
            wanted.add("sha256")
        self.hashers: dict[str, Hasher] = {alg: new_hasher(alg) for alg in sorted(wanted)}
        self.results: dict[str, str] = {}

    @classmethod
    def from_request(
        cls,
        headers: Mapping[str, str],
        *,
        trailers: Mapping[str, str] | None = None,
        content_sha256: str | None = None,
    ) -> ChecksumSet:
        """Build from request headers (case-insensitive mapping or lower-case dict).

        Args:
            headers: The request headers.
            trailers: The aws-chunked decoder's ``trailers`` dict (filled at end of body).
            content_sha256: The x-amz-content-sha256 value; defaults to the header.

        Raises:
            InvalidDigest: malformed Content-MD5.
            InvalidRequest: malformed or multiple x-amz-checksum-*, unknown x-amz-trailer
                algorithm, or an x-amz-content-sha256 that is neither a hex digest nor a
                known mode.
        """
        expected = parse_checksum_headers(headers)
        trailer_algorithm: str | None = None
        trailer = headers.get("x-amz-trailer")
        if trailer:
            name = trailer.strip().lower()
            algorithm = name.removeprefix(CHECKSUM_HEADER_PREFIX)
            if not name.startswith(CHECKSUM_HEADER_PREFIX) or algorithm not in ALGORITHMS:
                raise InvalidRequest(
                    f"The value specified in the x-amz-trailer header is not supported: {trailer!r}"
                )
            if expected:
                raise InvalidRequest(
                    "Expecting a single x-amz-checksum- header. "
                    "Multiple checksum Types are not allowed."
                )
            trailer_algorithm = algorithm
        sha = content_sha256 if content_sha256 is not None else headers.get("x-amz-content-sha256")
        sha_hex: str | None = None
        if sha:
            sha = sha.strip()
            if _HEX64.fullmatch(sha):
                sha_hex = sha.lower()
            elif sha != "UNSIGNED-PAYLOAD" and not sha.startswith("STREAMING-"):
                raise InvalidRequest(
                    "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-* or a valid "
                    "sha256 value."
                )
        return cls(
            expected=expected,
            trailer_algorithm=trailer_algorithm,
            content_md5_hex=parse_content_md5(headers.get("content-md5")),
            content_sha256_hex=sha_hex,
            trailers=trailers,
        )

    def bind_trailers(self, trailers: Mapping[str, str]) -> None:
        """Use ``trailers`` (the decoder's dict, filled at end of body) for trailing checksums."""
        self._trailers = trailers

    def check(self, info: BlobInfo, digests: Mapping[str, bytes]) -> None:
        """Verify every declared digest; the ``check`` callback of ``Lake.ingest``.

        Args:
            info: The ingested blob (``md5_hex`` is compared with Content-MD5).
            digests: ``{alg: digest}`` of ``self.hashers`` after the last byte.

        Raises:
            XAmzContentSHA256Mismatch: body SHA-256 differs from the signed x-amz-content-sha256.
            BadDigest (ChecksumMismatch / core BadDigest): Content-MD5 or a checksum differs.
            InvalidRequest: the announced trailing checksum never arrived or is malformed.
        """
        self.verify(digests, md5_hex=info.md5_hex)

    def verify(
        self,
        digests: Mapping[str, bytes],
        trailers: Mapping[str, str] | None = None,
        *,
        md5_hex: str | None = None,
    ) -> dict[str, str]:
        """Verify outside ``Lake.ingest`` (small bodies read into memory); same errors as
        ``check``.

        Args:
            digests: ``{alg: digest}`` of ``self.hashers`` (missing ones are read from them).
            trailers: Trailers to use instead of the bound ones.
            md5_hex: The body's MD5, required when the request sent Content-MD5.

        Returns:
            ``results``: the declared checksums, base64.
        """
        if trailers is not None:
            self._trailers = trailers
        if self.content_md5_hex is not None and md5_hex is None:
            raise ValueError("Content-MD5 was sent: pass the body's md5_hex")
        computed = {
            alg: digests[alg] if alg in digests else self.hashers[alg].digest()
            for alg in self.hashers
        }
        if self.content_sha256_hex is not None:
            actual = computed["sha256"].hex()
            if actual != self.content_sha256_hex:
                raise XAmzContentSHA256Mismatch(
                    "The provided 'x-amz-content-sha256' header does not match what was computed.",
                    extra={
                        "ClientComputedContentSHA256": self.content_sha256_hex,
                        "S3ComputedContentSHA256": actual,
                    },
                )
        if self.content_md5_hex is not None and md5_hex != self.content_md5_hex:
            raise ChecksumMismatch(
                "The Content-MD5 you specified did not match what we received.",
                extra={
                    "ExpectedDigest": self.content_md5_hex,
                    "CalculatedDigest": md5_hex or "",
                },
            )
        expected = dict(self.expected)
        if self.trailer_algorithm is not None:
            header = CHECKSUM_HEADER_PREFIX + self.trailer_algorithm
            value = self._trailers.get(header)
            if value is None:
                raise InvalidRequest(
                    f"The trailing checksum {header} announced in x-amz-trailer was not sent."
                )
            _decode_checksum(self.trailer_algorithm, value, header)
            expected[self.trailer_algorithm] = value.strip()
        for algorithm, value in expected.items():
            actual_b64 = b64(computed[algorithm])
            if actual_b64 != value:
                raise ChecksumMismatch(
                    f"The {algorithm.upper()} you specified did not match the calculated checksum.",
                    extra={"Algorithm": algorithm.upper(), "CalculatedChecksum": actual_b64},
                )
        self.results = {alg: b64(computed[alg]) for alg in expected}
        return self.results


__all__ = [
    "ALGORITHMS",
    "DIGEST_SIZES",
    "ChecksumSet",
    "Hasher",
    "b64",
    "new_hasher",
    "parse_checksum_headers",
    "parse_content_md5",
]
