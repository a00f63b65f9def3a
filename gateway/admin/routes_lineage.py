"""Lineage (Weir): the upstream or downstream graph of a commit, across repositories."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.admin import openapi, schemas
from gateway.admin.params import q_int, q_str
from gateway.admin.routing import Param, RouteSpec, lake_of, may, read_ref
from gateway.core.access import Action
from gateway.core.errors import InvalidArgument
from gateway.lineage import graph, render


def graph_json(g: graph.Graph) -> dict[str, Any]:
    return {
        "direction": g.direction.value,
        "root": g.root,
        "nodes": [
            {
                "id": n.id,
                "repository": n.repository,
                "commit_id": n.commit_id,
                "readable": n.readable,
                "commit": None if n.commit is None else schemas.commit(n.commit),
            }
            for n in g.nodes.values()
        ],
        "edges": [
            {"from": e.source, "to": e.target, "kind": e.kind, "path": e.path, "ref": e.ref}
            for e in g.edges
        ],
        "truncated": g.truncated,
        "hidden": g.hidden,
    }


async def lineage(request: web.Request) -> web.StreamResponse:
    """JSON by default; ``format=tree|dot|mermaid`` answers the drawing as text."""
    direction = q_str(request, "direction", "upstream")
    try:
        which = graph.Direction(direction)
    except ValueError:
        raise InvalidArgument("direction must be upstream or downstream") from None
    fmt = q_str(request, "format", "json")
    if fmt != "json" and fmt not in render.FORMATS:
        raise InvalidArgument("format must be json, tree, dot or mermaid")

    async def may_read(repo: str) -> bool:
        return await may(request, Action.READ, repo)

    g = await graph.build(
        lake_of(request),
        request.match_info["repo"],
        request.match_info["ref"],
        path=q_str(request, "path"),
        direction=which,
        depth=q_int(request, "depth", 8, minimum=0, maximum=graph.MAX_DEPTH),
        may_read=may_read,
    )
    body = graph_json(g)
    if fmt == "json":
        return web.json_response(body)
    return web.Response(text=render.FORMATS[fmt](body), content_type="text/plain")


_NODE = openapi.obj(
    ["id", "repository", "commit_id", "readable", "commit"],
    id={"type": "string", "description": "REPO@COMMIT"},
    repository=openapi.STRING,
    commit_id=openapi.STRING,
    readable={"type": "boolean", "description": "false: the caller may not read it"},
    commit={**openapi.ref("Commit"), "nullable": True},
)
_EDGE = openapi.obj(
    ["from", "to", "kind"],
    to={"type": "string", "description": "consumer node id"},
    kind={
        "type": "string",
        "enum": ["input", "contains"],
        "description": "input: recorded input of the consumer; contains: the consumer holds, "
        "at path, content the producer wrote",
    },
    path=openapi.STRING,
    ref=openapi.STRING,
    **{"from": {"type": "string", "description": "producer node id"}},
)
openapi.register_schemas(
    {
        "LineageGraph": openapi.obj(
            ["direction", "root", "nodes", "edges", "truncated", "hidden"],
            direction={"type": "string", "enum": ["upstream", "downstream"]},
            root=openapi.STRING,
            nodes={"type": "array", "items": _NODE},
            edges={"type": "array", "items": _EDGE},
            truncated={"type": "boolean", "description": "cut at the depth or size limit"},
            hidden={"type": "integer", "description": "downstream commits not readable"},
        )
    }
)

ROUTES = [
    RouteSpec(
        "GET",
        "/repositories/{repo}/refs/{ref}/lineage",
        lineage,
        "getLineage",
        "Weir: what the commit (with `path`: the commit that last changed it) was built from, "
        "recursively across repositories, or with direction=downstream everything built from "
        "it; nodes of repositories the caller cannot read are not expanded",
        "lineage",
        checks=[read_ref()],
        query=[
            Param("path", description="an object, or a prefix ending in /"),
            Param("direction", description="upstream (default) or downstream"),
            Param("depth", "integer", description=f"input edges, 0..{graph.MAX_DEPTH} (8)"),
            Param("format", description="json (default), tree, dot or mermaid (text)"),
        ],
        responses={200: "LineageGraph"},
    ),
]
