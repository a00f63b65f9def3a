"""SigV4 canonical request and signing primitives (pure string and HMAC functions).

Split from ``sigv4`` (which re-exports every public name) to keep each module to one concept:
this one builds the canonical request exactly as AWS specifies it for S3, derives keys and
holds ``SigningKey`` (what aws-chunked verification needs).

Thread-safety: pure functions; the signing-key cache is a thread-safe ``functools.lru_cache``.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple
from urllib.parse import quote, unquote_to_bytes

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
KEY_CACHE_SIZE = 4096

#: Request headers: a case-insensitive mapping (aiohttp's ``CIMultiDictProxy``; its ``getall`` is
#: used for repeated headers) or a plain dict with lower-case names.
Headers = Mapping[str, str]


class SigningKey(NamedTuple):
    """What chunk-signature verification needs, produced by a successful ``verify``. Immutable.

    Attributes:
        key: The derived SigV4 signing key.
        scope: ``date/region/service/aws4_request``.
        amz_date: The request timestamp (part of every chunk string-to-sign).
        seed_signature: The request's own signature: the "previous signature" of chunk 1.
    """

    key: bytes
    scope: str
    amz_date: str
    seed_signature: str


# A path / query component is already canonical when it holds only unreserved characters and
# upper-case %XX escapes. Two plain character-class searches are much cheaper than one
# alternation matched per character.
_NOT_PATH_CHAR = re.compile(r"[^A-Za-z0-9\-._~/%]")
_NOT_PART_CHAR = re.compile(r"[^A-Za-z0-9\-._~%]")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-F]{2})")


def _encode_segment(segment: str) -> str:
    return quote(unquote_to_bytes(segment), safe="-_.~")


def canonical_uri(raw_path: str) -> str:
    """The SigV4 canonical URI of an S3 raw request path (see module doc)."""
    if _NOT_PATH_CHAR.search(raw_path) is None and (
        "%" not in raw_path or _BAD_ESCAPE.search(raw_path) is None
    ):
        return raw_path
    return "/".join(_encode_segment(segment) for segment in raw_path.split("/"))


def _encode_part(part: str) -> str:
    if _NOT_PART_CHAR.search(part) is None and (
        "%" not in part or _BAD_ESCAPE.search(part) is None
    ):
        return part
    # '+' is a space in a query string: that is how aiohttp/yarl decode it for the handler, so
    # the signature must cover the same reading (SDKs always send a literal plus as %2B).
    return quote(unquote_to_bytes(part.replace("+", " ")), safe="-_.~")


def canonical_query(raw_query: str, *, exclude_signature: bool = False) -> str:
    """The SigV4 canonical query string of a raw query (``a=1&b``; no leading ``?``).

    Pairs are re-encoded with the unreserved set (``+`` read as a space), sorted by name then
    value; a parameter without ``=`` gets an empty value. ``X-Amz-Signature`` is dropped for
    presigned requests.
    """
    if not raw_query:
        return ""
    pairs: list[tuple[str, str]] = []
    for item in raw_query.split("&"):
        if not item:
            continue
        key, _, value = item.partition("=")
        key = _encode_part(key)
        if exclude_signature and key == "X-Amz-Signature":
            continue
        pairs.append((key, _encode_part(value)))
    pairs.sort()
    return "&".join(f"{k}={v}" for k, v in pairs)


def _trim(value: str) -> str:
    # Trimall: strip and collapse inner whitespace runs; most values need neither.
    if "  " in value or "\t" in value or "\n" in value:
        return " ".join(value.split())
    return value.strip()


def canonical_headers(headers: Headers, signed_headers: Iterable[str]) -> str:
    """``name:value\\n`` for every signed header, sorted, values trimmed and space-collapsed.

    Repeated headers (``getall`` of a multidict) are joined with commas, as AWS specifies.
    """
    getall = getattr(headers, "getall", None)
    lines = []
    for name in sorted(signed_headers):
        if getall is not None:
            values = getall(name, ())
            value = _trim(values[0]) if len(values) == 1 else ",".join(map(_trim, values))
        else:
            single = headers.get(name)
            value = "" if single is None else _trim(single)
        lines.append(f"{name}:{value}\n")
    return "".join(lines)


def canonical_request(
    method: str,
    uri: str,
    query: str,
    headers: Headers,
    signed_headers: Sequence[str],
    payload_hash: str,
) -> str:
    signed = sorted(signed_headers)
    return "\n".join(
        (
            method.upper(),
            uri,
            query,
            canonical_headers(headers, signed),
            ";".join(signed),
            payload_hash,
        )
    )


def string_to_sign(amz_date: str, scope: str, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


@functools.lru_cache(maxsize=KEY_CACHE_SIZE)
def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """Derive (and cache) the SigV4 signing key. Bounded LRU, thread-safe."""
    key = hmac.digest(f"AWS4{secret}".encode(), date.encode(), "sha256")
    key = hmac.digest(key, region.encode(), "sha256")
    key = hmac.digest(key, service.encode(), "sha256")
    return hmac.digest(key, b"aws4_request", "sha256")


def sign(key: bytes, text: str) -> str:
    """Hex HMAC-SHA256 of ``text`` under ``key`` (one-shot OpenSSL path)."""
    return hmac.digest(key, text.encode("utf-8"), "sha256").hex()


__all__ = [
    "ALGORITHM",
    "EMPTY_SHA256",
    "KEY_CACHE_SIZE",
    "UNSIGNED_PAYLOAD",
    "Headers",
    "SigningKey",
    "canonical_headers",
    "canonical_query",
    "canonical_request",
    "canonical_uri",
    "sign",
    "signing_key",
    "string_to_sign",
]
