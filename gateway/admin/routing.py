"""The admin API's route table: every route declares its access checks and its documentation.

A ``RouteSpec`` names the handler, the ``Check``s the auth middleware runs before the handler
(so no handler can forget authorization), and the OpenAPI facts about the route. Checks whose
scope comes from the request body (the name of a repository being created, the source of a new
branch) are made by the handler itself through ``authorize``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from gateway.auth.grants import ref_base_name
from gateway.auth.sessions import Session, SessionStore
from gateway.auth.users import UserStore
from gateway.core.access import Action, Authenticator, Authorizer, LakeScope, Principal
from gateway.core.errors import AccessDenied
from gateway.core.lake import Lake
from gateway.core.model import InputRef
from gateway.lineage.inputs import inputs_from_json

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


LAKE = web.AppKey("lake", Lake)
AUTHN: web.AppKey[Authenticator] = web.AppKey("authn")
AUTHZ: web.AppKey[Authorizer] = web.AppKey("authz")
USERS = web.AppKey("users", UserStore)
VERSION = web.AppKey("version", str)
#: Browser sessions (``gateway.auth.sessions``); absent: the API takes HTTP Basic only.
SESSIONS = web.AppKey("sessions", SessionStore)
#: Mark session cookies Secure even on plain HTTP (a TLS proxy in front that does not say so).
COOKIE_SECURE = web.AppKey("cookie_secure", bool)
# ``web.RequestKey`` exists from aiohttp 3.14; older releases take a plain string key.
PRINCIPAL_KEY: Any = web.RequestKey("principal", Principal)
#: The session a cookie-authenticated request rides on (absent for HTTP Basic).
SESSION_KEY: Any = web.RequestKey("session", Session)
#: The lake scope (run credentials' ref mapping), and the lake it chose for this request.
SCOPE: web.AppKey[LakeScope] = web.AppKey("lake_scope")
REQUEST_LAKE: Any = web.RequestKey("lake", Lake)


@dataclass(frozen=True, slots=True)
class Check:
    """One authorization check made before the handler runs.

    ``branch``: name of the path parameter holding the branch or ref (reduced to its base name,
    see ``gateway.auth.grants``); None for a repository-wide check. ``global_``: the check has no
    repository (``repo=None``).
    """

    action: Action
    branch: str | None = None
    global_: bool = False


@dataclass(frozen=True, slots=True)
class Param:
    """A documented query parameter."""

    name: str
    type: str = "string"  # OpenAPI primitive type
    required: bool = False
    description: str = ""


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """A route with its access checks and its OpenAPI description.

    ``responses`` maps a status code to a schema name in ``openapi.SCHEMAS``, or to None for no
    body, or to a content type string starting with ``"@"`` (``"@text/plain"``) for a raw body.
    """

    method: str
    path: str
    handler: Handler
    operation_id: str
    summary: str
    tag: str
    checks: Sequence[Check] = ()
    public: bool = False  # no authentication (health check)
    self_service: bool = False  # a user may call it on their own ``{user}`` without admin rights
    query: Sequence[Param] = ()
    body: str | None = None  # request schema name; "@raw" for a raw byte body
    responses: Mapping[int, str | None] = field(default_factory=dict)


def principal_of(request: web.Request) -> Principal:
    """The authenticated caller (set by the auth middleware)."""
    principal: Principal = request[PRINCIPAL_KEY]
    return principal


def lake_of(request: web.Request) -> Lake:
    """The lake this request works on: for a run credential, the run's mapped view of it
    (chosen by the auth middleware right after authentication); else the lake itself."""
    scoped: Lake | None = request.get(REQUEST_LAKE)
    return request.config_dict[LAKE] if scoped is None else scoped


async def authorize(
    request: web.Request, action: Action, repo: str | None, branch: str | None = None
) -> None:
    """Check a body-derived scope (raises AccessDenied). Route-level checks run automatically."""
    branch = None if branch is None else ref_base_name(branch)
    await request.config_dict[AUTHZ].check(principal_of(request), action, repo, branch)


async def authorized_inputs(request: web.Request, body: Mapping[str, Any]) -> list[InputRef]:
    """The ``inputs`` of a commit or merge body (lineage), each checked for READ on its
    repository and ref: nobody records as an input what they may not read."""
    inputs = inputs_from_json(body.get("inputs"))
    for i in inputs:
        await authorize(request, Action.READ, i.repository, i.ref)
    return inputs


async def may(
    request: web.Request, action: Action, repo: str | None, branch: str | None = None
) -> bool:
    """Whether the caller may do ``action`` here (for filtering listings)."""
    try:
        await authorize(request, action, repo, branch)
    except AccessDenied:
        return False
    return True


async def run_checks(request: web.Request, spec: RouteSpec, principal: Principal) -> None:
    """Run a route's declared checks for ``principal`` (raises AccessDenied)."""
    if spec.self_service and not principal.run and request.match_info.get("user") == principal.user:
        return  # a run credential never manages its user's keys
    authz = request.config_dict[AUTHZ]
    for check in spec.checks:
        repo = None if check.global_ else request.match_info.get("repo")
        branch = None
        if check.branch is not None:
            branch = ref_base_name(request.match_info[check.branch])
        await authz.check(principal, check.action, repo, branch)


# Shorthands for the route modules.
READ_REPO = Check(Action.READ)
ADMIN_REPO = Check(Action.ADMIN)
ADMIN_GLOBAL = Check(Action.ADMIN, global_=True)
READ_GLOBAL = Check(Action.READ, global_=True)


def read_ref(param: str = "ref") -> Check:
    return Check(Action.READ, branch=param)


def on_branch(action: Action, param: str = "branch") -> Check:
    return Check(action, branch=param)


PAGINATION: tuple[Param, ...] = (
    Param("after", description="return items after this key (exclusive)"),
    Param("amount", "integer", description="page size (default 100, at most 1000)"),
)
PREFIX = Param("prefix", description="return items whose key starts with this")
