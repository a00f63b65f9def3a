"""Head history: a branch as of an open snapshot, whatever moved it since; pruning; guard."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.core import heads, keys
from gateway.core.lake import Lake
from gateway.core.ports import KVReader, KVWriter
from tests.unit.lake_helpers import memory_lake, put

GATEWAY = Path(__file__).resolve().parents[2] / "gateway"


@pytest.fixture
async def lake() -> Lake:
    lk = memory_lake()
    await lk.create_repository("data")
    return lk


async def _open(lake: Lake, holder: str) -> int:
    return await lake.kv.write(lambda w: heads.open_snapshot(w, holder, 1e12))


async def _release(lake: Lake, seq: int, holder: str) -> None:
    await lake.kv.write(lambda w: heads.release_snapshot(w, seq, holder))


def _log_keys(r: KVReader) -> list[bytes]:
    return [k for k, _ in r.scan(keys.HEADLOG, keys.prefix_end(keys.HEADLOG))]


async def test_head_as_of_a_snapshot_survives_every_kind_of_move(lake: Lake) -> None:
    await put(lake, "data", "main", "a", b"1")
    c1 = await lake.commit("data", "main", message="one", committer="t")
    await lake.create_branch("data", "dev", "main")
    await lake.create_branch("data", "gone", "main")
    seq = await _open(lake, "run1")

    await put(lake, "data", "main", "a", b"2")
    await lake.commit("data", "main", message="two", committer="t")  # commit moves main
    await lake.hard_reset("data", "dev", "main")  # reset moves dev
    await lake.delete_branch("data", "gone")  # deleted after the snapshot
    await lake.create_branch("data", "new", "main")  # created after the snapshot

    assert (await lake.head_at("data", "main", seq)).head == c1.id
    assert (await lake.head_at("data", "dev", seq)).head == c1.id
    gone = await lake.head_at("data", "gone", seq)
    assert gone.head == c1.id and not gone.exists_now
    new = await lake.head_at("data", "new", seq)
    assert new.head is None and new.exists_now
    never = await lake.head_at("data", "v1", seq)
    assert never.head is None and not never.exists_now

    # A later snapshot sees the later heads.
    seq2 = await _open(lake, "run2")
    main_now = (await lake.get_branch("data", "main")).head
    assert (await lake.head_at("data", "main", seq2)).head == main_now
    assert (await lake.head_at("data", "new", seq2)).head == main_now


async def test_nothing_is_logged_without_an_open_snapshot(lake: Lake) -> None:
    for i in range(3):
        await put(lake, "data", "main", "a", str(i).encode())
        await lake.commit("data", "main", message=str(i), committer="t")
    assert await lake.kv.read(_log_keys) == []
    assert await lake.kv.read(heads.current_seq) == 0


async def test_entries_no_open_snapshot_needs_are_pruned(lake: Lake) -> None:
    seq = await _open(lake, "r")
    first = (await lake.get_branch("data", "main")).head
    for i in range(5):
        await put(lake, "data", "main", "a", str(i).encode())
        await lake.commit("data", "main", message=str(i), committer="t")
    assert len(await lake.kv.read(_log_keys)) == 5  # all after the snapshot: all needed
    assert (await lake.head_at("data", "main", seq)).head == first
    await _release(lake, seq, "r")
    later = await _open(lake, "r2")
    await put(lake, "data", "main", "a", b"x")
    await lake.commit("data", "main", message="x", committer="t")
    # Every entry at or below the oldest open snapshot went with the next change.
    assert len(await lake.kv.read(_log_keys)) == 1
    assert [s.holder for s in await lake.kv.read(heads.snapshots)] == ["r2"]
    assert (await lake.head_at("data", "main", later)).head != (
        await lake.get_branch("data", "main")
    ).head


async def test_a_deleted_repository_takes_its_head_log_with_it(lake: Lake) -> None:
    await _open(lake, "r")
    await lake.create_branch("data", "dev", "main")
    await lake.delete_repository("data")
    assert await lake.kv.read(_log_keys) == []


def test_only_heads_writes_branch_records() -> None:
    """Every head change must be logged: no module but ``heads`` may write a ``B/`` record."""
    writer = re.compile(r"\.(put|delete)\(\s*keys\.branch\(")
    offenders = [
        str(p.relative_to(GATEWAY))
        for p in GATEWAY.rglob("*.py")
        if p.name != "heads.py" and writer.search(p.read_text())
    ]
    assert offenders == []


async def test_open_snapshot_numbers_follow_the_sequence(lake: Lake) -> None:
    a = await _open(lake, "a")
    await lake.create_branch("data", "x", "main")
    b = await _open(lake, "b")
    assert b == a + 1

    def both(w: KVWriter) -> list[str]:
        return [s.holder for s in heads.snapshots(w)]

    assert await lake.kv.write(both) == ["a", "b"]
