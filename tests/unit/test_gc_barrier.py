"""The engine's side of garbage collection: the write barrier, young content, the ref log of
unreached commits, and what reading a collected commit answers (``gateway.core.gcrefs``)."""

from __future__ import annotations

import pytest

from gateway.core import codec, errors, gcrefs, keys
from gateway.core.lake import Lake
from gateway.core.ports import KVReader, KVWriter
from tests.unit.lake_helpers import memory_lake, put


@pytest.fixture
async def lake() -> Lake:
    lk = memory_lake()
    await lk.create_repository("repo")
    return lk


def _fresh(r: KVReader) -> list[bytes]:
    out: list[bytes] = []
    for _, v in r.scan(gcrefs.FRESH, keys.prefix_end(gcrefs.FRESH)):
        out.extend(codec.unpack(v))
    return out


async def _start_collection(lake: Lake) -> None:
    await lake.kv.write(lambda w: w.put(gcrefs.STATE, codec.pack(["run", 0.0])))


async def test_no_fresh_references_without_a_running_collection(lake: Lake) -> None:
    await put(lake, "repo", "main", "a", b"x" * 100)
    assert await lake.kv.read(_fresh) == []
    assert await lake.kv.read(gcrefs.seq) == 0


async def test_every_reference_kind_is_recorded_during_a_collection(lake: Lake) -> None:
    await _start_collection(lake)
    e = await put(lake, "repo", "main", "a", b"x" * 100)
    c = await lake.commit("repo", "main", message="m", committer="t")
    await lake.create_branch("repo", "b", "main")
    await lake.create_tag("repo", "v1", "main")
    up = await lake.create_upload("repo", "main", "big", content_type="x")
    info = await lake.ingest(_one(b"p" * 10))
    await lake.put_part("repo", up.upload_id, 1, info)
    fresh = await lake.kv.read(_fresh)
    assert gcrefs.blob_ref(e.address) in fresh
    assert gcrefs.commit_ref("repo", c.id) in fresh
    assert fresh.count(gcrefs.commit_ref("repo", c.id)) == 3  # commit, branch, tag
    assert gcrefs.blob_ref(info.blob_id) in fresh
    # put, commit, branch, tag, part; and the two small blobs stored ahead (young)
    assert await lake.kv.read(gcrefs.seq) == 7


async def _one(data: bytes):  # type: ignore[no-untyped-def]
    yield data


async def test_small_blobs_stored_ahead_of_their_reference_are_young(lake: Lake) -> None:
    info = await lake.ingest(_one(b"small"))
    raw = await lake.kv.read(lambda r: r.get(gcrefs.YOUNG + gcrefs.blob_ref(info.blob_id)))
    assert raw is not None and gcrefs.young_time(raw) > 0


async def test_deleted_and_reset_refs_are_logged(lake: Lake) -> None:
    await put(lake, "repo", "main", "a", b"1")
    c1 = await lake.commit("repo", "main", message="1", committer="t")
    await lake.create_branch("repo", "dev", "main")
    await put(lake, "repo", "dev", "a", b"2")
    c2 = await lake.commit("repo", "dev", message="2", committer="t")
    await lake.hard_reset("repo", "dev", c1.id)
    await lake.create_tag("repo", "v", c2.id)
    await lake.delete_tag("repo", "v")
    await lake.delete_branch("repo", "dev")

    def logged(r: KVReader) -> set[bytes]:
        base = keys.reflogs("repo")
        return {k for k, _ in r.scan(base, keys.prefix_end(base))}

    assert await lake.kv.read(logged) == {
        keys.reflog("repo", "b", "dev", c2.id),
        keys.reflog("repo", "t", "v", c2.id),
        keys.reflog("repo", "b", "dev", c1.id),
    }


async def test_a_collected_commit_reads_as_collected_not_missing(lake: Lake) -> None:
    await put(lake, "repo", "main", "a", b"1")
    c = await lake.commit("repo", "main", message="1", committer="t")
    await lake.hard_reset("repo", "main", "main~1")

    def collect(w: KVWriter) -> None:
        w.delete(keys.commit("repo", c.id))
        w.put(keys.collected("repo", c.id), codec.pack([1.7e9, "run1"]))

    await lake.kv.write(collect)
    for ref in (c.id, c.id[:10], f"{c.id}~1"):
        with pytest.raises(errors.CommitCollected, match="removed by retention"):
            await lake.resolve_ref("repo", ref)
    with pytest.raises(errors.CommitCollected):
        await lake.stat_object("repo", c.id, "a")
    with pytest.raises(errors.CommitCollected):
        await lake.create_branch("repo", "again", c.id)
    # A prefix that matches nothing, collected or not, is still "not found".
    with pytest.raises(errors.RefNotFound) as info:
        await lake.resolve_ref("repo", "ffffffff")
    assert not isinstance(info.value, errors.Collected)


async def test_a_merge_whose_source_was_collected_meanwhile_fails_cleanly(lake: Lake) -> None:
    """Publication re-checks the commits a merge read: the new commit may reuse their nodes."""
    await lake.create_branch("repo", "dev", "main")
    await put(lake, "repo", "dev", "a", b"1")
    src = await lake.commit("repo", "dev", message="1", committer="t")
    from gateway.core import committing
    from gateway.core.view import View

    resolve = committing.make_resolver(committing.MergeStrategy.FAIL, [])
    prepared = await lake.kv.read(
        lambda r: committing.prepare_merge(
            View(r),
            lake.kv,
            "repo",
            src.id,
            "main",
            committer="t",
            message="",
            metadata=None,
            resolve=resolve,
            allow_empty=False,
            source_name="dev",
        )
    )

    def collect(w: KVWriter) -> None:
        w.delete(keys.commit("repo", src.id))
        w.put(keys.collected("repo", src.id), codec.pack([1.7e9, "run1"]))

    await lake.kv.write(collect)
    with pytest.raises(errors.CommitCollected):
        await lake.kv.write(lambda w: committing.publish(w, prepared))


async def test_a_commit_racing_the_deletion_of_a_staged_only_path_does_not_resurrect_it(
    lake: Lake,
) -> None:
    """Found by the GC concurrency test: deleting a path that is only staged drops its staged
    record; a commit prepared before that used to publish the path anyway."""
    from gateway.core import committing
    from gateway.core.view import View

    await put(lake, "repo", "main", "keep", b"k")
    await put(lake, "repo", "main", "gone", b"g")
    prepared = await lake.kv.read(
        lambda r: committing.prepare_commit(
            View(r),
            lake.kv,
            "repo",
            "main",
            message="m",
            committer="t",
            metadata=None,
            paths=None,
            allow_empty=False,
            creation_date=None,
        )
    )
    await lake.delete_object("repo", "main", "gone")  # acknowledged
    with pytest.raises(errors.BranchMoved):
        await lake.kv.write(lambda w: committing.publish(w, prepared))
    await lake.commit("repo", "main", message="m", committer="t")  # prepared again
    with pytest.raises(errors.ObjectNotFound):
        await lake.stat_object("repo", "main", "gone")
    assert (await lake.stat_object("repo", "main", "keep")).size == 1
