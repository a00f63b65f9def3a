"""Browser sessions: sign in with an access key pair, read the session, sign out.

``POST /auth/session`` checks the pair exactly as HTTP Basic does and answers with a
``weir_session`` cookie (HttpOnly, SameSite=Strict, Path=the API prefix, Secure when the request
came over TLS, through a proxy that says ``X-Forwarded-Proto: https``, or when configured) and
the session's CSRF token in the body. The web UI keeps the token in memory and sends it as
``X-CSRF-Token`` on every mutating call; on a reload it reads it again with
``GET /auth/session``, which no page of another origin can read (the API sends no CORS headers).

Sign-in takes only ``application/json``: an HTML form of another site cannot send that without
a CORS preflight this API never grants, so nobody can sign a browser in to someone else's
account behind its back ("login CSRF").
"""

from __future__ import annotations

from aiohttp import web

from gateway.admin import schemas
from gateway.admin.auth import SESSION_COOKIE, verify_key_pair
from gateway.admin.params import j_str, read_json
from gateway.admin.routing import (
    COOKIE_SECURE,
    SESSION_KEY,
    SESSIONS,
    USERS,
    RouteSpec,
)
from gateway.auth.sessions import Session, SessionStore
from gateway.core.errors import InvalidArgument, NotImplementedFeature

PATH = "/auth/session"


def _sessions(request: web.Request) -> SessionStore:
    sessions = request.config_dict.get(SESSIONS)
    if sessions is None:
        raise NotImplementedFeature("browser sessions are not enabled on this server")
    return sessions


def _current(request: web.Request) -> Session:
    session: Session | None = request.get(SESSION_KEY)
    if session is None:
        raise InvalidArgument("this request is not signed in with a session (it used HTTP Basic)")
    return session


def cookie_path(request: web.Request) -> str:
    """The API prefix the cookie is scoped to (``/api/v1``): S3 requests never carry it."""
    return request.path[: -len(PATH)] or "/"


def cookie_secure(request: web.Request) -> bool:
    if request.config_dict.get(COOKIE_SECURE, False) or request.secure:
        return True
    return request.headers.get("X-Forwarded-Proto", "").strip().lower() == "https"


async def _body(request: web.Request, session: Session) -> web.Response:
    user = await request.config_dict[USERS].get_user(session.user)
    return web.json_response(
        {
            "user": schemas.user(user),
            "access_key_id": session.access_key_id,
            "csrf_token": session.csrf_token,
            "created": int(session.created),
            "expires": int(session.expires),
        }
    )


async def create_session(request: web.Request) -> web.Response:
    if request.content_type != "application/json":
        raise InvalidArgument("sign-in takes a JSON body (Content-Type: application/json)")
    body = await read_json(request)
    key_id = j_str(body, "access_key_id")
    principal = await verify_key_pair(request, key_id, j_str(body, "secret_access_key"))
    sessions = _sessions(request)
    session = await sessions.create(principal.user, key_id)
    response = await _body(request, session)
    response.set_cookie(
        SESSION_COOKIE,
        session.token,
        path=cookie_path(request),
        max_age=int(sessions.ttl),
        httponly=True,
        samesite="Strict",
        secure=cookie_secure(request),
    )
    response.set_status(201)
    return response


async def get_session(request: web.Request) -> web.Response:
    return await _body(request, _current(request))


async def delete_session(request: web.Request) -> web.Response:
    _current(request)
    await _sessions(request).delete(request.cookies.get(SESSION_COOKIE, ""))
    response = web.Response(status=204)
    response.del_cookie(SESSION_COOKIE, path=cookie_path(request))
    return response


ROUTES = [
    RouteSpec(
        "POST",
        PATH,
        create_session,
        "createSession",
        "Sign in with an access key pair: sets an HttpOnly `weir_session` cookie and answers "
        "the CSRF token every mutating cookie-authenticated call must send as X-CSRF-Token",
        "auth",
        public=True,
        body="LoginInformation",
        responses={201: "Session", 400: "Error", 401: "Error"},
    ),
    RouteSpec(
        "GET",
        PATH,
        get_session,
        "getSession",
        "The caller's session (cookie authentication only), with its CSRF token",
        "auth",
        responses={200: "Session"},
    ),
    RouteSpec(
        "DELETE",
        PATH,
        delete_session,
        "deleteSession",
        "Sign out: the session stops working everywhere at once (needs X-CSRF-Token)",
        "auth",
        responses={204: None},
    ),
]
