"""Garbage collection of a repository with a million objects and a thousand commits.

Real embedded stack (LMDB + local blob directory) in-process, through the ``Lake`` facade and
``gateway.gc.Collector``. Builds one repository: ``--commits`` commits on ``main``, each adding
``--objects / --commits`` small objects (stored in the metadata store like every object <= 32 KiB)
of which ``--restaged`` were staged twice first (the first version is garbage); every 20th commit
adds 20 files of 64 KiB, 10 of them staged twice (garbage files); every 50th commit a feature
branch gets 2,000 objects committed and is deleted (with retention 0: garbage commits, nodes and
blobs); ten multipart uploads are aborted (garbage part files).

Then, in one run: a full scan of every key of the metadata store (the reference: the least a
collector that looks at everything must do), the collection that frees the garbage, a second
collection with nothing to free, and a dry run; each with wall time, CPU time and resident
memory (``/proc/self/status``: peak over the run minus before, total and anonymous — LMDB's
mapped pages count as resident file memory the kernel can drop).

    flock /work/bench.lock .venv/bin/python bench/gc.py                       # issue's sizes
    flock /work/bench.lock .venv/bin/python bench/gc.py --objects 100000 --commits 100
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import blake3

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.core import keys
from gateway.core.lake import Lake
from gateway.core.model import Entry
from gateway.core.ports import KVWriter
from gateway.gc.collector import Collector, GcConfig
from gateway.meta.lmdb_store import LmdbKVStore
from gateway.storage.local import LocalBlobStore

REPO = "bench"
FILE_SIZE = 64 << 10


def status() -> dict[str, int]:
    """Resident memory of this process in KiB (VmRSS, VmHWM peak, RssAnon, RssFile)."""
    out: dict[str, int] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            out[name] = int(value.split()[0])
    return out


class Sampler:
    """Peak anonymous and total RSS over a block, sampled every 20 ms (VmHWM cannot be reset
    on every kernel: /proc/self/clear_refs 5 is tried and the sampler is the fallback)."""

    def __init__(self) -> None:
        self.peak_anon = 0
        self.peak_rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            s = status()
            self.peak_anon = max(self.peak_anon, s["RssAnon"])
            self.peak_rss = max(self.peak_rss, s["VmRSS"])
            self._stop.wait(0.02)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def measured(label: str, fn: Callable[[], Awaitable[Any]]) -> tuple[Any, dict[str, Any]]:
    before = status()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    with Sampler() as sampler:
        result = await fn()
    wall = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    row = {
        "what": label,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime, 2),
        "rss_growth_mib": round((sampler.peak_rss - before["VmRSS"]) / 1024, 1),
        "anon_growth_mib": round((sampler.peak_anon - before["RssAnon"]) / 1024, 1),
        "rss_before_mib": round(before["VmRSS"] / 1024, 1),
    }
    print(json.dumps(row), flush=True)
    return result, row


def small(i: int, v: int) -> bytes:
    return f"object {i:08d} version {v} ".encode() * 2


def entry(data: bytes, blob_id: str) -> Entry:
    return Entry(
        address=blob_id,
        size=len(data),
        etag=hashlib.md5(data).hexdigest(),
        content_type="application/octet-stream",
        mtime=time.time(),
    )


async def stage_small(lake: Lake, branch: str, items: list[tuple[str, bytes]]) -> None:
    """Stage small objects: their bytes in the metadata store, as a PUT stores them."""
    ids = [blake3.blake3(d).hexdigest() for _, d in items]

    def store(w: KVWriter) -> None:
        for (_, data), blob_id in zip(items, ids, strict=True):
            w.put(keys.inline_blob(blob_id), data)

    await lake.kv.write(store)
    await lake.put_objects(
        REPO, branch, [(p, entry(d, b)) for (p, d), b in zip(items, ids, strict=True)]
    )


async def chunks(data: bytes) -> Any:
    yield data


async def stage_file(lake: Lake, branch: str, path: str, data: bytes) -> None:
    info = await lake.ingest(chunks(data))
    await lake.put_object(REPO, branch, path, entry(data, info.blob_id))


async def build(lake: Lake, objects: int, commits: int, restaged: int) -> dict[str, int]:
    per_commit = objects // commits
    garbage = {"small": 0, "files": 0, "branches": 0, "parts": 0}
    n = 0
    t0 = time.perf_counter()
    for k in range(commits):
        batch = [(f"c{k:05d}/o{i:06d}", small(n + i, 1)) for i in range(per_commit)]
        await stage_small(
            lake, "main", [(p, small(n + i, 0)) for i, (p, _) in enumerate(batch)][:restaged]
        )
        garbage["small"] += min(restaged, per_commit)
        for i in range(0, len(batch), 5000):
            await stage_small(lake, "main", batch[i : i + 5000])
        n += per_commit
        if k % 20 == 0:
            for j in range(20):
                path = f"files/k{k:05d}-{j:02d}"
                if j < 10:
                    await stage_file(lake, "main", path, os.urandom(FILE_SIZE))
                    garbage["files"] += 1
                await stage_file(lake, "main", path, os.urandom(FILE_SIZE))
        await lake.commit(REPO, "main", message=f"commit {k}", committer="bench")
        if k % 50 == 49:
            name = f"feature-{k}"
            await lake.create_branch(REPO, name, "main")
            feature = [
                (f"{name}/o{i:05d}", small(10_000_000 + k * 10_000 + i, 0)) for i in range(2000)
            ]
            await stage_small(lake, name, feature)
            await lake.commit(REPO, name, message=name, committer="bench")
            await lake.delete_branch(REPO, name)
            garbage["branches"] += 1
        if k % 100 == 0:
            took = time.perf_counter() - t0
            print(f"  built {k}/{commits} commits, {n} objects, {took:.0f} s", flush=True)
    for j in range(10):
        up = await lake.create_upload(REPO, "main", f"mp/{j}", content_type="x")
        info = await lake.ingest(chunks(os.urandom(1 << 20)))
        await lake.put_part(REPO, up.upload_id, 1, info)
        await lake.abort_upload(REPO, up.upload_id)
        garbage["parts"] += 1
    await lake.drain()
    return garbage


def scan_everything(kv: LmdbKVStore) -> int:
    """The reference: read every key and value of the metadata store once."""
    n = 0
    size = 0

    def fn(r: Any) -> None:
        nonlocal n, size
        for _, v in r.scan(b"", None):
            n += 1
            size += len(v)

    kv.read_sync(fn)
    return n


async def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--objects", type=int, default=1_000_000)
    ap.add_argument("--commits", type=int, default=1_000)
    ap.add_argument("--restaged", type=int, default=50, help="objects per commit staged twice")
    ap.add_argument("--dir", help="work directory (default: a temporary one, removed after)")
    args = ap.parse_args()
    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="weir-gc-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"# {platform.node()} Python {platform.python_version()} {when}")
    kv = LmdbKVStore(root / "meta")
    lake = Lake(kv, LocalBlobStore(root / "blobs"))
    try:
        await lake.create_repository(REPO)
        t0 = time.perf_counter()
        garbage = await build(lake, args.objects, args.commits, args.restaged)
        print(json.dumps({"built_s": round(time.perf_counter() - t0, 1), "garbage": garbage}))
        collector = Collector(
            kv,
            lake.blobs,
            GcConfig(retention_days=0, grace_seconds=0, work_dir=root / "gc"),
        )
        keys_total, ref = await measured(
            "reference: scan every metadata key", lambda: asyncio.to_thread(scan_everything, kv)
        )
        first, row1 = await measured("gc (frees the garbage)", collector.collect)
        print(json.dumps(first.to_json()))
        second, row2 = await measured("gc again (nothing to free)", collector.collect)
        await measured("gc --dry-run", lambda: collector.collect(dry_run=True))
        print(
            json.dumps(
                {
                    "metadata_keys": keys_total,
                    "gc_vs_scan": round(row1["wall_s"] / max(ref["wall_s"], 1e-9), 2),
                    "second_vs_scan": round(row2["wall_s"] / max(ref["wall_s"], 1e-9), 2),
                    "freed": first.to_json()["freed"],
                    "second_freed_bytes": second.to_json()["freed_bytes"],
                    "marked": first.to_json()["marked"],
                }
            )
        )
        await collector.close()
    finally:
        await lake.close()
        if not args.dir:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
