"""The admin API's routes in-process over a real Lake: config and auth, repositories,
branches, streamed object IO, listing, errors."""

# ruff: noqa: F811  (pytest fixtures are imported by name and then requested as arguments)

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.functional.admin_conftest import (  # noqa: F401
    AdminApi,
    R,
    admin_api,
    api,
    commit,
    put,
    read,
)

# -- config, health, auth ---------------------------------------------------------------------


async def test_health_config_and_authentication(admin_api: AdminApi) -> None:
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


async def test_unknown_route_and_method_are_json(admin_api: AdminApi) -> None:
    assert "message" in await admin_api.json("GET", "/no/such/thing", 404)
    assert "message" in await admin_api.json("PATCH", "/repositories", 405)
    body = await admin_api.json("POST", "/repositories", 400, data=b"{not json")
    assert "JSON" in body["message"]


# -- repositories -----------------------------------------------------------------------------


async def test_repositories(admin_api: AdminApi) -> None:
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


async def test_internal_errors_are_json_500(api: AdminApi, monkeypatch: pytest.MonkeyPatch) -> None:
    async def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(api.lake, "get_repository", boom)
    resp = await api.call("GET", R)
    assert resp.status == 500
    assert json.loads(await resp.text()) == {"message": "internal server error"}


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


async def test_presigned_staging_flow(api: AdminApi) -> None:
    backing = f"{R}/branches/main/staging/backing"
    loc = await api.json("GET", backing, 200, params={"path": "p/x", "presign": "True"})
    assert loc["physical_address"].startswith("weir://staging/")
    assert isinstance(loc["presigned_url_expiry"], int)
    url = loc["presigned_url"]
    assert "/api/v1/staging/uploads/" in url
    resp = await api.client.session.put(url, data=b"staged bytes")  # no credentials
    assert resp.status == 200
    etag = resp.headers["ETag"].strip('"')
    # Uploaded but not linked: invisible.
    await api.json("GET", f"{R}/refs/main/objects/stat", 404, params={"path": "p/x"})
    meta = {
        "staging": loc,
        "checksum": etag,
        "size_bytes": 12,
        "content_type": "text/plain",
        "user_metadata": {"K": "v"},
    }
    await api.json("PUT", backing, 404, params={"path": "other"}, json=meta)  # wrong path
    stats = await api.json("PUT", backing, 200, params={"path": "p/x"}, json=meta)
    assert stats["size_bytes"] == 12 and stats["metadata"] == {"k": "v"}
    assert await read(api, "main", "p/x") == b"staged bytes"
    await api.json("PUT", backing, 404, params={"path": "p/x"}, json=meta)  # one time only
    resp = await api.client.session.put(url, data=b"again")
    assert resp.status == 404
    # A wrong checksum or an existing path (If-None-Match: *) is refused at link time.
    loc2 = await api.json("GET", backing, 200, params={"path": "p/x", "presign": "True"})
    await api.client.session.put(loc2["presigned_url"], data=b"other")
    bad = {**meta, "staging": loc2, "checksum": "0" * 32}
    await api.json("PUT", backing, 412, params={"path": "p/x"}, json=bad)
    loc3 = await api.json("GET", backing, 200, params={"path": "p/x", "presign": "True"})
    await api.client.session.put(loc3["presigned_url"], data=b"other")
    await api.json(
        "PUT",
        backing,
        412,
        params={"path": "p/x"},
        headers={"If-None-Match": "*"},
        json={**meta, "staging": loc3, "checksum": ""},
    )
    await api.json("GET", f"{R}/branches/nope/staging/backing", 404, params={"path": "a"})
