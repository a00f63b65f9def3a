"""Repositories, branches, tags and ref expressions through the facade."""

from __future__ import annotations

import pytest

from gateway.core import codec, errors, keys
from gateway.core.committing import fresh_branch
from gateway.core.lake import Lake
from gateway.core.model import RefKind
from gateway.core.ports import KVWriter
from gateway.core.view import View
from tests.unit.lake_helpers import memory_lake, put, read


@pytest.fixture
async def lake() -> Lake:
    lk = memory_lake()
    await lk.create_repository("repo")
    return lk


async def test_create_repository_makes_default_branch_at_root_commit(lake: Lake) -> None:
    repo = await lake.get_repository("repo")
    assert repo.default_branch == "main"
    main = await lake.get_branch("repo", "main")
    root = await lake.get_commit("repo", "main")
    assert main.head == root.id and root.parents == () and root.generation == 1


async def test_repository_errors(lake: Lake) -> None:
    with pytest.raises(errors.RepositoryExists):
        await lake.create_repository("repo")
    with pytest.raises(errors.InvalidName):
        await lake.create_repository("Bad_Name")
    with pytest.raises(errors.InvalidName):
        await lake.create_repository("api")
    with pytest.raises(errors.RepositoryNotFound):
        await lake.get_repository("nope")
    with pytest.raises(errors.RepositoryNotFound):
        await lake.resolve_ref("nope", "main")


async def test_list_repositories_paginates(lake: Lake) -> None:
    for n in ("alpha", "beta", "gamma"):
        await lake.create_repository(n)
    page, more = await lake.list_repositories(limit=2)
    assert [r.name for r in page] == ["alpha", "beta"] and more
    page, more = await lake.list_repositories(after="beta", limit=2)
    assert [r.name for r in page] == ["gamma", "repo"] and not more
    page, _ = await lake.list_repositories(prefix="g")
    assert [r.name for r in page] == ["gamma"]


async def test_delete_repository_require_empty(lake: Lake) -> None:
    await put(lake, "repo", "main", "a", b"x")
    with pytest.raises(errors.NotEmpty):
        await lake.delete_repository("repo", require_empty=True)
    await lake.delete_repository("repo")
    with pytest.raises(errors.RepositoryNotFound):
        await lake.get_repository("repo")
    await lake.create_repository("repo")  # the name is free again, with no leftovers
    assert (await lake.list_objects("repo", "main")).objects == []


async def test_branch_lifecycle(lake: Lake) -> None:
    await put(lake, "repo", "main", "a", b"1")
    await lake.commit("repo", "main", message="c1", committer="t")
    dev = await lake.create_branch("repo", "dev", "main")
    assert dev.head == (await lake.get_branch("repo", "main")).head
    with pytest.raises(errors.BranchExists):
        await lake.create_branch("repo", "dev", "main")
    with pytest.raises(errors.RefNotFound):
        await lake.create_branch("repo", "x", "missing")
    with pytest.raises(errors.InvalidName):
        await lake.create_branch("repo", "bad name", "main")
    branches, more = await lake.list_branches("repo")
    assert [b.name for b in branches] == ["dev", "main"] and not more
    with pytest.raises(errors.DefaultBranch):
        await lake.delete_branch("repo", "main")
    await lake.delete_branch("repo", "dev")
    with pytest.raises(errors.BranchNotFound):
        await lake.get_branch("repo", "dev")


async def test_branch_is_isolated(lake: Lake) -> None:
    await put(lake, "repo", "main", "a", b"1")
    await lake.commit("repo", "main", message="c1", committer="t")
    await lake.create_branch("repo", "dev", "main")
    await put(lake, "repo", "dev", "a", b"2")
    assert await read(lake, "repo", "main", "a") == b"1"
    assert await read(lake, "repo", "dev", "a") == b"2"
    assert await read(lake, "repo", "dev@", "a") == b"1"  # committed state only


async def test_tags_and_ref_expressions(lake: Lake) -> None:
    ids = []
    for i in range(3):
        await put(lake, "repo", "main", "f", str(i).encode())
        ids.append((await lake.commit("repo", "main", message=f"c{i}", committer="t")).id)
    t = await lake.create_tag("repo", "v1", "main~1")
    assert t.commit == ids[1]
    with pytest.raises(errors.TagExists):
        await lake.create_tag("repo", "v1", "main")
    assert (await lake.resolve_ref("repo", "v1")).kind is RefKind.TAG
    assert await read(lake, "repo", "v1", "f") == b"1"
    assert (await lake.resolve_ref("repo", "main~2")).commit == ids[0]
    assert (await lake.resolve_ref("repo", "main^")).commit == ids[1]
    assert (await lake.resolve_ref("repo", "main^1~1")).commit == ids[0]
    assert (await lake.resolve_ref("repo", ids[0][:10])).commit == ids[0]
    assert (await lake.resolve_ref("repo", ids[0])).kind is RefKind.COMMIT
    with pytest.raises(errors.RefNotFound):
        await lake.resolve_ref("repo", "main~10")
    with pytest.raises(errors.RefNotFound):
        await lake.resolve_ref("repo", "main^2")
    with pytest.raises(errors.InvalidName):
        await lake.resolve_ref("repo", "main~x")
    tags, _ = await lake.list_tags("repo")
    assert [x.name for x in tags] == ["v1"]
    await lake.delete_tag("repo", "v1")
    with pytest.raises(errors.TagNotFound):
        await lake.get_tag("repo", "v1")


async def test_writes_to_tags_and_commits_are_refused(lake: Lake) -> None:
    await put(lake, "repo", "main", "f", b"x")
    c = await lake.commit("repo", "main", message="c", committer="t")
    await lake.create_tag("repo", "v1", "main")
    with pytest.raises(errors.ReadOnlyRef):
        await put(lake, "repo", "v1", "g", b"y")
    with pytest.raises(errors.ReadOnlyRef):
        await put(lake, "repo", c.id, "g", b"y")
    with pytest.raises(errors.BranchNotFound):
        await put(lake, "repo", "nobranch", "g", b"y")


async def test_protected_branch_accepts_only_merges(lake: Lake) -> None:
    await put(lake, "repo", "main", "f", b"x")
    await lake.commit("repo", "main", message="c", committer="t")
    await lake.create_branch("repo", "dev", "main")
    await lake.set_protection_rules("repo", ["ma*"])
    assert await lake.get_protection_rules("repo") == ["ma*"]
    with pytest.raises(errors.ProtectedBranch):
        await put(lake, "repo", "main", "g", b"y")
    with pytest.raises(errors.ProtectedBranch):
        await lake.delete_object("repo", "main", "f")
    with pytest.raises(errors.ProtectedBranch):
        await lake.commit("repo", "main", message="c", committer="t", allow_empty=True)
    with pytest.raises(errors.ProtectedBranch):
        await lake.reset_branch("repo", "main")
    await put(lake, "repo", "dev", "g", b"y")
    await lake.commit("repo", "dev", message="g", committer="t")
    await lake.merge("repo", "dev", "main", committer="t")
    assert await read(lake, "repo", "main", "g") == b"y"


async def test_check_writable_refuses_before_any_body(lake: Lake) -> None:
    await lake.check_writable("repo", "main")
    await lake.create_tag("repo", "v0", "main")
    with pytest.raises(errors.ReadOnlyRef):
        await lake.check_writable("repo", "v0")
    with pytest.raises(errors.BranchNotFound):
        await lake.check_writable("repo", "nope")
    with pytest.raises(errors.RepositoryNotFound):
        await lake.check_writable("nope", "main")
    await lake.set_protection_rules("repo", ["main"])
    with pytest.raises(errors.ProtectedBranch):
        await lake.check_writable("repo", "main")


async def test_hidden_branches_are_listed_only_on_request(lake: Lake) -> None:
    await lake.create_branch("repo", "tmp-txn", "main", hidden=True)
    shown, _ = await lake.list_branches("repo")
    assert [b.name for b in shown] == ["main"]
    everything, _ = await lake.list_branches("repo", show_hidden=True)
    assert [b.name for b in everything] == ["main", "tmp-txn"]
    assert (await lake.get_branch("repo", "tmp-txn")).hidden


async def test_a_repository_name_stays_reserved_until_its_purge_is_done(lake: Lake) -> None:
    await lake.create_branch("repo", "dev", "main")
    # A crash after the repository vanished but before its records were purged:
    lake.kv.write_sync(lambda w: (w.delete(keys.repo("repo")), w.put(keys.deleting("repo"), b"")))
    with pytest.raises(errors.Conflict):
        await lake.create_repository("repo")
    assert await lake.sweep() >= 1
    await lake.create_repository("repo")
    branches, _ = await lake.list_branches("repo")
    assert [b.name for b in branches] == ["main"]  # no 'dev' from the old repository


async def test_sweep_purges_staging_no_branch_uses(lake: Lake) -> None:
    await put(lake, "repo", "main", "a", b"1")
    old = (await lake.get_branch("repo", "main")).staging_token

    # A crash after a reset retired the token but before its records were purged:
    def retire(w: KVWriter) -> None:
        b = View(w).branch("repo", "main")
        w.put(keys.branch("repo", "main"), codec.encode_branch(fresh_branch(b, token="f" * 32)))

    lake.kv.write_sync(retire)
    leftover = keys.staging("repo", old)
    assert lake.kv.read_sync(lambda r: next(iter(r.scan(leftover, keys.prefix_end(leftover)))))
    await put(lake, "repo", "main", "b", b"2")  # the live token keeps its records
    assert await lake.sweep() == 2  # the records and the write counter of the old token
    assert lake.kv.read_sync(lambda r: list(r.scan(leftover, keys.prefix_end(leftover)))) == []
    assert await read(lake, "repo", "main", "b") == b"2"
    assert await lake.sweep() == 0
