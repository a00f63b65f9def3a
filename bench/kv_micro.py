"""Micro-benchmarks of the LMDB metadata store: group commit, point gets, ordered scans.

Run: ``PYTHONPATH=. python bench/kv_micro.py [--dir DIR]``. Every loop is bounded; the store
lives in a temporary directory (on the file system of ``--dir``, which decides the fsync cost).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path

import lmdb

from gateway.core.ports import KVReader, KVWriter
from gateway.meta.lmdb_store import LmdbKVStore


def _put(key: bytes, w: KVWriter) -> None:
    w.put(key, b"v" * 100)


def _put_many(keys: list[bytes], w: KVWriter) -> None:
    for key in keys:
        w.put(key, b"e" * 120)


def _get(key: bytes, r: KVReader) -> bytes | None:
    return r.get(key)


async def _writes(store: LmdbKVStore, concurrency: int, total: int) -> float:
    """Small writes through ``write()`` from ``concurrency`` tasks; returns ops/s."""

    async def worker(first: int) -> None:
        for i in range(first, total, concurrency):
            await store.write(partial(_put, b"w/%08d" % i))

    start = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in range(concurrency)))
    return total / (time.perf_counter() - start)


def bench_fsync(base: Path, n: int = 300) -> str:
    """Raw cost of one durable LMDB commit here (the ceiling of one-commit-per-write)."""
    env = lmdb.open(str(base / "raw"), map_size=1 << 30)
    try:
        t = time.perf_counter()
        for i in range(n):
            with env.begin(write=True) as txn:
                txn.put(b"%d" % i, b"v")
        per = (time.perf_counter() - t) / n
    finally:
        env.close()
    return f"raw durable LMDB commit: {per * 1e6:,.0f} us ({1 / per:,.0f} commits/s)"


def bench_writes(base: Path, rounds: int = 3) -> list[str]:
    """Group commit against one commit per write, interleaved so disk noise hits both alike."""
    rates: dict[tuple[int, str], list[float]] = {}
    batch_sizes: dict[int, list[float]] = {}
    for r in range(rounds):
        for concurrency in (1, 16, 64):
            for label, batch in (("group", 256), ("single", 1)):
                total = 300 if batch == 1 else max(300, 60 * concurrency)
                store = LmdbKVStore(base / f"w-{r}-{label}-{concurrency}", max_batch_ops=batch)
                try:
                    rate = asyncio.run(_writes(store, concurrency, total))
                    commits = store.commit_count
                finally:
                    store.close()
                rates.setdefault((concurrency, label), []).append(rate)
                if label == "group":
                    batch_sizes.setdefault(concurrency, []).append(total / commits)
    lines = [
        "| writers | group commit ops/s | writes per commit | one commit per write ops/s |",
        "|---|---|---|---|",
    ]
    for concurrency in (1, 16, 64):
        group = statistics.median(rates[(concurrency, "group")])
        single = statistics.median(rates[(concurrency, "single")])
        per_commit = statistics.median(batch_sizes[concurrency])
        lines.append(f"| {concurrency} | {group:,.0f} | {per_commit:.1f} | {single:,.0f} |")
    return lines


def bench_reads(base: Path, n: int = 200_000) -> list[str]:
    store = LmdbKVStore(base / "reads")
    try:
        keys = [b"S/repo\x00token\x00data/part-%08d.parquet" % i for i in range(n)]
        t = time.perf_counter()
        for start in range(0, n, 20_000):
            store.write_sync(partial(_put_many, keys[start : start + 20_000]))
        put_rate = n / (time.perf_counter() - t)
        probe = random.Random(1).sample(keys, 50_000)

        def gets(r: KVReader) -> int:
            return sum(1 for k in probe if r.get(k) is not None)

        t = time.perf_counter()
        assert store.read_sync(gets) == len(probe)
        in_txn = len(probe) / (time.perf_counter() - t)

        some = probe[:20_000]
        t = time.perf_counter()
        for k in some:
            store.read_sync(partial(_get, k))
        per_txn = len(some) / (time.perf_counter() - t)

        async def async_gets(concurrency: int) -> float:
            async def worker(first: int) -> None:
                for i in range(first, len(some), concurrency):
                    await store.read(partial(_get, some[i]))

            t0 = time.perf_counter()
            await asyncio.gather(*(worker(c) for c in range(concurrency)))
            return len(some) / (time.perf_counter() - t0)

        async_rate = asyncio.run(async_gets(16))

        def scan_all(r: KVReader) -> int:
            return sum(1 for _ in r.scan(b"S/"))

        def scan_back(r: KVReader) -> int:
            return sum(1 for _ in r.scan(b"S/", b"S0", reverse=True))

        t = time.perf_counter()
        assert store.read_sync(scan_all) == n
        fwd = n / (time.perf_counter() - t)
        t = time.perf_counter()
        assert store.read_sync(scan_back) == n
        back = n / (time.perf_counter() - t)
    finally:
        store.close()
    return [
        f"- {len(keys[0])}-byte keys: puts {put_rate:,.0f}/s (20,000 per write_sync)",
        f"- point gets, one read txn: {in_txn:,.0f}/s",
        f"- point gets, one read_sync (txn) each: {per_txn:,.0f}/s",
        f"- point gets, await read() from 16 tasks: {async_rate:,.0f}/s",
        f"- ordered scan of {n:,} keys: forward {fwd:,.0f} keys/s, reverse {back:,.0f} keys/s",
    ]


def bench_long_keys(base: Path, n: int = 20_000) -> list[str]:
    """Keys over LMDB's 511 bytes go through the long-key layout: how much slower?"""
    store = LmdbKVStore(base / "long")
    try:
        stem = b"S/repo\x00token\x00" + b"deep/" * 110  # 565 bytes: every key is long
        keys = [stem + b"part-%08d.parquet" % i for i in range(n)]
        t = time.perf_counter()
        store.write_sync(partial(_put_many, keys))
        put_rate = n / (time.perf_counter() - t)

        def gets(r: KVReader) -> int:
            return sum(1 for k in keys if r.get(k) is not None)

        t = time.perf_counter()
        assert store.read_sync(gets) == n
        get_rate = n / (time.perf_counter() - t)
        t = time.perf_counter()
        assert store.read_sync(lambda r: sum(1 for _ in r.scan(b"S/"))) == n
        scan_rate = n / (time.perf_counter() - t)
    finally:
        store.close()
    return [
        f"- {len(keys[0])}-byte keys (long-key layout): puts {put_rate:,.0f}/s (one write_sync), "
        f"gets {get_rate:,.0f}/s, scan {scan_rate:,.0f} keys/s"
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, default=None, help="where to put the stores")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        base = Path(tmp)
        print(bench_fsync(base))
        print("\n".join(bench_writes(base)))
        print(bench_fsync(base))
        print()
        print("\n".join(bench_reads(base)))
        print("\n".join(bench_long_keys(base)))


if __name__ == "__main__":
    main()
