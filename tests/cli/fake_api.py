"""A fake Weir admin API for the CLI's golden tests: canned, lakeFS-shaped answers.

It implements just enough state (repositories, branches, tags, a three-commit history, objects,
users, grants, protection rules) for every CLI command, records each request for assertions,
and serves on a free loopback port from a background thread so synchronous CLI code can call
it. It never touches the real engine, so CLI tests stay independent of it.

Pagination is capped at two items per page, so every list exercises the client's paging loop.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

KEY, SECRET = "AKIATESTKEY", "test-secret"
T0 = 1793523600  # 2026-11-01T09:00:00Z
PAGE = 2
JSON_BODY = web.RequestKey("json_body", Any)
C1, C2, C3 = "c1" + "0" * 62, "c2" + "1" * 62, "c3" + "2" * 62
MERGED = "c4" + "3" * 62


def _commit(
    cid: str, parents: list[str], msg: str, ts: int, meta: dict[str, str]
) -> dict[str, Any]:
    return {
        "id": cid,
        "parents": parents,
        "committer": "admin",
        "message": msg,
        "creation_date": ts,
        "meta_range_id": "",
        "metadata": meta,
        "generation": len(parents) + 1,
        "version": 1,
    }


def _stats(path: str, data: bytes, ts: int, ctype: str = "text/csv") -> dict[str, Any]:
    return {
        "path": path,
        "path_type": "object",
        "physical_address": f"local://blobs/{hashlib.md5(data).hexdigest()}",
        "checksum": hashlib.md5(data).hexdigest(),
        "mtime": ts,
        "size_bytes": len(data),
        "content_type": ctype,
        "metadata": {},
    }


@dataclass
class State:
    repos: dict[str, dict[str, Any]] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    commits: dict[str, dict[str, Any]] = field(default_factory=dict)
    objects: dict[str, dict[str, tuple[bytes, dict[str, Any]]]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    grants: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    protection: list[str] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)


def initial_state() -> State:
    s = State()
    s.repos["analytics"] = {
        "id": "analytics",
        "creation_date": T0,
        "default_branch": "main",
        "storage_namespace": "local://analytics",
        "storage_id": "",
        "read_only": False,
    }
    s.repos["web-logs"] = {**s.repos["analytics"], "id": "web-logs", "creation_date": T0 + 3600}
    s.repos["zeta"] = {**s.repos["analytics"], "id": "zeta", "default_branch": "trunk"}
    s.commits[C1] = _commit(C1, [], "Repository created", T0, {})
    s.commits[C2] = _commit(C2, [C1], "Load October data", T0 + 60, {"job": "etl-42"})
    s.commits[C3] = _commit(C3, [C2, C1], "Merge 'dev' into 'main'", T0 + 120, {})
    s.branches = {"main": C3, "dev": C2, "conflicting": C2, "feature-x": C1}
    s.tags = {"v1.0": C2}
    main = {
        "README.md": b"# analytics\n",
        "data/a.csv": b"id,value\n1,2\n",
        "data/b.csv": b"x" * 3000,
        "data/2026/10/part-0.csv": b"y" * (3 << 20),
    }
    s.objects["main"] = {p: (d, _stats(p, d, T0 + 60)) for p, d in main.items()}
    s.objects["dev"] = dict(s.objects["main"])
    s.users = {
        "admin": {"id": "admin", "creation_date": T0, "admin": True},
        "ana": {"id": "ana", "creation_date": T0 + 86400, "admin": False},
    }
    s.grants = {"ana": [{"id": "g1", "repository": "analytics", "branch": "*", "action": "read"}]}
    s.protection = ["main"]
    return s


def _err(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"message": message, **extra}, status=status)


def _page(items: list[dict[str, Any]], key: str, request: web.Request) -> web.Response:
    after = request.query.get("after", "")
    amount = min(int(request.query.get("amount", "100")), PAGE)
    if after:
        keys = [str(i[key]) for i in items]
        start = keys.index(after) + 1 if after in keys else len(items)
        items = items[start:]
    chunk, more = items[:amount], len(items) > amount
    pagination = {
        "has_more": more,
        "next_offset": str(chunk[-1][key]) if more else "",
        "results": len(chunk),
        "max_per_page": PAGE,
    }
    return web.json_response({"pagination": pagination, "results": chunk})


class FakeApi:
    """The fake server. ``state`` may be inspected or changed by tests between commands."""

    def __init__(self) -> None:
        self.state = initial_state()
        self.endpoint = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    def reset(self) -> None:
        self.state = initial_state()

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> str:
        self._thread = threading.Thread(target=self._serve, name="fake-weir-api", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout=30):
            raise RuntimeError("fake API did not start")
        return self.endpoint

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        runner = web.AppRunner(self.app(), shutdown_timeout=1.0)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.endpoint = f"http://127.0.0.1:{port}"
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.close()

    # -- app ----------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        r = app.router
        b = "/api/v1"
        repo = b + "/repositories/{repo}"
        r.add_get(b + "/config", self.config)
        r.add_get(b + "/user", self.current_user)
        r.add_get(b + "/repositories", self.list_repos)
        r.add_post(b + "/repositories", self.create_repo)
        r.add_get(repo, self.get_repo)
        r.add_delete(repo, self.delete_repo)
        r.add_get(repo + "/branches", self.list_branches)
        r.add_post(repo + "/branches", self.create_branch)
        r.add_delete(repo + "/branches/{branch}", self.ok204)
        r.add_put(repo + "/branches/{branch}", self.ok204)
        r.add_put(repo + "/branches/{branch}/hard_reset", self.ok204)
        r.add_get(repo + "/settings/branch_protection", self.get_protection)
        r.add_put(repo + "/settings/branch_protection", self.put_protection)
        r.add_get(repo + "/tags", self.list_tags)
        r.add_post(repo + "/tags", self.create_tag)
        r.add_delete(repo + "/tags/{tag}", self.ok204)
        r.add_post(repo + "/branches/{branch}/commits", self.commit)
        r.add_get(repo + "/commits/{ref}", self.get_commit)
        r.add_get(repo + "/refs/{ref}/commits", self.log)
        r.add_get(repo + "/refs/{left}/diff/{right}", self.diff)
        r.add_get(repo + "/branches/{branch}/diff", self.diff)
        r.add_post(repo + "/refs/{source}/merge/{dest}", self.merge)
        r.add_post(repo + "/branches/{branch}/revert", self.revert)
        r.add_post(repo + "/branches/{branch}/cherry-pick", self.cherry_pick)
        r.add_get(repo + "/refs/{ref}/objects/ls", self.ls)
        r.add_get(repo + "/refs/{ref}/objects", self.get_object)
        r.add_post(repo + "/branches/{branch}/objects", self.upload)
        r.add_delete(repo + "/branches/{branch}/objects", self.ok204)
        r.add_get(b + "/auth/users", self.list_users)
        r.add_post(b + "/auth/users", self.create_user)
        r.add_delete(b + "/auth/users/{user}", self.ok204)
        r.add_post(b + "/auth/users/{user}/credentials", self.create_key)
        r.add_delete(b + "/auth/users/{user}/credentials/{key}", self.ok204)
        r.add_get(b + "/auth/users/{user}/grants", self.list_grants)
        r.add_post(b + "/auth/users/{user}/grants", self.add_grant)
        r.add_delete(b + "/auth/users/{user}/grants/{grant}", self.delete_grant)
        r.add_get(b + "/auth/users/{user}/credentials", self.list_keys)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body: Any = None
        if request.content_type == "application/json" and request.can_read_body:
            body = await request.json()
        self.state.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "raw_path": request.raw_path,
                "query": {k: request.query.getall(k) for k in request.query},
                "headers": dict(request.headers),
                "json": body,
            }
        )
        expected = "Basic " + base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return _err(401, "invalid credentials: unknown access key or wrong secret")
        repo = request.match_info.get("repo")
        if repo is not None and repo not in self.state.repos and request.method != "POST":
            return _err(404, f"repository '{repo}' not found")
        request[JSON_BODY] = body
        return await handler(request)  # type: ignore[no-any-return]

    async def ok204(self, request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def config(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"version_config": {"version": "1.50.0"}, "storage_config": {"pre_sign_support": False}}
        )

    async def current_user(self, request: web.Request) -> web.Response:
        user = {"id": "admin", "creation_date": 0, "admin": True}
        return web.json_response({"user": user, "access_key_id": KEY})

    async def list_repos(self, request: web.Request) -> web.Response:
        prefix = request.query.get("prefix", "")
        items = [v for k, v in sorted(self.state.repos.items()) if k.startswith(prefix)]
        return _page(items, "id", request)

    async def create_repo(self, request: web.Request) -> web.Response:
        body = request[JSON_BODY]
        if body["name"] in self.state.repos:
            return _err(409, f"repository '{body['name']}' already exists")
        repo = {
            "id": body["name"],
            "creation_date": T0,
            "default_branch": body["default_branch"],
            "storage_namespace": body["storage_namespace"],
        }
        self.state.repos[body["name"]] = repo
        return web.json_response(repo, status=201)

    async def get_repo(self, request: web.Request) -> web.Response:
        return web.json_response(self.state.repos[request.match_info["repo"]])

    async def delete_repo(self, request: web.Request) -> web.Response:
        del self.state.repos[request.match_info["repo"]]
        return web.Response(status=204)

    async def list_branches(self, request: web.Request) -> web.Response:
        items = [{"id": k, "commit_id": v} for k, v in sorted(self.state.branches.items())]
        return _page(items, "id", request)

    async def create_branch(self, request: web.Request) -> web.Response:
        body = request[JSON_BODY]
        if body["name"] in self.state.branches:
            return _err(409, f"branch '{body['name']}' already exists")
        source = self.state.branches.get(body["source"]) or self.state.tags.get(body["source"])
        if source is None:
            return _err(404, f"ref '{body['source']}' not found")
        self.state.branches[body["name"]] = source
        return web.Response(status=201, text=source, content_type="text/html")

    async def get_protection(self, request: web.Request) -> web.Response:
        rules = [{"pattern": p} for p in self.state.protection]
        etag = hashlib.md5(json.dumps(rules).encode()).hexdigest()
        return web.json_response(rules, headers={"ETag": f'"{etag}"'})

    async def put_protection(self, request: web.Request) -> web.Response:
        self.state.protection = [r["pattern"] for r in request[JSON_BODY]]
        return web.Response(status=204)

    async def list_tags(self, request: web.Request) -> web.Response:
        items = [{"id": k, "commit_id": v} for k, v in sorted(self.state.tags.items())]
        return _page(items, "id", request)

    async def create_tag(self, request: web.Request) -> web.Response:
        body = request[JSON_BODY]
        commit = self.state.branches.get(body["ref"], body["ref"])
        self.state.tags[body["id"]] = commit
        return web.json_response({"id": body["id"], "commit_id": commit}, status=201)

    async def commit(self, request: web.Request) -> web.Response:
        body = request[JSON_BODY]
        branch = request.match_info["branch"]
        if branch in self.state.protection:
            return _err(403, f"branch '{branch}' is protected: only merges are accepted")
        new = _commit(
            "c5" + "4" * 62,
            [self.state.branches[branch]],
            body["message"],
            T0 + 300,
            body.get("metadata") or {},
        )
        return web.json_response(new, status=201)

    async def get_commit(self, request: web.Request) -> web.Response:
        ref = request.match_info["ref"]
        cid = self.state.branches.get(ref) or self.state.tags.get(ref) or ref
        if ref == "main~1":
            cid = C2
        matches = [c for c in self.state.commits if c.startswith(cid)]
        if not matches:
            return _err(404, f"ref '{ref}' not found")
        return web.json_response(self.state.commits[matches[0]])

    async def log(self, request: web.Request) -> web.Response:
        head = self.state.branches.get(request.match_info["ref"], C3)
        order = [C3, C2, C1]
        items = [self.state.commits[c] for c in order[order.index(head) :]]
        if request.query.getall("prefixes", []) or request.query.getall("objects", []):
            items = [self.state.commits[C2]]
        return _page(items, "id", request)

    async def diff(self, request: web.Request) -> web.Response:
        if "branch" in request.match_info:
            items = [
                {"type": "added", "path": "staged/new.csv", "path_type": "object", "size_bytes": 42}
            ]
        else:
            items = [
                {"type": "added", "path": "data/c.csv", "path_type": "object", "size_bytes": 10},
                {
                    "type": "changed",
                    "path": "data/b.csv",
                    "path_type": "object",
                    "size_bytes": 2048,
                },
                {"type": "removed", "path": "old/x.bin", "path_type": "object"},
            ]
            if request.query.get("type") == "two_dot":
                items.append({"type": "removed", "path": "two-dot-only.txt", "path_type": "object"})
        prefix = request.query.get("prefix", "")
        return _page([i for i in items if i["path"].startswith(prefix)], "path", request)

    async def merge(self, request: web.Request) -> web.Response:
        body = request[JSON_BODY] or {}
        if request.match_info["source"] == "conflicting" and not (
            body.get("strategy") or body.get("resolutions")
        ):
            a = _stats("data/b.csv", b"base", T0)
            conflicts = [
                {
                    "path": "data/b.csv",
                    "type": "both-changed",
                    "base": a,
                    "source": _stats("data/b.csv", b"source side", T0),
                    "destination": _stats("data/b.csv", b"dest", T0),
                },
                {
                    "path": "reports/q3.pdf",
                    "type": "changed-deleted",
                    "base": a,
                    "source": _stats("reports/q3.pdf", b"z" * 5000, T0),
                    "destination": None,
                },
            ]
            return _err(409, "merge conflict", reference="", conflicts=conflicts)
        return web.json_response({"reference": MERGED})

    async def revert(self, request: web.Request) -> web.Response:
        if request[JSON_BODY]["ref"] == "conflicting":
            return _err(
                409,
                "conflict",
                conflicts=[
                    {
                        "path": "data/a.csv",
                        "type": "both-changed",
                        "base": None,
                        "source": None,
                        "destination": None,
                    }
                ],
            )
        return web.Response(status=204)

    async def cherry_pick(self, request: web.Request) -> web.Response:
        c = _commit("c6" + "5" * 62, [C3], "Load October data", T0 + 400, {})
        return web.json_response(c, status=201)

    async def ls(self, request: web.Request) -> web.Response:
        objects = self.state.objects.get(request.match_info["ref"], {})
        prefix = request.query.get("prefix", "")
        delim = request.query.get("delimiter", "")
        rows: dict[str, dict[str, Any]] = {}
        for path, (_, stats) in sorted(objects.items()):
            if not path.startswith(prefix):
                continue
            rest = path[len(prefix) :]
            if delim and delim in rest:
                cp = prefix + rest.split(delim)[0] + delim
                rows[cp] = {
                    "path": cp,
                    "path_type": "common_prefix",
                    "physical_address": "",
                    "checksum": "",
                    "mtime": 0,
                }
            else:
                rows[path] = stats
        return _page([rows[k] for k in sorted(rows)], "path", request)

    async def get_object(self, request: web.Request) -> web.StreamResponse:
        objects = self.state.objects.get(request.match_info["ref"], {})
        path = request.query.get("path", "")
        if path not in objects:
            return _err(404, f"object '{path}' not found")
        data, stats = objects[path]
        resp = web.StreamResponse(headers={"ETag": f'"{stats["checksum"]}"'})
        resp.content_type = stats["content_type"]
        resp.content_length = len(data)
        await resp.prepare(request)
        for i in range(0, len(data), 256 << 10):
            await resp.write(data[i : i + (256 << 10)])
        await resp.write_eof()
        return resp

    async def upload(self, request: web.Request) -> web.Response:
        branch = request.match_info["branch"]
        path = request.query["path"]
        buf = bytearray()
        async for chunk in request.content.iter_chunked(1 << 16):
            buf += chunk
        ctype = request.headers.get("Content-Type", "application/octet-stream")
        stats = _stats(path, bytes(buf), T0 + 500, ctype)
        stats["metadata"] = {
            k[len("x-lakefs-meta-") :].lower(): v
            for k, v in request.headers.items()
            if k.lower().startswith("x-lakefs-meta-")
        }
        self.state.objects.setdefault(branch, {})[path] = (bytes(buf), stats)
        return web.json_response(stats, status=201)

    async def list_users(self, request: web.Request) -> web.Response:
        return _page([self.state.users[k] for k in sorted(self.state.users)], "id", request)

    async def create_user(self, request: web.Request) -> web.Response:
        body = request[JSON_BODY]
        user = {"id": body["id"], "creation_date": T0, "admin": bool(body.get("admin"))}
        self.state.users[body["id"]] = user
        return web.json_response(user, status=201)

    async def create_key(self, request: web.Request) -> web.Response:
        key = {"access_key_id": "AKIANEWKEY0001", "secret_access_key": "shown-once-secret"}
        return web.json_response(key, status=201)

    async def list_grants(self, request: web.Request) -> web.Response:
        grants = self.state.grants.get(request.match_info["user"], [])
        return web.json_response({"results": copy.deepcopy(grants)})

    async def add_grant(self, request: web.Request) -> web.Response:
        grant = {"id": f"g{len(self.state.requests)}", **request[JSON_BODY]}
        self.state.grants.setdefault(request.match_info["user"], []).append(grant)
        return web.json_response(grant, status=201)

    async def delete_grant(self, request: web.Request) -> web.Response:
        grants = self.state.grants.get(request.match_info["user"], [])
        keep = [g for g in grants if g["id"] != request.match_info["grant"]]
        if len(keep) == len(grants):
            return _err(404, f"grant '{request.match_info['grant']}' not found")
        self.state.grants[request.match_info["user"]] = keep
        return web.Response(status=204)

    async def list_keys(self, request: web.Request) -> web.Response:
        keys = [
            {"access_key_id": "AKIAANA0001", "creation_date": T0},
            {"access_key_id": "AKIAANA0002", "creation_date": T0 + 60},
            {"access_key_id": "AKIAANA0003", "creation_date": T0 + 120},
        ]
        return _page(keys, "access_key_id", request)
