"""Object previews for people: the first rows and schema of a table, the start of a text.

Read server-side by byte range (``gateway.preview``): a Parquet preview reads the footer and the
first pages, never the whole file; the answer's ``bytes_read`` says how much was read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from gateway.admin.params import q_int, q_required
from gateway.admin.routes_objects import PATH, REF_OBJECTS
from gateway.admin.routing import Param, RouteSpec, lake_of, read_ref
from gateway.preview import MAX_ROWS, preview


async def preview_object(request: web.Request) -> web.Response:
    repo, ref = request.match_info["repo"], request.match_info["ref"]
    path = q_required(request, "path")
    lake = lake_of(request)
    entry = await lake.stat_object(repo, ref, path)

    def reader(offset: int, length: int) -> AsyncIterator[bytes]:
        return lake.read_entry(entry, offset, length)

    body = await preview(
        reader,
        path=path,
        size=entry.size,
        content_type=entry.content_type,
        rows=q_int(request, "rows", 50, minimum=1, maximum=MAX_ROWS),
    )
    body["checksum"] = entry.etag
    return web.json_response(body)


ROUTES = [
    RouteSpec(
        "GET",
        REF_OBJECTS + "/preview",
        preview_object,
        "previewObject",
        "Weir: a preview read server-side by byte range: Parquet and CSV as schema plus the "
        "first rows, text and Markdown as their first 64 KiB, images and binaries by kind only",
        "objects",
        checks=[read_ref()],
        query=[PATH, Param("rows", "integer", description=f"rows to show (1-{MAX_ROWS}, 50)")],
        responses={200: "ObjectPreview"},
    ),
]
