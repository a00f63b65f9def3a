"""Throughput of the blob backends (not a test: numbers for docs/decisions/0003).

Usage (from the repository root)::

    PYTHONPATH=. python -m tests.support.blob_bench local [--mib 256] [--rounds 5]
    PYTHONPATH=. python -m tests.support.blob_bench local-small [--count 2000]
    PYTHONPATH=. python -m tests.support.blob_bench s3 [--mib 64] [--rounds 5]

``s3`` starts its own SeaweedFS and compares the S3 backend's write strategy (spool locally,
HEAD, multipart straight to the final key) with the alternative (multipart to a temp key while
the bytes arrive, then server-side copy to the final key, then delete the temp), and reports
the SeaweedFS process's CPU per GB next to wall-clock rates.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import math
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from gateway.core.ids import BlobId
from gateway.core.ports import BlobStore
from gateway.storage.local import LocalBlobStore
from gateway.storage.s3 import S3BlobStore
from tests.support.s3servers import S3Server, start_seaweedfs

MiB = 1024 * 1024
CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def self_cpu_s() -> float:
    t = os.times()
    return t.user + t.system


RESULTS: dict[str, list[tuple[float, float, float]]] = {}


async def timed(label: str, nbytes: int, fn: Callable[[], Awaitable[Any]], pid: int = 0) -> None:
    """Run ``fn`` once; record MB/s and client (and server) CPU seconds per GB under ``label``."""
    cpu0, srv0, t0 = self_cpu_s(), proc_cpu_s(pid) if pid else 0.0, time.perf_counter()
    await fn()
    wall = time.perf_counter() - t0
    gb = nbytes / 1e9
    row = (
        nbytes / wall / 1e6,
        (self_cpu_s() - cpu0) / gb,
        (proc_cpu_s(pid) - srv0) / gb if pid else 0.0,
    )
    RESULTS.setdefault(label, []).append(row)


def report() -> None:
    """Medians per label (rates drift between runs on a shared machine: read them as ratios)."""
    print(f"{'':<42} {'MB/s':>7} {'client CPU s/GB':>16} {'server CPU s/GB':>16}  runs")
    for label, rows in RESULTS.items():
        med = [statistics.median(col) for col in zip(*rows, strict=True)]
        server = f"{med[2]:16.2f}" if med[2] else f"{'':16}"
        print(f"{label:<42} {med[0]:7.0f} {med[1]:16.2f} {server}  {len(rows)}")


async def put_stream(store: BlobStore, chunk: bytes, n: int, blob_id: BlobId) -> None:
    writer = await store.open_writer()
    for _ in range(n):
        await writer.write(chunk)
    await writer.commit(blob_id)


async def drain(store: BlobStore, blob_id: BlobId) -> None:
    async for _ in store.read(blob_id):
        pass


def fresh_id() -> BlobId:
    return BlobId(secrets.token_hex(32))  # the backends do not hash: any id will do


def raw_write_fsync(path: Path, chunk: bytes, n: int) -> None:
    """Baseline: the bare syscalls (write 1 MiB x n, fsync, rename) in one thread."""
    with open(path, "wb", buffering=0) as f:
        for _ in range(n):
            f.write(chunk)
        os.fsync(f.fileno())
    os.replace(path, path.with_suffix(".done"))
    os.unlink(path.with_suffix(".done"))


async def bench_local(mib: int, root: Path, rounds: int) -> None:
    store = LocalBlobStore(root)
    chunk = os.urandom(MiB)
    try:
        for _ in range(rounds):
            await timed(
                f"baseline: bare write+fsync {mib} MiB",
                mib * MiB,
                functools.partial(asyncio.to_thread, raw_write_fsync, root / "raw", chunk, mib),
            )
            bid = fresh_id()
            await timed(
                f"local PUT {mib} MiB, 1 MiB chunks, fsync",
                mib * MiB,
                functools.partial(put_stream, store, chunk, mib, bid),
            )
            await timed(
                f"local GET {mib} MiB (page cache)",
                mib * MiB,
                functools.partial(drain, store, bid),
            )
            await timed(
                f"local PUT {mib} MiB again (dedup)",
                mib * MiB,
                functools.partial(put_stream, store, chunk, mib, bid),
            )
            await store.delete(bid)
    finally:
        await store.close()


def raw_small_files(directory: Path, body: bytes, count: int) -> None:
    """Baseline: create + write + fsync + rename + fsync(dir), serially, in one thread."""
    directory.mkdir(exist_ok=True)
    dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for i in range(count):
            tmp = directory / f"{i}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(fd, body)
            os.fsync(fd)
            os.close(fd)
            os.replace(tmp, directory / f"{i}")
            os.fsync(dfd)
    finally:
        os.close(dfd)
    for i in range(count):
        os.unlink(directory / f"{i}")


async def bench_local_small(count: int, root: Path) -> None:
    store = LocalBlobStore(root)
    body = os.urandom(4096)
    t0 = time.perf_counter()
    await asyncio.to_thread(raw_small_files, root / "raw", body, count)
    wall = time.perf_counter() - t0
    print(f"baseline: bare 4 KiB file commits, serial: {count / wall:7.0f} /s")
    try:
        for concurrency in (1, 4, 8, 16):
            ids = [fresh_id() for _ in range(count)]
            queue = list(ids)

            async def worker(queue: list[BlobId] = queue) -> None:
                while queue:
                    await put_stream(store, body, 1, queue.pop())

            t0 = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            wall = time.perf_counter() - t0
            print(f"local 4 KiB commits, {concurrency:2} concurrent: {count / wall:7.0f} /s")
            for bid in ids:
                await store.delete(bid)
    finally:
        await store.close()


async def copy_strategy_put(store: S3BlobStore, chunk: bytes, n: int, blob_id: BlobId) -> None:
    """The alternative write path: multipart to a temp key as bytes arrive, then copy."""
    client = await store.client()
    bucket, tmp_key, key = store.bucket, f"{store.prefix}tmp/{secrets.token_hex(8)}", ""
    key = store.key_of(blob_id)
    up = await client.create_multipart_upload(Bucket=bucket, Key=tmp_key)
    parts: list[dict[str, Any]] = []
    buf = bytearray()
    inflight: list[asyncio.Task[None]] = []
    sem = asyncio.Semaphore(store.max_concurrency)

    async def send(number: int, data: bytes) -> None:
        async with sem:
            r = await client.upload_part(
                Bucket=bucket, Key=tmp_key, UploadId=up["UploadId"], PartNumber=number, Body=data
            )
            parts.append({"ETag": r["ETag"], "PartNumber": number})

    for _ in range(n):
        buf += chunk
        if len(buf) >= store.part_size:
            inflight.append(asyncio.create_task(send(len(inflight) + 1, bytes(buf))))
            buf = bytearray()
    if buf:
        inflight.append(asyncio.create_task(send(len(inflight) + 1, bytes(buf))))
    await asyncio.gather(*inflight)
    parts.sort(key=lambda p: int(p["PartNumber"]))
    await client.complete_multipart_upload(
        Bucket=bucket, Key=tmp_key, UploadId=up["UploadId"], MultipartUpload={"Parts": parts}
    )
    if (await store.head_key(key)) is None:
        await client.copy_object(
            Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": tmp_key}
        )
    await client.delete_object(Bucket=bucket, Key=tmp_key)


async def bench_s3(mib: int, server: S3Server, spool: Path, rounds: int) -> None:
    bucket = server.make_bucket("bench")
    store = S3BlobStore(
        bucket=bucket,
        endpoint_url=server.endpoint_url,
        access_key_id=server.access_key_id,
        secret_access_key=server.secret_access_key,
        spool_dir=spool,
    )
    chunk = os.urandom(MiB)
    pid = server.process.pid
    try:
        for _ in range(rounds):
            bid = fresh_id()
            await timed(
                f"s3 PUT {mib} MiB: spool + multipart",
                mib * MiB,
                functools.partial(put_stream, store, chunk, mib, bid),
                pid,
            )
            await timed(f"s3 GET {mib} MiB", mib * MiB, functools.partial(drain, store, bid), pid)
            await timed(
                f"s3 PUT {mib} MiB again (dedup: HEAD only)",
                mib * MiB,
                functools.partial(put_stream, store, chunk, mib, bid),
                pid,
            )
            bid2 = fresh_id()
            await timed(
                f"s3 PUT {mib} MiB: temp multipart + copy",
                mib * MiB,
                functools.partial(copy_strategy_put, store, chunk, mib, bid2),
                pid,
            )
            await store.delete(bid)
            await store.delete(bid2)
        print(
            f"(parts of {store.part_size // MiB} MiB, {store.max_concurrency} in flight;"
            f" {math.ceil(mib * MiB / store.part_size)} parts)"
        )
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["local", "local-small", "s3"])
    parser.add_argument("--mib", type=int, default=0)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=None, help="scratch directory (disk!)")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="weir-blob-bench-", dir=args.dir))
    if args.what == "local":
        asyncio.run(bench_local(args.mib or 256, scratch, args.rounds))
        report()
    elif args.what == "local-small":
        asyncio.run(bench_local_small(args.count, scratch))
    else:
        with start_seaweedfs(scratch / "weed") as server:
            asyncio.run(bench_s3(args.mib or 64, server, scratch / "spool", args.rounds))
            report()


if __name__ == "__main__":
    main()
