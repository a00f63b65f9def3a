"""Server configuration, health, the OpenAPI document and the caller's identity."""

from __future__ import annotations

from aiohttp import web

from gateway.admin import schemas
from gateway.admin.routing import USERS, VERSION, RouteSpec, principal_of


async def get_config(request: web.Request) -> web.Response:
    """The lakeFS SDK's first call: ``pre_sign_support: false`` keeps data on this API."""
    return web.json_response(schemas.config(request.config_dict[VERSION]))


async def get_version(request: web.Request) -> web.Response:
    return web.json_response(schemas.version_config(request.config_dict[VERSION]))


async def get_storage(request: web.Request) -> web.Response:
    return web.json_response(schemas.storage_config())


async def healthcheck(request: web.Request) -> web.Response:
    return web.Response(status=204)


async def get_current_user(request: web.Request) -> web.Response:
    p = principal_of(request)
    found = await request.config_dict[USERS].get_user(p.user)
    return web.json_response({"user": schemas.user(found), "access_key_id": p.access_key_id})


async def get_openapi(request: web.Request) -> web.Response:
    from gateway.admin.openapi import DOCUMENT

    return web.json_response(request.config_dict[DOCUMENT])


ROUTES = [
    RouteSpec(
        "GET",
        "/config",
        get_config,
        "getConfig",
        "Server version and storage flags",
        "config",
        responses={200: "Config"},
    ),
    RouteSpec(
        "GET",
        "/config/version",
        get_version,
        "getLakeFSVersion",
        "Server version (lakeFS compatibility level)",
        "config",
        responses={200: "VersionConfig"},
    ),
    RouteSpec(
        "GET",
        "/config/storage",
        get_storage,
        "getStorageConfig",
        "Storage flags",
        "config",
        responses={200: "StorageConfig"},
    ),
    RouteSpec(
        "GET",
        "/healthcheck",
        healthcheck,
        "healthCheck",
        "Liveness (no authentication)",
        "config",
        public=True,
        responses={204: None},
    ),
    RouteSpec(
        "GET",
        "/openapi.json",
        get_openapi,
        "getOpenAPI",
        "This OpenAPI 3 document (no authentication)",
        "config",
        public=True,
        responses={200: "@application/json"},
    ),
    RouteSpec(
        "GET",
        "/user",
        get_current_user,
        "getCurrentUser",
        "The authenticated user (any user; Weir: also the access key used)",
        "auth",
        responses={200: "CurrentUser"},
    ),
]
