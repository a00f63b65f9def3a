"""The S3 protocol endpoint: ``setup_s3`` mounts it on the server's aiohttp application.

Per request: request id -> target (bucket, key) -> route (operation) -> authentication
(SigV4 header or presigned; anonymous is AccessDenied) -> handler. Every failure is turned into
the S3 XML error document through the one error table (``gateway.s3.errors``); HEAD and 304
answers carry no body. ``x-amz-request-id`` and ``x-amz-id-2`` are on every S3 response,
errors included. The request fields ``weir.op``, ``weir.repo``, ``weir.ref``,
``weir.bytes_in`` and ``weir.bytes_out`` feed the server's metrics and access-log middleware.

Concurrency: the gateway object is shared by all requests and holds no per-request state.
"""

from __future__ import annotations

import asyncio
import logging
import secrets

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from gateway.audit.requests import request_scope
from gateway.core import audit
from gateway.core.access import Authenticator, Authorizer, LakeScope
from gateway.core.errors import AccessDenied, IncompleteBody, InvalidRange
from gateway.core.lake import Lake
from gateway.observability import BYTES_OUT, OP, REPO, REQUEST_ID, USER
from gateway.s3 import router
from gateway.s3.auth import BUCKET_PREFIX, S3Auth
from gateway.s3.errors import S3Detail, describe, error_xml
from gateway.s3.handlers.common import S3Context
from gateway.s3.keys import unsatisfiable_content_range
from gateway.s3.protocol import expect_handler, route_unrouted

log = logging.getLogger("weir.s3")

_STARTED = web.RequestKey("weir.s3.started", bool)
_S3 = web.RequestKey("weir.s3", bool)


def _audit_scope(
    request: web.Request, request_id: str, target: router.Target, op: str
) -> audit.Scope:
    ref, _, path = (target.key or "").partition("/")
    return audit.Scope(
        api="s3",
        operation=op,
        address=request.remote or "",
        request_id=request_id,
        repository=target.bucket,
        ref=ref,
        path=path,
        mutating=request.method not in ("GET", "HEAD"),
    )


def new_request_id() -> str:
    return secrets.token_hex(8).upper()


class S3Gateway:
    """The S3 request handler (one per application)."""

    def __init__(
        self,
        *,
        lake: Lake,
        authn: Authenticator,
        authz: Authorizer,
        region: str,
        regions: frozenset[str] = frozenset(),
        sigv2: bool = True,
        domain: str = "",
        scope: LakeScope | None = None,
    ) -> None:
        self.lake = lake
        self.authz = authz
        self.region = region
        self.domain = domain.strip(".").lower()
        self.auth = S3Auth(authn, region=region, regions=regions, sigv2=sigv2)
        self.scope = scope

    def target(self, request: web.Request) -> router.Target:
        """Bucket and key: from ``Host`` under the configured domain, else from the path."""
        if self.domain:
            bucket = router.virtual_bucket(request.host, self.domain)
            if bucket is not None:
                request[BUCKET_PREFIX] = "/" + bucket
                return router.parse_virtual_target(bucket, request.rel_url.raw_path)
        return router.parse_target(request.rel_url.raw_path)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        request_id = request.get(REQUEST_ID) or new_request_id()
        request[REQUEST_ID] = request_id
        request[_S3] = True
        target: router.Target | None = None
        try:
            target = self.target(request)
            route = router.resolve(request.method, target, request.query, request.headers)
            request[OP] = route.op
            if target.bucket:
                request[REPO] = target.bucket
            scope = _audit_scope(request, request_id, target, route.op)
            async with request_scope(self.lake.kv, scope):
                return await self._serve(request, request_id, target, route)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if request.get(_STARTED):
                # The status line is on the wire: all we can do is drop the connection (the
                # client sees a short body, never wrong bytes) and log the cause.
                log.error(
                    "S3 %s %s failed mid-response (request id %s): %s",
                    request.method,
                    request.path,
                    request_id,
                    exc,
                )
                raise
            resource = target.resource if target is not None else request.path
            return self.error_response(request, exc, resource, request_id)

    async def _serve(
        self, request: web.Request, request_id: str, target: router.Target, route: router.Route
    ) -> web.StreamResponse:
        """Authenticate, map a run's refs, run the operation (inside the audit scope)."""
        principal, payload_factory = await self.auth.authenticate(request)
        request[USER] = principal.user
        audit.identify(principal.user, principal.access_key_id)
        lake = self.lake
        if principal.run:  # a run credential: refs mapped before any handler runs
            if self.scope is None:
                raise AccessDenied("run credentials are not accepted by this server")
            lake = await self.scope.lake_for(principal, lake)
        ctx = S3Context(
            request=request,
            lake=lake,
            authz=self.authz,
            principal=principal,
            region=self.region,
            request_id=request_id,
            bucket=target.bucket,
            key=target.key,
            query=request.query,
            payload_factory=payload_factory,
        )
        response = await route.handler(ctx)
        if BYTES_OUT not in request and isinstance(response, web.Response):
            request[BYTES_OUT] = response.content_length or 0
        return response

    def error_response(
        self, request: web.Request, exc: Exception, resource: str, request_id: str
    ) -> web.Response:
        """The S3 error document for ``exc`` (no body for HEAD and 304)."""
        if isinstance(exc, (ConnectionError, HttpProcessingError, asyncio.IncompleteReadError)):
            exc = IncompleteBody(str(exc) or "the request body ended early")
        spec, message, extra = describe(exc)
        if spec.status >= 500:
            # The cause (e.g. the object store's answer after the retries) goes to the log with
            # the request id the client got, never into the response.
            log.error(
                "S3 %s %s failed (request id %s): %s",
                request.method,
                resource,
                request_id,
                exc,
                exc_info=exc,
            )
        headers: dict[str, str] = dict(exc.headers) if isinstance(exc, S3Detail) else {}
        if isinstance(exc, InvalidRange):
            headers["Content-Range"] = unsatisfiable_content_range(exc.size)
        if request.method == "HEAD" or not spec.has_body:
            return web.Response(status=spec.status, headers=headers)
        headers["Content-Type"] = "application/xml"
        body = error_xml(
            spec, message=message, resource=resource, request_id=request_id, extra=extra
        )
        return web.Response(status=spec.status, body=body, headers=headers)


async def _on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    if not request.get(_S3):
        return
    request[_STARTED] = True
    request_id = request.get(REQUEST_ID) or new_request_id()
    response.headers["x-amz-request-id"] = request_id
    response.headers["x-amz-id-2"] = request_id


S3_GATEWAY = web.AppKey("weir.s3.gateway", S3Gateway)


def setup_s3(
    app: web.Application,
    *,
    lake: Lake,
    authn: Authenticator,
    authz: Authorizer,
    region: str = "us-east-1",
    regions: frozenset[str] = frozenset(),
    sigv2: bool = True,
    domain: str = "",
    scope: LakeScope | None = None,
) -> None:
    """Serve S3 (path style, and virtual-hosted style under ``domain``) on every path not
    already routed.

    Call after mounting the admin sub-app and the ``/_health``/``/_metrics`` routes: the S3
    route is a catch-all and aiohttp matches resources in registration order.
    """
    gateway = S3Gateway(
        lake=lake,
        authn=authn,
        authz=authz,
        region=region,
        regions=regions,
        sigv2=sigv2,
        domain=domain,
        scope=scope,
    )
    app[S3_GATEWAY] = gateway
    app.on_response_prepare.append(_on_prepare)
    app.router.add_route("*", "/{s3_path:[\\s\\S]*}", gateway.handle, expect_handler=expect_handler)
    route_unrouted(app.router)  # last: only what nothing else matched reaches it
