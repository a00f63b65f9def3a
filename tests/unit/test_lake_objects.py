"""Objects, staging, listing, blobs and multipart through the facade."""

from __future__ import annotations

import hashlib

import pytest

from gateway.core import errors
from gateway.core.lake import INLINE_LIMIT, Conditions, Lake
from gateway.core.model import BlobInfo
from tests.unit.lake_helpers import chunks_of, memory_lake, put, read, state


@pytest.fixture
async def lake() -> Lake:
    lk = memory_lake()
    await lk.create_repository("repo")
    return lk


async def test_ingest_hashes_and_dedups(lake: Lake) -> None:
    data = b"hello world" * 10_000  # above the inline limit: goes to the blob backend
    a = await lake.ingest(chunks_of(data, 1000))
    b = await lake.ingest(chunks_of(data, 3333))
    assert a == b and a.md5_hex == hashlib.md5(data).hexdigest() and a.size == len(data)
    assert [x async for x in lake.blobs.list()] == [a.blob_id]


async def test_small_blobs_live_in_the_metadata_store(lake: Lake) -> None:
    small = b"s" * INLINE_LIMIT
    info = await lake.ingest(chunks_of(small, 1000))
    assert [x async for x in lake.blobs.list()] == []  # no file for a small object
    assert stored_blobs(lake) == [info.blob_id]
    entry = await put(lake, "repo", "main", "small", small)
    assert entry.address == info.blob_id and lake.local_path(entry) is None
    assert await read(lake, "repo", "main", "small") == small
    part = b"".join([c async for c in lake.read_entry(entry, 10, 5)])
    assert part == small[10:15]
    empty = await lake.ingest(chunks_of(b""))
    assert empty.size == 0 and [x async for x in lake.blobs.list()] == []


def stored_blobs(lake: Lake) -> list[str]:
    """Every blob id stored, in the backend or inline in the metadata store."""
    inline = lake.kv.read_sync(lambda r: [k[2:].decode() for k, _ in r.scan(b"I/", b"I0")])
    return inline


@pytest.mark.parametrize("size", [3, 3 * INLINE_LIMIT])
async def test_ingest_check_failure_stores_nothing(lake: Lake, size: int) -> None:
    def refuse(info: BlobInfo, digests: object) -> None:
        raise errors.BadDigest("no")

    with pytest.raises(errors.BadDigest):
        await lake.ingest(chunks_of(b"a" * size, 1000), check=refuse)
    assert [x async for x in lake.blobs.list()] == [] and stored_blobs(lake) == []


@pytest.mark.parametrize("size", [7, 3 * INLINE_LIMIT])
async def test_ingest_aborts_when_body_fails(lake: Lake, size: int) -> None:
    async def broken():  # type: ignore[no-untyped-def]
        yield b"p" * size
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await lake.ingest(broken())
    assert [x async for x in lake.blobs.list()] == [] and stored_blobs(lake) == []


async def test_put_stat_delete_and_tombstones(lake: Lake) -> None:
    await put(lake, "repo", "main", "a/b.txt", b"1", owner="me")
    e = await lake.stat_object("repo", "main", "a/b.txt")
    assert e.metadata == {"owner": "me"} and e.size == 1
    await lake.commit("repo", "main", message="c", committer="t")
    assert await lake.delete_object("repo", "main", "a/b.txt") is True
    with pytest.raises(errors.ObjectNotFound):
        await lake.stat_object("repo", "main", "a/b.txt")
    assert await read(lake, "repo", "main@", "a/b.txt") == b"1"
    assert await lake.delete_object("repo", "main", "a/b.txt") is False
    assert await lake.delete_object("repo", "main", "never") is False
    with pytest.raises(errors.InvalidPath):
        await put(lake, "repo", "main", "x\x00y", b"1")
    with pytest.raises(errors.InvalidPath):
        await put(lake, "repo", "main", "k" * 1025, b"1")


async def test_delete_objects_reports_per_key(lake: Lake) -> None:
    await put(lake, "repo", "main", "a", b"1")
    res = await lake.delete_objects("repo", "main", ["a", "b", ""])
    assert res[0] == ("existed", None) and res[1] == ("missing", None)
    assert isinstance(res[2][1], errors.InvalidPath)


async def test_listing_overlays_staging_and_paginates(lake: Lake) -> None:
    for p in ("a", "b", "c/1", "c/2", "d"):
        await put(lake, "repo", "main", p, p.encode())
    await lake.commit("repo", "main", message="c", committer="t")
    await put(lake, "repo", "main", "b", b"B")
    await put(lake, "repo", "main", "bb", b"bb")
    await lake.delete_object("repo", "main", "c/1")
    assert await state(lake, "repo", "main") == {
        "a": b"a",
        "b": b"B",
        "bb": b"bb",
        "c/2": b"c/2",
        "d": b"d",
    }
    assert await state(lake, "repo", "main@") == {
        "a": b"a",
        "b": b"b",
        "c/1": b"c/1",
        "c/2": b"c/2",
        "d": b"d",
    }


async def test_listing_with_delimiter_and_prefix(lake: Lake) -> None:
    for p in ("x/1", "x/2", "y/z/1", "y/z/2", "y/a", "top"):
        await put(lake, "repo", "main", p, b".")
    page = await lake.list_objects("repo", "main", delimiter="/")
    assert [p for p, _ in page.objects] == ["top"] and page.prefixes == ["x/", "y/"]
    page = await lake.list_objects("repo", "main", prefix="y/", delimiter="/")
    assert [p for p, _ in page.objects] == ["y/a"] and page.prefixes == ["y/z/"]
    # Pagination over prefixes and objects mixed, one row per page.
    rows: list[str] = []
    after = ""
    while True:
        page = await lake.list_objects("repo", "main", delimiter="/", after=after, limit=1)
        rows += [p for p, _ in page.objects] + page.prefixes
        if not page.truncated:
            break
        assert page.next_after is not None
        after = page.next_after
    assert rows == ["top", "x/", "y/"]
    empty = await lake.list_objects("repo", "main", prefix="nothing/")
    assert empty.objects == [] and not empty.truncated


async def test_conditional_put(lake: Lake) -> None:
    e = await put(lake, "repo", "main", "a", b"1")
    info = await lake.ingest(chunks_of(b"2"))
    new = type(e)(address=info.blob_id, size=1, etag=info.md5_hex)
    with pytest.raises(errors.PreconditionFailed):
        await lake.put_object(
            "repo", "main", "a", new, conditions=Conditions(if_none_match_any=True)
        )
    with pytest.raises(errors.PreconditionFailed):
        await lake.put_object("repo", "main", "a", new, conditions=Conditions(if_match="nope"))
    await lake.put_object("repo", "main", "a", new, conditions=Conditions(if_match=f'"{e.etag}"'))
    assert await read(lake, "repo", "main", "a") == b"2"
    await lake.put_object("repo", "main", "b", new, conditions=Conditions(if_none_match_any=True))


async def test_reset_variants(lake: Lake) -> None:
    await put(lake, "repo", "main", "keep", b"k")
    await lake.commit("repo", "main", message="c", committer="t")
    for p in ("d/1", "d/2", "e"):
        await put(lake, "repo", "main", p, b"x")
    await lake.reset_path("repo", "main", "e")
    assert set(await state(lake, "repo", "main")) == {"keep", "d/1", "d/2"}
    await lake.reset_path("repo", "main", "d/", prefix=True)
    assert set(await state(lake, "repo", "main")) == {"keep"}
    await put(lake, "repo", "main", "z", b"x")
    await lake.reset_branch("repo", "main")
    assert set(await state(lake, "repo", "main")) == {"keep"}
    assert (await lake.diff_uncommitted("repo", "main")).changes == []


async def test_multipart_compose_and_ranges(lake: Lake) -> None:
    up = await lake.create_upload("repo", "main", "big", content_type="application/x")
    p1 = b"a" * (5 << 20)
    p2 = b"tail-bytes"
    i1 = await lake.ingest(chunks_of(p1, 1 << 20))
    i2 = await lake.ingest(chunks_of(p2))
    await lake.put_part("repo", up.upload_id, 1, i1)
    await lake.put_part("repo", up.upload_id, 2, i2)
    parts, more = await lake.list_parts("repo", up.upload_id)
    assert [p.number for p in parts] == [1, 2] and not more
    uploads, _ = await lake.list_uploads("repo")
    assert [u.upload_id for u in uploads] == [up.upload_id]
    with pytest.raises(errors.ObjectNotFound):  # an incomplete upload is invisible
        await lake.stat_object("repo", "main", "big")
    with pytest.raises(errors.InvalidPartOrder):
        await lake.complete_upload("repo", up.upload_id, [(2, i2.md5_hex), (1, i1.md5_hex)])
    with pytest.raises(errors.InvalidPart):
        await lake.complete_upload("repo", up.upload_id, [(1, "bad"), (2, i2.md5_hex)])
    entry = await lake.complete_upload(
        "repo", up.upload_id, [(1, i1.md5_hex), (2, f'"{i2.md5_hex}"')]
    )
    md5s = bytes.fromhex(i1.md5_hex) + bytes.fromhex(i2.md5_hex)
    assert entry.etag == hashlib.md5(md5s).hexdigest() + "-2"
    assert entry.size == len(p1) + len(p2) and entry.is_multipart
    assert lake.local_path(entry) is None
    got = b"".join([c async for c in lake.read_entry(entry, len(p1) - 3, 8)])
    assert got == b"aaatail-"
    assert await read(lake, "repo", "main", "big") == p1 + p2
    with pytest.raises(errors.UploadNotFound):
        await lake.get_upload("repo", up.upload_id)


async def test_multipart_small_part_and_abort(lake: Lake) -> None:
    up = await lake.create_upload("repo", "main", "x", content_type="a/b")
    small = await lake.ingest(chunks_of(b"small"))
    await lake.put_part("repo", up.upload_id, 1, small)
    await lake.put_part("repo", up.upload_id, 2, small)
    with pytest.raises(errors.EntityTooSmall):
        await lake.complete_upload("repo", up.upload_id, [(1, small.md5_hex), (2, small.md5_hex)])
    await lake.abort_upload("repo", up.upload_id)
    with pytest.raises(errors.UploadNotFound):
        await lake.put_part("repo", up.upload_id, 3, small)
    with pytest.raises(errors.UploadNotFound):
        await lake.abort_upload("repo", "0" * 32)


async def test_put_objects_stages_a_batch_atomically(lake: Lake) -> None:
    e = await put(lake, "repo", "main", "seed", b"s")
    assert await lake.put_objects("repo", "main", [("b1", e), ("b2", e)]) == 2
    assert set(await state(lake, "repo", "main")) == {"seed", "b1", "b2"}
    with pytest.raises(errors.InvalidPath):
        await lake.put_objects("repo", "main", [("ok", e), ("", e)])
    assert "ok" not in await state(lake, "repo", "main")


async def test_deferred_small_blob_is_stored_with_its_object_only(lake: Lake) -> None:
    info = await lake.ingest(chunks_of(b"deferred"), defer_inline=True)
    assert info.data == b"deferred" and stored_blobs(lake) == []
    entry = type(await put(lake, "repo", "main", "seed", b"x"))(
        address=info.blob_id, size=info.size, etag=info.md5_hex
    )
    with pytest.raises(errors.PreconditionFailed):  # a refused write stores nothing
        await lake.put_object(
            "repo", "main", "seed", entry, blob=info, conditions=Conditions(if_none_match_any=True)
        )
    assert info.blob_id not in stored_blobs(lake)
    await lake.put_object("repo", "main", "d", entry, blob=info)
    assert await read(lake, "repo", "main", "d") == b"deferred"
    up = await lake.create_upload("repo", "main", "mp", content_type="a/b")
    part_info = await lake.ingest(chunks_of(b"part"), defer_inline=True)
    part = await lake.put_part("repo", up.upload_id, 1, part_info)
    assert part.blob.data is None and part_info.blob_id in stored_blobs(lake)
