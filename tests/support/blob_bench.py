"""Throughput of the blob backends (not a test: numbers for docs/decisions/0003).

Usage (from the repository root)::

    PYTHONPATH=. python -m tests.support.blob_bench local [--mib 256] [--rounds 5]
    PYTHONPATH=. python -m tests.support.blob_bench local-small [--count 2000]

The S3 backend is measured end to end by ``bench/s3.py --backend s3`` (Weir on SeaweedFS against
SeaweedFS directly, docs/decisions/0020-s3-streaming-layout.md).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["local", "local-small"])
    parser.add_argument("--mib", type=int, default=0)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=None, help="scratch directory (disk!)")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="weir-blob-bench-", dir=args.dir))
    if args.what == "local":
        asyncio.run(bench_local(args.mib or 256, scratch, args.rounds))
        report()
    else:
        asyncio.run(bench_local_small(args.count, scratch))


if __name__ == "__main__":
    main()
