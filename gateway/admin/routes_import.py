"""Zero-copy imports, shaped like lakeFS's import endpoints (``importStart``, ``importStatus``,
``importCancel``) so that lakeFS's clients drive them unchanged; Weir adds the job's state,
sources and skipped keys, and a listing of a repository's imports.

An import reads whatever the server's object-store credentials can read and exposes it to the
caller, so starting and cancelling one needs the global admin grant (lakeFS likewise restricts
imports to its super-users); following one needs READ on the repository.
"""

from __future__ import annotations

import datetime
from typing import Any

from aiohttp import web

from gateway.admin import openapi, schemas
from gateway.admin.params import j_bool, j_list, j_map, j_str, q_required, read_json
from gateway.admin.routing import ADMIN_GLOBAL, READ_REPO, Param, RouteSpec, principal_of
from gateway.core.errors import InvalidArgument, NotImplementedFeature
from gateway.core.imports import ImportJob, Source, State
from gateway.importer.service import ImportService

IMPORTS = web.AppKey("imports", ImportService)
JSON = dict[str, Any]


def service(request: web.Request) -> ImportService:
    found = request.config_dict.get(IMPORTS)
    if found is None:
        raise NotImplementedFeature("imports are not enabled on this server")
    return found


def _iso(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat().replace("+00:00", "Z")


def status_json(job: ImportJob, commit: JSON | None) -> JSON:
    """lakeFS's ImportStatus, plus Weir's fields."""
    out: JSON = {
        "completed": job.state is State.COMPLETED,
        "update_time": _iso(job.updated),
        "ingested_objects": job.ingested,
        "id": job.id,
        "state": job.state.value,
        "branch": job.branch,
        "sources": [
            {"type": s.kind, "path": s.url, "destination": s.destination} for s in job.sources
        ],
        "listed": job.listed,
    }
    if commit is not None:
        out["commit"] = commit
        out["metarange_id"] = ""
    if job.state in (State.FAILED, State.CANCELLED):
        out["error"] = {"message": job.error or job.state.value}
    return out


async def _commit_json(request: web.Request, job: ImportJob) -> JSON | None:
    if not job.commit:
        return None
    lake = service(request).lake
    return schemas.commit(await lake.get_commit(job.repo, job.commit))


async def start_import(request: web.Request) -> web.Response:
    """202 ``{"id": ...}``; follow it with GET ``.../import?id=``."""
    repo, branch = request.match_info["repo"], request.match_info["branch"]
    body = await read_json(request)
    sources = []
    for p in j_list(body, "paths"):
        if not isinstance(p, dict):
            raise InvalidArgument("each of 'paths' must be an object")
        sources.append(Source(j_str(p, "type"), j_str(p, "path"), j_str(p, "destination", "")))
    commit = body.get("commit") or {}
    if not isinstance(commit, dict):
        raise InvalidArgument("field 'commit' must be an object")
    j_bool(body, "force")  # lakeFS: import onto a branch with uncommitted changes; always fine here
    job = await service(request).start(
        repo,
        branch,
        sources,
        committer=principal_of(request).user,
        message=j_str(commit, "message", ""),
        metadata=j_map(commit, "metadata"),
    )
    return web.json_response({"id": job.id}, status=202)


async def import_status(request: web.Request) -> web.Response:
    svc = service(request)
    job = await svc.status(request.match_info["repo"], q_required(request, "id"))
    return web.json_response(status_json(job, await _commit_json(request, job)))


async def cancel_import(request: web.Request) -> web.Response:
    await service(request).cancel(request.match_info["repo"], q_required(request, "id"))
    return web.Response(status=204)


async def list_imports(request: web.Request) -> web.Response:
    jobs = await service(request).jobs(request.match_info["repo"])
    return web.json_response({"results": [status_json(j, None) for j in jobs]})


openapi.register_schemas(
    {
        "ImportLocation": openapi.obj(
            ["type", "path", "destination"],
            type={"type": "string", "enum": ["common_prefix", "object"]},
            path={"type": "string", "description": "s3://bucket/prefix or s3://bucket/key"},
            destination={"type": "string", "description": "a path (prefix) on the branch"},
        ),
        "ImportCreation": openapi.obj(
            ["paths", "commit"],
            paths={"type": "array", "items": openapi.ref("ImportLocation")},
            commit=openapi.obj(
                [],
                message=openapi.STRING,
                metadata={"type": "object", "additionalProperties": openapi.STRING},
            ),
            force={"type": "boolean"},
        ),
        "ImportCreationResponse": openapi.obj(["id"], id=openapi.STRING),
        "ImportStatus": openapi.obj(
            ["completed", "update_time"],
            completed={"type": "boolean"},
            update_time={"type": "string", "format": "date-time"},
            ingested_objects=openapi.INTEGER,
            metarange_id=openapi.STRING,
            commit=openapi.ref("Commit"),
            error=openapi.ref("Error"),
            id=openapi.STRING,
            state={"type": "string", "enum": [s.value for s in State]},
            branch=openapi.STRING,
            listed={"type": "boolean"},
            sources={"type": "array", "items": openapi.ref("ImportLocation")},
        ),
        "ImportStatusList": openapi.obj(
            ["results"], results={"type": "array", "items": openapi.ref("ImportStatus")}
        ),
    }
)

_ID = Param("id", required=True, description="the import's id (from importStart)")
ROUTES = [
    RouteSpec(
        "POST",
        "/repositories/{repo}/branches/{branch}/import",
        start_import,
        "importStart",
        "Import objects of an object store without copying them, as one commit (202 with its id)",
        "import",
        checks=[ADMIN_GLOBAL],
        body="ImportCreation",
        responses={202: "ImportCreationResponse"},
    ),
    RouteSpec(
        "GET",
        "/repositories/{repo}/branches/{branch}/import",
        import_status,
        "importStatus",
        "An import's progress (objects ingested so far) or outcome (its commit, or the error)",
        "import",
        checks=[READ_REPO],
        query=[_ID],
        responses={200: "ImportStatus"},
    ),
    RouteSpec(
        "DELETE",
        "/repositories/{repo}/branches/{branch}/import",
        cancel_import,
        "importCancel",
        "Cancel a running import (nothing of it is committed); 409 once it has completed",
        "import",
        checks=[ADMIN_GLOBAL],
        query=[_ID],
        responses={204: None, 409: "Error"},
    ),
    RouteSpec(
        "GET",
        "/repositories/{repo}/imports",
        list_imports,
        "listImports",
        "Weir: the repository's imports, newest first",
        "import",
        checks=[READ_REPO],
        responses={200: "ImportStatusList"},
    ),
]
