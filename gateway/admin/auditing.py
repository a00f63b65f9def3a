"""The audit scope of every admin API request (``gateway.core.audit``), as a middleware that
sits between the error map and authentication: it sees a handler's exception before it becomes
a JSON answer, and the caller once authenticated (``auth_middleware`` names it)."""

from __future__ import annotations

from aiohttp import web

from gateway.admin.auth import SPECS
from gateway.admin.errors import Handler
from gateway.admin.routing import LAKE, RouteSpec
from gateway.audit.requests import request_scope
from gateway.core.audit import Scope
from gateway.observability import REQUEST_ID

#: Path parameters naming the ref an operation is about, most specific first.
_REF_PARAMS = ("branch", "destinationBranch", "ref", "sourceRef", "commitId", "tag", "leftRef")


@web.middleware
async def audit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    specs: dict[object, RouteSpec] = request.app[SPECS]
    spec = specs.get(request.match_info.route)
    # Public routes too: a sign-in or a token upload that writes is recorded (its handler may
    # name the caller with ``audit.identify`` once it checked the credential).
    info = request.match_info
    scope = Scope(
        api="admin",
        operation=spec.operation_id if spec is not None else f"{request.method} {request.path}",
        address=request.remote or "",
        request_id=request.get(REQUEST_ID, ""),
        repository=info.get("repo", ""),
        ref=next((info[p] for p in _REF_PARAMS if p in info), ""),
        path=request.query.get("path", ""),
        mutating=request.method not in ("GET", "HEAD", "OPTIONS"),
    )
    async with request_scope(request.config_dict[LAKE].kv, scope) as audited:
        response = await handler(request)
        if response.status >= 400:
            audited.failed(response.status)
        return response
