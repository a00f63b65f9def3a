"""S3 object versions on a long history: ListObjectVersions pages and versionId reads.

Real embedded stack (LMDB + local blob directory) in-process, through the ``Lake`` facade (the
S3 handler adds only XML formatting on top). Builds one branch: a first commit of ``--paths``
paths (directories of 1,000), then ``--commits`` commits of ``--changes`` random paths each,
plus one *hot* path changed by every commit (its versions grow with history). The same queries
are timed when the history reaches ``--checkpoint`` commits and at the end, so the ratio shows
whether a page's cost follows the history's length; a naive way of answering (walk every
commit of the branch and read the path's entry in each) is timed in the same run as the
reference.

    flock /work/bench.lock .venv/bin/python bench/versions.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import blake3

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.core import tree
from gateway.core.history import walk
from gateway.core.lake import Lake
from gateway.core.model import Entry
from gateway.core.view import View
from gateway.meta.lmdb_store import LmdbKVStore
from gateway.storage.local import LocalBlobStore

REPO = "bench"
HOT = "hot/every-commit.parquet"
FILES_PER_DIR = 1000


def path_of(i: int) -> str:
    return f"d{i // FILES_PER_DIR:03d}/f{i:06d}.parquet"


def entry_of(key: str, version: int) -> Entry:
    addr = blake3.blake3(f"{key}:{version}".encode()).hexdigest()
    return Entry(address=addr, size=1000, etag=addr[:32], mtime=1.7e9 + version)


async def timed(fn: Callable[[], Awaitable[Any]]) -> float:
    t0 = time.perf_counter()
    await fn()
    return time.perf_counter() - t0


async def deepest_page(lake: Lake, key: str) -> tuple[float, int]:
    """Page through every version of ``key`` 1,000 at a time; time of the last page."""
    marker = ""
    pages = 0
    last = 0.0
    for _ in range(100_000):
        t0 = time.perf_counter()
        page = await lake.list_versions(
            REPO, "main", prefix=key, key_after=key if marker else "", version_after=marker
        )
        last = time.perf_counter() - t0
        pages += 1
        if not page.truncated:
            break
        marker = page.next_version or ""
    return last, pages


def naive_versions(view: View, head: str, path: str) -> int:
    """The reference: walk every commit of the branch, keep those whose entry differs."""
    count = 0
    previous: Entry | None = None
    commits = list(walk(view.commit(REPO, head), lambda cid: view.commit(REPO, cid)))
    for c in reversed(commits):
        entry = tree.get(c.tree, path, view.nodes)
        if entry != previous:
            count += 1
            previous = entry
    return count


async def measure(lake: Lake, n_paths: int, rng: random.Random, samples: int) -> dict[str, float]:
    directory = f"d{rng.randrange(n_paths // FILES_PER_DIR):03d}/"
    pages = [await timed(lambda: lake.list_versions(REPO, "main", prefix=directory))]
    pages += [await timed(lambda: lake.list_versions(REPO, "main", prefix=directory))]
    first = await lake.list_versions(REPO, "main", prefix=directory)
    assert len(first.versions) == 1000 or not first.truncated
    picks = [path_of(rng.randrange(n_paths)) for _ in range(samples)]
    versions = []
    for p in picks:
        got = await lake.list_versions(REPO, "main", prefix=p, limit=1)
        if got.versions:
            versions.append((p, got.versions[-1].version_id))
    reads = [
        await timed(lambda p=p, v=v: lake.get_version(REPO, "main", p, v)) for p, v in versions
    ]
    hot_first = await timed(lambda: lake.list_versions(REPO, "main", prefix=HOT))
    hot_last, hot_pages = await deepest_page(lake, HOT)
    return {
        "directory_page_1000_rows_ms": statistics.median(pages) * 1000,
        "get_version_ms_median": statistics.median(reads) * 1000,
        "hot_key_first_page_ms": hot_first * 1000,
        "hot_key_last_page_ms": hot_last * 1000,
        "hot_key_pages": float(hot_pages),
    }


async def run(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    rng = random.Random(11)
    lake = Lake(LmdbKVStore(root / "meta"), LocalBlobStore(root / "blobs"))
    out: dict[str, Any] = {}
    try:
        await lake.create_repository(REPO)
        items = [(path_of(i), entry_of(path_of(i), 0)) for i in range(args.paths)]
        for i in range(0, len(items), 20_000):
            await lake.put_objects(REPO, "main", items[i : i + 20_000])
        await lake.commit(REPO, "main", message="load", committer="bench")
        t_build = time.perf_counter()
        for version in range(1, args.commits):
            batch = sorted({rng.randrange(args.paths) for _ in range(args.changes)})
            changes = [(path_of(i), entry_of(path_of(i), version)) for i in batch]
            changes.append((HOT, entry_of(HOT, version)))
            await lake.put_objects(REPO, "main", changes)
            await lake.commit(REPO, "main", message=f"c{version}", committer="bench")
            if version + 1 == args.checkpoint:
                await lake.drain()
                out["at_checkpoint"] = {
                    "commits": version + 1,
                    **await measure(lake, args.paths, rng, args.samples),
                }
                print(f"checkpoint: {out['at_checkpoint']}", flush=True)
        await lake.drain()
        out["build_s"] = time.perf_counter() - t_build
        out["at_end"] = {
            "commits": args.commits,
            **await measure(lake, args.paths, rng, args.samples),
        }
        print(f"end: {out['at_end']}", flush=True)
        head = (await lake.get_branch(REPO, "main")).head
        t0 = time.perf_counter()
        n = await lake.kv.read(lambda r: naive_versions(View(r), head, path_of(1)))
        out["reference_walk_all_commits_one_key_ms"] = (time.perf_counter() - t0) * 1000
        out["reference_versions_found"] = n
    finally:
        await lake.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--paths", type=int, default=20_000)
    ap.add_argument("--commits", type=int, default=10_000)
    ap.add_argument("--checkpoint", type=int, default=1_000)
    ap.add_argument("--changes", type=int, default=10, help="random paths changed per commit")
    ap.add_argument("--samples", type=int, default=50)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="weir-bench-versions-"))
    try:
        res = asyncio.run(run(args, root))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    res["machine"] = f"{platform.machine()} {platform.python_version()} {platform.platform()}"
    a, b = res["at_checkpoint"], res["at_end"]
    print()
    print(f"| query | {a['commits']:,} commits | {b['commits']:,} commits | ratio |")
    print("|---|---:|---:|---:|")
    rows = [
        (
            "ListObjectVersions page, 1,000 rows of one directory (ms)",
            "directory_page_1000_rows_ms",
        ),
        ("GetObject versionId lookup, median (ms)", "get_version_ms_median"),
        ("versions of a key changed by every commit: first page (ms)", "hot_key_first_page_ms"),
        ("same key: last page, after the deepest marker (ms)", "hot_key_last_page_ms"),
        ("same key: pages of 1,000", "hot_key_pages"),
    ]
    for label, key in rows:
        print(f"| {label} | {a[key]:.3f} | {b[key]:.3f} | {b[key] / a[key]:.2f} |")
    print(
        f"\nreference (walk all {b['commits']:,} commits for one key): "
        f"{res['reference_walk_all_commits_one_key_ms']:.1f} ms"
    )
    print(f"build: {res['build_s']:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
