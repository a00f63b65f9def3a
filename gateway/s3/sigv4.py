"""AWS Signature Version 4 for S3: parse, verify (header and presigned), and a small signer.

Server side, a request goes ``parse_auth`` (pure syntax: who claims to sign what) ->
credential lookup (``core.access.Authenticator``) -> ``verify`` (time checks, canonical request,
constant-time compare). ``verify`` returns a ``SigningKey`` that carries what the aws-chunked
decoder needs to verify chunk signatures chained from the seed signature.

Canonical URI: S3 signs the path *without* normalisation (no ``.``/``..`` folding, no double
encoding). The server re-encodes the raw path it received the way AWS SDKs produce it: each
segment percent-decoded, then encoded with the SigV4 unreserved set ``A-Z a-z 0-9 - _ . ~``
(``/`` kept, ``%2F`` inside a segment kept). A raw path that is already in that form (every
botocore/awscli/SDK request) is used as is without any work. If the signature does not match the
normalised form and the raw path differs from it, the raw path is tried too, so that clients that
sign exactly the bytes they send (with lower-case escapes or unencoded sub-delims) also work.

Signing keys are derived once per (secret, date, region, service) and kept in a bounded LRU.

The canonical-request builders live in ``sigv4_canonical`` and the client-side signer in
``sigv4_client``; every public name of both is re-exported here, so callers import ``sigv4`` only.

Thread-safety: all functions are pure except the ``functools.lru_cache`` key cache, which is
thread-safe.
"""

from __future__ import annotations

import calendar
import functools
import hmac
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import NamedTuple

from gateway.s3.errors import (
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    InvalidArgument,
    InvalidRequest,
    MissingSecurityHeader,
    RequestExpired,
    RequestTimeTooSkewed,
    SignatureDoesNotMatch,
    UnsupportedSignature,
)
from gateway.s3.sigv4_canonical import (
    ALGORITHM,
    EMPTY_SHA256,
    KEY_CACHE_SIZE,
    UNSIGNED_PAYLOAD,
    Headers,
    SigningKey,
    canonical_headers,
    canonical_query,
    canonical_request,
    canonical_uri,
    sign,
    signing_key,
    string_to_sign,
)
from gateway.s3.sigv4_checks import only_one_mechanism
from gateway.s3.sigv4_client import SignedRequest, encode_path, encode_query, sign_request

STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
STREAMING_MODES = frozenset(
    {STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER}
)

MAX_SKEW = timedelta(minutes=15)
MAX_PRESIGN_EXPIRES = 7 * 24 * 3600

_HEX64 = re.compile(r"[0-9a-f]{64}")
_DATE8 = re.compile(r"\d{8}")
_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z")
_AUTH_FIELDS = ("Credential", "SignedHeaders", "Signature")

_PRESIGN_PARAMS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
)


class AuthContext(NamedTuple):
    """What a request claims about its signature (parsed, not yet verified). Immutable.

    A ``NamedTuple`` rather than a frozen dataclass: it is built on every request and a frozen
    dataclass costs ~2 µs more to construct (``object.__setattr__`` per field).

    Attributes:
        access_key_id: From the credential scope.
        date: Scope date ``YYYYMMDD``.
        region: Scope region (any value is accepted; it only feeds the key derivation).
        service: Scope service (``s3``).
        signed_headers: Lower-case header names, in the order the client listed them.
        signature: 64 lower-case hex characters.
        amz_date: Request time ``YYYYMMDDTHHMMSSZ`` (X-Amz-Date, or the Date header).
        presigned: Query-string auth.
        expires: X-Amz-Expires seconds for presigned requests.
        content_sha256: The payload hash that was signed: the x-amz-content-sha256 header (a hex
            digest, UNSIGNED-PAYLOAD or a STREAMING-* mode), or UNSIGNED-PAYLOAD for presigned.
    """

    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    amz_date: str
    presigned: bool
    expires: int | None
    content_sha256: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/aws4_request"

    @property
    def streaming(self) -> bool:
        """The body is aws-chunked (one of the STREAMING-* payload modes)."""
        return self.content_sha256 in STREAMING_MODES


# -- parsing -----------------------------------------------------------------------------------


def _split_credential(
    credential: str, error: type[AuthorizationHeaderMalformed | AuthorizationQueryParametersError]
) -> tuple[str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5 or not parts[0]:
        raise error(
            "the Credential is mal-formed; expecting "
            '"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".'
        )
    access_key, date, region, service, terminal = parts
    if not _DATE8.fullmatch(date):
        raise error(f"Invalid credential date {date!r}. Date is not in YYYYMMDD format.")
    if terminal != "aws4_request":
        raise error(
            f'Incorrect terminal {terminal!r}. This endpoint uses "aws4_request".',
        )
    if not region or not service:
        raise error("the Credential scope needs a region and a service.")
    return access_key, date, region, service


def _amz_date_from_headers(headers: Headers) -> str:
    amz_date = headers.get("x-amz-date")
    if amz_date:
        if not _AMZ_DATE.fullmatch(amz_date):
            raise MissingSecurityHeader(
                "AWS authentication requires a valid Date or x-amz-date header"
            )
        return amz_date
    date = headers.get("date")
    if date:
        try:
            parsed = parsedate_to_datetime(date)
        except (TypeError, ValueError):
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    raise MissingSecurityHeader("AWS authentication requires a valid Date or x-amz-date header")


def _parse_header_auth(value: str, headers: Headers) -> AuthContext:
    scheme, _, rest = value.strip().partition(" ")
    if scheme != ALGORITHM:
        if scheme == "AWS":
            raise UnsupportedSignature(
                "The authorization mechanism you have provided is not supported. "
                "Please use AWS4-HMAC-SHA256."
            )
        raise InvalidArgument(
            "Unsupported Authorization Type",
            extra={"ArgumentName": "Authorization", "ArgumentValue": value[:200]},
        )
    fields: dict[str, str] = {}
    for item in rest.split(","):
        name, sep, field = item.partition("=")
        name = name.strip()
        if not sep or name not in _AUTH_FIELDS:
            if not item.strip():
                continue
            raise AuthorizationHeaderMalformed(f"The authorization header is malformed: {item!r}")
        if name in fields:
            raise AuthorizationHeaderMalformed(
                f"The authorization header is malformed; {name} is given more than once."
            )
        fields[name] = field.strip()
    for name in _AUTH_FIELDS:
        if not fields.get(name):
            raise AuthorizationHeaderMalformed(
                f"The authorization header is malformed; missing {name}."
            )
    access_key, date, region, service = _split_credential(
        fields["Credential"], AuthorizationHeaderMalformed
    )
    signature = fields["Signature"]
    if not _HEX64.fullmatch(signature):
        raise AuthorizationHeaderMalformed("The authorization header is malformed; bad Signature.")
    signed = tuple(fields["SignedHeaders"].split(";"))
    if "host" not in signed:
        raise AuthorizationHeaderMalformed("The host header must be signed.")
    amz_date = _amz_date_from_headers(headers)
    if amz_date[:8] != date:
        raise AuthorizationHeaderMalformed(
            f"Invalid credential date {date!r}. Date is not the same as X-Amz-Date."
        )
    content_sha256 = headers.get("x-amz-content-sha256")
    if not content_sha256:
        raise InvalidRequest("Missing required header for this request: x-amz-content-sha256")
    return AuthContext(
        access_key_id=access_key,
        date=date,
        region=region,
        service=service,
        signed_headers=signed,
        signature=signature,
        amz_date=amz_date,
        presigned=False,
        expires=None,
        content_sha256=content_sha256.strip(),
    )


def _parse_query_auth(params: Mapping[str, str]) -> AuthContext:
    error = AuthorizationQueryParametersError
    missing = [name for name in _PRESIGN_PARAMS if not params.get(name)]
    if missing:
        raise error(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, "
            "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
            f"and X-Amz-Expires parameters (missing {', '.join(missing)})."
        )
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise error('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"')
    access_key, date, region, service = _split_credential(params["X-Amz-Credential"], error)
    amz_date = params["X-Amz-Date"]
    if not _AMZ_DATE.fullmatch(amz_date):
        raise error("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
    if amz_date[:8] != date:
        raise error(f"Invalid credential date {date!r}. Date is not the same as X-Amz-Date.")
    try:
        expires = int(params["X-Amz-Expires"])
    except ValueError:
        raise error("X-Amz-Expires should be a number") from None
    if expires < 0:
        raise error("X-Amz-Expires must be non-negative")
    if expires > MAX_PRESIGN_EXPIRES:
        raise error("X-Amz-Expires must be less than a week (in seconds) that is 604800")
    signature = params["X-Amz-Signature"]
    if not _HEX64.fullmatch(signature):
        raise error("X-Amz-Signature must be 64 lower-case hex characters")
    signed = tuple(params["X-Amz-SignedHeaders"].split(";"))
    if "host" not in signed:
        raise error("The host header must be signed.")
    return AuthContext(
        access_key_id=access_key,
        date=date,
        region=region,
        service=service,
        signed_headers=signed,
        signature=signature,
        amz_date=amz_date,
        presigned=True,
        expires=expires,
        content_sha256=params.get("X-Amz-Content-Sha256") or UNSIGNED_PAYLOAD,
    )


def parse_auth(
    method: str, headers: Headers, query: Sequence[tuple[str, str]]
) -> AuthContext | None:
    """Parse the SigV4 claims of a request (no crypto, no clock).

    Args:
        method: HTTP method (unused today; kept for POST-policy support).
        headers: Case-insensitive request headers.
        query: Decoded query parameters in order (``request.query`` items).

    Returns:
        None for an anonymous request (no Authorization header, no X-Amz-Credential).

    Raises:
        AuthorizationHeaderMalformed, AuthorizationQueryParametersError: malformed claims.
        UnsupportedSignature: SigV2 (``AWS key:sig`` or ``?Signature=&AWSAccessKeyId=``).
        InvalidArgument: unknown scheme, or both mechanisms at once.
        InvalidRequest: no x-amz-content-sha256 (header auth).
        MissingSecurityHeader: header auth with no valid X-Amz-Date / Date.
    """
    del method
    authorization = headers.get("authorization")
    params: dict[str, str] = {}
    repeated: list[str] = []
    for key, value in query:
        if key.startswith(("X-Amz-", "x-amz-")) or key in ("AWSAccessKeyId", "Signature"):
            if key in params and key in _PRESIGN_PARAMS:
                repeated.append(key)
            params.setdefault(key, value)
    presigned = "X-Amz-Credential" in params or "X-Amz-Algorithm" in params
    if authorization is not None and authorization.strip():
        if presigned or ("AWSAccessKeyId" in params and "Signature" in params):
            raise only_one_mechanism()
        return _parse_header_auth(authorization, headers)
    if presigned:
        if repeated:
            raise AuthorizationQueryParametersError(
                f"{repeated[0]} must appear only once in the query string"
            )
        return _parse_query_auth(params)
    if "AWSAccessKeyId" in params and "Signature" in params:
        raise UnsupportedSignature(
            "The authorization mechanism you have provided is not supported. "
            "Please use AWS4-HMAC-SHA256."
        )
    return None


# -- verification ------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)  # concurrent requests share their second: mostly hits
def _amz_epoch(value: str) -> int:
    """Unix seconds of a validated ``YYYYMMDDTHHMMSSZ`` (slicing: ~20x cheaper than strptime)."""
    fields = (
        int(value[0:4]),
        int(value[4:6]),
        int(value[6:8]),
        int(value[9:11]),
        int(value[11:13]),
        int(value[13:15]),
    )
    if not (
        1 <= fields[1] <= 12
        and 1 <= fields[2] <= 31
        and fields[3] < 24
        and fields[4] < 60
        and fields[5] < 61
    ):
        raise MissingSecurityHeader("AWS authentication requires a valid Date or x-amz-date header")
    return calendar.timegm(fields)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_time(ctx: AuthContext, now: datetime) -> None:
    request_ts = _amz_epoch(ctx.amz_date)
    now_ts = now.timestamp()
    skew = MAX_SKEW.total_seconds()
    if ctx.presigned:
        assert ctx.expires is not None
        if request_ts - now_ts > skew:
            raise RequestTimeTooSkewed(
                "Request is not valid yet",
                extra={"RequestTime": ctx.amz_date, "ServerTime": _iso(now)},
            )
        if now_ts > request_ts + ctx.expires:
            expired_at = datetime.fromtimestamp(request_ts + ctx.expires, UTC)
            raise RequestExpired(
                "Request has expired",
                extra={
                    "X-Amz-Expires": str(ctx.expires),
                    "Expires": _iso(expired_at),
                    "ServerTime": _iso(now),
                },
            )
    elif abs(now_ts - request_ts) > skew:
        raise RequestTimeTooSkewed(
            "The difference between the request time and the current time is too large.",
            extra={
                "RequestTime": ctx.amz_date,
                "ServerTime": _iso(now),
                "MaxAllowedSkewMilliseconds": str(int(skew * 1000)),
            },
        )


def verify(
    ctx: AuthContext,
    secret: str,
    *,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Headers,
    now: datetime,
) -> SigningKey:
    """Verify a request's SigV4 signature.

    Args:
        ctx: From ``parse_auth``.
        secret: The access key's secret.
        method: HTTP method.
        raw_path: The path exactly as received, percent-encoded (aiohttp:
            ``request.rel_url.raw_path``; a ``?query`` suffix is cut if present).
        raw_query: The query string exactly as received, without ``?`` (aiohttp:
            ``request.rel_url.raw_query_string``, *not* ``request.query_string``, which is
            partly decoded).
        headers: Case-insensitive request headers.
        now: Server time (aware or naive UTC).

    Returns:
        The signing key and seed signature, for aws-chunked bodies.

    Raises:
        RequestTimeTooSkewed: header auth more than 15 minutes off, or presigned in the future.
        RequestExpired: presigned URL past X-Amz-Date + X-Amz-Expires.
        SignatureDoesNotMatch: no canonical form of the request matches (constant-time compare).
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    _check_time(ctx, now)
    path = raw_path.partition("?")[0] or "/"
    query = canonical_query(raw_query, exclude_signature=ctx.presigned)
    key = signing_key(secret, ctx.date, ctx.region, ctx.service)
    scope = ctx.scope
    uri = canonical_uri(path)
    first = canonical_request(method, uri, query, headers, ctx.signed_headers, ctx.content_sha256)
    sts = string_to_sign(ctx.amz_date, scope, first)
    if hmac.compare_digest(sign(key, sts), ctx.signature):
        return SigningKey(key, scope, ctx.amz_date, ctx.signature)
    if uri != path:
        raw = canonical_request(
            method, path, query, headers, ctx.signed_headers, ctx.content_sha256
        )
        raw_sts = string_to_sign(ctx.amz_date, scope, raw)
        if hmac.compare_digest(sign(key, raw_sts), ctx.signature):
            return SigningKey(key, scope, ctx.amz_date, ctx.signature)
    raise SignatureDoesNotMatch(
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.",
        extra={
            "AWSAccessKeyId": ctx.access_key_id,
            "StringToSign": sts,
            "SignatureProvided": ctx.signature,
            "CanonicalRequest": first,
        },
    )


__all__ = [
    "ALGORITHM",
    "EMPTY_SHA256",
    "KEY_CACHE_SIZE",
    "STREAMING_MODES",
    "STREAMING_SIGNED",
    "STREAMING_SIGNED_TRAILER",
    "STREAMING_UNSIGNED_TRAILER",
    "UNSIGNED_PAYLOAD",
    "AuthContext",
    "Headers",
    "SignedRequest",
    "SigningKey",
    "canonical_headers",
    "canonical_query",
    "canonical_request",
    "canonical_uri",
    "encode_path",
    "encode_query",
    "parse_auth",
    "sign",
    "sign_request",
    "signing_key",
    "string_to_sign",
    "verify",
]
