"""Micro-benchmarks of the S3 wire primitives (not collected by pytest; run by hand).

    PYTHONPATH=. python tests/unit/s3/bench_s3_primitives.py

Prints SigV4 verification cost per request (cached signing key) and aws-chunked decode
throughput on a 64 MiB body in 1 MiB chunks, fed as 256 KiB socket reads. Times are process
CPU time (robust against a loaded machine); compare with the crypto floor of the same run.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import statistics
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from multidict import CIMultiDict, CIMultiDictProxy

from gateway.s3 import sigv4
from gateway.s3.checksums import ChecksumSet, b64, new_hasher
from gateway.s3.chunked import AwsChunkedDecoder, encode_chunked

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _crypto_floor(n: int) -> float:
    """µs of the irreducible work of one verify: SHA-256 of a canonical request + one HMAC."""
    canonical = (
        "PUT\n/repo/main/data/part-00001.parquet\n\nhost:127.0.0.1:8000\n"
        "x-amz-content-sha256:UNSIGNED-PAYLOAD\nx-amz-date:20260101T000000Z\n\n"
        "host;x-amz-content-sha256;x-amz-date\nUNSIGNED-PAYLOAD"
    )
    key = b"k" * 32
    start = time.process_time()
    for _ in range(n):
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        sts = f"AWS4-HMAC-SHA256\n20260101T000000Z\n20260101/us-east-1/s3/aws4_request\n{digest}"
        hmac.compare_digest(hmac.new(key, sts.encode(), hashlib.sha256).hexdigest(), "x" * 64)
    return (time.process_time() - start) / n * 1e6


def bench_sigv4(n: int = 20000) -> dict[str, float]:
    results: dict[str, float] = {"crypto floor (sha256 + hmac only)": _crypto_floor(n)}
    cases = {
        "header, plain key": ("/repo/main/data/part-00001.parquet", []),
        "header, unicode key + query": (
            sigv4.encode_path("/repo/main/dir/ü x+y.txt"),
            [("partNumber", "3"), ("uploadId", "abc def")],
        ),
    }
    for name, (path, query) in cases.items():
        signed = sigv4.sign_request(
            method="PUT",
            path=path,
            query=query,
            headers={"host": "127.0.0.1:8000", "content-length": "4096"},
            access_key="AK",
            secret="SK",
            now=NOW,
            payload_hash=sigv4.UNSIGNED_PAYLOAD,
        )
        headers = CIMultiDictProxy(CIMultiDict(signed.headers))
        pairs = [tuple(p.split("=", 1)) for p in signed.query.split("&") if p]

        def once(
            headers: CIMultiDictProxy[str] = headers,
            pairs: list[tuple[str, str]] = pairs,  # type: ignore[assignment]
            signed: sigv4.SignedRequest = signed,
        ) -> None:
            ctx = sigv4.parse_auth("PUT", headers, pairs)
            assert ctx is not None
            sigv4.verify(
                ctx,
                "SK",
                method="PUT",
                raw_path=signed.path,
                raw_query=signed.query,
                headers=headers,
                now=NOW,
            )

        once()
        samples = []
        for _ in range(5):
            start = time.process_time()
            for _ in range(n):
                once()
            samples.append((time.process_time() - start) / n * 1e6)
        results[name] = statistics.median(samples)
    return results


async def _feed(body: bytes, piece: int) -> AsyncIterator[bytes]:
    view = memoryview(body)
    for start in range(0, len(body), piece):
        yield bytes(view[start : start + piece])  # a fresh bytes object, like a socket read


async def bench_chunked(size: int = 64 << 20, chunk: int = 1 << 20) -> dict[str, float]:
    payload = bytes(range(256)) * (size // 256)
    key = sigv4.sign_request(
        method="PUT",
        path="/repo/main/big",
        headers={"host": "h"},
        access_key="AK",
        secret="SK",
        now=NOW,
        payload_hash=sigv4.STREAMING_SIGNED,
    ).signing_key
    crc = new_hasher("crc32")
    crc.update(payload)
    trailers = {"x-amz-checksum-crc32": b64(crc.digest())}
    bodies = {
        sigv4.STREAMING_SIGNED: (encode_chunked(payload, chunk_size=chunk, signing=key), key),
        sigv4.STREAMING_UNSIGNED_TRAILER: (
            encode_chunked(payload, chunk_size=chunk, trailers=trailers),
            None,
        ),
    }
    results: dict[str, float] = {}
    for mode, (body, signing) in bodies.items():
        samples = []
        for _ in range(3):
            start = time.process_time()
            decoder = AwsChunkedDecoder(
                _feed(body, 256 << 10), mode=mode, signing=signing, decoded_length=size
            )
            total = 0
            async for data in decoder:
                total += len(data)
            samples.append(size / (time.process_time() - start) / 1e6)
            assert total == size
        results[f"decode {mode}"] = statistics.median(samples)
        # Feeding alone (the baseline the decoder adds to).
    start = time.process_time()
    async for _ in _feed(bodies[sigv4.STREAMING_UNSIGNED_TRAILER][0], 256 << 10):
        pass
    results["feed only (copying 256 KiB reads)"] = size / (time.process_time() - start) / 1e6
    # Unsigned trailer decode + CRC32 verification, as a PUT from boto3 over HTTPS does.
    samples = []
    for _ in range(3):
        body = bodies[sigv4.STREAMING_UNSIGNED_TRAILER][0]
        start = time.process_time()
        decoder = AwsChunkedDecoder(
            _feed(body, 256 << 10),
            mode=sigv4.STREAMING_UNSIGNED_TRAILER,
            signing=None,
            decoded_length=size,
        )
        checks = ChecksumSet.from_request(
            {"x-amz-trailer": "x-amz-checksum-crc32"}, trailers=decoder.trailers
        )
        async for data in decoder:
            for hasher in checks.hashers.values():
                hasher.update(data)
        samples.append(size / (time.process_time() - start) / 1e6)
    results["decode unsigned-trailer + crc32"] = statistics.median(samples)
    return results


def main() -> None:
    for name, micros in bench_sigv4().items():
        print(f"sigv4 verify ({name}): {micros:.1f} us/request")
    for name, rate in asyncio.run(bench_chunked()).items():
        print(f"aws-chunked {name}: {rate:.0f} MB/s")


if __name__ == "__main__":
    main()
