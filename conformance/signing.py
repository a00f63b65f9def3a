"""SigV4 primitives and S3 checksums for the raw conformance client (no I/O here).

Pure functions: URI encoding as SigV4 canonicalises it, canonical query strings, the signing-key
derivation, and the base64 digests S3 integrity headers carry. Safe to call from any thread.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from awscrt import checksums as crt

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
ALGORITHM = "AWS4-HMAC-SHA256"

Query = Sequence[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Credentials:
    """An access key pair and the region used in the signing scope."""

    access_key: str
    secret_key: str
    region: str = "us-east-1"


def uri_encode(value: str, *, keep_slash: bool = False) -> str:
    """Percent-encode as SigV4 requires: everything but ``A-Za-z0-9-_.~`` (and ``/`` if kept)."""
    return quote(value, safe="-_.~/" if keep_slash else "-_.~")


def object_path(bucket: str, key: str | None = None) -> str:
    """Return the encoded path-style path for a bucket, or for an object in it."""
    if key is None:
        return "/" + uri_encode(bucket)
    return "/" + uri_encode(bucket) + "/" + uri_encode(key, keep_slash=True)


def canonical_query(query: Query) -> str:
    """Return the SigV4 canonical query string (sorted, each name and value encoded)."""
    pairs = sorted((uri_encode(k), uri_encode(v)) for k, v in query)
    return "&".join(f"{k}={v}" for k, v in pairs)


def amz_timestamp(when: dt.datetime) -> str:
    """Return the ``X-Amz-Date`` form (``YYYYMMDDTHHMMSSZ``) of a UTC time."""
    return when.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str = "s3") -> bytes:
    """Derive the SigV4 signing key for one day, region and service (``s3``)."""
    key = _hmac(("AWS4" + secret).encode(), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, "aws4_request")


#: Query parameters SigV2 signs as part of the resource (AWS's sub-resource list).
V2_SUBRESOURCES = frozenset(
    {
        "acl",
        "cors",
        "delete",
        "lifecycle",
        "location",
        "logging",
        "notification",
        "partNumber",
        "policy",
        "requestPayment",
        "response-cache-control",
        "response-content-disposition",
        "response-content-encoding",
        "response-content-language",
        "response-content-type",
        "response-expires",
        "restore",
        "tagging",
        "torrent",
        "uploadId",
        "uploads",
        "versionId",
        "versioning",
        "versions",
        "website",
    }
)


def v2_string_to_sign(
    method: str, path: str, query: Query, headers: dict[str, str], date_line: str
) -> str:
    """The SigV2 string to sign: method, Content-MD5, Content-Type, date line, the
    ``x-amz-*`` headers (lower-cased, sorted) and the resource with its sub-resources."""
    amz = "".join(
        f"{name}:{headers[name].strip()}\n" for name in sorted(headers) if name.startswith("x-amz-")
    )
    resource = path if path.count("/") > 1 or path == "/" else path + "/"
    subs = sorted((k, v) for k, v in query if k in V2_SUBRESOURCES)
    if subs:
        resource += "?" + "&".join(f"{k}={v}" if v else k for k, v in subs)
    return (
        f"{method}\n{headers.get('content-md5', '')}\n{headers.get('content-type', '')}\n"
        f"{date_line}\n{amz}{resource}"
    )


def v2_signature(secret: str, string_to_sign: str) -> str:
    """Base64 HMAC-SHA1, the SigV2 signature."""
    digest = hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def checksum(algorithm: str, data: bytes) -> str:
    """Return the base64 S3 checksum of ``data`` (crc32, crc32c, crc64nvme, sha1 or sha256)."""
    algo = algorithm.lower()
    if algo == "crc32":
        raw = zlib.crc32(data).to_bytes(4, "big")
    elif algo == "crc32c":
        raw = crt.crc32c(data).to_bytes(4, "big")
    elif algo == "crc64nvme":
        raw = crt.crc64nvme(data).to_bytes(8, "big")
    elif algo in ("sha1", "sha256"):
        raw = hashlib.new(algo, data).digest()
    else:
        raise ValueError(f"unknown checksum algorithm {algorithm!r}")
    return base64.b64encode(raw).decode()


def content_md5(data: bytes) -> str:
    """Return the base64 MD5 digest of ``data``, as the ``Content-MD5`` header wants it."""
    return base64.b64encode(hashlib.md5(data).digest()).decode()
