"""The BlobStore contract, run against every backend, plus local- and S3-specific behaviour."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import random
import signal
import sys
import time
from pathlib import Path

import pytest
from blake3 import blake3

from gateway.core.errors import BlobNotFound, InvalidArgument, StorageError
from gateway.core.ids import BlobId
from gateway.core.ports import BlobStore
from gateway.storage import spool as spool_module
from gateway.storage.layout import blob_key
from gateway.storage.local import READ_CHUNK, LocalBlobStore
from tests.contract.blob_fixtures import *  # noqa: F403
from tests.contract.blob_fixtures import make_s3_store
from tests.support.blob_helpers import (
    blob_hash,
    chunked,
    chunks_of,
    fake_id,
    id_of,
    listed,
    payload,
    put,
    read_all,
)

MiB = 1024 * 1024
REPO_ROOT = Path(__file__).resolve().parents[2]


def temp_files(store: BlobStore, tmp_path: Path) -> list[str]:
    """In-progress files a backend left on local disk (local temp dir, S3 spool dir)."""
    if isinstance(store, LocalBlobStore):
        return store.temp.names()
    spool = tmp_path / "weir-s3-spool"
    return sorted(os.listdir(spool)) if spool.exists() else []


class TestBlobContract:
    """Every backend: local, memory, S3 on SeaweedFS, S3 on moto."""

    async def test_roundtrip_uneven_chunks(self, blob_store: BlobStore) -> None:
        data = payload(3 * MiB + 12345)
        writer = await blob_store.open_writer()
        pieces = [data[:7], data[7:100_000], data[100_000 : 2 * MiB], data[2 * MiB :]]
        for piece in pieces:
            await writer.write(piece)
        bid = id_of(data)
        await writer.commit(bid)
        assert await read_all(blob_store, bid) == data
        stat = await blob_store.stat(bid)
        assert stat is not None and stat.size == len(data)
        assert await blob_store.exists(bid)

    async def test_empty_blob(self, blob_store: BlobStore) -> None:
        bid = await put(blob_store, b"")
        assert await chunks_of(blob_store, bid) == []
        stat = await blob_store.stat(bid)
        assert stat is not None and stat.size == 0
        assert await listed(blob_store) == [bid]

    async def test_chunk_size_boundaries(self, blob_store: BlobStore) -> None:
        for size in (READ_CHUNK, 2 * READ_CHUNK, READ_CHUNK + 1):
            data = payload(size, seed=size)
            bid = await put(blob_store, data, chunk=READ_CHUNK)
            chunks = await chunks_of(blob_store, bid)
            assert b"".join(chunks) == data
            assert max(len(c) for c in chunks) <= READ_CHUNK

    async def test_large_blob_streams_in_bounded_chunks(self, blob_store: BlobStore) -> None:
        # 20 MiB > 3 test-size S3 parts: the multipart path runs on the S3 backend.
        data = payload(20 * MiB, seed=20)
        bid = await put(blob_store, data)
        hasher, total, biggest = blake3(), 0, 0
        async for chunk in blob_store.read(bid):
            hasher.update(chunk)
            total += len(chunk)
            biggest = max(biggest, len(chunk))
        assert total == len(data)
        assert hasher.hexdigest() == bid
        assert 0 < biggest <= READ_CHUNK

    async def test_ranged_reads(self, blob_store: BlobStore) -> None:
        data = payload(3 * MiB + 5, seed=3)
        bid = await put(blob_store, data)
        ranges: list[tuple[int, int | None]] = [
            (0, 10),  # start
            (MiB - 3, 2 * MiB + 5),  # middle, across chunk boundaries
            (2 * MiB + 7, None),  # to the end
            (1000, 0),  # zero length
            (3 * MiB, 5),  # exactly the last bytes
            (3 * MiB + 2, 100),  # runs past the end: cut
            (3 * MiB + 5, None),  # at the end: nothing
            (3 * MiB + 50, 10),  # past the end: nothing
        ]
        for offset, length in ranges:
            end = None if length is None else offset + length
            got = await read_all(blob_store, bid, offset, length)
            assert got == data[offset:end], (offset, length)

    async def test_negative_range_is_rejected(self, blob_store: BlobStore) -> None:
        bid = await put(blob_store, b"abc")
        with pytest.raises(InvalidArgument):
            await read_all(blob_store, bid, -1)
        with pytest.raises(InvalidArgument):
            await read_all(blob_store, bid, 0, -1)

    async def test_invisible_until_commit(self, blob_store: BlobStore) -> None:
        data = payload(6 * MiB, seed=6)  # past the S3 in-memory limit: spooled
        bid = id_of(data)
        writer = await blob_store.open_writer()
        for piece in chunked(data, MiB):
            await writer.write(piece)
        assert not await blob_store.exists(bid)
        assert await blob_store.stat(bid) is None
        assert await listed(blob_store) == []
        with pytest.raises(BlobNotFound):
            await read_all(blob_store, bid)
        await writer.commit(bid)
        assert await read_all(blob_store, bid) == data

    @pytest.mark.parametrize("size", [1000, 6 * MiB])
    async def test_abort_leaves_nothing(
        self, blob_store: BlobStore, tmp_path: Path, size: int
    ) -> None:
        data = payload(size)
        writer = await blob_store.open_writer()
        for piece in chunked(data, MiB):
            await writer.write(piece)
        await writer.abort()
        await writer.abort()  # idempotent
        assert not await blob_store.exists(id_of(data))
        assert await listed(blob_store) == []
        assert temp_files(blob_store, tmp_path) == []
        with pytest.raises(InvalidArgument):
            await writer.commit(id_of(data))

    @pytest.mark.parametrize("yields", [0, 2])
    async def test_cancelled_commit_leaves_whole_blob_or_nothing(
        self, blob_store: BlobStore, tmp_path: Path, yields: int
    ) -> None:
        data = payload(6 * MiB, seed=yields)
        bid = id_of(data)
        writer = await blob_store.open_writer()
        for piece in chunked(data, MiB):
            await writer.write(piece)
        task = asyncio.create_task(writer.commit(bid))
        for _ in range(yields):
            await asyncio.sleep(0)  # cancel at different points of the commit (not a timed wait)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await writer.abort()  # waits for a commit that carries on in a worker thread
        assert temp_files(blob_store, tmp_path) == []
        if await blob_store.exists(bid):
            assert await read_all(blob_store, bid) == data

    async def test_commit_is_once(self, blob_store: BlobStore) -> None:
        writer = await blob_store.open_writer()
        await writer.write(b"x")
        await writer.commit(id_of(b"x"))
        with pytest.raises(InvalidArgument):
            await writer.commit(id_of(b"x"))
        with pytest.raises(InvalidArgument):
            await writer.write(b"y")

    @pytest.mark.parametrize("size", [100, 7 * MiB])
    async def test_dedup_keeps_the_first_bytes(
        self, blob_store: BlobStore, tmp_path: Path, size: int
    ) -> None:
        first = payload(size, seed=1)
        bid = await put(blob_store, first)
        # A second commit under the same id stores nothing: its (here different) bytes are
        # dropped. Real callers pass the true hash, so the bytes would be equal anyway.
        await put(blob_store, payload(size, seed=2), blob_id=bid)
        assert await read_all(blob_store, bid) == first
        assert await listed(blob_store) == [bid]
        assert temp_files(blob_store, tmp_path) == []

    async def test_concurrent_writers_of_one_id(
        self, blob_store: BlobStore, tmp_path: Path
    ) -> None:
        data = payload(6 * MiB + 1, seed=7)
        bid = id_of(data)
        writers = [await blob_store.open_writer() for _ in range(2)]

        async def write_all(i: int) -> None:
            for piece in chunked(data, 512 * 1024):
                await writers[i].write(piece)
                await asyncio.sleep(0)  # let the other writer interleave (not a timed wait)
            await writers[i].commit(bid)

        await asyncio.gather(write_all(0), write_all(1))
        assert await read_all(blob_store, bid) == data
        assert await listed(blob_store) == [bid]
        assert temp_files(blob_store, tmp_path) == []

    async def test_exists_stat_delete_list_by_prefix(self, blob_store: BlobStore) -> None:
        ids = [fake_id(h) for h in ("abcd1", "abcd2", "abce", "ab01", "a0", "ff")]
        for i, bid in enumerate(ids):
            await put(blob_store, b"x" * i, blob_id=bid)
        assert await listed(blob_store) == sorted(ids)
        assert await listed(blob_store, "a") == sorted(ids[:5])
        assert await listed(blob_store, "ab") == sorted(ids[:4])
        assert await listed(blob_store, "abc") == sorted(ids[:3])
        assert await listed(blob_store, "abcd") == sorted(ids[:2])
        assert await listed(blob_store, "abcd2") == [ids[1]]
        assert await listed(blob_store, ids[1]) == [ids[1]]
        assert await listed(blob_store, "0") == []
        stat = await blob_store.stat(ids[3])
        assert stat is not None and stat.size == 3

        await blob_store.delete(ids[0])
        await blob_store.delete(ids[0])  # missing: not an error
        assert not await blob_store.exists(ids[0])
        assert await blob_store.stat(ids[0]) is None
        assert await listed(blob_store, "abcd") == [ids[1]]
        with pytest.raises(BlobNotFound):
            await read_all(blob_store, ids[0])

    async def test_missing_blob(self, blob_store: BlobStore) -> None:
        missing = fake_id("dead")
        for offset, length in [(0, None), (5, 10), (0, 0)]:
            with pytest.raises(BlobNotFound):
                await read_all(blob_store, missing, offset, length)
        assert await blob_store.stat(missing) is None
        assert not await blob_store.exists(missing)

    async def test_invalid_ids_are_rejected(self, blob_store: BlobStore) -> None:
        for bad in ["../../etc/passwd", "ABCD" + "0" * 60, "ab", "g" * 64]:
            with pytest.raises(InvalidArgument):
                await read_all(blob_store, BlobId(bad))
            with pytest.raises(InvalidArgument):
                await blob_store.stat(BlobId(bad))
            with pytest.raises(InvalidArgument):
                await blob_store.delete(BlobId(bad))
            writer = await blob_store.open_writer()
            with pytest.raises(InvalidArgument):
                await writer.commit(BlobId(bad))
            await writer.abort()
        with pytest.raises(InvalidArgument):
            await listed(blob_store, "XY")

    async def test_reader_stopped_early(self, blob_store: BlobStore) -> None:
        data = payload(4 * MiB, seed=4)
        bid = await put(blob_store, data)
        stream = blob_store.read(bid)
        first = await anext(stream)
        await stream.aclose()  # type: ignore[attr-defined]
        assert data.startswith(first)
        assert await read_all(blob_store, bid) == data  # nothing leaked or left locked

    async def test_conditional_delete_keeps_recently_used_blobs(
        self, blob_store: BlobStore
    ) -> None:
        old, young = payload(100_000, seed=11), payload(100_000, seed=12)
        old_id = await put(blob_store, old)
        before_young = time.time()
        young_id = await put(blob_store, young)
        stat = await blob_store.stat(young_id)
        assert stat is not None and stat.mtime >= before_young - 1
        # GC's sweep: only what was not used since its mark began goes.
        assert not await blob_store.delete(young_id, unused_since=before_young - 1)
        assert await blob_store.delete(old_id, unused_since=time.time() + 1)
        assert not await blob_store.exists(old_id)
        assert await read_all(blob_store, young_id) == young
        # A dedup hit touches the blob: a sweep whose mark began before it keeps it.
        first = await blob_store.stat(young_id)
        assert first is not None
        cutoff = first.mtime + 0.01
        for _ in range(100):  # file times tick at the kernel's coarse clock: let it pass cutoff
            if time.time() > cutoff + 0.01:
                break
            await asyncio.sleep(0.005)  # bounded wait for the clock, not for another task
        await put(blob_store, young)
        touched = await blob_store.stat(young_id)
        assert touched is not None and touched.mtime > cutoff
        assert not await blob_store.delete(young_id, unused_since=cutoff)
        assert await read_all(blob_store, young_id) == young
        # Unconditional: gone, and a missing blob is no error.
        assert await blob_store.delete(young_id)
        assert not await blob_store.delete(young_id)
        assert await listed(blob_store) == []

    @pytest.mark.parametrize("size", [0, 100, 6 * MiB + 1, 12 * MiB])
    async def test_known_size_roundtrip(self, blob_store: BlobStore, size: int) -> None:
        data = payload(size, seed=size)
        writer = await blob_store.open_writer(size)
        for piece in chunked(data, 700 * 1024):  # pieces straddle part boundaries
            await writer.write(piece)
        await writer.commit(id_of(data))
        assert await blob_hash(blob_store, id_of(data)) == id_of(data)
        assert await read_all(blob_store, id_of(data), 5 * MiB - 3, 10) == data[5 * MiB - 3 :][:10]

    @pytest.mark.parametrize("size", [1000, 6 * MiB])
    async def test_known_size_is_enforced(
        self, blob_store: BlobStore, tmp_path: Path, size: int
    ) -> None:
        data = payload(size, seed=3)
        longer = await blob_store.open_writer(size - 1)
        with pytest.raises(StorageError):
            for piece in chunked(data, MiB):
                await longer.write(piece)
        await longer.abort()
        shorter = await blob_store.open_writer(size + 1)
        for piece in chunked(data, MiB):
            await shorter.write(piece)
        with pytest.raises(StorageError):
            await shorter.commit(id_of(data))
        await shorter.abort()
        assert not await blob_store.exists(id_of(data))
        assert await listed(blob_store) == []
        assert temp_files(blob_store, tmp_path) == []

    async def test_sweep_and_check(self, blob_store: BlobStore) -> None:
        await blob_store.check()
        assert await blob_store.sweep(grace=3600) == 0
        bid = await put(blob_store, payload(50_000))
        assert await blob_store.sweep(grace=0) == 0  # a stored blob is not a leftover
        assert await read_all(blob_store, bid) == payload(50_000)


class TestWriteFailures:
    """A failed disk write (ENOSPC, EIO) must never let a blob with a hole be published."""

    @pytest.mark.parametrize("backend", ["local", "s3-moto"])
    async def test_failed_write_poisons_the_writer(
        self,
        backend: str,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        request: pytest.FixtureRequest,
    ) -> None:
        store: BlobStore
        if backend == "local":
            store = LocalBlobStore(tmp_path / "blobs")
        else:
            store = make_s3_store(
                request.getfixturevalue("moto_server"),
                request.getfixturevalue("moto_bucket"),
                tmp_path,
            )
            # The memory budget is spent (by others): this writer spools to local disk.
            store.budget.force_take(store.budget.limit)
        real_write_all = spool_module._write_all
        calls = 0

        def failing_write_all(fd: int, pieces: list[bytes | bytearray]) -> None:
            nonlocal calls
            calls += 1
            if calls == 2:
                raise OSError(errno.ENOSPC, "No space left on device")
            real_write_all(fd, pieces)

        monkeypatch.setattr(spool_module, "_write_all", failing_write_all)
        data = payload(8 * MiB)
        try:
            writer = await store.open_writer()
            errors = 0
            for piece in chunked(data, MiB):
                try:
                    await writer.write(piece)
                except StorageError:
                    errors += 1  # a careless caller that carries on
            with pytest.raises(StorageError):
                await writer.commit(id_of(data))
            assert errors >= 1
            await writer.abort()
            assert not await store.exists(id_of(data))
            assert temp_files(store, tmp_path) == []
        finally:
            await store.close()


class TestLocalBlobStore:
    async def test_local_path_and_capabilities(self, tmp_path: Path) -> None:
        store = LocalBlobStore(tmp_path)
        try:
            bid = await put(store, b"hello")
            assert store.capabilities.local_files
            path = store.local_path(bid)
            assert path == tmp_path / blob_key(bid)
            assert path.read_bytes() == b"hello"
        finally:
            await store.close()

    async def test_small_blob_touches_disk_only_at_commit(self, tmp_path: Path) -> None:
        store = LocalBlobStore(tmp_path)
        try:
            writer = await store.open_writer()
            await writer.write(b"small")
            assert store.temp.names() == []  # buffered: no temp file yet
            await writer.commit(id_of(b"small"))
            assert store.local_path(id_of(b"small")).read_bytes() == b"small"
            assert store.temp.names() == []
        finally:
            await store.close()

    async def test_start_sweeps_stale_temps_but_not_live_ones(self, tmp_path: Path) -> None:
        store = LocalBlobStore(tmp_path)
        live = await store.open_writer()
        data = payload(600_000)
        for piece in chunked(data, 300_000):  # big enough to create the temp file
            await live.write(piece)  # the second write waits for the first
        (tmp_path / "tmp" / "stale.tmp").write_bytes(b"left by a crash")
        second = LocalBlobStore(tmp_path)  # e.g. a restart racing with an old process
        try:
            assert len(second.temp.names()) == 1  # only the live writer's file
            await live.commit(id_of(data))
            assert await read_all(second, id_of(data)) == data
            assert second.temp.names() == []
        finally:
            await store.close()
            await second.close()

    @pytest.mark.parametrize("seed", [1, 2, 3])
    async def test_crash_leaves_only_whole_blobs(self, tmp_path: Path, seed: int) -> None:
        root = tmp_path / "store"
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
        proc = await asyncio.create_subprocess_exec(
            *[sys.executable, "-m", "tests.support.blob_crash_child", str(root), str(seed)],
            cwd=REPO_ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
        )
        committed: list[BlobId] = []
        try:
            assert proc.stdout is not None
            assert await proc.stdout.readline() == b"ready\n"
            for _ in range(random.Random(seed).randint(1, 60)):  # a random point in the stream
                line = (await proc.stdout.readline()).decode()
                assert line, "child died"
                if line.startswith("committed "):
                    committed.append(BlobId(line.split()[1]))
            proc.send_signal(signal.SIGKILL)
            # Commits that completed between our last read and the kill are reported too.
            rest = (await proc.stdout.read()).decode().splitlines()
            committed += [BlobId(x.split()[1]) for x in rest if x.startswith("committed ")]
        finally:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()
        assert os.listdir(root / "tmp"), "the child always has a writer in flight"

        store = LocalBlobStore(root)
        try:
            assert store.temp.names() == []
            for bid in committed:
                assert await blob_hash(store, bid) == bid
            for bid in await listed(store):  # nothing torn is visible either
                assert await blob_hash(store, bid) == bid
        finally:
            await store.close()
