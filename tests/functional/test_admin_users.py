"""Weir's user endpoints: users, access keys (secret shown once), grants, self-service."""

from __future__ import annotations

from tests.functional.admin_conftest import AdminApi, admin_api  # noqa: F401


async def test_users_crud(admin_api: AdminApi) -> None:  # noqa: F811
    a = admin_api
    created = await a.json("POST", "/auth/users", 201, json={"id": "alice"})
    assert created["id"] == "alice" and created["admin"] is False
    assert isinstance(created["creation_date"], int)
    await a.json("POST", "/auth/users", 409, json={"id": "alice"})
    await a.json("POST", "/auth/users", 400, json={"id": "no/slash"})
    await a.json("POST", "/auth/users", 201, json={"id": "root2", "admin": True})
    page = await a.json("GET", "/auth/users", 200, params={"amount": "2"})
    assert [u["id"] for u in page["results"]] == ["admin", "alice"]
    assert page["pagination"]["has_more"] and page["pagination"]["next_offset"] == "alice"
    rest = await a.json("GET", "/auth/users", 200, params={"after": "alice"})
    assert [u["id"] for u in rest["results"]] == ["root2"]
    assert (await a.json("GET", "/auth/users/alice", 200))["id"] == "alice"
    await a.json("DELETE", "/auth/users/alice", 204)
    await a.json("GET", "/auth/users/alice", 404)
    await a.json("DELETE", "/auth/users/alice", 404)


async def test_last_admin_is_kept(admin_api: AdminApi) -> None:  # noqa: F811
    body = await admin_api.json("DELETE", "/auth/users/admin", 409)
    assert "last admin" in body["message"]


async def test_credentials_secret_once_and_revocation(admin_api: AdminApi) -> None:  # noqa: F811
    a = admin_api
    await a.json("POST", "/auth/users", 201, json={"id": "bob"})
    creds = await a.json("POST", "/auth/users/bob/credentials", 201)
    assert creds["user_id"] == "bob" and len(creds["secret_access_key"]) >= 40
    listed = await a.json("GET", "/auth/users/bob/credentials", 200)
    assert listed["results"] == [
        {"access_key_id": creds["access_key_id"], "creation_date": creds["creation_date"]}
    ]
    assert creds["secret_access_key"] not in repr(listed)
    bob = a.as_user(creds["access_key_id"], creds["secret_access_key"])
    assert (await bob.json("GET", "/user", 200))["user"]["id"] == "bob"
    chosen = await a.json(
        "POST",
        "/auth/users/bob/credentials",
        201,
        json={"access_key_id": "AKIABOBCHOSEN0001", "secret_access_key": "chosen-secret"},
    )
    assert chosen["access_key_id"] == "AKIABOBCHOSEN0001"
    await a.json(
        "POST",
        "/auth/users/bob/credentials",
        409,
        json={"access_key_id": "AKIABOBCHOSEN0001", "secret_access_key": "x"},
    )
    await a.json("DELETE", f"/auth/users/bob/credentials/{creds['access_key_id']}", 204)
    await bob.json("GET", "/user", 401)  # revoked: refused at once
    await a.json("DELETE", f"/auth/users/bob/credentials/{creds['access_key_id']}", 404)
    await a.json("DELETE", "/auth/users/bob", 204)
    await a.as_user("AKIABOBCHOSEN0001", "chosen-secret").json("GET", "/user", 401)


async def test_self_service_and_admin_only(admin_api: AdminApi) -> None:  # noqa: F811
    a = admin_api
    carol = await a.new_user("carol")
    await a.json("POST", "/auth/users", 201, json={"id": "dave"})
    # Carol manages her own keys and reads her own grants...
    own = await carol.json("POST", "/auth/users/carol/credentials", 201)
    keys = await carol.json("GET", "/auth/users/carol/credentials", 200)
    assert own["access_key_id"] in {k["access_key_id"] for k in keys["results"]}
    await carol.json("DELETE", f"/auth/users/carol/credentials/{own['access_key_id']}", 204)
    assert (await carol.json("GET", "/auth/users/carol/grants", 200))["results"] == []
    # ...but nobody else's, and cannot manage users or grant herself anything.
    await carol.json("GET", "/auth/users/dave/credentials", 403)
    await carol.json("POST", "/auth/users/dave/credentials", 403)
    await carol.json("GET", "/auth/users", 403)
    await carol.json("POST", "/auth/users", 403, json={"id": "eve"})
    await carol.json("DELETE", "/auth/users/dave", 403)
    await carol.json(
        "POST", "/auth/users/carol/grants", 403, json={"action": "admin", "repository": "*"}
    )


async def test_grants_endpoints(admin_api: AdminApi) -> None:  # noqa: F811
    a = admin_api
    await a.json("POST", "/auth/users", 201, json={"id": "erin"})
    g = await a.json(
        "POST",
        "/auth/users/erin/grants",
        201,
        json={"repository": "sales-*", "branch": "dev/*", "action": "Commit"},
    )
    assert g["action"] == "commit" and g["repository"] == "sales-*" and g["branch"] == "dev/*"
    await a.json(
        "POST",
        "/auth/users/erin/grants",
        409,
        json={"repository": "sales-*", "branch": "dev/*", "action": "commit"},
    )
    default = await a.json("POST", "/auth/users/erin/grants", 201, json={"action": "read"})
    assert default["repository"] == "*" and default["branch"] == "*"
    await a.json("POST", "/auth/users/erin/grants", 400, json={"action": "owner"})
    await a.json("POST", "/auth/users/erin/grants", 400, json={})
    await a.json("POST", "/auth/users/nobody/grants", 404, json={"action": "read"})
    listed = await a.json("GET", "/auth/users/erin/grants", 200)
    assert {x["id"] for x in listed["results"]} == {g["id"], default["id"]}
    await a.json("DELETE", f"/auth/users/erin/grants/{g['id']}", 204)
    await a.json("DELETE", f"/auth/users/erin/grants/{g['id']}", 404)
