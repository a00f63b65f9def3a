"""HTTP Basic authentication and route-level authorization for the admin API.

The access key and secret are the same pair the S3 API uses (lakeFS does the same): the key is
looked up through the shared ``Authenticator``, the secret compared in constant time. Then the
route's declared checks run through the shared ``Authorizer`` before the handler is called.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from aiohttp import web

from gateway.admin.errors import Handler
from gateway.admin.routing import (
    AUTHN,
    LAKE,
    PRINCIPAL_KEY,
    REQUEST_LAKE,
    SCOPE,
    RouteSpec,
    run_checks,
)
from gateway.core.access import Principal
from gateway.core.errors import Unauthenticated
from gateway.observability import USER

SPECS = web.AppKey("route_specs", dict)


def parse_basic(header: str | None) -> tuple[str, str]:
    """(access key id, secret) from an ``Authorization: Basic`` header.

    Raises:
        Unauthenticated: missing or malformed header, or another scheme.
    """
    if not header:
        raise Unauthenticated("authentication required (HTTP Basic with an access key pair)")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        raise Unauthenticated(f"unsupported authentication scheme {scheme!r}: use HTTP Basic")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthenticated("malformed Basic credentials") from None
    key_id, sep, secret = decoded.partition(":")
    if not sep or not key_id:
        raise Unauthenticated("malformed Basic credentials")
    return key_id, secret


async def authenticate(request: web.Request) -> Principal:
    key_id, secret = parse_basic(request.headers.get("Authorization"))
    found = await request.config_dict[AUTHN].lookup(key_id)
    # Compare even for an unknown key so that timing does not tell which keys exist.
    expected = found[1] if found is not None else "\x00" * max(len(secret), 1)
    if not hmac.compare_digest(expected.encode(), secret.encode()) or found is None:
        raise Unauthenticated("invalid access key id or secret")
    return found[0]


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticate every non-public route, then run its declared checks."""
    specs: dict[object, RouteSpec] = request.app[SPECS]
    spec = specs.get(request.match_info.route)
    if spec is not None and spec.public:
        return await handler(request)
    principal = await authenticate(request)
    request[PRINCIPAL_KEY] = principal
    request[USER] = principal.user  # for the access log
    if principal.run:
        scope = request.config_dict.get(SCOPE)
        if scope is None:
            raise Unauthenticated("run credentials are not accepted by this server")
        request[REQUEST_LAKE] = await scope.lake_for(principal, request.config_dict[LAKE])
    if spec is not None:
        await run_checks(request, spec, principal)
    return await handler(request)
