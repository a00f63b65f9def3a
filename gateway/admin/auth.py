"""Authentication (HTTP Basic, or a browser session) and route-level authorization for the
admin API.

HTTP Basic: the access key and secret are the same pair the S3 API uses (lakeFS does the same):
the key is looked up through the shared ``Authenticator``, the secret compared in constant time.

Session (the web UI, or any browser client): a request with no ``Authorization`` header and a
``weir_session`` cookie rides on the session that cookie names (``gateway.auth.sessions``). The
session's access key is looked up again on every request, so revoking it ends the session. A
cookie is sent by the browser on its own, so every mutating request (anything but GET, HEAD and
OPTIONS) must also carry the session's CSRF token in ``X-CSRF-Token``, which a page of another
origin cannot read; without it the request is refused with 403.

Either way, the route's declared checks then run through the shared ``Authorizer`` before the
handler is called: a session can do exactly what its access key can.
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
    SESSION_KEY,
    SESSIONS,
    RouteSpec,
    run_checks,
)
from gateway.core import audit
from gateway.core.access import Principal
from gateway.core.errors import AccessDenied, Unauthenticated
from gateway.observability import USER

SPECS = web.AppKey("route_specs", dict)
SESSION_COOKIE = "weir_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


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


async def authenticate_session(request: web.Request, token: str) -> Principal:
    """The principal of a cookie's session; mutating requests must echo its CSRF token.

    Raises:
        Unauthenticated: no such live session, or its access key was revoked.
        AccessDenied: a mutating request without the session's CSRF token.
    """
    sessions = request.config_dict.get(SESSIONS)
    session = None if sessions is None else await sessions.get(token)
    if session is None:
        raise Unauthenticated("not signed in: the session has expired or was signed out")
    found = await request.config_dict[AUTHN].lookup(session.access_key_id)
    if found is None or found[0].user != session.user:
        raise Unauthenticated("the access key this session was opened with has been revoked")
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
            raise AccessDenied(
                "this request lacks the session's CSRF token (X-CSRF-Token): reload the page"
            )
    request[SESSION_KEY] = session
    return found[0]


async def authenticate(request: web.Request) -> Principal:
    header = request.headers.get("Authorization")
    if header is None:
        token = request.cookies.get(SESSION_COOKIE)
        if token is not None:
            return await authenticate_session(request, token)
    key_id, secret = parse_basic(header)
    return await verify_key_pair(request, key_id, secret)


async def verify_key_pair(request: web.Request, key_id: str, secret: str) -> Principal:
    """The principal of an access key pair (raises Unauthenticated)."""
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
    audit.identify(principal.user, principal.access_key_id)  # the caller on the audit trail
    request[USER] = principal.user  # for the access log
    if principal.run:
        scope = request.config_dict.get(SCOPE)
        if scope is None:
            raise Unauthenticated("run credentials are not accepted by this server")
        request[REQUEST_LAKE] = await scope.lake_for(principal, request.config_dict[LAKE])
    if spec is not None:
        await run_checks(request, spec, principal)
    return await handler(request)
