"""Blame and path history on a long history: 100,000 paths, 10,000 commits (with merges).

Real embedded stack (LMDB + local blob directory) in-process, through the ``Lake`` facade.
Builds one repository: a first commit of ``--paths`` paths (100 directories of 1,000), then
``--commits`` commits of ``--changes`` random paths each, one in ``--merge-every`` being a merge
of a short-lived feature branch (3 commits). The same queries are timed when the history reaches
``--checkpoint`` commits and at the end, so the ratio shows whether cost follows history length;
and, at the end, against the pre-0012 way of answering ``log --path`` (walk every commit of the
history, keep those the path index names), measured in the same run.

    flock /work/bench.lock .venv/bin/python bench/blame.py            # the issue's sizes
    flock /work/bench.lock .venv/bin/python bench/blame.py --commits 2000 --paths 20000
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

from gateway.core import keys, pathhistory
from gateway.core.history import walk
from gateway.core.lake import Lake
from gateway.core.model import Entry, MergeStrategy
from gateway.core.ports import KVReader
from gateway.core.view import View
from gateway.meta.lmdb_store import LmdbKVStore
from gateway.storage.local import LocalBlobStore

REPO = "bench"
FILES_PER_DIR = 1000


def path_of(i: int) -> str:
    return f"d{i // FILES_PER_DIR:03d}/f{i:06d}.parquet"


def entry_of(i: int, version: int) -> Entry:
    addr = blake3.blake3(f"{i}:{version}".encode()).hexdigest()
    return Entry(address=addr, size=1000 + i % 977, etag=addr[:32], mtime=1.7e9 + version)


async def timed(fn: Callable[[], Awaitable[Any]]) -> float:
    t0 = time.perf_counter()
    await fn()
    return time.perf_counter() - t0


def old_log_by_path(view: View, head: str, path: str) -> list[str]:
    """What ``log --path`` did before decision 0012: walk all history, filter by the index."""
    base = keys.history_of(REPO, path)
    wanted = {k[-64:].decode() for k, _ in view.kv.scan(base, keys.prefix_end(base))}
    start = view.commit(REPO, head)
    return [c.id for c in walk(start, lambda cid: view.commit(REPO, cid)) if c.id in wanted]


async def measure(lake: Lake, n_paths: int, rng: random.Random, samples: int) -> dict[str, float]:
    head = (await lake.get_branch(REPO, "main")).head
    picks = [path_of(rng.randrange(n_paths)) for _ in range(samples)]
    one = [await timed(lambda p=p: lake.blame(REPO, "main", p)) for p in picks]
    hist = [await timed(lambda p=p: lake.path_history(REPO, "main", p, limit=1000)) for p in picks]
    directory = f"d{rng.randrange(n_paths // FILES_PER_DIR):03d}/"
    prefix_times = []
    for _ in range(3):
        prefix_times.append(
            await timed(lambda: lake.blame(REPO, "main", directory, prefix=True, limit=1000))
        )
    page = await lake.blame(REPO, "main", directory, prefix=True, limit=1000)
    assert len(page.lines) == FILES_PER_DIR and all(x.commit for x in page.lines)
    log_times = [
        await timed(lambda p=p: lake.log(REPO, "main", paths=[p], limit=1000)) for p in picks[:10]
    ]
    res = {
        "blame_one_path_ms_median": statistics.median(one) * 1000,
        "blame_one_path_ms_max": max(one) * 1000,
        "path_history_ms_median": statistics.median(hist) * 1000,
        "blame_1000_path_prefix_s_median": statistics.median(prefix_times),
        "log_by_path_ms_median": statistics.median(log_times) * 1000,
    }

    def spec_check(r: KVReader) -> int:
        view = View(r)
        hits = 0
        for p in picks[:5]:
            spec = pathhistory.PathSpec((p,))
            fp = [c.id for c in pathhistory.first_parent_history(view, REPO, head, spec)]
            hits += len(fp)
        return hits

    res["first_parent_versions_sampled"] = float(await lake.kv.read(spec_check))
    return res


async def run(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    rng = random.Random(7)
    lake = Lake(LmdbKVStore(root / "meta"), LocalBlobStore(root / "blobs"))
    out: dict[str, Any] = {}
    try:
        await lake.create_repository(REPO)
        items = [(path_of(i), entry_of(i, 0)) for i in range(args.paths)]
        for i in range(0, len(items), 20_000):
            await lake.put_objects(REPO, "main", items[i : i + 20_000])
        await lake.commit(REPO, "main", message="load", committer="bench")
        await lake.drain()
        version = 1
        commits = 1
        t_build = time.perf_counter()
        merges = 0

        async def change(branch: str) -> None:
            nonlocal version, commits
            batch = sorted({rng.randrange(args.paths) for _ in range(args.changes)})
            await lake.put_objects(
                REPO, branch, [(path_of(i), entry_of(i, version)) for i in batch]
            )
            await lake.commit(REPO, branch, message=f"c{version}", committer="bench")
            version += 1
            commits += 1

        while commits < args.commits:
            if args.merge_every and commits % args.merge_every == 0:
                name = f"feature-{commits}"
                await lake.create_branch(REPO, name, "main")
                for _ in range(3):
                    await change(name)
                await change("main")
                await lake.merge(
                    REPO, name, "main", committer="bench", strategy=MergeStrategy.SOURCE_WINS
                )
                commits += 1
                merges += 1
            else:
                await change("main")
            if commits == args.checkpoint or (
                commits > args.checkpoint and "at_checkpoint" not in out
            ):
                await lake.drain()
                out["at_checkpoint"] = {
                    "commits": commits,
                    **await measure(lake, args.paths, rng, args.samples),
                }
                print(f"checkpoint {commits} commits: {out['at_checkpoint']}", flush=True)
        await lake.drain()
        out["build_s"] = time.perf_counter() - t_build
        out["merges"] = merges
        out["at_end"] = {"commits": commits, **await measure(lake, args.paths, rng, args.samples)}
        print(f"end {commits} commits: {out['at_end']}", flush=True)
        head = (await lake.get_branch(REPO, "main")).head
        picks = [path_of(rng.randrange(args.paths)) for _ in range(10)]
        old = []
        for p in picks:
            old.append(
                await timed(lambda p=p: lake.kv.read(lambda r: old_log_by_path(View(r), head, p)))
            )
        out["reference_full_walk_log_by_path_ms_median"] = statistics.median(old) * 1000
    finally:
        await lake.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--paths", type=int, default=100_000)
    ap.add_argument("--commits", type=int, default=10_000)
    ap.add_argument("--checkpoint", type=int, default=1_000)
    ap.add_argument("--changes", type=int, default=10, help="paths changed per commit")
    ap.add_argument("--merge-every", type=int, default=25)
    ap.add_argument("--samples", type=int, default=50)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="weir-bench-blame-"))
    try:
        res = asyncio.run(run(args, root))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    res["machine"] = f"{platform.machine()} {platform.python_version()} {platform.platform()}"
    a, b = res["at_checkpoint"], res["at_end"]
    print()
    print(f"| query | {a['commits']:,} commits | {b['commits']:,} commits | ratio | target |")
    print("|---|---:|---:|---:|---|")
    rows = [
        ("blame of one path, median (ms)", "blame_one_path_ms_median", "<= 50 ms"),
        ("blame of one path, max of samples (ms)", "blame_one_path_ms_max", ""),
        ("blame of a 1,000-path prefix (s)", "blame_1000_path_prefix_s_median", "<= 1 s"),
        ("history of one path, median (ms)", "path_history_ms_median", ""),
        ("log --path of one path, median (ms)", "log_by_path_ms_median", ""),
    ]
    for label, key, target in rows:
        print(f"| {label} | {a[key]:.3f} | {b[key]:.3f} | {b[key] / a[key]:.2f} | {target} |")
    ref = res["reference_full_walk_log_by_path_ms_median"]
    now = b["log_by_path_ms_median"]
    print(
        f"\nreference (pre-0012 log --path: walk all {b['commits']:,} commits): {ref:.1f} ms; "
        f"log --path now {now:.3f} ms = {now / ref:.4f}x"
    )
    print(f"build: {res['build_s']:.0f} s, {res['merges']} merges")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
