"""SigV4 checks beyond the signature itself: the credential scope, unsigned ``x-amz-*``
headers and requests that authenticate twice. Split from ``sigv4`` (one concept per module).

Pure functions, thread-safe.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.s3.errors import (
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    InvalidArgument,
)
from gateway.s3.sigv4_canonical import Headers

if TYPE_CHECKING:
    from gateway.s3.sigv4 import AuthContext


def only_one_mechanism() -> InvalidArgument:
    """AWS's answer to a request that authenticates twice (header and query, or two headers)."""
    return InvalidArgument(
        "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
        "Signature query string parameter or the Authorization header should be specified",
        extra={"ArgumentName": "Authorization"},
    )


def check_scope(ctx: AuthContext, regions: frozenset[str], *, service: str = "s3") -> None:
    """The credential scope names this service and one of the regions this endpoint serves.

    ``regions`` holds the accepted region names (the first is the one reported), or ``*``
    to accept any. The error names the expected region in a ``<Region>`` element, as AWS
    does: SDKs (botocore's region redirector) retry with it.

    Raises:
        AuthorizationHeaderMalformed (header auth), AuthorizationQueryParametersError
            (presigned): wrong service or region.
    """
    header = not ctx.presigned
    error = AuthorizationHeaderMalformed if header else AuthorizationQueryParametersError
    lead = (
        "The authorization header is malformed; "
        if header
        else "Error parsing the X-Amz-Credential parameter; "
    )
    if ctx.service != service:
        raise error(
            f'{lead}incorrect service "{ctx.service}". This endpoint belongs to "{service}".'
        )
    if "*" in regions or ctx.region in regions:
        return
    expected = min(regions) if regions else "us-east-1"
    raise error(
        f"{lead}the region '{ctx.region}' is wrong; expecting '{expected}'",
        extra={"Region": expected},
    )


#: ``x-amz-*`` headers that need not be signed: the payload hash is part of the canonical
#: request itself, so changing it breaks the signature anyway (AWS tolerates it unsigned).
UNSIGNED_OK = frozenset({"x-amz-content-sha256"})


def unsigned_amz_headers(headers: Headers, ctx: AuthContext) -> list[str]:
    """The ``x-amz-*`` request headers the signature does not cover (AWS refuses them)."""
    signed = ctx.signed_headers
    out: list[str] = []
    for name in headers:
        lower = name.lower()
        if (
            lower.startswith("x-amz-")
            and lower not in signed
            and lower not in UNSIGNED_OK
            and lower not in out
        ):
            out.append(lower)
    return out
