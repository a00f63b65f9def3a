"""Commit, log, diff, merge, revert and cherry-pick through the facade."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from gateway.core import codec, committing, errors, keys
from gateway.core.ids import CommitId, TagName
from gateway.core.lake import Lake, Resolution
from gateway.core.model import ChangeKind, ConflictKind, MergeStrategy, Side, Tag
from gateway.core.ports import KVWriter
from gateway.core.view import View
from tests.unit.lake_helpers import memory_lake, put, read, state


@pytest.fixture
async def lake() -> Lake:
    lk = memory_lake()
    await lk.create_repository("repo")
    return lk


async def commit(lake: Lake, branch: str, msg: str, **kw: object) -> str:
    c = await lake.commit("repo", branch, message=msg, committer="tester", **kw)  # type: ignore[arg-type]
    return c.id


async def test_commit_records_metadata_and_clears_staging(lake: Lake) -> None:
    await put(lake, "repo", "main", "a", b"1")
    c = await lake.commit(
        "repo", "main", message="first", committer="ann", metadata={"model": "resnet"}
    )
    assert c.metadata == {"model": "resnet"} and c.committer == "ann" and c.generation == 2
    assert (await lake.diff_uncommitted("repo", "main")).changes == []
    with pytest.raises(errors.NoChanges):
        await commit(lake, "main", "empty")
    empty = await lake.commit("repo", "main", message="e", committer="t", allow_empty=True)
    assert empty.tree == c.tree


async def test_commit_subset_of_paths(lake: Lake) -> None:
    for p in ("a/1", "a/2", "b/1", "c"):
        await put(lake, "repo", "main", p, b"x")
    await commit(lake, "main", "part", paths=["a/", "c"])
    assert set(await state(lake, "repo", "main@")) == {"a/1", "a/2", "c"}
    left = await lake.diff_uncommitted("repo", "main")
    assert [c.path for c in left.changes] == ["b/1"]


async def test_log_with_path_filter_and_pagination(lake: Lake) -> None:
    ids = []
    for i, p in enumerate(["x/a", "y/b", "x/c", "z"]):
        await put(lake, "repo", "main", p, str(i).encode())
        ids.append(await commit(lake, "main", f"c{i}"))
    page = await lake.log("repo", "main")
    assert [c.id for c in page.commits[:4]] == ids[::-1]
    assert page.commits[-1].message == "Repository created"
    by_path = await lake.log("repo", "main", paths=["x/a"])
    assert [c.id for c in by_path.commits] == [ids[0]]
    by_prefix = await lake.log("repo", "main", prefixes=["x/"])
    assert [c.id for c in by_prefix.commits] == [ids[2], ids[0]]
    p1 = await lake.log("repo", "main", limit=2)
    assert p1.truncated and p1.next_after == ids[2]
    p2 = await lake.log("repo", "main", after=p1.next_after, limit=2)
    assert [c.id for c in p2.commits] == [ids[1], ids[0]]


async def test_two_and_three_dot_diff(lake: Lake) -> None:
    await put(lake, "repo", "main", "base", b"0")
    await commit(lake, "main", "base")
    await lake.create_branch("repo", "dev", "main")
    await put(lake, "repo", "dev", "new", b"1")
    await put(lake, "repo", "dev", "base", b"changed")
    await commit(lake, "dev", "dev work")
    await put(lake, "repo", "main", "main-only", b"m")
    await commit(lake, "main", "main work")
    two = await lake.diff("repo", "main", "dev")
    assert {(c.path, c.kind) for c in two.changes} == {
        ("base", ChangeKind.CHANGED),
        ("main-only", ChangeKind.REMOVED),
        ("new", ChangeKind.ADDED),
    }
    three = await lake.diff("repo", "main", "dev", three_dot=True)
    assert {(c.path, c.kind) for c in three.changes} == {
        ("base", ChangeKind.CHANGED),
        ("new", ChangeKind.ADDED),
    }
    paged = await lake.diff("repo", "main", "dev", limit=1)
    assert paged.truncated and len(paged.changes) == 1


async def test_same_bytes_reuploaded_is_not_a_change(lake: Lake) -> None:
    await put(lake, "repo", "main", "a", b"same")
    await commit(lake, "main", "c1")
    await put(lake, "repo", "main", "a", b"same")
    assert (await lake.diff_uncommitted("repo", "main")).changes == []


async def test_merge_clean_and_fast_forwardable(lake: Lake) -> None:
    await put(lake, "repo", "main", "a", b"1")
    await commit(lake, "main", "c1")
    await lake.create_branch("repo", "dev", "main")
    await put(lake, "repo", "dev", "b", b"2")
    await commit(lake, "dev", "c2")
    out = await lake.merge("repo", "dev", "main", committer="t", metadata={"why": "x"})
    main = await lake.get_branch("repo", "main")
    dev = await lake.get_branch("repo", "dev")
    assert out.commit.parents[1] == dev.head and main.head == out.commit.id
    assert out.commit.metadata == {"why": "x"}
    assert await state(lake, "repo", "main") == {"a": b"1", "b": b"2"}
    with pytest.raises(errors.NoChanges):
        await lake.merge("repo", "dev", "main", committer="t")


async def test_merge_reports_every_conflict(lake: Lake) -> None:
    for p in ("both", "del-src", "del-dst", "same"):
        await put(lake, "repo", "main", p, b"base")
    await commit(lake, "main", "base")
    await lake.create_branch("repo", "dev", "main")
    await put(lake, "repo", "dev", "both", b"dev")
    await put(lake, "repo", "dev", "del-dst", b"dev")
    await lake.delete_object("repo", "dev", "del-src")
    await put(lake, "repo", "dev", "added", b"dev")
    await put(lake, "repo", "dev", "same", b"same-change")
    await commit(lake, "dev", "dev")
    await put(lake, "repo", "main", "both", b"main")
    await lake.delete_object("repo", "main", "del-dst")
    await put(lake, "repo", "main", "del-src", b"main")
    await put(lake, "repo", "main", "added", b"main")
    await put(lake, "repo", "main", "same", b"same-change")
    head = await commit(lake, "main", "main")
    with pytest.raises(errors.MergeConflict) as info:
        await lake.merge("repo", "dev", "main", committer="t")
    got = {(c.path, c.kind) for c in info.value.conflicts}
    assert got == {
        ("added", ConflictKind.BOTH_ADDED),
        ("both", ConflictKind.BOTH_CHANGED),
        ("del-dst", ConflictKind.CHANGED_DELETED),
        ("del-src", ConflictKind.DELETED_CHANGED),
    }
    both = next(c for c in info.value.conflicts if c.path == "both")
    assert both.base is not None and both.source is not None and both.dest is not None
    assert (await lake.get_branch("repo", "main")).head == head  # nothing moved
    out = await lake.merge(
        "repo",
        "dev",
        "main",
        committer="t",
        resolutions=[Resolution("both", Side.SOURCE), Resolution("del-*", Side.DEST)],
        strategy=MergeStrategy.DEST_WINS,
    )
    assert out.commit.parents[0] == head
    s = await state(lake, "repo", "main")
    assert s["both"] == b"dev" and s["added"] == b"main" and s["del-src"] == b"main"
    assert "del-dst" not in s and s["same"] == b"same-change"


async def test_merge_into_dirty_branch_is_refused(lake: Lake) -> None:
    await put(lake, "repo", "main", "a", b"1")
    await commit(lake, "main", "c1")
    await lake.create_branch("repo", "dev", "main")
    await put(lake, "repo", "dev", "b", b"2")
    await commit(lake, "dev", "c2")
    await put(lake, "repo", "main", "dirty", b"!")
    with pytest.raises(errors.DirtyBranch):
        await lake.merge("repo", "dev", "main", committer="t")


async def test_revert_and_cherry_pick(lake: Lake) -> None:
    await put(lake, "repo", "main", "a", b"1")
    await commit(lake, "main", "c1")
    await put(lake, "repo", "main", "a", b"2")
    await put(lake, "repo", "main", "b", b"new")
    bad = await commit(lake, "main", "bad change")
    rev = await lake.revert("repo", "main", bad, committer="t")
    assert rev.parents == (bad,)
    assert await state(lake, "repo", "main") == {"a": b"1"}
    await lake.create_branch("repo", "fix", "main~2")
    picked = await lake.cherry_pick("repo", "fix", bad, committer="t")
    assert picked.message == "bad change"
    assert await state(lake, "repo", "fix") == {"a": b"2", "b": b"new"}


async def test_revert_merge_commit_needs_parent_number(lake: Lake) -> None:
    await put(lake, "repo", "main", "a", b"1")
    await commit(lake, "main", "c1")
    await lake.create_branch("repo", "dev", "main")
    await put(lake, "repo", "dev", "b", b"2")
    await commit(lake, "dev", "c2")
    m = await lake.merge("repo", "dev", "main", committer="t")
    with pytest.raises(errors.Conflict):
        await lake.revert("repo", "main", m.commit.id, committer="t")
    await lake.revert("repo", "main", m.commit.id, committer="t", parent_number=1)
    assert await state(lake, "repo", "main") == {"a": b"1"}


async def test_hard_reset(lake: Lake) -> None:
    await put(lake, "repo", "main", "a", b"1")
    first = await commit(lake, "main", "c1")
    await put(lake, "repo", "main", "b", b"2")
    await commit(lake, "main", "c2")
    await put(lake, "repo", "main", "staged", b"3")
    b = await lake.hard_reset("repo", "main", "main~1")
    assert b.head == first
    assert await state(lake, "repo", "main") == {"a": b"1"}


async def test_writes_racing_a_commit_are_never_lost(lake: Lake) -> None:
    for i in range(50):
        await put(lake, "repo", "main", f"k{i:03}", b"v0")

    async def writer() -> None:
        for i in range(50):
            await put(lake, "repo", "main", f"k{i:03}", b"v1")

    await asyncio.gather(writer(), commit(lake, "main", "racing"))
    # Whatever the interleaving: every key reads v1 (staged or committed), nothing is lost.
    s = await state(lake, "repo", "main")
    assert s == {f"k{i:03}": b"v1" for i in range(50)}
    await lake.commit("repo", "main", message="rest", committer="t", allow_empty=True)
    assert await read(lake, "repo", "main@", "k049") == b"v1"


async def test_log_since_and_stop_at(lake: Lake) -> None:
    ids = []
    for i in range(4):
        await put(lake, "repo", "main", "f", str(i).encode())
        c = await lake.commit(
            "repo", "main", message=f"c{i}", committer="t", creation_date=1000.0 + i
        )
        ids.append(c.id)
    stopped = await lake.log("repo", "main", stop_at=ids[1])
    assert [c.id for c in stopped.commits] == [ids[3], ids[2], ids[1]]
    assert not stopped.truncated
    recent = [c.id for c in (await lake.log("repo", "main", since=1002.0)).commits]
    # The repository's root commit carries the real creation time, so it is recent too.
    assert recent[:2] == [ids[3], ids[2]] and ids[1] not in recent and ids[0] not in recent


async def test_uncommitted_diff_with_delimiter(lake: Lake) -> None:
    for p in ("a/1", "a/2", "b", "c/x/1"):
        await put(lake, "repo", "main", p, b"x")
    page = await lake.diff_uncommitted("repo", "main", delimiter="/")
    assert [c.path for c in page.changes] == ["b"] and page.prefixes == ["a/", "c/"]
    page = await lake.diff_uncommitted("repo", "main", prefix="a/", limit=1)
    assert [c.path for c in page.changes] == ["a/1"] and page.truncated


async def test_squash_merge_records_one_parent(lake: Lake) -> None:
    await put(lake, "repo", "main", "a", b"1")
    await commit(lake, "main", "c1")
    await lake.create_branch("repo", "dev", "main")
    for i in range(3):
        await put(lake, "repo", "dev", f"f{i}", b"x")
        await commit(lake, "dev", f"d{i}")
    head = (await lake.get_branch("repo", "main")).head
    out = await lake.merge("repo", "dev", "main", committer="t", squash=True)
    assert out.commit.parents == (head,)
    assert set(await state(lake, "repo", "main")) == {"a", "f0", "f1", "f2"}


async def test_altered_history_is_detected(lake: Lake) -> None:
    await put(lake, "repo", "main", "a", b"1")
    c = await lake.commit("repo", "main", message="honest", committer="t")
    forged = dataclasses.replace(c, message="forged")
    fake_id = CommitId(("0" if c.id[0] != "0" else "1") + c.id[1:])  # never loaded, not cached

    def tamper(w: KVWriter) -> None:
        w.put(keys.commit("repo", fake_id), codec.encode_commit(forged))
        w.put(keys.tag("repo", "forged"), codec.encode_tag(Tag(TagName("forged"), fake_id)))

    lake.kv.write_sync(tamper)
    with pytest.raises(errors.CorruptCommit):
        await lake.get_commit("repo", "forged")


@pytest.mark.parametrize("drop", ["delete", "reset"])
async def test_a_staged_change_dropped_while_a_commit_runs_stays_dropped(
    lake: Lake, drop: str
) -> None:
    """A delete (or reset) of a path with nothing committed drops its staged record. A commit
    whose snapshot took that record must not publish it: the caller was told it is gone."""
    await put(lake, "repo", "main", "kept", b"k")
    await put(lake, "repo", "main", "gone", b"g")
    prepared = lake.kv.read_sync(
        lambda r: committing.prepare_commit(
            View(r),
            lake.kv,
            "repo",
            "main",
            message="racing",
            committer="t",
            metadata=None,
            paths=None,
            allow_empty=False,
            creation_date=None,
        )
    )
    if drop == "delete":
        await lake.delete_object("repo", "main", "gone")
    else:
        await lake.reset_path("repo", "main", "gone")
    with pytest.raises(errors.BranchMoved):
        lake.kv.write_sync(lambda w: committing.publish(w, prepared))
    # Through the facade the commit starts again from a fresh snapshot.
    await commit(lake, "main", "again")
    assert await state(lake, "repo", "main@") == {"kept": b"k"}
    assert await state(lake, "repo", "main") == {"kept": b"k"}
