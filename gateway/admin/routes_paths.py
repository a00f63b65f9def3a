"""Per-path history (Weir): the versions of one path, and blame of a path or prefix."""

from __future__ import annotations

from aiohttp import web

from gateway.admin import openapi, schemas
from gateway.admin.params import amount, q_bool, q_str
from gateway.admin.routing import PAGINATION, Param, RouteSpec, lake_of, read_ref
from gateway.core.errors import InvalidArgument


async def path_history(request: web.Request) -> web.Response:
    """The commits that changed ``path``, newest first, with the object each left."""
    path = q_str(request, "path")
    if not path:
        raise InvalidArgument("query parameter 'path' is required")
    limit = amount(request)
    found = await lake_of(request).path_history(
        request.match_info["repo"],
        request.match_info["ref"],
        path,
        first_parent=q_bool(request, "first_parent"),
        after=q_str(request, "after"),
        limit=limit,
    )
    rows = [
        {
            "commit": schemas.commit(v.commit),
            "deleted": v.entry is None,
            "object": None if v.entry is None else schemas.object_stats(path, v.entry),
        }
        for v in found.versions
    ]
    return web.json_response(schemas.page(rows, found.truncated, found.next_after or "", limit))


async def blame(request: web.Request) -> web.Response:
    """``path``: one object; with ``recursive`` every object under the prefix ``path``."""
    path, recursive = q_str(request, "path"), q_bool(request, "recursive")
    if not path and not recursive:
        raise InvalidArgument("query parameter 'path' is required (or recursive=true)")
    limit = amount(request)
    found = await lake_of(request).blame(
        request.match_info["repo"],
        request.match_info["ref"],
        path,
        prefix=recursive,
        after=q_str(request, "after"),
        limit=limit,
    )
    rows = [
        {
            "path": line.path,
            "commit": None if line.commit is None else schemas.commit(line.commit),
            "object": schemas.object_stats(line.path, line.entry),
        }
        for line in found.lines
    ]
    return web.json_response(schemas.page(rows, found.truncated, found.next_after or "", limit))


openapi.register_schemas(
    {
        "PathVersion": openapi.obj(
            ["commit", "deleted"],
            commit=openapi.ref("Commit"),
            deleted=openapi.BOOLEAN,
            object={**openapi.ref("ObjectStats"), "nullable": True},
        ),
        "PathVersionList": openapi.list_of("PathVersion"),
        "BlameLine": openapi.obj(
            ["path", "commit", "object"],
            path=openapi.STRING,
            commit={**openapi.ref("Commit"), "nullable": True},
            object=openapi.ref("ObjectStats"),
        ),
        "BlameList": openapi.list_of("BlameLine"),
    }
)

REF = "/repositories/{repo}/refs/{ref}"

ROUTES = [
    RouteSpec(
        "GET",
        REF + "/history",
        path_history,
        "pathHistory",
        "Weir: the commits of the ref's history that changed `path`, newest first; with "
        "`first_parent` only the states of its first-parent chain (object versions)",
        "commits",
        checks=[read_ref()],
        query=[
            Param("path", required=True),
            Param("first_parent", "boolean"),
            *PAGINATION,
        ],
        responses={200: "PathVersionList"},
    ),
    RouteSpec(
        "GET",
        REF + "/blame",
        blame,
        "blame",
        "Weir: per object (`path`, or with `recursive` every object under the prefix `path`), "
        "the commit that wrote the content the ref has",
        "commits",
        checks=[read_ref()],
        query=[
            Param("path", description="an object, or a prefix with `recursive`"),
            Param("recursive", "boolean", description="every object under `path`, by path"),
            *PAGINATION,
        ],
        responses={200: "BlameList"},
    ),
]
