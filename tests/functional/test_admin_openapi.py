"""The OpenAPI document describes exactly what the admin app serves."""

from __future__ import annotations

import re
from typing import Any

from gateway.admin.app import create_admin_app
from gateway.admin.openapi import SCHEMAS
from gateway.auth.users import UserStore
from gateway.core.lake import Lake
from gateway.meta.memory_store import MemoryKVStore
from gateway.storage.memory import MemoryBlobStore
from tests.functional.admin_conftest import AdminApi, admin_api  # noqa: F401


def _app_routes() -> set[tuple[str, str]]:
    kv = MemoryKVStore()
    users = UserStore(kv, secret_key=bytes(32))
    app = create_admin_app(
        lake=Lake(kv, MemoryBlobStore()), users=users, authn=users, authz=users, version="t"
    )
    routes = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("formatter") or info.get("path")
        assert path, f"route without a path: {route}"
        routes.add((route.method.lower(), path))
    return routes


async def test_every_route_is_documented(admin_api: AdminApi) -> None:  # noqa: F811
    doc = await admin_api.json("GET", "/openapi.json", 200, auth=False)
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    served = _app_routes()
    assert served, "the app has no routes"
    assert served - documented == set(), "served but not documented"
    assert documented - served == set(), "documented but not served"


async def test_document_is_consistent(admin_api: AdminApi) -> None:  # noqa: F811
    doc = await admin_api.json("GET", "/openapi.json", 200, auth=False)
    assert doc["openapi"].startswith("3.")
    assert doc["components"]["securitySchemes"]["basic_auth"]["scheme"] == "basic"
    text = repr(doc)
    for name in set(re.findall(r"#/components/schemas/(\w+)", text)):
        assert name in SCHEMAS, f"dangling schema reference {name}"
    operation_ids: list[str] = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            operation_ids.append(op["operationId"])
            declared = {p["name"] for p in op["parameters"] if p["in"] == "path"}
            assert declared == set(re.findall(r"{(\w+)}", path)), (method, path)
            assert op["responses"], (method, path)
    assert len(operation_ids) == len(set(operation_ids)), "duplicate operationId"
    # Weir's extensions are documented.
    merge: dict[str, Any] = SCHEMAS["Merge"]["properties"]
    assert "resolutions" in merge
    assert "paths" in SCHEMAS["CommitCreation"]["properties"]
    assert "/auth/users/{user}/grants" in doc["paths"]
    assert "put" in doc["paths"]["/repositories/{repo}/settings/branch_protection"]
