"""The admin API's history routes in-process over a real Lake: commit (also of a subset of
paths), diffs, log (also by path), merge with the full conflict report and per-glob
resolutions, revert, cherry-pick, reset, tags and branch protection."""

# ruff: noqa: F811  (pytest fixtures are imported by name and then requested as arguments)

from __future__ import annotations

from typing import Any

from tests.functional.admin_conftest import (  # noqa: F401
    AdminApi,
    R,
    admin_api,
    api,
    commit,
    put,
    read,
)

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
