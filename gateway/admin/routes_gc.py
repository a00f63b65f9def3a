"""Garbage collection (Weir): start a collection, follow its progress, cancel it; and each
repository's retention rules in lakeFS's ``gc_rules`` shape.

A collection frees content shared by every repository, so starting, listing and cancelling
runs needs the global admin grant; a repository's rules need admin on that repository.
"""

from __future__ import annotations

from aiohttp import web

from gateway.admin import openapi
from gateway.admin.params import j_bool, j_int, j_opt_str, q_int, read_json
from gateway.admin.routing import ADMIN_GLOBAL, ADMIN_REPO, Param, RouteSpec
from gateway.core.errors import NotFound, NotImplementedFeature
from gateway.gc import rules
from gateway.gc.collector import Collector

GC = web.AppKey("gc", Collector)


def collector_of(request: web.Request) -> Collector:
    gc = request.config_dict.get(GC)
    if gc is None:
        raise NotImplementedFeature("garbage collection is not configured on this server")
    return gc


async def start_gc(request: web.Request) -> web.Response:
    """202 with the new run (progress at ``/gc/runs/{id}``); 409 when one is running."""
    body = await read_json(request, required=False)
    run = await collector_of(request).start(
        repository=j_opt_str(body, "repository") or None,
        dry_run=j_bool(body, "dry_run"),
        grace_seconds=j_int(body, "grace_seconds"),
    )
    return web.json_response(run.to_json(), status=202)


async def list_gc_runs(request: web.Request) -> web.Response:
    limit = q_int(request, "amount", 20, minimum=1, maximum=100)
    runs = await collector_of(request).reports(limit)
    return web.json_response({"results": runs})


async def get_gc_run(request: web.Request) -> web.Response:
    return web.json_response(await collector_of(request).report(request.match_info["run"]))


async def cancel_gc_run(request: web.Request) -> web.Response:
    run = await collector_of(request).cancel(request.match_info["run"])
    return web.json_response(run, status=202)


async def get_gc_rules(request: web.Request) -> web.Response:
    """lakeFS: 404 when the repository has no rules of its own."""
    repo = request.match_info["repo"]
    found = await collector_of(request).get_rules(repo)
    if found is None:
        raise NotFound(f"repository {repo!r} has no garbage collection rules (server default)")
    return web.json_response(rules.to_json(found))


async def set_gc_rules(request: web.Request) -> web.Response:
    parsed = rules.from_json(await read_json(request))
    await collector_of(request).set_rules(request.match_info["repo"], parsed)
    return web.Response(status=204)


async def delete_gc_rules(request: web.Request) -> web.Response:
    await collector_of(request).set_rules(request.match_info["repo"], None)
    return web.Response(status=204)


_COUNT = openapi.obj(["count", "bytes"], count=openapi.INTEGER, bytes=openapi.INTEGER)
openapi.register_schemas(
    {
        "GarbageCollectionRules": openapi.obj(
            ["default_retention_days"],
            default_retention_days=openapi.INTEGER,
            branches={
                "type": "array",
                "items": openapi.obj(
                    ["branch_id", "retention_days"],
                    branch_id={"type": "string", "description": "a branch name or glob"},
                    retention_days=openapi.INTEGER,
                ),
            },
        ),
        "GarbageCollectionStart": openapi.obj(
            [],
            repository={"type": "string", "description": "remove commits of this one only"},
            dry_run={"type": "boolean", "description": "count, delete nothing"},
            grace_seconds={
                "type": "integer",
                "description": "keep content written or claimed this recently (server default)",
            },
        ),
        "GarbageCollectionRun": openapi.obj(
            ["id", "state", "phase", "dry_run", "started_at", "marked", "scanned", "freed"],
            id=openapi.STRING,
            repository={"type": "string", "nullable": True},
            dry_run=openapi.BOOLEAN,
            grace_seconds=openapi.INTEGER,
            trigger={"type": "string", "enum": ["api", "schedule"]},
            state={"type": "string", "enum": ["running", "succeeded", "failed", "cancelled"]},
            phase=openapi.STRING,
            started_at={"type": "number"},
            finished_at={"type": "number", "nullable": True},
            error={"type": "string", "nullable": True},
            uploads_aborted=openapi.INTEGER,
            marked={"type": "object", "additionalProperties": openapi.INTEGER},
            scanned={"type": "object", "additionalProperties": openapi.INTEGER},
            freed={"type": "object", "additionalProperties": _COUNT},
            freed_bytes=openapi.INTEGER,
            remarks=openapi.INTEGER,
        ),
        "GarbageCollectionRunList": openapi.obj(
            ["results"],
            results={"type": "array", "items": openapi.ref("GarbageCollectionRun")},
        ),
    }
)

ROUTES = [
    RouteSpec(
        "POST",
        "/gc",
        start_gc,
        "startGarbageCollection",
        "Weir: start a garbage collection in the background (202 with its run)",
        "gc",
        checks=[ADMIN_GLOBAL],
        body="GarbageCollectionStart",
        responses={202: "GarbageCollectionRun", 409: "Error"},
    ),
    RouteSpec(
        "GET",
        "/gc/runs",
        list_gc_runs,
        "listGarbageCollectionRuns",
        "Weir: garbage collection runs, newest first (a running one with its progress)",
        "gc",
        checks=[ADMIN_GLOBAL],
        query=[Param("amount", "integer", description="at most this many (20, <= 100)")],
        responses={200: "GarbageCollectionRunList"},
    ),
    RouteSpec(
        "GET",
        "/gc/runs/{run}",
        get_gc_run,
        "getGarbageCollectionRun",
        "Weir: one run's progress or report",
        "gc",
        checks=[ADMIN_GLOBAL],
        responses={200: "GarbageCollectionRun", 404: "Error"},
    ),
    RouteSpec(
        "DELETE",
        "/gc/runs/{run}",
        cancel_gc_run,
        "cancelGarbageCollectionRun",
        "Weir: cancel a running collection (it stops at its next batch)",
        "gc",
        checks=[ADMIN_GLOBAL],
        responses={202: "GarbageCollectionRun", 404: "Error"},
    ),
    RouteSpec(
        "GET",
        "/repositories/{repo}/settings/gc_rules",
        get_gc_rules,
        "getGCRules",
        "Retention rules of the repository (404: none of its own, the server default applies)",
        "gc",
        checks=[ADMIN_REPO],
        responses={200: "GarbageCollectionRules", 404: "Error"},
    ),
    RouteSpec(
        "PUT",
        "/repositories/{repo}/settings/gc_rules",
        set_gc_rules,
        "setGCRules",
        "Set the repository's retention rules (branch_id may be a glob)",
        "gc",
        checks=[ADMIN_REPO],
        body="GarbageCollectionRules",
        responses={204: None},
    ),
    RouteSpec(
        "DELETE",
        "/repositories/{repo}/settings/gc_rules",
        delete_gc_rules,
        "deleteGCRules",
        "Drop the repository's retention rules (the server default applies)",
        "gc",
        checks=[ADMIN_REPO],
        responses={204: None},
    ),
]
