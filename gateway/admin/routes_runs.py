"""Isolated runs over the admin API: start, renew, finish, rerun, list, show, compare.

Authorization is the run service's (``gateway.runs.service``): starting needs READ on the source
branch and COMMIT on the run branch (plus COMMIT on the source with ``merge``); renewing and
finishing need to be the run's user (or an admin); reading runs needs READ on the repository.
A run credential may do none of these. Routes with a repository in their path also declare
READ on it; the routes by run id are checked by the service.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.admin import schemas
from gateway.admin.params import (
    amount,
    j_bool,
    j_int,
    j_list,
    j_map,
    j_str,
    q_str,
    read_json,
)
from gateway.admin.routing import PAGINATION, READ_REPO, Param, RouteSpec, principal_of
from gateway.core.errors import InvalidArgument, NotImplementedFeature
from gateway.core.model import Entry
from gateway.runs.compare import Verdict
from gateway.runs.model import GitInfo, Run, parse_pin
from gateway.runs.service import Finished, RunService, StartRequest

RUNS: web.AppKey[RunService] = web.AppKey("weir.runs", RunService)
JSON = dict[str, Any]


def service(request: web.Request) -> RunService:
    found = request.config_dict.get(RUNS)
    if found is None:
        raise NotImplementedFeature("runs are not enabled on this server")
    return found


def run_json(run: Run) -> JSON:
    return {
        "id": run.id,
        "name": run.name,
        "repository": run.repository,
        "source_branch": run.source_branch,
        "run_branch": run.run_branch,
        "start_commit": run.start_commit,
        "status": run.shown_status().value,
        "user": run.user,
        "command": list(run.command),
        "started": run.created,
        "ended": run.ended,
        "expires_at": run.expires_at,
        "exit_status": run.exit_status,
        "pins": [
            {"repository": p.repository, "branch": p.branch, "ref": p.ref, "commit": p.commit}
            for p in run.pins
        ],
        "git": None if run.git is None else {"commit": run.git.commit, "dirty": run.git.dirty},
        "merge": run.merge,
        "discard_on_failure": run.discard_on_failure,
        "rerun_of": run.rerun_of,
        "metadata": dict(run.metadata),
        "result_commit": run.result_commit,
        "merge_commit": run.merge_commit,
        "merge_conflicts": run.merge_conflicts,
        "error": run.error,
        "inputs": [
            {
                "repository": i.repository,
                "commit": i.commit,
                "refs": list(i.refs),
                "paths": i.paths,
                "manifest": i.manifest,
            }
            for i in run.inputs
        ],
        "comparison": dict(run.comparison),
    }


def _start_request(body: JSON, repo: str) -> StartRequest:
    command = j_list(body, "command")
    if not command or not all(isinstance(a, str) for a in command):
        raise InvalidArgument("field 'command' must be a non-empty list of strings")
    pins = [parse_pin(p) if isinstance(p, str) else _bad_pin(p) for p in j_list(body, "pins")]
    git_raw = body.get("git")
    git = None
    if git_raw is not None:
        if not isinstance(git_raw, dict):
            raise InvalidArgument("field 'git' must be an object {commit, dirty}")
        git = GitInfo(j_str(git_raw, "commit", ""), j_bool(git_raw, "dirty"))
    ttl = j_int(body, "ttl_seconds")
    return StartRequest(
        repository=repo,
        command=command,
        source_branch=j_str(body, "source_branch", ""),
        name=j_str(body, "name", ""),
        pins=pins,
        git=git,
        merge=j_bool(body, "merge"),
        discard_on_failure=j_bool(body, "discard_on_failure"),
        ttl=None if ttl is None else float(ttl),
        metadata=j_map(body, "metadata"),
    )


def _bad_pin(value: object) -> Any:
    raise InvalidArgument(f"pins must be strings REPO@REF or REPO/BRANCH@REF, got {value!r}")


def _started(run: Run, key_id: str, secret: str) -> web.Response:
    body = run_json(run)
    body["credentials"] = {
        "access_key_id": key_id,
        "secret_access_key": secret,
        "expires_at": run.expires_at,
    }
    return web.json_response(body, status=201)


async def start_run(request: web.Request) -> web.Response:
    body = await read_json(request)
    req = _start_request(body, request.match_info["repo"])
    run, creds = await service(request).start(principal_of(request), req)
    return _started(run, creds.access_key_id, creds.secret_access_key)


async def rerun(request: web.Request) -> web.Response:
    body = await read_json(request, required=False)
    command = j_list(body, "command")
    if command and not all(isinstance(a, str) for a in command):
        raise InvalidArgument("field 'command' must be a list of strings")
    ttl = j_int(body, "ttl_seconds")
    git_raw = body.get("git")
    git = (
        GitInfo(j_str(git_raw, "commit", ""), j_bool(git_raw, "dirty"))
        if isinstance(git_raw, dict)
        else None
    )
    req = StartRequest(
        repository="",
        command=command,
        name=j_str(body, "name", ""),
        git=git,
        ttl=None if ttl is None else float(ttl),
        metadata=j_map(body, "metadata"),
    )
    run, creds = await service(request).rerun(principal_of(request), request.match_info["run"], req)
    return _started(run, creds.access_key_id, creds.secret_access_key)


async def renew_run(request: web.Request) -> web.Response:
    body = await read_json(request, required=False)
    ttl = j_int(body, "ttl_seconds")
    run = await service(request).renew(
        principal_of(request), request.match_info["run"], None if ttl is None else float(ttl)
    )
    return web.json_response(run_json(run))


def _finished(done: Finished) -> JSON:
    body = run_json(done.run)
    body["discarded"] = done.discarded
    body["conflicts"] = [schemas.conflict(c) for c in done.conflicts]
    return body


async def finish_run(request: web.Request) -> web.Response:
    body = await read_json(request)
    status = j_int(body, "exit_status")
    if status is None:
        raise InvalidArgument("field 'exit_status' is required")
    done = await service(request).finish(
        principal_of(request),
        request.match_info["run"],
        exit_status=status,
        error=j_str(body, "error", ""),
    )
    return web.json_response(_finished(done))


async def get_run(request: web.Request) -> web.Response:
    run = await service(request).get(principal_of(request), request.match_info["run"])
    return web.json_response(run_json(run))


async def _list(request: web.Request, repo: str | None) -> web.Response:
    limit = amount(request)
    runs, more = await service(request).list_runs(
        principal_of(request), repo, before=q_str(request, "after"), limit=limit
    )
    rows = [run_json(r) for r in runs]
    return web.json_response(schemas.page(rows, more, runs[-1].id if more and runs else "", limit))


async def list_runs(request: web.Request) -> web.Response:
    return await _list(request, q_str(request, "repository") or None)


async def list_repo_runs(request: web.Request) -> web.Response:
    return await _list(request, request.match_info["repo"])


def _side(entry: Entry | None) -> JSON | None:
    if entry is None:
        return None
    return {"checksum": entry.etag, "size_bytes": entry.size, "address": entry.address}


def _verdict(v: Verdict) -> JSON:
    return {
        "path": v.path,
        "verdict": v.verdict,
        "original": _side(v.original),
        "rerun": _side(v.rerun),
    }


async def run_outputs(request: web.Request) -> web.Response:
    limit = amount(request)
    found = await service(request).outputs(
        principal_of(request), request.match_info["run"], after=q_str(request, "after"), limit=limit
    )
    rows = [schemas.diff(c, include_right_stats=True) for c in found.changes]
    return web.json_response(schemas.page(rows, found.truncated, found.next_after or "", limit))


async def compare_run(request: web.Request) -> web.Response:
    limit = amount(request)
    rows = await service(request).comparison(
        principal_of(request),
        request.match_info["run"],
        after=q_str(request, "after"),
        limit=limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    out = [_verdict(v) for v in rows]
    return web.json_response(schemas.page(out, more, rows[-1].path if more else "", limit))


RUN_SCHEMAS: dict[str, JSON] = {}


def _schemas() -> dict[str, JSON]:
    s: JSON = {"type": "string"}
    n: JSON = {"type": "number"}
    i: JSON = {"type": "integer"}
    b: JSON = {"type": "boolean"}
    strings: JSON = {"type": "array", "items": s}
    smap: JSON = {"type": "object", "additionalProperties": s}

    def obj(required: list[str], **props: JSON) -> JSON:
        return {"type": "object", "required": required, "properties": props}

    def ref(name: str) -> JSON:
        return {"$ref": f"#/components/schemas/{name}"}

    run_props: dict[str, JSON] = {
        "id": s,
        "name": s,
        "repository": s,
        "source_branch": s,
        "run_branch": s,
        "start_commit": s,
        "status": {
            "type": "string",
            "enum": ["running", "finishing", "succeeded", "failed", "expired"],
        },
        "user": s,
        "command": strings,
        "started": n,
        "ended": {"type": "number", "nullable": True},
        "expires_at": n,
        "exit_status": {"type": "integer", "nullable": True},
        "pins": {
            "type": "array",
            "items": obj(["repository", "ref"], repository=s, branch=s, ref=s, commit=s),
        },
        "git": {**obj(["commit", "dirty"], commit=s, dirty=b), "nullable": True},
        "merge": b,
        "discard_on_failure": b,
        "rerun_of": s,
        "metadata": smap,
        "result_commit": s,
        "merge_commit": s,
        "merge_conflicts": i,
        "error": s,
        "inputs": {"type": "array", "items": ref("RunInput")},
        "comparison": {"type": "object", "additionalProperties": i},
    }
    side = {**obj(["checksum", "size_bytes"], checksum=s, size_bytes=i, address=s)}
    return {
        "Run": obj(["id", "repository", "status", "command"], **run_props),
        "RunInput": obj(
            ["repository", "commit", "paths", "manifest"],
            repository=s,
            commit=s,
            refs=strings,
            paths=i,
            manifest={"type": "string", "description": "root of the tree of paths read"},
        ),
        "RunList": obj(
            ["pagination", "results"],
            pagination=ref("Pagination"),
            results={"type": "array", "items": ref("Run")},
        ),
        "RunStarted": obj(
            ["id", "credentials"],
            **run_props,
            credentials=obj(
                ["access_key_id", "secret_access_key", "expires_at"],
                access_key_id=s,
                secret_access_key=s,
                expires_at=n,
            ),
        ),
        "RunFinished": obj(
            ["id", "status"],
            **run_props,
            discarded=b,
            conflicts={"type": "array", "items": ref("Conflict")},
        ),
        "RunCreation": obj(
            ["command"],
            command=strings,
            source_branch={"type": "string", "description": "default: the default branch"},
            name={"type": "string", "description": "run branch runs/<name>; default: the id"},
            pins={"type": "array", "items": s, "description": "REPO@REF or REPO/BRANCH@REF"},
            merge=b,
            discard_on_failure=b,
            ttl_seconds=i,
            git=obj(["commit"], commit=s, dirty=b),
            metadata=smap,
        ),
        "RerunCreation": obj(
            [], command=strings, name=s, ttl_seconds=i, git=obj([], commit=s, dirty=b)
        ),
        "RunRenewal": obj([], ttl_seconds=i),
        "RunFinish": obj(["exit_status"], exit_status=i, error=s),
        "RunVerdictList": obj(
            ["pagination", "results"],
            pagination=ref("Pagination"),
            results={
                "type": "array",
                "items": obj(
                    ["path", "verdict"],
                    path=s,
                    verdict={"type": "string", "enum": ["same", "differs", "missing", "new"]},
                    original={**side, "nullable": True},
                    rerun={**side, "nullable": True},
                ),
            },
        ),
    }


RUN_SCHEMAS.update(_schemas())

RUN = "/runs/{run}"

ROUTES = [
    RouteSpec(
        "POST",
        "/repositories/{repo}/runs",
        start_run,
        "startRun",
        "Start an isolated run: a run branch, a snapshot of every other branch and a "
        "temporary credential whose requests are mapped to them",
        "runs",
        checks=[READ_REPO],
        body="RunCreation",
        responses={201: "RunStarted"},
    ),
    RouteSpec(
        "GET",
        "/repositories/{repo}/runs",
        list_repo_runs,
        "listRepositoryRuns",
        "A repository's runs, newest first",
        "runs",
        checks=[READ_REPO],
        query=list(PAGINATION),
        responses={200: "RunList"},
    ),
    RouteSpec(
        "GET",
        "/runs",
        list_runs,
        "listRuns",
        "Runs the caller may see, newest first",
        "runs",
        query=[*PAGINATION, Param("repository", description="only this repository's runs")],
        responses={200: "RunList"},
    ),
    RouteSpec(
        "GET",
        RUN,
        get_run,
        "getRun",
        "A run: status, command, timings, inputs",
        "runs",
        responses={200: "Run"},
    ),
    RouteSpec(
        "POST",
        RUN + "/renew",
        renew_run,
        "renewRun",
        "Extend a running run's credential",
        "runs",
        body="RunRenewal",
        responses={200: "Run"},
    ),
    RouteSpec(
        "POST",
        RUN + "/finish",
        finish_run,
        "finishRun",
        "End a run with its command's exit status: 0 commits the run branch with its inputs "
        "(and merges it when the run asked to); otherwise the run fails",
        "runs",
        body="RunFinish",
        responses={200: "RunFinished"},
    ),
    RouteSpec(
        "POST",
        RUN + "/rerun",
        rerun,
        "rerunRun",
        "Start a run of a succeeded run's command from its start commit, every read pinned to "
        "the commit the original read",
        "runs",
        body="RerunCreation",
        responses={201: "RunStarted"},
    ),
    RouteSpec(
        "GET",
        RUN + "/outputs",
        run_outputs,
        "listRunOutputs",
        "What a succeeded run wrote: the changes of its commit against its start commit",
        "runs",
        query=list(PAGINATION),
        responses={200: "DiffList"},
    ),
    RouteSpec(
        "GET",
        RUN + "/comparison",
        compare_run,
        "compareRun",
        "A finished rerun's outputs against the original's, per path: same, differs, missing, new",
        "runs",
        query=list(PAGINATION),
        responses={200: "RunVerdictList"},
    ),
]
