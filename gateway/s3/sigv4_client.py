"""A small client-side SigV4 signer for S3 (tests, benchmarks, raw-HTTP clients).

Signs the way AWS SDKs do: header auth (``Authorization`` + ``x-amz-date`` +
``x-amz-content-sha256``) or presigned query auth. Re-exported by ``gateway.s3.sigv4``.
Pure functions, thread-safe.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from gateway.s3.sigv4_canonical import (
    ALGORITHM,
    UNSIGNED_PAYLOAD,
    SigningKey,
    canonical_query,
    canonical_request,
    sign,
    signing_key,
    string_to_sign,
)


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """A signed request: send ``path?query`` with ``headers``."""

    path: str
    query: str
    headers: dict[str, str]
    signature: str
    signing_key: SigningKey

    @property
    def url_path(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path


def encode_path(key_path: str) -> str:
    """Percent-encode a decoded path the way AWS SDKs do (``/`` kept)."""
    return quote(key_path, safe="/~")


def encode_query(params: Iterable[tuple[str, str]]) -> str:
    """Percent-encode decoded query pairs with the SigV4 unreserved set, order kept."""
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in params)


def sign_request(
    *,
    method: str,
    path: str,
    query: Sequence[tuple[str, str]] = (),
    headers: Mapping[str, str],
    access_key: str,
    secret: str,
    now: datetime,
    region: str = "us-east-1",
    service: str = "s3",
    payload_hash: str = UNSIGNED_PAYLOAD,
    presign_expires: int | None = None,
) -> SignedRequest:
    """Sign a request as an AWS SDK would (header auth, or presigned with ``presign_expires``).

    Args:
        path: The already percent-encoded path to send (``encode_path('/b/k')``); signed as is.
        query: Decoded query parameters.
        headers: Headers to send and sign; must include ``host``.
        payload_hash: x-amz-content-sha256 value for header auth (hex digest, UNSIGNED-PAYLOAD
            or a STREAMING-* mode).
    """
    amz_date = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    scope = f"{date}/{region}/{service}/aws4_request"
    out = {k.lower(): v for k, v in headers.items()}
    if "host" not in out:
        raise ValueError("the host header is required")
    params = list(query)
    if presign_expires is None:
        out["x-amz-date"] = amz_date
        out["x-amz-content-sha256"] = payload_hash
    signed = sorted(out)
    if presign_expires is not None:
        payload_hash = UNSIGNED_PAYLOAD
        params += [
            ("X-Amz-Algorithm", ALGORITHM),
            ("X-Amz-Credential", f"{access_key}/{scope}"),
            ("X-Amz-Date", amz_date),
            ("X-Amz-Expires", str(presign_expires)),
            ("X-Amz-SignedHeaders", ";".join(signed)),
        ]
    raw_query = encode_query(params)
    canonical = canonical_request(
        method, path, canonical_query(raw_query), out, signed, payload_hash
    )
    key = signing_key(secret, date, region, service)
    signature = sign(key, string_to_sign(amz_date, scope, canonical))
    if presign_expires is not None:
        raw_query += f"&X-Amz-Signature={signature}"
    else:
        out["authorization"] = (
            f"{ALGORITHM} Credential={access_key}/{scope}, "
            f"SignedHeaders={';'.join(signed)}, Signature={signature}"
        )
    return SignedRequest(
        path=path,
        query=raw_query,
        headers=out,
        signature=signature,
        signing_key=SigningKey(key, scope, amz_date, signature),
    )


__all__ = ["SignedRequest", "encode_path", "encode_query", "sign_request"]
