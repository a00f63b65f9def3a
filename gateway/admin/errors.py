"""THE one map from domain errors to admin API responses: (HTTP status, JSON ``{"message"}``).

Handlers raise domain errors (``gateway.core.errors``); ``error_middleware`` turns them into
responses, looking the status up along the exception's class hierarchy so a subclass inherits
its parent's status unless it has its own row. Nothing else in ``gateway/admin`` maps errors.

Statuses follow what lakeFS answers and what its clients rely on (reference section 7): commit
with nothing to commit, merge of an already-merged source and merge into a dirty branch are 400;
a commit removed by retention (garbage collection) is 410 Gone;
a merge conflict is 409 with the complete conflict list; deleting the default branch and writing
to a protected branch are 403; an unsatisfiable range is 416 with ``Content-Range: bytes */N``.
HEAD responses never carry a body.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import http_exceptions, web

from gateway.admin import schemas
from gateway.core import errors as e

log = logging.getLogger("weir.admin")

#: Domain error class -> HTTP status. Looked up along the MRO (most specific first).
STATUS: dict[type[BaseException], int] = {
    e.Unauthenticated: 401,
    e.AccessDenied: 403,
    e.ProtectedBranch: 403,
    e.DefaultBranch: 403,
    e.NotFound: 404,
    e.Collected: 410,  # removed by retention (garbage collection), as lakeFS answers
    e.AlreadyExists: 409,
    e.InvalidRange: 416,
    e.InvalidArgument: 400,
    e.ReadOnlyRef: 400,
    e.PreconditionFailed: 412,
    e.NotModified: 304,
    e.NoChanges: 400,
    e.DirtyBranch: 400,
    e.MergeConflict: 409,
    e.BranchMoved: 409,
    e.NotEmpty: 409,
    e.Conflict: 409,
    e.NotImplementedFeature: 501,
    e.StorageError: 503,
    e.StorageFault: 500,
    e.Corruption: 500,
    e.WeirError: 500,
}


def status_for(exc: BaseException) -> int:
    """The HTTP status for a domain error (500 for anything unknown)."""
    for cls in type(exc).__mro__:
        status = STATUS.get(cls)
        if status is not None:
            return status
    return 500


def body_for(exc: e.WeirError) -> dict[str, Any]:
    """The JSON body for a domain error."""
    body: dict[str, Any] = {"message": exc.message or type(exc).__name__}
    if isinstance(exc, e.MergeConflict):
        # lakeFS sends {"reference": ""} on a conflict; Weir adds the complete report.
        body["reference"] = ""
        body["conflicts"] = [schemas.conflict(c) for c in exc.conflicts]
    return body


def _wants_basic_challenge(request: web.Request) -> bool:
    """A browser shows its own password dialog on a Basic challenge; the web UI (which says
    ``X-Requested-With``) and session holders sign in through the UI's form instead."""
    return "X-Requested-With" not in request.headers and "weir_session" not in request.cookies


def error_response(exc: e.WeirError, request: web.Request) -> web.Response:
    status = status_for(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, e.InvalidRange):
        headers["Content-Range"] = f"bytes */{exc.size}"
    if isinstance(exc, e.Unauthenticated) and _wants_basic_challenge(request):
        headers["WWW-Authenticate"] = 'Basic realm="weir"'
    if status == 304 or request.method == "HEAD":
        return web.Response(status=status, headers=headers)
    return web.json_response(body_for(exc), status=status, headers=headers)


def _http_error_response(exc: web.HTTPException, request: web.Request) -> web.Response:
    """aiohttp's own errors (no route, method not allowed, body too large) as JSON."""
    headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
    if request.method == "HEAD":
        return web.Response(status=exc.status, headers=headers)
    message = exc.reason if exc.status != 404 else f"no such endpoint: {request.path}"
    return web.json_response({"message": message}, status=exc.status, headers=headers)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class StreamAborted(Exception):
    """A streamed response failed after its status went on the wire: the connection is dropped
    (the client sees a short body), no error response is possible."""


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map every failure to a JSON error response (outermost admin middleware)."""
    try:
        return await handler(request)
    except StreamAborted:
        raise
    except e.WeirError as exc:
        if status_for(exc) >= 500:
            log.error("admin %s %s failed: %s", request.method, request.path, exc.message)
        return error_response(exc, request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _http_error_response(exc, request)
    except (ConnectionError, TimeoutError):
        raise  # the client went away; nothing to answer
    except http_exceptions.HttpProcessingError as exc:
        # A malformed request body (bad chunked encoding, short body): the client's fault.
        return web.json_response({"message": f"malformed request: {exc.message}"}, status=400)
    except Exception:
        log.exception("admin %s %s: internal error", request.method, request.path)
        if request.method == "HEAD":
            return web.Response(status=500)
        return web.json_response({"message": "internal server error"}, status=500)
