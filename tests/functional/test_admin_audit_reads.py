"""``audit.reads``: reads are recorded only when asked for, one record per request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.admin.app import create_admin_app
from gateway.audit import log
from gateway.audit.kv import AuditedKV
from gateway.auth.users import UserStore
from gateway.core import audit
from gateway.core.lake import Lake
from gateway.meta.memory_store import MemoryKVStore
from gateway.storage.memory import MemoryBlobStore
from tests.functional.admin_conftest import (  # noqa: F401  (fixture)
    ADMIN_KEY,
    ADMIN_SECRET,
    PREFIX,
    AdminApi,
    admin_api,
    basic,
)


@pytest.fixture(params=[False, True], ids=["writes-only", "reads-too"])
async def app(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[TestClient[Any, Any], AuditedKV]]:
    kv = AuditedKV(MemoryKVStore(), reads=request.param)
    lake = Lake(kv, MemoryBlobStore())
    users = UserStore(kv, secret_key=bytes(range(32)))
    with audit.system("ensureAdmin"):
        await users.ensure_admin(ADMIN_KEY, ADMIN_SECRET)
    root = web.Application()
    root.add_subapp(
        PREFIX, create_admin_app(lake=lake, users=users, authn=users, authz=users, version="0")
    )
    client: TestClient[Any, Any] = TestClient(TestServer(root, host="127.0.0.1"))
    await client.start_server()
    yield client, kv
    await client.close()
    await lake.close()


async def test_reads_are_recorded_only_when_configured(
    app: tuple[TestClient[Any, Any], AuditedKV],
) -> None:
    client, kv = app
    auth = {"Authorization": basic(ADMIN_KEY, ADMIN_SECRET)}
    body = {"name": "repo1", "storage_namespace": "local://r"}
    assert (await client.post(f"{PREFIX}/repositories", json=body, headers=auth)).status == 201
    assert (await client.get(f"{PREFIX}/repositories/repo1", headers=auth)).status == 200
    missing = await client.get(f"{PREFIX}/repositories/nope-nope", headers=auth)
    assert missing.status == 404
    recs = [r.fields for r in reversed(kv.read_sync(lambda r: log.query(r)).records)]
    ops = [(f["operation"], f["result"]) for f in recs]
    if kv.reads:
        assert ops == [
            ("ensureAdmin", "ok"),
            ("createRepository", "ok"),
            ("getRepository", "ok"),
            ("getRepository", "error"),
        ]
        assert recs[3]["detail"] == "RepositoryNotFound: repository 'nope-nope' not found"
    else:
        assert ops == [("ensureAdmin", "ok"), ("createRepository", "ok")]


async def test_who_may_read_the_trail(admin_api: AdminApi) -> None:  # noqa: F811
    await admin_api.json(
        "POST", "/repositories", 201, json={"name": "mine", "storage_namespace": ""}
    )
    owner = await admin_api.new_user("owner", {"repository": "mine", "action": "admin"})
    reader = await admin_api.new_user("reader", {"repository": "mine", "action": "read"})
    await admin_api.json("GET", "/audit", 200)
    await admin_api.json("GET", "/audit/verify", 200)
    await owner.json("GET", "/audit", 200, params={"repository": "mine"})
    await owner.json("GET", "/audit", 403)  # the whole trail: global admins only
    await owner.json("GET", "/audit/verify", 403)
    await reader.json("GET", "/audit", 403, params={"repository": "mine"})
