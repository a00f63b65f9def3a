"""Write callbacks may run more than once (a networked store re-runs a transaction that lost a
serialisation conflict): the commit publication must leave no trace of an abandoned run."""

from __future__ import annotations

import pytest

from gateway.core import committing, keys
from gateway.core.errors import BranchMoved
from gateway.core.ports import KVWriter
from gateway.core.view import View
from tests.unit.lake_helpers import memory_lake, put, read, state


class Abandoned(Exception):
    """The store rolled this run back (as after a serialisation failure) and will re-run it."""


async def test_publish_rerun_decides_the_staging_purge_afresh() -> None:
    lake = memory_lake()
    await lake.create_repository("repo")
    await put(lake, "repo", "main", "a", b"1")
    kv = lake.kv
    prepared = kv.read_sync(
        lambda r: committing.prepare_commit(
            View(r), kv, "repo", "main", message="m", committer="c", metadata=None, paths=None,
            allow_empty=False, creation_date=None,
        )
    )  # fmt: skip

    def abandoned_run(w: KVWriter) -> None:
        committing.publish(w, prepared)
        raise Abandoned

    with pytest.raises(Abandoned):
        kv.write_sync(abandoned_run)
    assert prepared.purge_token is not None  # that run would have retired the whole area
    # A write lands before the re-run: the re-run must keep it staged, and must not name the
    # (still live) staging area for a purge.
    await put(lake, "repo", "main", "b", b"2")
    kv.write_sync(lambda w: committing.publish(w, prepared))
    assert prepared.purge_token is None
    branch = await lake.get_branch("repo", "main")
    staged = kv.read_sync(lambda r: list(View(r).iter_staged("repo", branch.staging_token)))
    assert [p for p, _, _ in staged] == ["b"]
    assert await state(lake, "repo", "main@") == {"a": b"1"}
    assert await read(lake, "repo", "main", "b") == b"2"
    assert kv.read_sync(lambda r: r.get(keys.staging_seq("repo", branch.staging_token))) is not None


async def test_a_staged_write_removed_during_a_commit_is_not_published() -> None:
    """DELETE of a path that was staged but never committed drops the staged record; a commit
    whose snapshot still held that record must not publish it (the delete would be lost)."""
    lake = memory_lake()
    await lake.create_repository("repo")
    await put(lake, "repo", "main", "keep", b"1")
    await put(lake, "repo", "main", "gone", b"2")
    kv = lake.kv
    prepared = kv.read_sync(
        lambda r: committing.prepare_commit(
            View(r), kv, "repo", "main", message="m", committer="c", metadata=None, paths=None,
            allow_empty=False, creation_date=None,
        )
    )  # fmt: skip
    assert await lake.delete_object("repo", "main", "gone")  # between snapshot and publication
    with pytest.raises(BranchMoved):
        kv.write_sync(lambda w: committing.publish(w, prepared))
    # Through the facade the commit is computed again and the delete holds.
    await lake.commit("repo", "main", message="m", committer="c")
    assert await state(lake, "repo", "main") == {"keep": b"1"}
    assert await state(lake, "repo", "main@") == {"keep": b"1"}
