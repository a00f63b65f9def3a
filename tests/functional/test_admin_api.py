"""The admin API's routes in-process over a real Lake: status codes, JSON shapes, pagination,
streaming IO, errors and Weir's extensions (conflict report, resolutions, partial commit, log by
path, branch protection)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.functional.admin_conftest import AdminApi, admin_api  # noqa: F401

R = "/repositories/repo1"


@pytest.fixture
async def api(admin_api: AdminApi) -> AdminApi:  # noqa: F811
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


# -- config, health, auth ---------------------------------------------------------------------


async def test_health_config_and_authentication(admin_api: AdminApi) -> None:  # noqa: F811
    resp = await admin_api.call("GET", "/healthcheck", auth=False)
    assert resp.status == 204
    config = await admin_api.json("GET", "/config", 200)
    assert config["storage_config"]["pre_sign_support"] is False
    assert "blockstore_namespace_ValidityRegex" in config["storage_config"]
    assert tuple(int(x) for x in config["version_config"]["version"].split(".")) >= (1, 3, 1)
    assert (await admin_api.json("GET", "/config/version", 200))["version"] == "1.50.0"
    assert (await admin_api.json("GET", "/config/storage", 200))["import_support"] is False
    body = await admin_api.json("GET", "/config", 401, auth=False)
    assert "message" in body
    await admin_api.json("GET", "/config", 401, headers={"Authorization": "Bearer x"})
    await admin_api.json("GET", "/config", 401, headers={"Authorization": "Basic !!!"})
    wrong = admin_api.as_user(admin_api.key, "wrong-secret")
    assert (await wrong.json("GET", "/config", 401))["message"]
    me = await admin_api.json("GET", "/user", 200)
    assert me["user"]["id"] == "admin" and me["user"]["admin"] is True


async def test_unknown_route_and_method_are_json(admin_api: AdminApi) -> None:  # noqa: F811
    assert "message" in await admin_api.json("GET", "/no/such/thing", 404)
    assert "message" in await admin_api.json("PATCH", "/repositories", 405)
    body = await admin_api.json("POST", "/repositories", 400, data=b"{not json")
    assert "JSON" in body["message"]


# -- repositories -----------------------------------------------------------------------------


async def test_repositories(admin_api: AdminApi) -> None:  # noqa: F811
    a = admin_api
    for name in ("rep-a", "rep-b", "rep-c"):
        repo = await a.json(
            "POST",
            "/repositories",
            201,
            json={"name": name, "storage_namespace": f"local://{name}"},
        )
        assert repo["id"] == name and repo["default_branch"] == "main"
        assert isinstance(repo["creation_date"], int) and repo["storage_id"] == ""
    await a.json(
        "POST", "/repositories", 409, json={"name": "rep-a", "storage_namespace": "s3://x"}
    )
    await a.json("POST", "/repositories", 400, json={"name": "Bad_Name", "storage_namespace": ""})
    await a.json("POST", "/repositories", 400, json={"storage_namespace": "local://x"})
    first = await a.json("GET", "/repositories", 200, params={"amount": "2"})
    assert [r["id"] for r in first["results"]] == ["rep-a", "rep-b"]
    assert first["pagination"] == {
        "has_more": True,
        "next_offset": "rep-b",
        "results": 2,
        "max_per_page": 2,
    }
    rest = await a.json("GET", "/repositories", 200, params={"after": "rep-b", "amount": "2"})
    assert [r["id"] for r in rest["results"]] == ["rep-c"]
    assert rest["pagination"]["has_more"] is False and rest["pagination"]["next_offset"] == ""
    assert (await a.json("GET", "/repositories/rep-a", 200))["id"] == "rep-a"
    assert await a.json("GET", "/repositories/rep-a/metadata", 200) == {}
    await a.json("DELETE", "/repositories/rep-a", 204)
    assert "rep-a" in (await a.json("GET", "/repositories/rep-a", 404))["message"]


# -- branches ---------------------------------------------------------------------------------


async def test_branches(api: AdminApi) -> None:
    main = await api.json("GET", f"{R}/branches/main", 200)
    resp = await api.call("POST", f"{R}/branches", json={"name": "dev", "source": "main"})
    assert resp.status == 201
    assert await resp.text() == main["commit_id"]  # plain text commit id
    await api.json("POST", f"{R}/branches", 409, json={"name": "dev", "source": "main"})
    await api.json("POST", f"{R}/branches", 404, json={"name": "x1", "source": "nope"})
    for name in ("b1", "b2"):
        await api.json("POST", f"{R}/branches", 201, json={"name": name, "source": "main"})
    page = await api.json("GET", f"{R}/branches", 200, params={"amount": "2"})
    assert [b["id"] for b in page["results"]] == ["b1", "b2"]
    assert page["pagination"]["has_more"] and page["pagination"]["next_offset"] == "b2"
    page = await api.json(
        "GET", f"{R}/branches", 200, params={"after": "b2", "show_hidden": "True"}
    )
    assert [b["id"] for b in page["results"]] == ["dev", "main"]
    body = await api.json("DELETE", f"{R}/branches/main", 403)
    assert "default" in body["message"]
    await api.json("DELETE", f"{R}/branches/b1", 204)
    await api.json("GET", f"{R}/branches/b1", 404)


# -- object IO ----------------------------------------------------------------------------------


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def test_upload_raw_chunked_and_download_ranges(api: AdminApi) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    resp = await api.call(
        "POST",
        f"{R}/branches/main/objects",
        params={"path": "dir/big bin"},
        data=_chunks(data, 65536),  # no Content-Length: Transfer-Encoding chunked
        headers={"Content-Type": "application/x-test", "X-Lakefs-Meta-Color": "Blue"},
    )
    assert resp.status == 201, await resp.text()
    stats = await resp.json()
    assert stats["path"] == "dir/big bin" and stats["size_bytes"] == len(data)
    assert stats["metadata"] == {"color": "Blue"} and stats["content_type"] == "application/x-test"
    assert isinstance(stats["mtime"], int) and len(stats["checksum"]) == 32

    url, q = f"{R}/refs/main/objects", {"path": "dir/big bin", "presign": "False"}
    full = await api.call("GET", url, params=q)
    assert full.status == 200 and full.headers["Content-Length"] == str(len(data))
    assert await full.read() == data
    part = await api.call("GET", url, params=q, headers={"Range": "bytes=10-19"})
    assert part.status == 206 and await part.read() == data[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    tail = await api.call("GET", url, params=q, headers={"Range": "bytes=-5"})
    assert tail.status == 206 and await tail.read() == data[-5:]
    eof = await api.call("GET", url, params=q, headers={"Range": f"bytes={len(data)}-"})
    assert eof.status == 416 and eof.headers["Content-Range"] == f"bytes */{len(data)}"
    etag = full.headers["ETag"]
    cached = await api.call("GET", url, params=q, headers={"If-None-Match": etag})
    assert cached.status == 304
    head = await api.call("HEAD", url, params=q)
    assert head.status == 200 and head.headers["Content-Length"] == str(len(data))
    missing = await api.call("HEAD", url, params={"path": "nope"})
    assert missing.status == 404 and await missing.read() == b""
    assert "message" in await api.json("GET", url, 404, params={"path": "nope"})


async def test_upload_multipart_form(api: AdminApi) -> None:
    form = aiohttp.FormData()
    form.add_field("content", b"from a form", filename="f.txt", content_type="text/plain")
    stats = await api.json(
        "POST", f"{R}/branches/main/objects", 201, params={"path": "f.txt"}, data=form
    )
    assert stats["size_bytes"] == 11 and stats["content_type"] == "text/plain"
    assert await read(api, "main", "f.txt") == b"from a form"
    empty = aiohttp.FormData()
    empty.add_field("other", b"x", filename="x")
    await api.json("POST", f"{R}/branches/main/objects", 400, params={"path": "g"}, data=empty)


async def test_conditional_upload_and_write_to_tag(api: AdminApi) -> None:
    await put(api, "main", "a", b"1")
    await api.json(
        "POST",
        f"{R}/branches/main/objects",
        412,
        params={"path": "a"},
        data=b"2",
        headers={"If-None-Match": "*"},
    )
    assert await read(api, "main", "a") == b"1"
    await api.json("POST", f"{R}/branches/nobranch/objects", 404, params={"path": "a"}, data=b"")


async def test_stat_list_delete_copy(api: AdminApi) -> None:
    for path in ("a/1", "a/2", "b/1", "c"):
        await put(api, "main", path, path.encode())
    stat = await api.json("GET", f"{R}/refs/main/objects/stat", 200, params={"path": "a/1"})
    assert stat["path_type"] == "object" and stat["size_bytes"] == 3
    ls = await api.json("GET", f"{R}/refs/main/objects/ls", 200, params={"delimiter": "/"})
    rows = ls["results"]
    assert [r["path"] for r in rows] == ["a/", "b/", "c"]
    assert rows[0] == {
        "path": "a/",
        "path_type": "common_prefix",
        "physical_address": "",
        "checksum": "",
        "mtime": 0,
    }
    p1 = await api.json("GET", f"{R}/refs/main/objects/ls", 200, params={"amount": "2"})
    assert [r["path"] for r in p1["results"]] == ["a/1", "a/2"]
    assert p1["pagination"]["next_offset"] == "a/2" and p1["pagination"]["has_more"]
    p2 = await api.json(
        "GET", f"{R}/refs/main/objects/ls", 200, params={"after": "a/2", "amount": "2"}
    )
    assert [r["path"] for r in p2["results"]] == ["b/1", "c"]
    none = await api.json("GET", f"{R}/refs/main/objects/ls", 200, params={"prefix": "zzz/"})
    assert none["results"] == [] and none["pagination"]["has_more"] is False

    copied = await api.json(
        "POST",
        f"{R}/branches/main/objects/copy",
        201,
        params={"dest_path": "copy/c"},
        json={"src_path": "c"},
    )
    assert copied["checksum"] == stat_checksum(
        await api.json("GET", f"{R}/refs/main/objects/stat", 200, params={"path": "c"})
    )
    assert await read(api, "main", "copy/c") == b"c"

    await api.json("DELETE", f"{R}/branches/main/objects", 204, params={"path": "c"})
    await api.json("DELETE", f"{R}/branches/main/objects", 404, params={"path": "c"})
    result = await api.json(
        "POST",
        f"{R}/branches/main/objects/delete",
        200,
        json={"paths": ["a/1", "a/2", "never-existed"]},
    )
    assert result == {"errors": []}
    ls = await api.json("GET", f"{R}/refs/main/objects/ls", 200)
    assert [r["path"] for r in ls["results"]] == ["b/1", "copy/c"]
    await api.json("POST", f"{R}/branches/main/objects/delete", 400, json={"paths": "a"})


def stat_checksum(stat: dict[str, Any]) -> str:
    return str(stat["checksum"])


# -- commits, diff, log ------------------------------------------------------------------------


async def test_commit_diff_and_partial_commit(api: AdminApi) -> None:
    await put(api, "main", "keep/1", b"1")
    await put(api, "main", "later", b"2")
    diff = await api.json("GET", f"{R}/branches/main/diff", 200)
    assert [(d["path"], d["type"]) for d in diff["results"]] == [
        ("keep/1", "added"),
        ("later", "added"),
    ]
    c = await commit(api, "main", "only keep/", metadata={"k": "v"}, paths=["keep/"])
    assert c["message"] == "only keep/" and c["metadata"] == {"k": "v"}
    assert c["committer"] == "admin" and isinstance(c["creation_date"], int)
    assert len(c["parents"]) == 1
    diff = await api.json("GET", f"{R}/branches/main/diff", 200)
    assert [d["path"] for d in diff["results"]] == ["later"]
    await commit(api, "main", "rest")
    body = await api.json("POST", f"{R}/branches/main/commits", 400, json={"message": "empty"})
    assert body["message"]
    dated = await commit(api, "main", "empty ok", allow_empty=True, date=1700000000)
    assert dated["creation_date"] == 1700000000


async def test_log_by_path_and_ref_expressions(api: AdminApi) -> None:
    await put(api, "main", "a", b"1")
    c1 = await commit(api, "main", "a1")
    await put(api, "main", "b", b"1")
    c2 = await commit(api, "main", "b1")
    await put(api, "main", "a", b"2")
    c3 = await commit(api, "main", "a2")
    log = await api.json("GET", f"{R}/refs/main/commits", 200, params={"amount": "2"})
    assert [c["id"] for c in log["results"]] == [c3["id"], c2["id"]]
    assert log["pagination"]["has_more"] and log["pagination"]["next_offset"] == c2["id"]
    rest = await api.json(
        "GET", f"{R}/refs/main/commits", 200, params={"after": c2["id"], "amount": "2"}
    )
    assert [c["id"] for c in rest["results"]] == [c1["id"], log_root(rest)]
    by_path = await api.json("GET", f"{R}/refs/main/commits", 200, params={"objects": "a"})
    assert [c["message"] for c in by_path["results"]] == ["a2", "a1"]
    by_prefix = await api.json("GET", f"{R}/refs/main/commits", 200, params={"prefixes": "b"})
    assert [c["message"] for c in by_prefix["results"]] == ["b1"]
    assert (await api.json("GET", f"{R}/commits/main%7E1", 200))["id"] == c2["id"]
    assert (await api.json("GET", f"{R}/commits/{c1['id'][:12]}", 200))["id"] == c1["id"]
    await put(api, "main", "staged", b"x")
    # main@ is the committed state: the staged object is not there.
    await api.json("GET", f"{R}/refs/main%40/objects/stat", 404, params={"path": "staged"})
    await api.json("GET", f"{R}/refs/main/objects/stat", 200, params={"path": "staged"})
    await api.json("GET", f"{R}/commits/nope", 404)


def log_root(page: dict[str, Any]) -> str:
    return str(page["results"][-1]["id"])


async def test_ref_diff_two_and_three_dot(api: AdminApi) -> None:
    await put(api, "main", "base", b"b")
    await commit(api, "main", "base")
    await api.json("POST", f"{R}/branches", 201, json={"name": "dev", "source": "main"})
    await put(api, "dev", "on-dev", b"d")
    await commit(api, "dev", "dev")
    await put(api, "main", "on-main", b"m")
    await commit(api, "main", "main")
    three = await api.json("GET", f"{R}/refs/main/diff/dev", 200)
    assert [(d["path"], d["type"]) for d in three["results"]] == [("on-dev", "added")]
    two = await api.json(
        "GET",
        f"{R}/refs/main/diff/dev",
        200,
        params={"type": "two_dot", "include_right_stats": "True"},
    )
    assert [(d["path"], d["type"]) for d in two["results"]] == [
        ("on-dev", "added"),
        ("on-main", "removed"),
    ]
    assert "right" in two["results"][0] and "right" not in two["results"][1]
    await api.json("GET", f"{R}/refs/main/diff/dev", 400, params={"type": "four_dot"})


# -- merge --------------------------------------------------------------------------------------


async def _diverge(api: AdminApi, paths: list[str]) -> None:
    for p in paths:
        await put(api, "main", p, b"base")
    await commit(api, "main", "base")
    await api.json("POST", f"{R}/branches", 201, json={"name": "dev", "source": "main"})
    for p in paths:
        await put(api, "dev", p, b"dev")
    await commit(api, "dev", "dev")
    for p in paths:
        await put(api, "main", p, b"main")
    await commit(api, "main", "main")


async def test_merge_conflict_reports_every_path(api: AdminApi) -> None:
    paths = ["data/a", "data/b", "logs/c"]
    await _diverge(api, paths)
    body = await api.json("POST", f"{R}/refs/dev/merge/main", 409, json={})
    assert body["reference"] == "" and body["message"]
    conflicts = body["conflicts"]
    assert [c["path"] for c in conflicts] == paths
    first = conflicts[0]
    assert first["type"] == "both-changed"
    assert {"base", "source", "destination"} <= set(first)
    assert first["source"]["checksum"] != first["destination"]["checksum"]
    # Resolve per glob: data/* from source, the rest from dest.
    res = await api.json(
        "POST",
        f"{R}/refs/dev/merge/main",
        200,
        json={
            "message": "resolved",
            "resolutions": [
                {"pattern": "data/*", "side": "source"},
                {"pattern": "*", "side": "dest"},
            ],
        },
    )
    assert len(res["reference"]) == 64
    assert await read(api, "main", "data/a") == b"dev"
    assert await read(api, "main", "logs/c") == b"main"
    merge_commit = await api.json("GET", f"{R}/commits/main", 200)
    assert merge_commit["message"] == "resolved" and len(merge_commit["parents"]) == 2
    await api.json("POST", f"{R}/refs/dev/merge/main", 400, json={})  # already merged
    await api.json("POST", f"{R}/refs/dev/merge/main", 400, json={"strategy": "ours"})
    await api.json(
        "POST",
        f"{R}/refs/dev/merge/main",
        400,
        json={"resolutions": [{"pattern": "*", "side": "left"}]},
    )


async def test_merge_strategy_and_dirty_destination(api: AdminApi) -> None:
    await _diverge(api, ["f"])
    await put(api, "main", "dirty", b"x")
    body = await api.json("POST", f"{R}/refs/dev/merge/main", 400, json={})
    assert "uncommitted" in body["message"]
    await api.json("PUT", f"{R}/branches/main", 204, json={"type": "reset"})
    await api.json("POST", f"{R}/refs/dev/merge/main", 200, json={"strategy": "dest-wins"})
    assert await read(api, "main", "f") == b"main"


# -- revert, cherry-pick, reset, tags -----------------------------------------------------------


async def test_revert_cherry_pick_reset(api: AdminApi) -> None:
    await put(api, "main", "a", b"1")
    await commit(api, "main", "one")
    await put(api, "main", "a", b"2")
    two = await commit(api, "main", "two")
    await put(api, "main", "dirty", b"x")
    await api.json(
        "POST", f"{R}/branches/main/revert", 400, json={"ref": two["id"], "parent_number": 0}
    )
    await api.json("PUT", f"{R}/branches/main", 204, json={"type": "object", "path": "dirty"})
    await api.json(
        "POST", f"{R}/branches/main/revert", 204, json={"ref": two["id"], "parent_number": 0}
    )
    assert await read(api, "main", "a") == b"1"
    await api.json("POST", f"{R}/branches", 201, json={"name": "dev", "source": "main~2"})
    picked = await api.json(
        "POST", f"{R}/branches/dev/cherry-pick", 201, json={"ref": two["id"], "parent_number": 0}
    )
    assert picked["parents"] and await read(api, "dev", "a") == b"2"
    await put(api, "main", "p/1", b"1")
    await put(api, "main", "p/2", b"2")
    await put(api, "main", "q", b"3")
    await api.json("PUT", f"{R}/branches/main", 204, json={"type": "common_prefix", "path": "p/"})
    diff = await api.json("GET", f"{R}/branches/main/diff", 200)
    assert [d["path"] for d in diff["results"]] == ["q"]
    await api.json("PUT", f"{R}/branches/main", 400, json={"type": "everything"})
    await api.json("PUT", f"{R}/branches/main", 400, json={"type": "object"})
    await api.json("PUT", f"{R}/branches/main/hard_reset", 204, params={"ref": "main~2"})
    assert (await api.json("GET", f"{R}/refs/main/commits", 200))["results"][0]["message"] == "one"


async def test_tags(api: AdminApi) -> None:
    head = await api.json("GET", f"{R}/branches/main", 200)
    tag = await api.json("POST", f"{R}/tags", 201, json={"id": "v1", "ref": "main"})
    assert tag == {"id": "v1", "commit_id": head["commit_id"]}
    await api.json("POST", f"{R}/tags", 409, json={"id": "v1", "ref": "main"})
    await api.json("POST", f"{R}/tags", 404, json={"id": "v2", "ref": "nope"})
    assert (await api.json("GET", f"{R}/tags/v1", 200))["commit_id"] == head["commit_id"]
    assert (await api.json("GET", f"{R}/commits/v1", 200))["id"] == head["commit_id"]
    tags = await api.json("GET", f"{R}/tags", 200)
    assert [t["id"] for t in tags["results"]] == ["v1"]
    body = await api.json("POST", f"{R}/branches/v1/objects", 400, params={"path": "x"}, data=b"x")
    assert "read-only" in body["message"]
    await api.json("DELETE", f"{R}/tags/v1", 204)
    await api.json("DELETE", f"{R}/tags/v1", 404)


# -- branch protection --------------------------------------------------------------------------


async def test_protected_branches_accept_only_merges(api: AdminApi) -> None:
    await put(api, "main", "a", b"1")
    await commit(api, "main", "seed")
    await api.json("POST", f"{R}/branches", 201, json={"name": "dev", "source": "main"})
    rules = [{"pattern": "main"}, {"pattern": "release-*"}]
    await api.json("PUT", f"{R}/settings/branch_protection", 204, json=rules)
    assert await api.json("GET", f"{R}/settings/branch_protection", 200) == rules
    body = await api.json(
        "POST", f"{R}/branches/main/objects", 403, params={"path": "b"}, data=b"x"
    )
    assert "protected" in body["message"]
    await api.json("DELETE", f"{R}/branches/main/objects", 403, params={"path": "a"})
    await api.json("POST", f"{R}/branches/main/commits", 403, json={"message": "x"})
    await api.json("PUT", f"{R}/branches/main", 403, json={"type": "reset"})
    await api.json("PUT", f"{R}/branches/main/hard_reset", 403, params={"ref": "main~1"})
    await put(api, "dev", "b", b"2")
    await commit(api, "dev", "on dev")
    await api.json("POST", f"{R}/refs/dev/merge/main", 200, json={})
    assert await read(api, "main", "b") == b"2"
    await api.json("POST", f"{R}/branches", 201, json={"name": "release-1", "source": "main"})
    await api.json("POST", f"{R}/branches/release-1/objects", 403, params={"path": "c"}, data=b"x")
    await api.json("PUT", f"{R}/settings/branch_protection", 400, json={"pattern": "main"})
    await api.json("PUT", f"{R}/settings/branch_protection", 400, json=[{"pattern": ""}])
    await api.json("PUT", f"{R}/settings/branch_protection", 204, json=[])
    await put(api, "main", "c", b"now allowed")


async def test_internal_errors_are_json_500(api: AdminApi, monkeypatch: pytest.MonkeyPatch) -> None:
    async def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(api.lake, "get_repository", boom)
    resp = await api.call("GET", R)
    assert resp.status == 500
    assert json.loads(await resp.text()) == {"message": "internal server error"}


async def test_revert_merge_commit_needs_parent_number(api: AdminApi) -> None:
    await put(api, "main", "a", b"1")
    await commit(api, "main")
    await api.json("POST", f"{R}/branches", 201, json={"name": "dev", "source": "main"})
    await put(api, "dev", "b", b"1")
    await commit(api, "dev")
    await put(api, "main", "c", b"1")
    await commit(api, "main")
    await api.json("POST", f"{R}/refs/dev/merge/main", 200, json={})
    body = await api.json(
        "POST", f"{R}/branches/main/revert", 409, json={"ref": "main", "parent_number": 0}
    )
    assert "parent_number" in body["message"]
    await api.json(
        "POST", f"{R}/branches/main/revert", 204, json={"ref": "main", "parent_number": 1}
    )
    await api.json("GET", f"{R}/refs/main/objects/stat", 404, params={"path": "b"})


async def test_upload_never_reads_whole_body(
    api: AdminApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("an upload must stream its body, never read it whole")

    from aiohttp import web_request

    for name in ("read", "text", "json", "post"):
        monkeypatch.setattr(web_request.BaseRequest, name, forbidden)
    data = b"z" * (3 << 20)
    stats = await api.json(
        "POST", f"{R}/branches/main/objects", 201, params={"path": "s"}, data=_chunks(data, 1 << 16)
    )
    assert stats["size_bytes"] == len(data)
    form = aiohttp.FormData()
    form.add_field("content", data, filename="s2")
    await api.json("POST", f"{R}/branches/main/objects", 201, params={"path": "s2"}, data=form)
    monkeypatch.undo()
    assert await read(api, "main", "s2") == data


async def test_malformed_chunked_body_is_400(api: AdminApi) -> None:
    from tests.functional.admin_conftest import ADMIN_KEY, ADMIN_SECRET, basic

    reader, writer = await asyncio.open_connection("127.0.0.1", api.client.port)
    request = (
        f"POST /api/v1{R}/branches/main/objects?path=bad HTTP/1.1\r\n"
        f"Host: 127.0.0.1\r\nAuthorization: {basic(ADMIN_KEY, ADMIN_SECRET)}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZ\r\n"
    )
    writer.write(request.encode())
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), timeout=30)
    writer.close()
    assert b" 400 " in status_line
    await api.json("GET", f"{R}/refs/main/objects/stat", 404, params={"path": "bad"})
