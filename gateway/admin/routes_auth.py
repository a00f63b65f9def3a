"""Weir's user management: users, access keys (secret shown once) and grants.

Admins manage everyone; a user may list, create and revoke their own access keys and read
their own grants (``self_service``).
"""

from __future__ import annotations

from aiohttp import web

from gateway.admin import schemas
from gateway.admin.params import amount, j_bool, j_opt_str, j_str, q_str, read_json
from gateway.admin.routing import (
    ADMIN_GLOBAL,
    PAGINATION,
    PREFIX,
    USERS,
    RouteSpec,
)
from gateway.auth.grants import Grant, parse_action
from gateway.auth.users import UserStore
from gateway.core.errors import InvalidArgument


def _users(request: web.Request) -> UserStore:
    return request.config_dict[USERS]


async def list_users(request: web.Request) -> web.Response:
    limit = amount(request)
    users, more = await _users(request).list_users(
        prefix=q_str(request, "prefix"), after=q_str(request, "after"), limit=limit
    )
    rows = [schemas.user(u) for u in users]
    return web.json_response(schemas.page(rows, more, users[-1].name if users else "", limit))


async def create_user(request: web.Request) -> web.Response:
    body = await read_json(request)
    created = await _users(request).create_user(j_str(body, "id"), admin=j_bool(body, "admin"))
    return web.json_response(schemas.user(created), status=201)


async def get_user(request: web.Request) -> web.Response:
    found = await _users(request).get_user(request.match_info["user"])
    return web.json_response(schemas.user(found))


async def delete_user(request: web.Request) -> web.Response:
    await _users(request).delete_user(request.match_info["user"])
    return web.Response(status=204)


async def list_credentials(request: web.Request) -> web.Response:
    limit = amount(request)
    keys, more = await _users(request).list_credentials(
        request.match_info["user"], after=q_str(request, "after"), limit=limit
    )
    rows = [schemas.credentials(k) for k in keys]
    return web.json_response(
        schemas.page(rows, more, keys[-1].access_key_id if keys else "", limit)
    )


async def create_credentials(request: web.Request) -> web.Response:
    """Generate a key pair, or store a given one (admins only). The secret is in this
    response and nowhere else, ever."""
    body = await read_json(request, required=False)
    key_id, secret = j_opt_str(body, "access_key_id"), j_opt_str(body, "secret_access_key")
    created = await _users(request).create_credentials(
        request.match_info["user"], access_key_id=key_id, secret_access_key=secret
    )
    return web.json_response(schemas.new_credentials(created), status=201)


async def delete_credentials(request: web.Request) -> web.Response:
    await _users(request).delete_credentials(
        request.match_info["user"], request.match_info["accessKeyId"]
    )
    return web.Response(status=204)


async def list_grants(request: web.Request) -> web.Response:
    grants = await _users(request).list_grants(request.match_info["user"])
    rows = [schemas.grant(g) for g in grants]
    return web.json_response(schemas.page(rows, False, "", len(rows)))


async def add_grant(request: web.Request) -> web.Response:
    body = await read_json(request)
    try:
        action = parse_action(j_str(body, "action"))
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from None
    grant = Grant(
        repository=j_str(body, "repository", "*"),
        branch=j_str(body, "branch", "*"),
        action=action,
    )
    await _users(request).add_grant(request.match_info["user"], grant)
    return web.json_response(schemas.grant(grant), status=201)


async def delete_grant(request: web.Request) -> web.Response:
    await _users(request).delete_grant(request.match_info["user"], request.match_info["grantId"])
    return web.Response(status=204)


USERS_PATH = "/auth/users"
USER = USERS_PATH + "/{user}"

ROUTES = [
    RouteSpec(
        "GET",
        USERS_PATH,
        list_users,
        "listUsers",
        "List users (admin)",
        "auth",
        checks=[ADMIN_GLOBAL],
        query=[PREFIX, *PAGINATION],
        responses={200: "UserList"},
    ),
    RouteSpec(
        "POST",
        USERS_PATH,
        create_user,
        "createUser",
        "Create a user (admin)",
        "auth",
        checks=[ADMIN_GLOBAL],
        body="UserCreation",
        responses={201: "User"},
    ),
    RouteSpec(
        "GET",
        USER,
        get_user,
        "getUser",
        "A user (admin, or the user)",
        "auth",
        checks=[ADMIN_GLOBAL],
        self_service=True,
        responses={200: "User"},
    ),
    RouteSpec(
        "DELETE",
        USER,
        delete_user,
        "deleteUser",
        "Delete a user with their keys and grants (admin; not the last admin)",
        "auth",
        checks=[ADMIN_GLOBAL],
        responses={204: None},
    ),
    RouteSpec(
        "GET",
        USER + "/credentials",
        list_credentials,
        "listUserCredentials",
        "A user's access key ids (never secrets)",
        "auth",
        checks=[ADMIN_GLOBAL],
        self_service=True,
        query=[*PAGINATION],
        responses={200: "CredentialsList"},
    ),
    RouteSpec(
        "POST",
        USER + "/credentials",
        create_credentials,
        "createCredentials",
        "Create an access key pair; the secret is returned only in this response",
        "auth",
        checks=[ADMIN_GLOBAL],
        self_service=True,
        body="CredentialsCreation",
        responses={201: "CredentialsWithSecret"},
    ),
    RouteSpec(
        "DELETE",
        USER + "/credentials/{accessKeyId}",
        delete_credentials,
        "deleteCredentials",
        "Revoke an access key (effective immediately)",
        "auth",
        checks=[ADMIN_GLOBAL],
        self_service=True,
        responses={204: None},
    ),
    RouteSpec(
        "GET",
        USER + "/grants",
        list_grants,
        "listGrants",
        "A user's grants",
        "auth",
        checks=[ADMIN_GLOBAL],
        self_service=True,
        responses={200: "GrantList"},
    ),
    RouteSpec(
        "POST",
        USER + "/grants",
        add_grant,
        "addGrant",
        "Grant an action (read < write < commit < admin) on repository and branch globs",
        "auth",
        checks=[ADMIN_GLOBAL],
        body="GrantCreation",
        responses={201: "Grant"},
    ),
    RouteSpec(
        "DELETE",
        USER + "/grants/{grantId}",
        delete_grant,
        "deleteGrant",
        "Remove a grant",
        "auth",
        checks=[ADMIN_GLOBAL],
        responses={204: None},
    ),
]
