"""AWS Signature Version 2 for S3 (HMAC-SHA1): header and presigned query authentication.

Still accepted by AWS for S3, and what botocore's ``generate_presigned_url()`` produces for
``s3`` when no ``signature_version`` is configured, so sharing an object with boto3's defaults
works. SigV4 stays the recommended mode; ``auth.sigv2 = false`` turns this one off.

* Header: ``Authorization: AWS <AccessKeyId>:<base64 HMAC-SHA1>`` with a ``Date`` or
  ``x-amz-date`` header. ``x-amz-date`` takes precedence: when present it is the request time
  and the Date line of the string to sign is empty, as AWS documents. Time skew over 15 minutes
  either way is ``RequestTimeTooSkewed``.
* Presigned: ``?AWSAccessKeyId=&Expires=<unix seconds>&Signature=`` (all three, once each);
  ``Expires`` replaces the Date line; past it the request is ``AccessDenied`` "Request has
  expired". ``x-amz-*`` query parameters (botocore moves request headers such as user metadata
  there) are signed like headers, and the gateway treats them as the headers they stand for.

String to sign::

    METHOD \\n Content-MD5 \\n Content-Type \\n Date-or-Expires \\n
    x-amz-name:value \\n ... (lower-cased, sorted, repeated values joined by ",")
    /bucket/key?sub-resources (raw path as sent; listed sub-resources, decoded, sorted)

Every ``x-amz-*`` header is part of the string to sign, so SigV2 cannot leave one unsigned.
Signatures are compared in constant time. Pure functions, thread-safe.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import NamedTuple
from urllib.parse import unquote

from gateway.s3.errors import (
    AccessDenied as AccessDeniedDetail,
)
from gateway.s3.errors import (
    InvalidArgument,
    MissingSecurityHeader,
    RequestExpired,
    RequestTimeTooSkewed,
    SignatureDoesNotMatch,
)
from gateway.s3.sigv4_canonical import Headers

MAX_SKEW_SECONDS = 15 * 60
QUERY_PARAMS = ("AWSAccessKeyId", "Expires", "Signature")

#: Query parameters that are part of the canonical resource (AWS's list, as botocore signs).
SUBRESOURCES = frozenset(
    {
        "accelerate",
        "acl",
        "analytics",
        "cors",
        "defaultObjectAcl",
        "delete",
        "inventory",
        "legal-hold",
        "lifecycle",
        "location",
        "logging",
        "metrics",
        "notification",
        "object-lock",
        "partNumber",
        "policy",
        "replication",
        "requestPayment",
        "response-cache-control",
        "response-content-disposition",
        "response-content-encoding",
        "response-content-language",
        "response-content-type",
        "response-expires",
        "restore",
        "retention",
        "select",
        "select-type",
        "storageClass",
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


class V2Claims(NamedTuple):
    """What a SigV2 request claims (parsed, not yet verified). Immutable.

    Attributes:
        access_key_id: The key that signed.
        signature: The base64 signature as sent.
        presigned: Query-string authentication.
        date_line: The Date line of the string to sign (``Expires`` when presigned; empty
            when ``x-amz-date`` is present).
        timestamp: Request time (header auth) or expiry (presigned), Unix seconds.
        amz_query: ``x-amz-*`` query parameters of a presigned request (signed like headers).
    """

    access_key_id: str
    signature: str
    presigned: bool
    date_line: str
    timestamp: float
    amz_query: tuple[tuple[str, str], ...] = ()


def is_v2_header(authorization: str) -> bool:
    return authorization.startswith("AWS ") and not authorization.startswith("AWS4-")


def is_v2_query(params: Mapping[str, str]) -> bool:
    return "AWSAccessKeyId" in params or "Signature" in params


def _request_time(headers: Headers) -> tuple[str, float]:
    """(Date line, request time): x-amz-date wins over Date, as AWS documents."""
    amz = headers.get("x-amz-date")
    date = headers.get("date")
    value = amz if amz else date
    if value:
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            parsed = None
        if parsed is None and amz:
            try:
                parsed = datetime.strptime(amz, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            except ValueError:
                parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return ("" if amz else (date or "").strip()), parsed.timestamp()
    raise MissingSecurityHeader("AWS authentication requires a valid Date or x-amz-date header")


def parse_header(authorization: str, headers: Headers) -> V2Claims:
    """Parse ``Authorization: AWS key:signature``.

    Raises:
        InvalidArgument: not ``key:signature`` (AWS's code and message).
        MissingSecurityHeader: neither a valid Date nor x-amz-date.
    """
    credential = authorization[len("AWS ") :].strip()
    access_key, sep, signature = credential.rpartition(":")
    if not sep or not access_key or not signature or " " in credential:
        raise InvalidArgument(
            "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature",
            extra={"ArgumentName": "Authorization", "ArgumentValue": authorization[:200]},
        )
    date_line, when = _request_time(headers)
    return V2Claims(access_key, signature, False, date_line, when)


def parse_query(query: Sequence[tuple[str, str]]) -> V2Claims:
    """Parse presigned ``AWSAccessKeyId``/``Expires``/``Signature`` (each exactly once).

    Raises:
        AccessDenied: a parameter is missing (AWS's answer); InvalidArgument: one is repeated
            or Expires is not a number.
    """
    found: dict[str, list[str]] = {}
    amz: list[tuple[str, str]] = []
    for name, value in query:
        if name in QUERY_PARAMS:
            found.setdefault(name, []).append(value)
        elif name.lower().startswith("x-amz-"):
            amz.append((name.lower(), value))
    if any(name not in found for name in QUERY_PARAMS):
        raise AccessDeniedDetail(
            "Query-string authentication requires the Signature, Expires and AWSAccessKeyId "
            "parameters"
        )
    repeated = [name for name, values in found.items() if len(values) > 1]
    if repeated:
        raise InvalidArgument(
            f"{repeated[0]} must appear only once in a presigned URL",
            extra={"ArgumentName": repeated[0]},
        )
    expires = found["Expires"][0]
    try:
        expires_at = int(expires)
    except ValueError:
        raise InvalidArgument(
            "Expires must be a number of seconds since the epoch",
            extra={"ArgumentName": "Expires", "ArgumentValue": expires[:100]},
        ) from None
    # A '+' of the base64 alphabet that a client did not percent-encode reads as a space.
    signature = found["Signature"][0].replace(" ", "+")
    return V2Claims(
        found["AWSAccessKeyId"][0], signature, True, expires, float(expires_at), tuple(amz)
    )


def canonical_resource(
    raw_path: str, raw_query: str, *, bucket_prefix: str = "", bucket_slash: bool = True
) -> str:
    """``/bucket/key`` as sent (raw path; ``bucket_prefix`` is ``/bucket`` for virtual-hosted
    requests; a bucket alone is ``/bucket/`` unless ``bucket_slash`` is off) plus the signed
    sub-resources, decoded and sorted by name (``uploads``, not ``uploads=``, for one without a
    value)."""
    resource = bucket_prefix + (raw_path.partition("?")[0] or "/")
    if bucket_slash and resource.count("/") == 1 and len(resource) > 1:
        resource += "/"  # botocore signs a bucket as "/bucket/", whatever the URL says
    if not raw_query:
        return resource
    pairs: list[tuple[str, str | None]] = []
    for item in raw_query.split("&"):
        name, _, value = item.partition("=")
        if name in SUBRESOURCES:
            pairs.append((name, unquote(value) if value else None))
    if not pairs:
        return resource
    pairs.sort(key=lambda pair: pair[0])
    return (
        resource
        + "?"
        + "&".join(name if value is None else f"{name}={value}" for name, value in pairs)
    )


def _amz_headers(headers: Headers, amz_query: Sequence[tuple[str, str]]) -> str:
    merged: dict[str, list[str]] = {}
    getall = getattr(headers, "getall", None)
    for name in headers:
        lower = name.lower()
        if lower.startswith("x-amz-") and lower not in merged:
            values = getall(name) if getall is not None else [headers[name]]
            merged[lower] = [" ".join(v.split()) for v in values]
    for name, value in amz_query:
        merged.setdefault(name, []).append(" ".join(value.split()))
    return "".join(f"{name}:{','.join(merged[name])}\n" for name in sorted(merged))


def string_to_sign(
    claims: V2Claims,
    *,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Headers,
    bucket_prefix: str = "",
    bucket_slash: bool = True,
) -> str:
    resource = canonical_resource(
        raw_path, raw_query, bucket_prefix=bucket_prefix, bucket_slash=bucket_slash
    )
    return (
        f"{method.upper()}\n"
        f"{headers.get('content-md5', '').strip()}\n"
        f"{headers.get('content-type', '').strip()}\n"
        f"{claims.date_line}\n"
        f"{_amz_headers(headers, claims.amz_query)}"
        f"{resource}"
    )


def sign(secret: str, text: str) -> str:
    """Base64 HMAC-SHA1 of ``text`` under ``secret``."""
    digest = hmac.digest(secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(digest).decode("ascii")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_time(claims: V2Claims, now: datetime) -> None:
    """Expiry (presigned) or clock skew (header). Raises RequestExpired, RequestTimeTooSkewed."""
    now_ts = now.timestamp()
    if claims.presigned:
        if now_ts > claims.timestamp:
            raise RequestExpired(
                "Request has expired",
                extra={"Expires": _iso(claims.timestamp), "ServerTime": _iso(now_ts)},
            )
    elif abs(now_ts - claims.timestamp) > MAX_SKEW_SECONDS:
        raise RequestTimeTooSkewed(
            "The difference between the request time and the current time is too large.",
            extra={
                "RequestTime": _iso(claims.timestamp),
                "ServerTime": _iso(now_ts),
                "MaxAllowedSkewMilliseconds": str(MAX_SKEW_SECONDS * 1000),
            },
        )


def verify(
    claims: V2Claims,
    secret: str,
    *,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Headers,
    now: datetime,
    bucket_prefix: str = "",
) -> None:
    """Check the time, then the signature (constant-time).

    Raises:
        RequestExpired, RequestTimeTooSkewed: see ``check_time``.
        SignatureDoesNotMatch: with AWS's debug elements (StringToSign, SignatureProvided).
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    check_time(claims, now)
    text = string_to_sign(
        claims,
        method=method,
        raw_path=raw_path,
        raw_query=raw_query,
        headers=headers,
        bucket_prefix=bucket_prefix,
    )
    try:
        provided = base64.b64decode(claims.signature, validate=True)
    except (binascii.Error, ValueError):
        provided = b""
    if _matches(secret, text, provided):
        return
    # A client that signs the bucket exactly as its URL names it ("/bucket", no slash).
    plain = string_to_sign(
        claims,
        method=method,
        raw_path=raw_path,
        raw_query=raw_query,
        headers=headers,
        bucket_prefix=bucket_prefix,
        bucket_slash=False,
    )
    if plain == text or not _matches(secret, plain, provided):
        raise SignatureDoesNotMatch(
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
            extra={
                "AWSAccessKeyId": claims.access_key_id,
                "StringToSign": text,
                "SignatureProvided": claims.signature,
                "StringToSignBytes": " ".join(f"{b:02x}" for b in text.encode("utf-8")),
            },
        )


def _matches(secret: str, text: str, provided: bytes) -> bool:
    expected = hmac.digest(secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha1)
    return hmac.compare_digest(expected, provided)


__all__ = [
    "QUERY_PARAMS",
    "SUBRESOURCES",
    "V2Claims",
    "canonical_resource",
    "check_time",
    "is_v2_header",
    "is_v2_query",
    "parse_header",
    "parse_query",
    "sign",
    "string_to_sign",
    "verify",
]
