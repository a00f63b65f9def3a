"""Refs and history: commits by ref expression, log, ref diff, merge, tags."""

from __future__ import annotations

from aiohttp import web

from gateway.admin import schemas
from gateway.admin.params import (
    amount,
    j_bool,
    j_list,
    j_map,
    j_opt_str,
    j_str,
    q_bool,
    q_datetime,
    q_list,
    q_str,
    read_json,
)
from gateway.admin.routing import (
    PAGINATION,
    PREFIX,
    READ_REPO,
    Check,
    Param,
    RouteSpec,
    authorize,
    authorized_inputs,
    lake_of,
    on_branch,
    principal_of,
    read_ref,
)
from gateway.core.access import Action
from gateway.core.errors import InvalidArgument
from gateway.core.lake import Resolution
from gateway.core.model import MergeStrategy, Side

_SIDES = {"source": Side.SOURCE, "dest": Side.DEST, "destination": Side.DEST}


async def get_commit(request: web.Request) -> web.Response:
    """``commitId`` may be any ref expression: branch, tag, id prefix, ``main~1``, ``main@``."""
    found = await lake_of(request).get_commit(
        request.match_info["repo"], request.match_info["commitId"]
    )
    return web.json_response(schemas.commit(found))


async def log_commits(request: web.Request) -> web.Response:
    """Newest first; ``objects``/``prefixes`` restrict to commits that touched them."""
    limit = amount(request)
    log_page = await lake_of(request).log(
        request.match_info["repo"],
        request.match_info["ref"],
        paths=q_list(request, "objects"),
        prefixes=q_list(request, "prefixes"),
        after=q_str(request, "after"),
        limit=limit,
        first_parent=q_bool(request, "first_parent"),
        since=q_datetime(request, "since"),
        stop_at=q_str(request, "stop_at") or None,
    )
    rows = [schemas.commit(c) for c in log_page.commits]
    # ``limit=true``: the caller wants at most ``amount`` commits, not a cursor to more.
    more = log_page.truncated and not q_bool(request, "limit")
    return web.json_response(
        schemas.page(rows, more, log_page.next_after or "" if more else "", limit)
    )


async def diff_refs(request: web.Request) -> web.Response:
    """Committed diff: three-dot (against the merge base) by default, or ``type=two_dot``."""
    kind = q_str(request, "type", "three_dot")
    if kind not in ("three_dot", "two_dot"):
        raise InvalidArgument("type must be three_dot or two_dot")
    limit = amount(request)
    diff_page = await lake_of(request).diff(
        request.match_info["repo"],
        request.match_info["leftRef"],
        request.match_info["rightRef"],
        three_dot=kind == "three_dot",
        prefix=q_str(request, "prefix"),
        delimiter=q_str(request, "delimiter"),
        after=q_str(request, "after"),
        limit=limit,
    )
    right_stats = q_bool(request, "include_right_stats")
    rows = [schemas.diff(c, include_right_stats=right_stats) for c in diff_page.changes]
    rows += [schemas.diff_prefix(p) for p in diff_page.prefixes]
    rows.sort(key=lambda r: str(r["path"]))
    return web.json_response(
        schemas.page(rows, diff_page.truncated, diff_page.next_after or "", limit)
    )


def _strategy(value: str | None) -> MergeStrategy:
    if not value:
        return MergeStrategy.FAIL
    try:
        return MergeStrategy(value)
    except ValueError:
        raise InvalidArgument("strategy must be source-wins or dest-wins") from None


def _resolutions(raw: list[object]) -> list[Resolution]:
    out: list[Resolution] = []
    for item in raw:
        if not isinstance(item, dict):
            raise InvalidArgument('each resolution is {"pattern": glob, "side": source|dest}')
        pattern, side = item.get("pattern"), item.get("side")
        if not isinstance(pattern, str) or not pattern or side not in _SIDES:
            raise InvalidArgument('each resolution is {"pattern": glob, "side": source|dest}')
        out.append(Resolution(pattern=pattern, side=_SIDES[str(side)]))
    return out


async def merge(request: web.Request) -> web.Response:
    """200 ``{"reference": <commit id>}``; a conflict is 409 with every conflicting path."""
    body = await read_json(request, required=False)
    inputs = await authorized_inputs(request, body)
    outcome = await lake_of(request).merge(
        request.match_info["repo"],
        request.match_info["sourceRef"],
        request.match_info["destinationBranch"],
        committer=principal_of(request).user,
        message=j_opt_str(body, "message") or "",
        metadata=j_map(body, "metadata"),
        strategy=_strategy(j_opt_str(body, "strategy")),
        resolutions=_resolutions(j_list(body, "resolutions")),
        allow_empty=j_bool(body, "allow_empty"),
        squash=j_bool(body, "squash_merge"),
        inputs=inputs,
    )
    return web.json_response(
        {
            "reference": outcome.commit.id,
            "fast_forward": outcome.fast_forward,
            "changes": outcome.changes,
        }
    )


async def list_tags(request: web.Request) -> web.Response:
    limit = amount(request)
    tags, more = await lake_of(request).list_tags(
        request.match_info["repo"],
        prefix=q_str(request, "prefix"),
        after=q_str(request, "after"),
        limit=limit,
    )
    rows = [schemas.ref(t.name, t.commit) for t in tags]
    return web.json_response(schemas.page(rows, more, rows[-1]["id"] if rows else "", limit))


async def create_tag(request: web.Request) -> web.Response:
    repo = request.match_info["repo"]
    body = await read_json(request)
    name, target = j_str(body, "id"), j_str(body, "ref")
    await authorize(request, Action.READ, repo, target)
    tag = await lake_of(request).create_tag(repo, name, target)
    return web.json_response(schemas.ref(tag.name, tag.commit), status=201)


async def get_tag(request: web.Request) -> web.Response:
    tag = await lake_of(request).get_tag(request.match_info["repo"], request.match_info["tag"])
    return web.json_response(schemas.ref(tag.name, tag.commit))


async def delete_tag(request: web.Request) -> web.Response:
    await lake_of(request).delete_tag(request.match_info["repo"], request.match_info["tag"])
    return web.Response(status=204)


REPO = "/repositories/{repo}"
TAGS = REPO + "/tags"
TAG_ADMIN = Check(Action.COMMIT)  # repository-wide: tags are not on a branch

ROUTES = [
    RouteSpec(
        "GET",
        REPO + "/commits/{commitId}",
        get_commit,
        "getCommit",
        "A commit by any ref expression (branch, tag, id prefix, ~N, ^N, @)",
        "commits",
        checks=[read_ref("commitId")],
        responses={200: "Commit"},
    ),
    RouteSpec(
        "GET",
        REPO + "/refs/{ref}/commits",
        log_commits,
        "logCommits",
        "Commit log, newest first; by path with `objects`/`prefixes` (repeatable)",
        "commits",
        checks=[read_ref()],
        query=[
            *PAGINATION,
            Param("objects", "array", description="exact paths"),
            Param("prefixes", "array", description="path prefixes"),
            Param("first_parent", "boolean"),
            Param("limit", "boolean", description="ignored"),
            Param("since", description="ignored"),
            Param("stop_at", description="ignored"),
        ],
        responses={200: "CommitList"},
    ),
    RouteSpec(
        "GET",
        REPO + "/refs/{leftRef}/diff/{rightRef}",
        diff_refs,
        "diffRefs",
        "Committed diff between refs (three_dot default, or two_dot)",
        "refs",
        checks=[read_ref("leftRef"), read_ref("rightRef")],
        query=[
            PREFIX,
            Param("delimiter"),
            *PAGINATION,
            Param("type", description="three_dot (default) or two_dot"),
            Param("include_right_stats", "boolean"),
        ],
        responses={200: "DiffList"},
    ),
    RouteSpec(
        "POST",
        REPO + "/refs/{sourceRef}/merge/{destinationBranch}",
        merge,
        "mergeIntoBranch",
        "Three-way merge; 409 lists every conflict. Weir: `resolutions` per path/glob",
        "refs",
        checks=[read_ref("sourceRef"), on_branch(Action.COMMIT, "destinationBranch")],
        body="Merge",
        responses={200: "MergeResult", 409: "MergeConflict"},
    ),
    RouteSpec(
        "GET",
        TAGS,
        list_tags,
        "listTags",
        "List tags",
        "tags",
        checks=[READ_REPO],
        query=[PREFIX, *PAGINATION],
        responses={200: "RefList"},
    ),
    RouteSpec(
        "POST",
        TAGS,
        create_tag,
        "createTag",
        "Create a tag (needs repository-wide COMMIT and READ on the ref)",
        "tags",
        checks=[TAG_ADMIN],
        body="TagCreation",
        responses={201: "Ref"},
    ),
    RouteSpec(
        "GET",
        TAGS + "/{tag}",
        get_tag,
        "getTag",
        "A tag",
        "tags",
        checks=[read_ref("tag")],
        responses={200: "Ref"},
    ),
    RouteSpec(
        "DELETE",
        TAGS + "/{tag}",
        delete_tag,
        "deleteTag",
        "Delete a tag",
        "tags",
        checks=[TAG_ADMIN],
        query=[Param("force", "boolean", description="ignored")],
        responses={204: None},
    ),
]
