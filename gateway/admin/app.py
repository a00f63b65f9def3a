"""The admin REST API application (mounted at ``/api/v1``): lakeFS-compatible, plus Weir's own
endpoints for users, grants and branch protection.

Handlers are thin (parse, one ``Lake`` call, shape JSON). Middlewares, outermost first: errors
(the one domain-error map, ``admin/errors.py``), then authentication and the route's declared
authorization checks (``admin/auth.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from gateway.admin import (
    routes_audit,
    routes_auth,
    routes_branches,
    routes_config,
    routes_gc,
    routes_import,
    routes_lineage,
    routes_objects,
    routes_paths,
    routes_preview,
    routes_refs,
    routes_repos,
    routes_runs,
    routes_session,
    routes_staging,
)
from gateway.admin.auditing import audit_middleware
from gateway.admin.auth import SPECS, auth_middleware
from gateway.admin.errors import error_middleware
from gateway.admin.openapi import DOCUMENT, build_document
from gateway.admin.routing import (
    AUTHN,
    AUTHZ,
    COOKIE_SECURE,
    LAKE,
    SCOPE,
    SESSIONS,
    USERS,
    VERSION,
    RouteSpec,
)
from gateway.auth.sessions import SessionStore
from gateway.auth.users import UserStore
from gateway.core.access import Authenticator, Authorizer
from gateway.core.lake import Lake
from gateway.gc.collector import Collector
from gateway.importer.service import ImportService
from gateway.runs.service import RunService

#: JSON request bodies are small; object bodies are streamed and not subject to this limit.
MAX_JSON_BODY = 4 << 20

ALL_ROUTES: Sequence[RouteSpec] = (
    *routes_config.ROUTES,
    *routes_repos.ROUTES,
    *routes_branches.ROUTES,
    *routes_objects.ROUTES,
    *routes_preview.ROUTES,
    *routes_refs.ROUTES,
    *routes_paths.ROUTES,
    *routes_lineage.ROUTES,
    *routes_staging.ROUTES,
    *routes_auth.ROUTES,
    *routes_audit.ROUTES,
    *routes_gc.ROUTES,
    *routes_import.ROUTES,
    *routes_runs.ROUTES,
    *routes_session.ROUTES,
)


def create_admin_app(
    *,
    lake: Lake,
    users: UserStore,
    authn: Authenticator,
    authz: Authorizer,
    version: str,
    gc: Collector | None = None,
    runs: RunService | None = None,
    imports: ImportService | None = None,
    sessions: SessionStore | None = None,
    cookie_secure: bool = False,
) -> web.Application:
    """Build the ``/api/v1`` sub-application. Mount with ``app.add_subapp("/api/v1", ...)``.

    ``sessions``: browser sign-in (cookie + CSRF token) beside HTTP Basic; None: Basic only.
    ``cookie_secure``: mark session cookies Secure even when the request came over plain HTTP.
    The returned app does not own ``lake`` or ``users``: the composition root closes them.
    """
    app = web.Application(
        middlewares=[error_middleware, audit_middleware, auth_middleware],
        client_max_size=MAX_JSON_BODY,
    )
    app[LAKE] = lake
    app[USERS] = users
    app[AUTHN] = authn
    app[AUTHZ] = authz
    app[VERSION] = version
    if gc is not None:
        app[routes_gc.GC] = gc
    app[COOKIE_SECURE] = cookie_secure
    if sessions is not None:
        app[SESSIONS] = sessions
    app[routes_staging.STAGING] = routes_staging.StagingArea(lake.kv)
    if imports is not None:
        app[routes_import.IMPORTS] = imports
    if runs is not None:
        app[routes_runs.RUNS] = runs
        app[SCOPE] = runs
    specs: dict[object, RouteSpec] = {}
    for spec in ALL_ROUTES:
        route = app.router.add_route(spec.method, spec.path, spec.handler, name=spec.operation_id)
        specs[route] = spec
    app[SPECS] = specs
    app[DOCUMENT] = build_document(ALL_ROUTES, version)
    return app
