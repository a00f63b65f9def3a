"""Serving the web UI's files at ``/ui`` and sending browsers from ``/`` there.

Every file ships inside this package (``gateway/ui/static``) and is read into memory once, at
start-up: the UI needs no network at run time, and serving a file is a dictionary lookup. Files
are answered with a strong ETag and ``Cache-Control: no-cache``, so a browser revalidates (a
304) and never runs stale code after an upgrade.

Any path under ``/ui/`` that is not a file is a page of the single-page application: it gets
``index.html``, and the page's own router reads the path and query (so every view has a
shareable URL, and back/forward work).

Headers on every UI response keep the pages' origin safe: a Content-Security-Policy that allows
only this origin's scripts, styles and API (no inline script, no framing), ``nosniff``, and no
referrer to other sites.

Everything else this origin serves (object bytes from either API, JSON, XML) is answered with
``Content-Security-Policy: sandbox`` and ``nosniff``: an object that is an HTML page or an SVG
with a script, opened in the browser through a download link or a presigned URL, is shown in an
opaque origin with scripts off, so it cannot use a signed-in person's session. Clients that are
not browsers ignore both headers.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from aiohttp import hdrs, web

STATIC_DIR = Path(__file__).resolve().parent / "static"
PREFIX = "/ui"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}

SANDBOX_HEADERS = {
    "Content-Security-Policy": "sandbox; default-src 'none'",
    "X-Content-Type-Options": "nosniff",
}

_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
    ".json": "application/json",
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    etag: str
    content_type: str


def load_assets(root: Path = STATIC_DIR) -> dict[str, Asset]:
    """Every file under ``root`` by its relative path (``js/app.js``)."""
    assets: dict[str, Asset] = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        body = path.read_bytes()
        ctype = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
        assets[path.relative_to(root).as_posix()] = Asset(
            body=body,
            etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
            content_type=ctype or "application/octet-stream",
        )
    return assets


def _answer(request: web.Request, asset: Asset) -> web.Response:
    headers = {
        **SECURITY_HEADERS,
        hdrs.ETAG: asset.etag,
        hdrs.CACHE_CONTROL: "no-cache",
    }
    inm = request.headers.get(hdrs.IF_NONE_MATCH, "")
    if asset.etag in (t.strip() for t in inm.split(",")):
        return web.Response(status=304, headers=headers)
    headers[hdrs.CONTENT_TYPE] = asset.content_type
    return web.Response(body=asset.body, headers=headers)


def is_browser_navigation(request: web.Request) -> bool:
    """A person typing the server's address: a GET of ``/`` from a browser that signs nothing.

    S3 clients list buckets with ``GET /`` too, so only a request that is clearly a browser's
    page load qualifies: no ``Authorization`` header, no query string (a presigned URL has one),
    no ``x-amz-*`` header, and the browser's navigation markers (``Sec-Fetch-Mode: navigate`` or
    an ``Accept`` that asks for HTML).
    """
    if request.method != "GET" or request.path != "/" or request.query_string:
        return False
    headers = request.headers
    if hdrs.AUTHORIZATION in headers or any(k.lower().startswith("x-amz-") for k in headers):
        return False
    if headers.get("Sec-Fetch-Mode", "").lower() == "navigate":
        return True
    return "text/html" in headers.get(hdrs.ACCEPT, "")


async def _sandbox(request: web.Request, response: web.StreamResponse) -> None:
    """Every response that is not a UI page: no script of this origin may run in it."""
    path = request.path
    if path == PREFIX or path.startswith(PREFIX + "/"):
        return
    for name, value in SANDBOX_HEADERS.items():
        response.headers.setdefault(name, value)


def setup_ui(app: web.Application, root: Path = STATIC_DIR) -> None:
    """Mount the UI at ``/ui`` and sandbox every other response of this origin. Call before
    the S3 catch-all route is added."""
    assets = load_assets(root)
    index = assets["index.html"]

    async def serve(request: web.Request) -> web.Response:
        tail = request.match_info.get("tail", "")
        if tail.startswith("static/"):
            asset = assets.get(tail[len("static/") :])
            if asset is None:
                raise web.HTTPNotFound(text="no such file", headers=SECURITY_HEADERS)
            return _answer(request, asset)
        return _answer(request, index)

    async def to_slash(request: web.Request) -> web.Response:
        raise web.HTTPFound(PREFIX + "/")

    app.on_response_prepare.append(_sandbox)
    app.router.add_get(PREFIX, to_slash)
    app.router.add_get(PREFIX + "/{tail:.*}", serve)
