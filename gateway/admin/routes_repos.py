"""Repositories, their metadata and their branch-protection rules."""

from __future__ import annotations

from aiohttp import web

from gateway.admin import schemas
from gateway.admin.params import amount, j_str, q_str, read_json, read_json_value
from gateway.admin.routing import (
    ADMIN_GLOBAL,
    ADMIN_REPO,
    PAGINATION,
    PREFIX,
    READ_REPO,
    Param,
    RouteSpec,
    lake_of,
    may,
)
from gateway.core.access import Action
from gateway.core.errors import InvalidArgument


async def create_repository(request: web.Request) -> web.Response:
    body = await read_json(request)
    name = j_str(body, "name")
    repo = await lake_of(request).create_repository(
        name,
        default_branch=j_str(body, "default_branch", "main"),
        storage_namespace=j_str(body, "storage_namespace", ""),
    )
    return web.json_response(schemas.repository(repo), status=201)


async def list_repositories(request: web.Request) -> web.Response:
    """Only the repositories the caller may read are listed (as S3 ListBuckets does); a page
    may then hold fewer than ``amount`` rows while ``has_more`` is still true."""
    limit = amount(request)
    repos, more = await lake_of(request).list_repositories(
        prefix=q_str(request, "prefix") or q_str(request, "search"),
        after=q_str(request, "after"),
        limit=limit,
    )
    rows = [schemas.repository(r) for r in repos if await may(request, Action.READ, r.name)]
    return web.json_response(schemas.page(rows, more, repos[-1].name if repos else "", limit))


async def get_repository(request: web.Request) -> web.Response:
    repo = await lake_of(request).get_repository(request.match_info["repo"])
    return web.json_response(schemas.repository(repo))


async def delete_repository(request: web.Request) -> web.Response:
    await lake_of(request).delete_repository(request.match_info["repo"])
    return web.Response(status=204)


async def get_repository_metadata(request: web.Request) -> web.Response:
    repo = await lake_of(request).get_repository(request.match_info["repo"])
    return web.json_response(dict(repo.metadata))


async def get_branch_protection(request: web.Request) -> web.Response:
    rules = await lake_of(request).get_protection_rules(request.match_info["repo"])
    return web.json_response([{"pattern": p} for p in rules])


async def set_branch_protection(request: web.Request) -> web.Response:
    raw = await read_json_value(request)
    if not isinstance(raw, list) or not all(
        isinstance(r, dict) and isinstance(r.get("pattern"), str) and r["pattern"] for r in raw
    ):
        raise InvalidArgument('body must be a list of {"pattern": "<glob>"} rules')
    patterns = [r["pattern"] for r in raw]
    await lake_of(request).set_protection_rules(request.match_info["repo"], patterns)
    return web.Response(status=204)


REPO = "/repositories/{repo}"

ROUTES = [
    RouteSpec(
        "POST",
        "/repositories",
        create_repository,
        "createRepository",
        "Create a repository (default branch at an empty root commit); admins only, as S3 "
        "CreateBucket",
        "repositories",
        checks=[ADMIN_GLOBAL],
        query=[Param("bare", "boolean", description="accepted and ignored")],
        body="RepositoryCreation",
        responses={201: "Repository"},
    ),
    RouteSpec(
        "GET",
        "/repositories",
        list_repositories,
        "listRepositories",
        "List the repositories the caller may read",
        "repositories",
        query=[PREFIX, *PAGINATION, Param("search", description="same as prefix")],
        responses={200: "RepositoryList"},
    ),
    RouteSpec(
        "GET",
        REPO,
        get_repository,
        "getRepository",
        "Repository properties",
        "repositories",
        checks=[READ_REPO],
        responses={200: "Repository"},
    ),
    RouteSpec(
        "DELETE",
        REPO,
        delete_repository,
        "deleteRepository",
        "Delete a repository with its refs and staging",
        "repositories",
        checks=[ADMIN_REPO],
        query=[Param("force", "boolean", description="ignored")],
        responses={204: None},
    ),
    RouteSpec(
        "GET",
        REPO + "/metadata",
        get_repository_metadata,
        "getRepositoryMetadata",
        "Repository metadata (string map)",
        "repositories",
        checks=[READ_REPO],
        responses={200: "StringMap"},
    ),
    RouteSpec(
        "GET",
        REPO + "/settings/branch_protection",
        get_branch_protection,
        "getBranchProtectionRules",
        "Branch-protection glob rules",
        "repositories",
        checks=[READ_REPO],
        responses={200: "BranchProtectionRules"},
    ),
    RouteSpec(
        "PUT",
        REPO + "/settings/branch_protection",
        set_branch_protection,
        "setBranchProtectionRules",
        "Replace the branch-protection glob rules: a matching branch accepts only merges "
        "(direct upload, delete, commit and reset answer 403)",
        "repositories",
        checks=[ADMIN_REPO],
        body="BranchProtectionRules",
        responses={204: None},
    ),
]
