"""Garbage collection on in-memory stores: what is kept, what is freed, and what reading a
collected commit answers (``gateway.gc``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.core import errors, gcrefs, keys
from gateway.core.lake import Lake
from gateway.core.model import Entry, InputRef
from gateway.core.ports import KVWriter
from gateway.gc.collector import Collector, GcConfig
from gateway.gc.report import SUCCEEDED, GcRun
from gateway.gc.rules import BranchRule, RetentionRules
from gateway.storage.memory import MemoryBlobStore
from tests.support import gc_census
from tests.unit.lake_helpers import chunks_of, memory_lake, put, read

BIG = 40_000  # above the inline limit: stored in the blob backend


@pytest.fixture
async def lake() -> AsyncIterator[Lake]:
    lk = memory_lake()
    await lk.create_repository("repo")
    yield lk


def collector(lake: Lake, tmp_path: Path, **config: object) -> Collector:
    cfg = GcConfig(work_dir=tmp_path / "gc", **{"grace_seconds": 0, **config})  # type: ignore[arg-type]
    return Collector(lake.kv, lake.blobs, cfg)


async def census(lake: Lake) -> tuple[gc_census.Census, gc_census.Census]:
    blobs = lake.blobs
    assert isinstance(blobs, MemoryBlobStore)
    exp = await lake.kv.read(gc_census.expected)
    have = await lake.kv.read(lambda r: gc_census.stored(r, set(blobs.blobs)))
    return exp, have


async def run(c: Collector, **kwargs: object) -> GcRun:
    done = await c.collect(**kwargs)
    assert done.state == SUCCEEDED, done.error
    return done


def blob(n: int, tag: str) -> bytes:
    return (tag * (n // len(tag) + 1)).encode()[:n]


async def test_keeps_exactly_what_retained_commits_and_staging_reference(
    lake: Lake, tmp_path: Path
) -> None:
    c = collector(lake, tmp_path, retention_days=0)
    await put(lake, "repo", "main", "a", blob(BIG, "a1"))
    await put(lake, "repo", "main", "a", blob(BIG, "a2"))  # overwrites a staged entry
    await put(lake, "repo", "main", "s", b"small 1")
    await put(lake, "repo", "main", "s", b"small 2")
    await lake.commit("repo", "main", message="1", committer="t")
    await lake.create_branch("repo", "dev", "main")
    await put(lake, "repo", "dev", "d", blob(BIG, "dev"))
    await lake.commit("repo", "dev", message="dev", committer="t")
    await lake.delete_branch("repo", "dev")
    await put(lake, "repo", "main", "staged", blob(BIG, "st"))
    exp, have = await census(lake)
    assert have.blobs > exp.blobs and have.commits > exp.commits

    done = await run(c)
    exp, have = await census(lake)
    assert have == exp
    assert done.sweep.freed["blobs"].count == 2  # a1, dev
    assert done.sweep.freed["small blobs"].count == 1  # "small 1"
    assert done.sweep.freed["commits"].count == 1  # the deleted branch's commit
    assert await read(lake, "repo", "main", "a") == blob(BIG, "a2")
    assert await read(lake, "repo", "main", "staged") == blob(BIG, "st")
    assert await read(lake, "repo", "main", "s") == b"small 2"


async def test_retention_keeps_unreached_commits_for_their_days(lake: Lake, tmp_path: Path) -> None:
    """Rules only add retention: the default keeps every commit younger than its days; a branch
    glob keeps what a deleted (or reset) branch of that name pointed at for its own days."""
    c = collector(lake, tmp_path, retention_days=7)
    await c.set_rules("repo", RetentionRules(0, (BranchRule("kee*", 7),)))
    for name in ("tmp/x", "keep"):
        await lake.create_branch("repo", name, "main")
        await put(lake, "repo", name, "f", blob(BIG, name))
        await lake.commit("repo", name, message=name, committer="t")
    tmp_head = (await lake.get_branch("repo", "tmp/x")).head
    keep_head = (await lake.get_branch("repo", "keep")).head
    await lake.delete_branch("repo", "tmp/x")
    await lake.delete_branch("repo", "keep")

    done = await run(c)
    assert done.sweep.freed["commits"].count == 1
    with pytest.raises(errors.CommitCollected, match="removed by retention"):
        await lake.stat_object("repo", tmp_head, "f")
    assert await read(lake, "repo", keep_head, "f") == blob(BIG, "keep")
    # The deleted branch can be recreated from its last commit within its retention.
    await lake.create_branch("repo", "keep", keep_head)


async def test_new_unreached_commits_are_kept_until_old_enough(lake: Lake, tmp_path: Path) -> None:
    await lake.create_branch("repo", "dev", "main")
    await put(lake, "repo", "dev", "f", blob(BIG, "x"))
    old = await lake.commit(
        "repo", "dev", message="old", committer="t", creation_date=time.time() - 10 * 86400
    )
    await lake.hard_reset("repo", "dev", "main")  # unreached, logged now: kept for 7 days
    c = collector(lake, tmp_path, retention_days=7)
    await run(c)
    assert await read(lake, "repo", old.id, "f") == blob(BIG, "x")
    await c.set_rules("repo", RetentionRules(0))
    await run(c)
    with pytest.raises(errors.CommitCollected):
        await lake.resolve_ref("repo", old.id)


async def test_multipart_parts_of_aborted_and_abandoned_uploads(lake: Lake, tmp_path: Path) -> None:
    c = collector(lake, tmp_path, retention_days=0, multipart_abandon_days=1)

    async def upload_with_part(path: str, tag: str) -> str:
        up = await lake.create_upload("repo", "main", path, content_type="x")
        info = await lake.ingest(chunks_of(blob(BIG, tag), 4096))
        await lake.put_part("repo", up.upload_id, 1, info)
        return up.upload_id

    aborted = await upload_with_part("a", "aborted")
    await lake.abort_upload("repo", aborted)
    abandoned = await upload_with_part("b", "abandoned")
    open_ = await upload_with_part("c", "open")

    def age(w: KVWriter) -> None:
        from gateway.core import multipart

        raw = w.get(keys.upload("repo", abandoned))
        assert raw is not None
        up = multipart.decode_upload(raw)
        import dataclasses

        old = dataclasses.replace(up, initiated=time.time() - 2 * 86400)
        w.put(keys.upload("repo", abandoned), multipart.encode_upload(old))

    await lake.kv.write(age)
    done = await run(c)
    assert done.uploads_aborted == 1
    assert done.sweep.freed["blobs"].count == 2
    with pytest.raises(errors.UploadNotFound):
        await lake.get_upload("repo", abandoned)
    assert (await lake.list_parts("repo", open_))[0][0].blob.size == BIG
    exp, have = await census(lake)
    assert have == exp


async def test_unreferenced_manifests_and_their_parts_go(lake: Lake, tmp_path: Path) -> None:
    c = collector(lake, tmp_path, retention_days=0)
    up = await lake.create_upload("repo", "main", "mp", content_type="x")
    etags = []
    for n in (1, 2):
        data = blob(5 << 20, f"part{n}") if n == 1 else blob(BIG, "last")
        info = await lake.ingest(chunks_of(data, 1 << 20))
        etags.append((n, (await lake.put_part("repo", up.upload_id, n, info)).etag))
    entry = await lake.complete_upload("repo", up.upload_id, etags)
    assert entry.is_multipart
    await run(c)
    assert len(await read(lake, "repo", "main", "mp")) == (5 << 20) + BIG
    await lake.delete_object("repo", "main", "mp")  # staged only: the entry is dropped
    done = await run(c)
    assert done.sweep.freed["manifests"].count == 1
    assert done.sweep.freed["blobs"].count == 2
    exp, have = await census(lake)
    assert have == exp and not have.manifests


async def test_young_content_survives_the_grace_period(lake: Lake, tmp_path: Path) -> None:
    """A small blob stored ahead of its entry (non-deferred ingest) and a blob file not yet
    staged are kept while young, collected after."""
    info_small = await lake.ingest(chunks_of(b"not yet staged"))
    info_big = await lake.ingest(chunks_of(blob(BIG, "nys"), 4096))
    c = collector(lake, tmp_path, retention_days=0, grace_seconds=3600)
    await run(c)
    assert await lake.kv.read(lambda r: r.get(keys.inline_blob(info_small.blob_id))) is not None
    assert await lake.blobs.exists(info_big.blob_id)
    done = await run(c, grace_seconds=0)
    assert done.sweep.freed["small blobs"].count == 1
    assert done.sweep.freed["blobs"].count == 1
    assert done.sweep.freed["young records"].count == 1


async def test_a_reference_created_after_marking_is_seen_before_deleting(
    lake: Lake, tmp_path: Path
) -> None:
    """The write barrier: a writer stages an entry naming garbage (a dedup of bytes no commit
    keeps) after the mark snapshot; the collector's deletion transaction sees the barrier moved,
    marks the new reference and keeps the blob."""
    await put(lake, "repo", "main", "x", b"garbage soon")
    await put(lake, "repo", "main", "x", b"other")  # b"garbage soon" is unreferenced now
    c = collector(lake, tmp_path, retention_days=0)
    from gateway.gc import mark

    original = mark.Marker.drain
    staged: list[Entry] = []

    def drain_then_write(self: mark.Marker) -> None:
        original(self)
        if not staged:  # once, right after the first (root) marking
            e = Entry(address=_id(b"garbage soon"), size=12, etag="e")
            staged.append(e)
            lake.kv.write_sync(lambda w: _stage(w, e))

    mark.Marker.drain = drain_then_write  # type: ignore[method-assign]
    try:
        done = await run(c)
    finally:
        mark.Marker.drain = original  # type: ignore[method-assign]
    assert done.sweep.remarks >= 1
    assert await read(lake, "repo", "main", "again") == b"garbage soon"


def _id(data: bytes) -> str:
    import blake3

    return blake3.blake3(data).hexdigest()


def _stage(w: KVWriter, e: Entry) -> None:
    from gateway.core import staging
    from gateway.core.view import View

    b = View(w).branch("repo", "main")
    w.put(keys.staging("repo", b.staging_token) + b"again", staging.encode(e))
    gcrefs.note_fresh(w, [gcrefs.address_ref(e.address)])


async def test_dry_run_counts_and_deletes_nothing(lake: Lake, tmp_path: Path) -> None:
    c = collector(lake, tmp_path, retention_days=0)
    await put(lake, "repo", "main", "a", blob(BIG, "1"))
    await put(lake, "repo", "main", "a", blob(BIG, "2"))
    before = await census(lake)
    done = await run(c, dry_run=True)
    assert done.sweep.freed["blobs"].count == 1
    assert await census(lake) == before
    assert await lake.kv.read(lambda r: r.get(gcrefs.STATE)) is None  # no barrier in a dry run


async def test_deleted_repository_and_lineage_records_are_collected(
    lake: Lake, tmp_path: Path
) -> None:
    c = collector(lake, tmp_path, retention_days=0)
    await lake.create_repository("other")
    await put(lake, "other", "main", "o", blob(BIG, "other"))
    await lake.commit("other", "main", message="o", committer="t")
    await put(lake, "repo", "main", "r", blob(BIG, "repo"))
    await lake.commit(
        "repo", "main", message="r", committer="t", inputs=[InputRef("other", "main")]
    )
    await run(c)
    assert await read(lake, "other", "main", "o") == blob(BIG, "other")  # an input: kept
    await lake.delete_repository("repo")
    done = await run(c)
    assert done.sweep.freed["downstream index"].count == 1
    exp, have = await census(lake)
    assert have == exp
    assert (
        await lake.kv.read(
            lambda r: list(r.scan(keys.DOWNSTREAM, keys.prefix_end(keys.DOWNSTREAM)))
        )
        == []
    )


async def test_a_scoped_run_removes_commits_of_its_repository_only(
    lake: Lake, tmp_path: Path
) -> None:
    c = collector(lake, tmp_path, retention_days=0)
    await lake.create_repository("other")
    heads = {}
    for repo in ("repo", "other"):
        await lake.create_branch(repo, "dev", "main")
        await put(lake, repo, "dev", "f", blob(BIG, repo))
        heads[repo] = (await lake.commit(repo, "dev", message=repo, committer="t")).id
        await lake.delete_branch(repo, "dev")
    await run(c, repository="repo")
    with pytest.raises(errors.CommitCollected):
        await lake.resolve_ref("repo", heads["repo"])
    assert await read(lake, "other", heads["other"], "f") == blob(BIG, "other")
    with pytest.raises(errors.RepositoryNotFound):
        await c.start(repository="nope")


async def test_one_collection_at_a_time_and_reports(lake: Lake, tmp_path: Path) -> None:
    c = collector(lake, tmp_path, retention_days=0)
    first = await c.start()
    with pytest.raises(errors.Conflict):
        await c.start()
    await c.wait(first.id)
    second = await run(c)
    listed = await c.reports()
    assert [r["id"] for r in listed[:2]] == [second.id, first.id]
    assert (await c.report(first.id))["state"] == SUCCEEDED
    with pytest.raises(errors.NotFound):
        await c.report("nope")
    assert await lake.kv.read(lambda r: r.get(gcrefs.STATE)) is None
    assert (
        await lake.kv.read(lambda r: list(r.scan(gcrefs.FRESH, keys.prefix_end(gcrefs.FRESH))))
        == []
    )


async def test_commits_active_runs_started_from_pinned_read_or_snapshotted_are_kept(
    lake: Lake, tmp_path: Path
) -> None:
    """Isolated runs (gateway.runs) read branches as of their start: a commit a run started
    from, pinned, read, or that an open snapshot's head log names, outlives its branch."""
    from gateway.core import heads
    from gateway.runs import store
    from gateway.runs.model import Pin, Run

    c = collector(lake, tmp_path, retention_days=0)
    made = {}
    for name in ("start", "pin", "read", "snap"):
        await lake.create_branch("repo", name, "main")
        await put(lake, "repo", name, "f", blob(BIG, name))
        made[name] = (await lake.commit("repo", name, message=name, committer="t")).id

    def begin_run(w: KVWriter) -> None:
        heads.open_snapshot(w, "run-1", time.time() + 3600)
        run = Run(
            id="run-1",
            name="r",
            repository="repo",
            source_branch="start",
            run_branch="runs/r",
            start_commit=made["start"],
            snapshot=0,
            user="u",
            access_key_id="k",
            command=("true",),
            created=time.time(),
            expires_at=time.time() + 3600,
            pins=(Pin("repo", "", "pin", made["pin"]),),
        )
        store.put(w, run)
        w.put(store.read_key("run-1", "repo", made["read"], "f"), b"")

    await lake.kv.write(begin_run)
    for name in made:
        await lake.delete_branch("repo", name)  # "snap" is now only in the head log
    await run(c)
    for name, cid in made.items():
        assert await read(lake, "repo", cid, "f") == blob(BIG, name), name

    def end_run(w: KVWriter) -> None:
        store.delete(w, store.get(w, "run-1"))
        for k, _ in list(w.scan(store.reads_of("run-1"), keys.prefix_end(store.reads_of("run-1")))):
            w.delete(k)
        for s in heads.snapshots(w):
            heads.release_snapshot(w, s.seq, s.holder)

    await lake.kv.write(end_run)
    done = await run(c)
    assert done.sweep.freed["commits"].count == 4


async def test_a_repository_or_branch_created_while_marking_keeps_its_commits(
    lake: Lake, tmp_path: Path
) -> None:
    """Every branch write goes through ``heads.put_branch``, which records the head as a fresh
    reference: a repository created after the mark snapshot keeps its root commit."""
    from gateway.gc import mark

    c = collector(lake, tmp_path, retention_days=0)
    original = mark.Marker.drain
    created: list[str] = []

    def drain_then_create(self: mark.Marker) -> None:
        original(self)
        if not created:
            created.append("late")
            asyncio.run_coroutine_threadsafe(lake.create_repository("late"), loop).result()

    loop = asyncio.get_running_loop()
    mark.Marker.drain = drain_then_create  # type: ignore[method-assign]
    try:
        await run(c)
    finally:
        mark.Marker.drain = original  # type: ignore[method-assign]
    assert (await lake.get_commit("late", "main")).message == "Repository created"
    exp, have = await census(lake)
    assert have == exp


async def test_imported_entries_are_kept_and_never_collected(lake: Lake, tmp_path: Path) -> None:
    """An imported entry points at an external object (``x:<import>:s3://...``): nothing Weir
    stores, nothing GC marks or deletes; GC runs through trees that hold such entries."""
    from gateway.core.model import external_address

    address = external_address("imp1", "s3://theirs/data/part-0.parquet")
    ext = Entry(address=address, size=123, etag="e" * 32)
    await lake.put_objects("repo", "main", [("imported/part-0.parquet", ext)])
    await lake.commit("repo", "main", message="import", committer="t")
    await put(lake, "repo", "main", "imported/part-0.parquet", blob(BIG, "mine"))  # staged over
    done = await run(collector(lake, tmp_path, retention_days=0))
    assert done.mark.missing == 0
    assert (await lake.stat_object("repo", "main@", "imported/part-0.parquet")).address == address
    exp, have = await census(lake)
    assert have == exp
