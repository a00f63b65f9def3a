"""S3 answers for requests the HTTP layer refuses before any handler sees them.

aiohttp's protocol object (``RequestHandler``) answers a request it cannot parse (an unknown
method, an invalid header name or value, NUL bytes, an oversized line, too many headers, a
missing or duplicated ``Host``, a malformed request line or framing) through
``RequestHandler.handle_error``, with a plain-text body. S3 clients expect an ``<Error>``
document with a request id there too, so ``S3RequestHandler`` overrides exactly that method and
nothing else: the per-request hot path (parsing, routing, handlers) runs the same code as before,
and this class is only consulted once a request has already failed.

``S3Server`` is the ``web.Server`` that builds those protocol objects; ``serve_s3_errors(runner)``
switches an ``AppRunner``'s server to it after ``setup()``, before any site starts listening.

The same module answers two more cases in S3 terms: a request target no route matches
(``OPTIONS *``, ``CONNECT host:port``), through a route of last resort (``AnyTarget``), and an
``Expect``
header (``expect_handler``): ``100-continue`` (any letter case) gets its interim answer, any
other expectation is ignored and the request served, as S3 does (aiohttp would answer 417).

Thread-safety: everything here runs on the event loop; no shared mutable state.
"""

from __future__ import annotations

import logging
import secrets

from aiohttp import hdrs, web
from aiohttp.http import HttpVersion11
from aiohttp.http_exceptions import (
    ContentLengthError,
    HttpProcessingError,
    LineTooLong,
)
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_urldispatcher import PlainResource

from gateway.core.errors import IncompleteBody, WeirError
from gateway.observability import REQUEST_ID
from gateway.s3.errors import (
    BadRequest,
    InvalidURI,
    RequestHeaderSectionTooLarge,
    describe,
    error_xml,
)

log = logging.getLogger("weir.s3.protocol")


def _new_request_id() -> str:
    return secrets.token_hex(8).upper()


def error_for_protocol(status: int, exc: BaseException | None) -> WeirError:
    """The S3 error for a request aiohttp refused while parsing it (or a crashed handler).

    The parser's reason (first line, at most 200 characters) rides along as ``<Detail>``.
    """
    if not isinstance(exc, HttpProcessingError):
        return WeirError("internal error") if status >= 500 else BadRequest("bad request")
    reason = (exc.message or "").strip().splitlines()[0].rstrip(":") if exc.message else ""
    if isinstance(exc, LineTooLong):
        return RequestHeaderSectionTooLarge(
            "Your request header section exceeds the maximum allowed size.",
            extra={"MaxSizeAllowedInBytes": str(exc.args[1])},
        )
    if "Too many headers" in reason:
        return RequestHeaderSectionTooLarge(
            "Your request header section exceeds the maximum allowed size.",
            extra={"Detail": reason[:200]},
        )
    if isinstance(exc, ContentLengthError):
        return IncompleteBody("the request body ended before its declared length")
    return BadRequest(
        "An error occurred when parsing the HTTP request.", extra={"Detail": reason[:200]}
    )


def s3_error_response(exc: BaseException, *, request_id: str, resource: str = "") -> web.Response:
    """The S3 ``<Error>`` response for ``exc``, carrying ``request_id`` in body and headers."""
    spec, message, extra = describe(exc)
    body = error_xml(spec, message=message, resource=resource, request_id=request_id, extra=extra)
    headers = {
        "Content-Type": "application/xml",
        "x-amz-request-id": request_id,
        "x-amz-id-2": request_id,
    }
    return web.Response(status=spec.status, body=body, headers=headers)


class S3RequestHandler(RequestHandler):
    """aiohttp's protocol object, answering parse errors as S3 XML (see module doc)."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if isinstance(exc, HttpProcessingError):
            # Hostile or broken clients: one debug line, not a traceback per request.
            log.debug("refused a malformed request from %s: %s", request.remote, exc)
        else:
            log.error("unhandled error serving %s", request.remote, exc_info=exc)
        if request.writer.output_size > 0:
            raise ConnectionError("the response was already started; closing the connection")
        error = error_for_protocol(status, exc)
        response = s3_error_response(error, request_id=_new_request_id())
        response.force_close()
        return response


class S3Server(web.Server):
    """``web.Server`` whose connections use ``S3RequestHandler``."""

    def __call__(self) -> RequestHandler:
        return S3RequestHandler(self, loop=self._loop, **self._kwargs)


def serve_s3_errors(runner: web.BaseRunner) -> None:
    """Make ``runner``'s connections answer protocol errors as S3 XML.

    Call after ``await runner.setup()`` and before starting a site: sites take the runner's
    server as their protocol factory when they start.
    """
    server = runner.server
    if server is None:
        raise RuntimeError("serve_s3_errors: call it after runner.setup()")
    server.__class__ = S3Server


class AnyTarget(PlainResource):
    """A route of last resort: matches every request target no other resource matched
    (``OPTIONS *``, ``CONNECT host:port``), so that it answers S3 XML instead of aiohttp's plain
    text 404. Registered last and indexed under ``/``, it is tried only after every other
    resource failed to match: requests that are routed never reach it (no middleware cost)."""

    def __init__(self) -> None:
        super().__init__("/", name="weir-s3-unrouted")

    def _match(self, path: str) -> dict[str, str] | None:
        return {}

    def raw_match(self, path: str) -> bool:
        return False  # never reused by add_resource for another path


async def unrouted(request: web.Request) -> web.StreamResponse:
    """The answer for a request target that names nothing S3 knows."""
    request_id = request.get(REQUEST_ID) or _new_request_id()
    error = InvalidURI("Couldn't parse the specified URI.", extra={"URI": request.raw_path})
    return s3_error_response(error, request_id=request_id)


def route_unrouted(router: web.UrlDispatcher) -> None:
    """Register ``AnyTarget`` (call after every other route)."""
    fallback = AnyTarget()
    router.register_resource(fallback)
    fallback.add_route("*", unrouted)


async def expect_handler(request: web.Request) -> None:
    """``Expect: 100-continue`` gets ``100 Continue``; other expectations are ignored (as S3)."""
    if request.version != HttpVersion11:
        return
    if request.headers.get(hdrs.EXPECT, "").strip().lower() == "100-continue":
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # the interim answer is not the response
