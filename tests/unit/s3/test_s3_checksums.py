"""Request checksums: hashers match reference implementations; ChecksumSet raises AWS codes."""

from __future__ import annotations

import base64
import hashlib
import zlib

import pytest
from awscrt import checksums as crt  # type: ignore[import-untyped]
from botocore.httpchecksum import _CHECKSUM_CLS

from gateway.core.errors import BadDigest
from gateway.core.model import BlobInfo
from gateway.s3.checksums import (
    ALGORITHMS,
    ChecksumSet,
    b64,
    new_hasher,
    parse_checksum_headers,
    parse_content_md5,
)
from gateway.s3.errors import (
    ChecksumMismatch,
    InvalidDigest,
    InvalidRequest,
    XAmzContentSHA256Mismatch,
    s3_error_for,
)

DATA = bytes(range(256)) * 1000 + b"tail"


def _reference(algorithm: str, data: bytes) -> bytes:
    if algorithm == "crc32":
        return zlib.crc32(data).to_bytes(4, "big")
    if algorithm == "crc32c":
        return int(crt.crc32c(data)).to_bytes(4, "big")
    if algorithm == "crc64nvme":
        return int(crt.crc64nvme(data)).to_bytes(8, "big")
    if algorithm in ("sha1", "sha256", "sha512"):
        return hashlib.new(algorithm, data).digest()
    checksum = _CHECKSUM_CLS[algorithm]()  # botocore's own implementation
    checksum.update(data)
    return bytes(checksum.digest())


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_incremental_hashers_match_reference(algorithm: str) -> None:
    hasher = new_hasher(algorithm)
    for start in range(0, len(DATA), 7919):
        hasher.update(DATA[start : start + 7919])
    assert hasher.digest() == _reference(algorithm, DATA)
    assert hasher.digest() == _reference(algorithm, DATA)  # digest is repeatable


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_botocore_agrees_on_the_wire_value(algorithm: str) -> None:
    checksum = _CHECKSUM_CLS[algorithm]()
    checksum.update(DATA)
    hasher = new_hasher(algorithm)
    hasher.update(DATA)
    assert b64(hasher.digest()) == checksum.b64digest()


def test_unknown_algorithm() -> None:
    with pytest.raises(InvalidRequest):
        new_hasher("md4")


def test_parse_checksum_headers() -> None:
    value = b64(_reference("crc32", DATA))
    assert parse_checksum_headers({"x-amz-checksum-crc32": value}) == {"crc32": value}
    with pytest.raises(InvalidRequest):
        parse_checksum_headers({"x-amz-checksum-crc32": "not base64!"})
    with pytest.raises(InvalidRequest):
        parse_checksum_headers({"x-amz-checksum-sha256": value})  # wrong length
    with pytest.raises(InvalidRequest):
        parse_checksum_headers({"x-amz-checksum-crc32": value, "x-amz-checksum-crc32c": value})


def test_parse_content_md5() -> None:
    digest = hashlib.md5(DATA).digest()
    assert parse_content_md5(base64.b64encode(digest).decode()) == digest.hex()
    assert parse_content_md5(None) is None
    for bad in ("", "abc", base64.b64encode(b"short").decode()):
        with pytest.raises(InvalidDigest):
            parse_content_md5(bad)


def _ingest(cs: ChecksumSet, data: bytes) -> BlobInfo:
    """What Lake.ingest does with the set: update every hasher, then call check."""
    for hasher in cs.hashers.values():
        hasher.update(data)
    info = BlobInfo("0" * 64, len(data), hashlib.md5(data).hexdigest())  # type: ignore[arg-type]
    cs.check(info, {alg: h.digest() for alg, h in cs.hashers.items()})
    return info


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_header_checksums_verified(algorithm: str) -> None:
    good = b64(_reference(algorithm, DATA))
    cs = ChecksumSet.from_request({f"x-amz-checksum-{algorithm}": good})
    assert set(cs.hashers) == {algorithm}
    _ingest(cs, DATA)
    assert cs.results == {algorithm: good}
    cs = ChecksumSet.from_request({f"x-amz-checksum-{algorithm}": good})
    with pytest.raises(ChecksumMismatch) as err:
        _ingest(cs, DATA + b"x")
    assert s3_error_for(err.value).code == "BadDigest"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_trailer_checksums_verified(algorithm: str) -> None:
    trailers: dict[str, str] = {}
    cs = ChecksumSet.from_request(
        {
            "x-amz-trailer": f"x-amz-checksum-{algorithm}",
            "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        },
        trailers=trailers,
    )
    trailers[f"x-amz-checksum-{algorithm}"] = b64(_reference(algorithm, DATA))  # at end of body
    _ingest(cs, DATA)
    trailers[f"x-amz-checksum-{algorithm}"] = b64(_reference(algorithm, b"other"))
    cs2 = ChecksumSet.from_request({"x-amz-trailer": f"x-amz-checksum-{algorithm}"})
    cs2.bind_trailers(trailers)
    with pytest.raises(BadDigest):
        _ingest(cs2, DATA)


def test_announced_trailer_missing() -> None:
    cs = ChecksumSet.from_request({"x-amz-trailer": "x-amz-checksum-crc32"}, trailers={})
    with pytest.raises(InvalidRequest):
        _ingest(cs, DATA)


def test_unsupported_trailer() -> None:
    with pytest.raises(InvalidRequest):
        ChecksumSet.from_request({"x-amz-trailer": "x-amz-checksum-md4"})
    with pytest.raises(InvalidRequest):
        ChecksumSet.from_request({"x-amz-trailer": "x-foo"})


def test_content_md5_is_checked_against_ingest_md5_not_rehashed() -> None:
    md5 = base64.b64encode(hashlib.md5(DATA).digest()).decode()
    cs = ChecksumSet.from_request({"content-md5": md5})
    assert "md5" not in cs.hashers
    _ingest(cs, DATA)
    cs = ChecksumSet.from_request({"content-md5": md5})
    with pytest.raises(ChecksumMismatch) as err:
        _ingest(cs, DATA[:-1])
    assert s3_error_for(err.value).code == "BadDigest"
    with pytest.raises(InvalidDigest):
        ChecksumSet.from_request({"content-md5": "zz"})


def test_signed_payload_sha256() -> None:
    sha = hashlib.sha256(DATA).hexdigest()
    cs = ChecksumSet.from_request({"x-amz-content-sha256": sha})
    assert set(cs.hashers) == {"sha256"}
    _ingest(cs, DATA)
    assert cs.results == {}  # not a declared flexible checksum: nothing to store
    cs = ChecksumSet.from_request({"x-amz-content-sha256": sha})
    with pytest.raises(XAmzContentSHA256Mismatch) as err:
        _ingest(cs, DATA + b"!")
    assert s3_error_for(err.value).code == "XAmzContentSHA256Mismatch"
    assert err.value.extra["ClientComputedContentSHA256"] == sha


def test_sha256_shared_between_signed_payload_and_checksum() -> None:
    cs = ChecksumSet.from_request(
        {
            "x-amz-content-sha256": hashlib.sha256(DATA).hexdigest(),
            "x-amz-checksum-sha256": b64(hashlib.sha256(DATA).digest()),
        }
    )
    assert set(cs.hashers) == {"sha256"}
    _ingest(cs, DATA)


@pytest.mark.parametrize("value", ["UNSIGNED-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"])
def test_non_digest_payload_modes_hash_nothing(value: str) -> None:
    assert ChecksumSet.from_request({"x-amz-content-sha256": value}).hashers == {}


def test_garbage_content_sha256() -> None:
    with pytest.raises(InvalidRequest):
        ChecksumSet.from_request({"x-amz-content-sha256": "abc"})


def test_verify_outside_ingest_with_explicit_trailers() -> None:
    cs = ChecksumSet.from_request(
        {
            "x-amz-trailer": "x-amz-checksum-sha1",
            "content-md5": base64.b64encode(hashlib.md5(DATA).digest()).decode(),
        }
    )
    cs.hashers["sha1"].update(DATA)
    digests = {"sha1": cs.hashers["sha1"].digest()}
    good = {"x-amz-checksum-sha1": b64(hashlib.sha1(DATA).digest())}
    md5 = hashlib.md5(DATA).hexdigest()
    assert cs.verify(digests, good, md5_hex=md5) == {"sha1": good["x-amz-checksum-sha1"]}
    with pytest.raises(ChecksumMismatch):
        cs.verify(digests, good, md5_hex=hashlib.md5(b"x").hexdigest())
    with pytest.raises(BadDigest):
        cs.verify(digests, {"x-amz-checksum-sha1": b64(hashlib.sha1(b"x").digest())}, md5_hex=md5)
