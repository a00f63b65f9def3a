"""Fixtures for the admin API tests: the admin app in-process (aiohttp test server) over a real
``Lake`` on in-memory stores, with an admin and helpers to call it as any user.

Import explicitly: ``from tests.functional.admin_conftest import admin_api, AdminApi  # noqa``
(``admin_api``: one app per test; ``admin_api_module``: one per module).
"""

from __future__ import annotations

import base64
import contextlib
import json
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
import urllib3
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer

from gateway.admin.app import create_admin_app
from gateway.auth.users import UserStore
from gateway.core.lake import Lake
from gateway.meta.memory_store import MemoryKVStore
from tests.functional.conftest import WeirServer
from tests.support import weir_backend

ADMIN_KEY = "AKIAADMINTEST0000001"
ADMIN_SECRET = "admin-test-secret"
PREFIX = "/api/v1"


def basic(key: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()


@dataclass
class AdminApi:
    """An HTTP client for the in-process admin app, authenticated as one user."""

    client: TestClient[Any, Any]
    users: UserStore
    lake: Lake
    key: str = ADMIN_KEY
    secret: str = ADMIN_SECRET

    def as_user(self, key: str, secret: str) -> AdminApi:
        return AdminApi(self.client, self.users, self.lake, key, secret)

    async def call(
        self, method: str, path: str, *, auth: bool = True, **kwargs: Any
    ) -> ClientResponse:
        headers = dict(kwargs.pop("headers", None) or {})
        if auth:
            headers.setdefault("Authorization", basic(self.key, self.secret))
        return await self.client.request(method, PREFIX + path, headers=headers, **kwargs)

    async def json(self, method: str, path: str, status: int, **kwargs: Any) -> Any:
        """Call and assert the status; return the decoded JSON body (None when empty)."""
        resp = await self.call(method, path, **kwargs)
        text = await resp.text()
        assert resp.status == status, f"{method} {path}: {resp.status} {text}"
        if not text:
            return None
        if resp.content_type == "application/json":
            return await resp.json()
        return text

    async def new_user(self, name: str, *grants: dict[str, str]) -> AdminApi:
        """Create a user with an access key and the given grants; return a client for them."""
        await self.json("POST", "/auth/users", 201, json={"id": name})
        creds = await self.json("POST", f"/auth/users/{name}/credentials", 201)
        for g in grants:
            await self.json("POST", f"/auth/users/{name}/grants", 201, json=g)
        return self.as_user(creds["access_key_id"], creds["secret_access_key"])


@contextlib.asynccontextmanager
async def running_admin_app() -> AsyncIterator[AdminApi]:
    """The admin app on a loopback port over a fresh in-memory Lake, with one admin."""
    kv = MemoryKVStore()
    lake = Lake(kv, weir_backend.in_process_blobs(kv))
    users = UserStore(kv, secret_key=bytes(range(32)))
    await users.ensure_admin(ADMIN_KEY, ADMIN_SECRET)
    root = web.Application()
    root.add_subapp(
        PREFIX,
        create_admin_app(lake=lake, users=users, authn=users, authz=users, version="0.1.0"),
    )
    client: TestClient[Any, Any] = TestClient(TestServer(root, host="127.0.0.1"))
    await client.start_server()
    try:
        yield AdminApi(client, users, lake)
    finally:
        await client.close()
        await lake.close()


@pytest.fixture
async def admin_api() -> AsyncIterator[AdminApi]:
    async with running_admin_app() as api:
        yield api


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def admin_api_module() -> AsyncIterator[AdminApi]:
    """One app for a whole module (tests using it need ``loop_scope="module"``)."""
    async with running_admin_app() as api:
        yield api


# -- a repository ready to use, and one-call helpers ---------------------------------------------

R = "/repositories/repo1"


@pytest.fixture
async def api(admin_api: AdminApi) -> AdminApi:
    """``admin_api`` with repository ``repo1`` (default branch ``main``) created."""
    await admin_api.json(
        "POST", "/repositories", 201, json={"name": "repo1", "storage_namespace": "local://r"}
    )
    return admin_api


async def put(api: AdminApi, branch: str, path: str, data: bytes, **headers: str) -> Any:
    return await api.json(
        "POST",
        f"{R}/branches/{branch}/objects",
        201,
        params={"path": path},
        data=data,
        headers=headers,
    )


async def commit(api: AdminApi, branch: str, message: str = "m", **extra: Any) -> Any:
    return await api.json(
        "POST", f"{R}/branches/{branch}/commits", 201, json={"message": message, **extra}
    )


async def read(api: AdminApi, ref: str, path: str) -> bytes:
    resp = await api.call("GET", f"{R}/refs/{ref}/objects", params={"path": path})
    assert resp.status == 200, await resp.text()
    return await resp.read()


# -- the real server ---------------------------------------------------------------------------


class ServerAdmin:
    """Minimal synchronous admin API client for the real server (set-up only)."""

    def __init__(self, server: WeirServer) -> None:
        self.base = server.endpoint + "/api/v1"
        token = base64.b64encode(f"{server.access_key}:{server.secret_key}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}"}
        self.http = urllib3.PoolManager()

    def call(
        self,
        method: str,
        route: str,
        status: int,
        body: Any = None,
        raw: bytes | None = None,
        **fields: str,
    ) -> Any:
        headers = dict(self.headers)
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        url = self.base + route
        if fields:
            url += "?" + urllib.parse.urlencode(fields)
        resp = self.http.request(method, url, body=data, headers=headers)
        assert resp.status == status, f"{method} {route}: {resp.status} {resp.data!r}"
        if resp.headers.get("Content-Type", "").startswith("application/json"):
            return json.loads(resp.data)
        return resp.data
