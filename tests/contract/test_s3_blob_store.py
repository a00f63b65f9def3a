"""The S3 backend beyond the shared contract: streaming to unique physical keys, the blob index,
dedup, the memory budget, crash cleanup (sweep), and store failures.

Real servers (SeaweedFS, moto) started by the tests; the blob index in an in-memory or LMDB
metadata store.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway.core import blobindex
from gateway.core.errors import StorageError, StorageFault
from gateway.core.ids import BlobId
from gateway.meta.lmdb_store import LmdbKVStore
from gateway.meta.memory_store import MemoryKVStore
from gateway.storage.s3 import S3BlobStore
from tests.contract.blob_fixtures import *  # noqa: F403
from tests.contract.blob_fixtures import S3_TEST_PART_SIZE, make_s3_store
from tests.support.blob_helpers import blob_hash, chunked, id_of, listed, payload, put, read_all
from tests.support.faulty_proxy import Fault, FaultyProxy
from tests.support.s3servers import S3Server, free_port_block

MiB = 1024 * 1024
REPO_ROOT = Path(__file__).resolve().parents[2]


def objects(server: S3Server, bucket: str, prefix: str) -> list[dict[str, Any]]:
    """Every object under ``prefix`` (paginated)."""
    out: list[dict[str, Any]] = []
    for page in (
        server.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    ):
        out += page.get("Contents", [])
    return out


def uploads(server: S3Server, bucket: str, prefix: str) -> list[dict[str, Any]]:
    resp = server.client().list_multipart_uploads(Bucket=bucket, Prefix=prefix)
    return list(resp.get("Uploads", []))


async def pending(store: S3BlobStore) -> list[blobindex.PendingUpload]:
    return await store.kv.read(blobindex.pending)


async def data_tokens(server: S3Server, bucket: str, store: S3BlobStore) -> set[str]:
    return {o["Key"].rsplit("/", 1)[1] for o in objects(server, bucket, store.prefix + "data/")}


async def indexed_tokens(store: S3BlobStore) -> set[str]:
    return {loc.token for _, loc in await store.kv.read(blobindex.scan)}


@pytest.fixture
async def sfs_store(seaweedfs_server: S3Server, seaweedfs_bucket: str, tmp_path: Path) -> Any:
    store = make_s3_store(seaweedfs_server, seaweedfs_bucket, tmp_path)
    try:
        yield store
    finally:
        await store.close()


async def test_large_blob_streams_to_a_unique_key(
    seaweedfs_server: S3Server, seaweedfs_bucket: str, sfs_store: S3BlobStore, tmp_path: Path
) -> None:
    data = payload(2 * S3_TEST_PART_SIZE + 1)
    bid = id_of(data)
    writer = await sfs_store.open_writer()
    for piece in chunked(data[: S3_TEST_PART_SIZE + MiB], MiB):
        await writer.write(piece)
    # The upload started with the first part, before the hash (or the end) is known ...
    for _ in range(200):  # bounded: the part upload is in flight in the background
        if uploads(seaweedfs_server, seaweedfs_bucket, sfs_store.prefix):
            break
        await asyncio.sleep(0.05)
    assert [u["Key"] for u in uploads(seaweedfs_server, seaweedfs_bucket, sfs_store.prefix)] == [
        f"{sfs_store.prefix}data/{(await pending(sfs_store))[0].token}"
    ]
    assert not await sfs_store.exists(bid)  # ... and nothing is visible before commit
    for piece in chunked(data[S3_TEST_PART_SIZE + MiB :], MiB):
        await writer.write(piece)
    await writer.commit(bid)
    loc = sfs_store.kv.read_sync(lambda r: blobindex.lookup(r, bid))
    assert loc is not None and loc.size == len(data)
    head = seaweedfs_server.client().head_object(Bucket=seaweedfs_bucket, Key=sfs_store.key_of(bid))
    assert sfs_store.key_of(bid) == f"{sfs_store.prefix}data/{loc.token}"
    assert head["ContentLength"] == len(data)
    assert int(head["ETag"].strip('"').rsplit("-", 1)[1]) >= 2  # a multipart upload
    assert uploads(seaweedfs_server, seaweedfs_bucket, sfs_store.prefix) == []
    assert await pending(sfs_store) == []
    assert not (tmp_path / "weir-s3-spool").exists() or not os.listdir(tmp_path / "weir-s3-spool")
    assert await blob_hash(sfs_store, bid) == bid


@pytest.mark.parametrize("size", [100_000, 2 * S3_TEST_PART_SIZE + 7])
async def test_known_content_is_not_stored_twice(
    seaweedfs_server: S3Server, seaweedfs_bucket: str, sfs_store: S3BlobStore, size: int
) -> None:
    data = payload(size, seed=size)
    bid = await put(sfs_store, data)
    first = await data_tokens(seaweedfs_server, seaweedfs_bucket, sfs_store)
    for _ in range(2):
        await put(sfs_store, data)
    assert await data_tokens(seaweedfs_server, seaweedfs_bucket, sfs_store) == first
    assert len(first) == 1
    assert uploads(seaweedfs_server, seaweedfs_bucket, sfs_store.prefix) == []
    assert await pending(sfs_store) == []
    assert await read_all(sfs_store, bid) == data


async def test_concurrent_writers_of_the_same_bytes_leave_one_object(
    seaweedfs_server: S3Server, seaweedfs_bucket: str, sfs_store: S3BlobStore
) -> None:
    data = payload(S3_TEST_PART_SIZE + 3 * MiB, seed=9)
    bid = id_of(data)
    writers = [await sfs_store.open_writer() for _ in range(3)]
    for piece in chunked(data, MiB):
        for w in writers:
            await w.write(piece)
    await asyncio.gather(*(w.commit(bid) for w in writers))
    assert await data_tokens(seaweedfs_server, seaweedfs_bucket, sfs_store) == await indexed_tokens(
        sfs_store
    )
    assert len(await indexed_tokens(sfs_store)) == 1
    assert await pending(sfs_store) == []
    assert await read_all(sfs_store, bid) == data


async def test_buffered_writers_past_the_budget_spool(
    sfs_store: S3BlobStore, tmp_path: Path
) -> None:
    sfs_store.budget.limit = MiB
    blobs = [payload(768 * 1024, seed=i) for i in range(3)]
    writers = [await sfs_store.open_writer() for _ in blobs]
    for data, writer in zip(blobs, writers, strict=True):
        for piece in chunked(data, 64 * 1024):
            await writer.write(piece)
        assert sfs_store.buffered_bytes <= MiB
    assert sfs_store.buffered_bytes == len(blobs[0])  # the other two went to disk
    for data, writer in zip(blobs, writers, strict=True):
        await writer.commit(id_of(data))
    assert sfs_store.buffered_bytes == 0
    for data in blobs:
        assert await read_all(sfs_store, id_of(data)) == data
    assert os.listdir(tmp_path / "weir-s3-spool") == []


async def test_streaming_writers_wait_for_memory(sfs_store: S3BlobStore) -> None:
    limit = sfs_store.budget.limit = 2 * S3_TEST_PART_SIZE
    peak = 0
    blobs = [payload(3 * S3_TEST_PART_SIZE + 1000, seed=20 + i) for i in range(3)]

    async def write(data: bytes) -> None:
        nonlocal peak
        writer = await sfs_store.open_writer()
        for piece in chunked(data, MiB):
            await writer.write(piece)
            peak = max(peak, sfs_store.buffered_bytes)
        await writer.commit(id_of(data))

    await asyncio.gather(*(write(d) for d in blobs))
    # Three writers of three parts each never held more than the budget plus one chunk each.
    assert peak <= limit + 3 * MiB
    assert sfs_store.buffered_bytes == 0
    for data in blobs:
        assert await blob_hash(sfs_store, id_of(data)) == id_of(data)


async def test_sweep_removes_what_interrupted_uploads_left(
    seaweedfs_server: S3Server, seaweedfs_bucket: str, sfs_store: S3BlobStore
) -> None:
    # An upload interrupted mid-stream (its process died: the writer is just dropped) ...
    streaming = await sfs_store.open_writer()
    for piece in chunked(payload(S3_TEST_PART_SIZE + MiB), MiB):
        await streaming.write(piece)
    assert streaming._start is not None
    await streaming._start
    # ... and one whose object was completed but not recorded before the crash.
    token = blobindex.new_token()
    await sfs_store.kv.write(lambda w: blobindex.begin_upload(w, token, 0.0))
    await sfs_store.put_object(token, b"orphan")
    kept = await put(sfs_store, payload(200_000))
    assert len(await pending(sfs_store)) == 2

    assert await sfs_store.sweep(grace=3600) == 1  # only the old one; the young one may be live
    assert await sfs_store.sweep(grace=0) == 1
    assert await pending(sfs_store) == []
    assert uploads(seaweedfs_server, seaweedfs_bucket, sfs_store.prefix) == []
    assert await data_tokens(seaweedfs_server, seaweedfs_bucket, sfs_store) == await indexed_tokens(
        sfs_store
    )
    assert await read_all(sfs_store, kept) == payload(200_000)


async def test_a_writer_older_than_the_grace_loses_to_the_sweep(
    seaweedfs_server: S3Server, seaweedfs_bucket: str, sfs_store: S3BlobStore
) -> None:
    data = payload(S3_TEST_PART_SIZE + 2 * MiB, seed=5)
    writer = await sfs_store.open_writer()
    for piece in chunked(data, MiB):
        await writer.write(piece)
    assert writer._start is not None
    await writer._start  # the pending record is written
    assert await sfs_store.sweep(grace=0) == 1  # claims the live upload
    with pytest.raises(StorageError):
        await writer.commit(id_of(data))
    await writer.abort()
    assert not await sfs_store.exists(id_of(data))
    assert await pending(sfs_store) == []
    assert uploads(seaweedfs_server, seaweedfs_bucket, sfs_store.prefix) == []
    assert await data_tokens(seaweedfs_server, seaweedfs_bucket, sfs_store) == set()


async def test_gc_delete_removes_the_object(
    seaweedfs_server: S3Server, seaweedfs_bucket: str, sfs_store: S3BlobStore
) -> None:
    bid = await put(sfs_store, payload(300_000))
    assert await listed(sfs_store) == [bid]
    assert await sfs_store.delete(bid)
    assert await data_tokens(seaweedfs_server, seaweedfs_bucket, sfs_store) == set()
    assert await pending(sfs_store) == []


@pytest.mark.parametrize("size", [10, 6 * MiB])
async def test_failed_commit_raises_storage_error_and_cleans_up(
    moto_server: S3Server, tmp_path: Path, size: int
) -> None:
    store = make_s3_store(moto_server, "no-such-bucket", tmp_path)
    try:
        writer = await store.open_writer()
        for piece in chunked(payload(size), MiB):
            await writer.write(piece)
        with pytest.raises(StorageFault):  # a missing bucket: retrying does not help
            await writer.commit(id_of(payload(size)))
        await writer.abort()  # safe after a failed commit
        assert store.buffered_bytes == 0
    finally:
        await store.close()


async def test_unreachable_store_is_a_retryable_storage_error(tmp_path: Path) -> None:
    port = free_port_block(1)  # nothing listens there
    store = S3BlobStore(
        kv=MemoryKVStore(),
        bucket="b",
        endpoint_url=f"http://127.0.0.1:{port}",
        max_attempts=2,
        access_key_id="k",
        secret_access_key="s",
        spool_dir=tmp_path,
    )
    try:
        with pytest.raises(StorageError) as info:
            await read_all(store, BlobId("ab" * 32))
        assert not isinstance(info.value, StorageFault)
        with pytest.raises(StorageError, match="HeadBucket"):
            await store.check()
        writer = await store.open_writer()
        await writer.write(b"x" * 100_000)
        with pytest.raises(StorageError):
            await writer.commit(id_of(b"x" * 100_000))
        await writer.abort()
    finally:
        await store.close()


async def test_read_resumes_after_a_broken_connection(
    moto_server: S3Server, moto_bucket: str, tmp_path: Path
) -> None:
    data = payload(4 * MiB + 17)
    proxy = FaultyProxy(moto_server.endpoint_url, cut_gets=2, cut_after=1536 * 1024)
    store = make_s3_store(moto_server, moto_bucket, tmp_path)
    store_via_proxy = S3BlobStore(
        kv=store.kv,
        bucket=moto_bucket,
        prefix=store.prefix,
        endpoint_url=await proxy.start(),
        access_key_id="k",
        secret_access_key="s",
        read_resumes=2,
    )
    try:
        bid = await put(store, data)
        assert await read_all(store_via_proxy, bid, 5) == data[5:]
        assert proxy.cuts_done == 2
        proxy.cuts_left, proxy.cut_after = 3, 512 * 1024  # one break more than tolerated
        with pytest.raises(StorageError):
            await read_all(store_via_proxy, bid)
    finally:
        await store_via_proxy.close()
        await store.close()
        await proxy.close()


async def test_streamed_parts_are_sent_again_from_memory(
    moto_server: S3Server, moto_bucket: str, tmp_path: Path
) -> None:
    """A streamed part whose connection is reset mid-body is retried from the bytes the writer
    kept; a streamed upload abandoned half-way leaves nothing behind."""
    proxy = FaultyProxy(moto_server.endpoint_url)
    endpoint = await proxy.start()
    store = S3BlobStore(
        kv=MemoryKVStore(),
        bucket=moto_bucket,
        prefix=f"stream-{os.getpid()}",
        endpoint_url=endpoint,
        access_key_id="k",
        secret_access_key="s",
        part_size=S3_TEST_PART_SIZE,
        max_attempts=3,
    )
    try:
        data = payload(2 * S3_TEST_PART_SIZE + 1234, seed=31)
        reset = proxy.inject(Fault("reset", "PUT", "partNumber=2", after=MiB))
        writer = await store.open_writer(len(data))
        for piece in chunked(data, 300 * 1024):
            await writer.write(piece)
        await writer.commit(id_of(data))
        assert reset.fired == 1
        assert await blob_hash(store, id_of(data)) == id_of(data)

        abandoned = await store.open_writer(len(data))
        for piece in chunked(data[: S3_TEST_PART_SIZE + MiB], MiB):
            await abandoned.write(piece)
        await abandoned.abort()
        assert uploads(moto_server, moto_bucket, store.prefix) == []
        assert await pending(store) == []
        assert store.buffered_bytes == 0
    finally:
        await store.close()
        await proxy.close()


@pytest.mark.parametrize("seed", [1, 2])
async def test_crash_leaves_only_whole_blobs(
    seaweedfs_server: S3Server, seaweedfs_bucket: str, tmp_path: Path, seed: int
) -> None:
    meta = tmp_path / "meta"
    meta.mkdir()
    prefix = f"crash-{seed}-{os.getpid()}/"
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    argv = [
        sys.executable,
        "-m",
        "tests.support.s3_crash_child",
        str(meta),
        seaweedfs_server.endpoint_url,
        seaweedfs_server.access_key_id,
        seaweedfs_server.secret_access_key,
        seaweedfs_bucket,
        prefix,
        str(seed),
    ]
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=REPO_ROOT, env=env, stdout=asyncio.subprocess.PIPE
    )
    committed: list[BlobId] = []
    try:
        assert proc.stdout is not None
        assert await proc.stdout.readline() == b"ready\n"
        for _ in range(random.Random(seed).randint(4, 25)):  # a random point in the stream
            line = (await proc.stdout.readline()).decode()
            assert line, "child died"
            if line.startswith("committed "):
                committed.append(BlobId(line.split()[1]))
        proc.send_signal(signal.SIGKILL)
        rest = (await proc.stdout.read()).decode().splitlines()
        committed += [BlobId(x.split()[1]) for x in rest if x.startswith("committed ")]
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
    assert uploads(seaweedfs_server, seaweedfs_bucket, prefix), "an upload was in flight"

    kv = LmdbKVStore(meta)
    store = S3BlobStore(
        kv=kv,
        bucket=seaweedfs_bucket,
        prefix=prefix,
        endpoint_url=seaweedfs_server.endpoint_url,
        access_key_id=seaweedfs_server.access_key_id,
        secret_access_key=seaweedfs_server.secret_access_key,
        part_size=S3_TEST_PART_SIZE,
        spool_dir=tmp_path / "spool",
    )
    try:
        assert await store.sweep(grace=0) >= 1
        for bid in committed:  # every acknowledged blob is there, whole
            assert await blob_hash(store, bid) == bid
        for bid in await listed(store):  # nothing torn is visible either
            assert await blob_hash(store, bid) == bid
        assert uploads(seaweedfs_server, seaweedfs_bucket, prefix) == []
        assert await pending(store) == []
        # Exactly the recorded objects remain: no orphan in the bucket.
        keys = {o["Key"] for o in objects(seaweedfs_server, seaweedfs_bucket, prefix)}
        assert keys == {store.physical_key(t) for t in await indexed_tokens(store)}
    finally:
        await store.close()
        kv.close()
