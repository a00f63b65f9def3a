"""Branches: create, list, delete, reset, uncommitted diff, commit, revert, cherry-pick."""

from __future__ import annotations

from aiohttp import web

from gateway.admin import schemas
from gateway.admin.params import (
    amount,
    j_bool,
    j_int,
    j_map,
    j_opt_str,
    j_str,
    j_str_list,
    q_bool,
    q_required,
    q_str,
    read_json,
)
from gateway.admin.routing import (
    PAGINATION,
    PREFIX,
    READ_REPO,
    Param,
    RouteSpec,
    authorize,
    authorized_inputs,
    lake_of,
    may,
    on_branch,
    principal_of,
)
from gateway.core.access import Action
from gateway.core.errors import (
    BranchExists,
    BranchNotFound,
    InvalidArgument,
    NotImplementedFeature,
)


async def list_branches(request: web.Request) -> web.Response:
    limit = amount(request)
    branches, more = await lake_of(request).list_branches(
        request.match_info["repo"],
        prefix=q_str(request, "prefix"),
        after=q_str(request, "after"),
        limit=limit,
        show_hidden=q_bool(request, "show_hidden"),
    )
    rows = [schemas.ref(b.name, b.head) for b in branches]
    return web.json_response(schemas.page(rows, more, rows[-1]["id"] if rows else "", limit))


async def create_branch(request: web.Request) -> web.Response:
    """201 with the new branch's commit id as plain text (what lakeFS answers)."""
    repo = request.match_info["repo"]
    body = await read_json(request)
    name, source = j_str(body, "name"), j_str(body, "source")
    lake = lake_of(request)
    if not await may(request, Action.COMMIT, repo, name):
        # lakefs-spec calls create(exist_ok=True) before every write and tolerates only 409:
        # a writer without COMMIT must get 409 for an existing branch it can read, not 403.
        await authorize(request, Action.READ, repo, name)
        try:
            await lake.get_branch(repo, name)
        except BranchNotFound:
            await authorize(request, Action.COMMIT, repo, name)  # raises AccessDenied
        raise BranchExists(f"branch {name!r} already exists")
    await authorize(request, Action.READ, repo, source)
    branch = await lake.create_branch(repo, name, source, hidden=j_bool(body, "hidden"))
    return web.Response(status=201, text=branch.head, content_type="text/html")


async def get_branch(request: web.Request) -> web.Response:
    branch = await lake_of(request).get_branch(
        request.match_info["repo"], request.match_info["branch"]
    )
    return web.json_response(schemas.ref(branch.name, branch.head))


async def delete_branch(request: web.Request) -> web.Response:
    await lake_of(request).delete_branch(request.match_info["repo"], request.match_info["branch"])
    return web.Response(status=204)


async def reset_branch(request: web.Request) -> web.Response:
    """ResetCreation: ``reset`` drops all staged changes, ``object`` one path,
    ``common_prefix`` every path under a prefix."""
    repo, branch = request.match_info["repo"], request.match_info["branch"]
    body = await read_json(request)
    kind = j_str(body, "type")
    lake = lake_of(request)
    if kind == "reset":
        await lake.reset_branch(repo, branch)
    elif kind in ("object", "common_prefix"):
        path = j_opt_str(body, "path")
        if path is None:
            raise InvalidArgument(f"reset type {kind!r} needs a path")
        await lake.reset_path(repo, branch, path, prefix=kind == "common_prefix")
    else:
        raise InvalidArgument("reset type must be one of reset, object, common_prefix")
    return web.Response(status=204)


async def hard_reset_branch(request: web.Request) -> web.Response:
    """Point the branch at ``ref`` and drop its staging (git reset --hard)."""
    repo, branch = request.match_info["repo"], request.match_info["branch"]
    ref = q_required(request, "ref")
    await authorize(request, Action.READ, repo, ref)
    await lake_of(request).hard_reset(repo, branch, ref)
    return web.Response(status=204)


async def diff_branch(request: web.Request) -> web.Response:
    """Staged changes against the branch head."""
    limit = amount(request)
    diff_page = await lake_of(request).diff_uncommitted(
        request.match_info["repo"],
        request.match_info["branch"],
        prefix=q_str(request, "prefix"),
        delimiter=q_str(request, "delimiter"),
        after=q_str(request, "after"),
        limit=limit,
    )
    rows = [schemas.diff(c) for c in diff_page.changes]
    rows += [schemas.diff_prefix(p) for p in diff_page.prefixes]
    rows.sort(key=lambda r: str(r["path"]))
    return web.json_response(
        schemas.page(rows, diff_page.truncated, diff_page.next_after or "", limit)
    )


async def commit(request: web.Request) -> web.Response:
    """CommitCreation, plus Weir's ``paths`` (commit only those paths/prefixes) and
    ``inputs`` (lineage: each needs READ on its repository and ref)."""
    if q_str(request, "source_metarange"):
        raise NotImplementedFeature("committing a source_metarange is not supported")
    body = await read_json(request)
    date = j_int(body, "date")
    inputs = await authorized_inputs(request, body)
    created = await lake_of(request).commit(
        request.match_info["repo"],
        request.match_info["branch"],
        message=j_str(body, "message"),
        committer=principal_of(request).user,
        metadata=j_map(body, "metadata"),
        paths=j_str_list(body, "paths"),
        allow_empty=j_bool(body, "allow_empty"),
        creation_date=None if date is None else float(date),
        inputs=inputs,
    )
    return web.json_response(schemas.commit(created), status=201)


async def revert(request: web.Request) -> web.Response:
    repo, branch = request.match_info["repo"], request.match_info["branch"]
    body = await read_json(request)
    ref = j_str(body, "ref")
    await authorize(request, Action.READ, repo, ref)
    overrides = body.get("commit_overrides") or {}
    if not isinstance(overrides, dict):
        raise InvalidArgument("commit_overrides must be an object")
    await lake_of(request).revert(
        repo,
        branch,
        ref,
        committer=principal_of(request).user,
        parent_number=j_int(body, "parent_number", 0) or 0,
        message=j_opt_str(overrides, "message"),
        metadata=j_map(overrides, "metadata") or None,
        allow_empty=j_bool(body, "allow_empty"),
    )
    return web.Response(status=204)


async def cherry_pick(request: web.Request) -> web.Response:
    repo, branch = request.match_info["repo"], request.match_info["branch"]
    body = await read_json(request)
    ref = j_str(body, "ref")
    await authorize(request, Action.READ, repo, ref)
    created = await lake_of(request).cherry_pick(
        repo,
        branch,
        ref,
        committer=principal_of(request).user,
        parent_number=j_int(body, "parent_number", 0) or 0,
    )
    return web.json_response(schemas.commit(created), status=201)


BRANCHES = "/repositories/{repo}/branches"
BRANCH = BRANCHES + "/{branch}"

ROUTES = [
    RouteSpec(
        "GET",
        BRANCHES,
        list_branches,
        "listBranches",
        "List branches",
        "branches",
        checks=[READ_REPO],
        query=[
            PREFIX,
            *PAGINATION,
            Param("show_hidden", "boolean", description="include hidden branches"),
        ],
        responses={200: "RefList"},
    ),
    RouteSpec(
        "POST",
        BRANCHES,
        create_branch,
        "createBranch",
        "Create a branch (O(1)); answers the commit id as text. Needs COMMIT on the new "
        "name and READ on the source",
        "branches",
        body="BranchCreation",
        responses={201: "@text/html"},
    ),
    RouteSpec(
        "GET",
        BRANCH,
        get_branch,
        "getBranch",
        "Branch head",
        "branches",
        checks=[on_branch(Action.READ)],
        responses={200: "Ref"},
    ),
    RouteSpec(
        "DELETE",
        BRANCH,
        delete_branch,
        "deleteBranch",
        "Delete a branch (403 for the default branch)",
        "branches",
        checks=[on_branch(Action.COMMIT)],
        query=[Param("force", "boolean", description="ignored")],
        responses={204: None},
    ),
    RouteSpec(
        "PUT",
        BRANCH,
        reset_branch,
        "resetBranch",
        "Discard staged changes (all, one object, or a prefix)",
        "branches",
        checks=[on_branch(Action.WRITE)],
        body="ResetCreation",
        responses={204: None},
    ),
    RouteSpec(
        "PUT",
        BRANCH + "/hard_reset",
        hard_reset_branch,
        "hardResetBranch",
        "Point the branch at a ref and drop its staging",
        "branches",
        checks=[on_branch(Action.COMMIT)],
        query=[Param("ref", required=True), Param("force", "boolean", description="ignored")],
        responses={204: None},
    ),
    RouteSpec(
        "GET",
        BRANCH + "/diff",
        diff_branch,
        "diffBranch",
        "Uncommitted (staged) changes",
        "branches",
        checks=[on_branch(Action.READ)],
        query=[PREFIX, *PAGINATION, Param("delimiter", description="ignored")],
        responses={200: "DiffList"},
    ),
    RouteSpec(
        "POST",
        BRANCH + "/commits",
        commit,
        "commit",
        "Commit staged changes (Weir: optionally only `paths`)",
        "commits",
        checks=[on_branch(Action.COMMIT)],
        query=[Param("source_metarange", description="not supported")],
        body="CommitCreation",
        responses={201: "Commit"},
    ),
    RouteSpec(
        "POST",
        BRANCH + "/revert",
        revert,
        "revertBranch",
        "Commit the inverse of a commit",
        "commits",
        checks=[on_branch(Action.COMMIT)],
        body="RevertCreation",
        responses={204: None},
    ),
    RouteSpec(
        "POST",
        BRANCH + "/cherry-pick",
        cherry_pick,
        "cherryPick",
        "Apply a commit's change as a new commit",
        "commits",
        checks=[on_branch(Action.COMMIT)],
        body="CherryPickCreation",
        responses={201: "Commit"},
    ),
]
