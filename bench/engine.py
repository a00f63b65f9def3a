"""Engine benchmark: cost of branch, commit, diff, merge and listing at n = 10,000 and 1,000,000.

Runs the real stack in-process, through the ``Lake`` facade, on each metadata store: the
embedded LMDB and PostgreSQL (a temporary server of the system's binaries started for the run,
or ``--dsn``), with a local blob directory. Entries point at synthetic blob ids (the engine never
reads blob bytes for these operations). Prints one table, the stores side by side, with the
ratio of the large-n time to the small-n time for each operation: cost should follow the size
of the change, not of the repository. Every (store, n) starts with empty in-process caches.

    python bench/engine.py                          # LMDB and PostgreSQL, n = 10k and 1M
    python bench/engine.py --meta lmdb --sizes 10000 100000 --json out.json
    python bench/engine.py --meta postgres --dsn postgresql://weir@127.0.0.1/bench
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
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

from gateway.core import tree, view
from gateway.core.lake import Lake
from gateway.core.model import Entry
from gateway.core.ports import KVStore
from gateway.core.tree.node import DEFAULT_CACHE
from gateway.core.view import View
from gateway.meta.lmdb_store import LmdbKVStore
from gateway.storage.local import LocalBlobStore

DIRS = 1000
STAGE_BATCH = 20_000


def path_of(i: int) -> str:
    return f"d{i % DIRS:03d}/part-{i:08d}.parquet"


def entry_of(i: int, version: int = 0) -> Entry:
    addr = blake3.blake3(f"{i}:{version}".encode()).hexdigest()
    return Entry(address=addr, size=1000 + i % 977, etag=addr[:32], mtime=1.7e9 + version)


async def timed(fn: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = await fn()
    return time.perf_counter() - t0, out


async def stage(lake: Lake, branch: str, items: list[tuple[str, Entry]]) -> None:
    for i in range(0, len(items), STAGE_BATCH):
        await lake.put_objects("bench", branch, items[i : i + STAGE_BATCH])


def open_store(meta: str, root: Path, dsn: str) -> KVStore:
    if meta == "lmdb":
        return LmdbKVStore(root / "meta")
    from gateway.meta.postgres_store import PostgresKVStore

    return PostgresKVStore(dsn, schema=f"bench_{root.name.replace('-', '_')}")


def fresh_caches() -> None:
    """Empty the process-wide caches of immutable records (nodes, commits)."""
    DEFAULT_CACHE.clear()
    view._COMMITS = view.LruCache(65536)


async def run_size(
    n: int, root: Path, *, big_commit: int, meta: str = "lmdb", dsn: str = ""
) -> dict[str, float]:
    fresh_caches()
    lake = Lake(open_store(meta, root, dsn), LocalBlobStore(root / "blobs"))
    res: dict[str, float] = {}
    try:
        await lake.create_repository("bench")
        items = sorted(((path_of(i), entry_of(i)) for i in range(n)), key=lambda x: x[0])
        items += [(f"small/f{i}", entry_of(-i - 1)) for i in range(10)]
        items.sort(key=lambda x: x[0])
        t0 = time.perf_counter()
        await stage(lake, "main", items)
        res["stage_all_s"] = time.perf_counter() - t0
        res["first_commit_s"], _ = await timed(
            lambda: lake.commit("bench", "main", message="load", committer="bench")
        )
        await lake.drain()  # let the retired staging area be purged before timing anything else

        times = []
        for k in range(20):
            dt, _ = await timed(lambda k=k: lake.create_branch("bench", f"br{k}", "main"))
            times.append(dt)
        res["branch_create_ms"] = statistics.median(times) * 1000

        # 1,000 changes spread over the key space, on branch "feature".
        await lake.create_branch("bench", "feature", "main")
        step = max(1, n // 1000)
        changes = sorted((path_of(i), entry_of(i, 1)) for i in range(0, step * 1000, step))
        await stage(lake, "feature", changes)
        res["commit_1k_s"], _ = await timed(
            lambda: lake.commit("bench", "feature", message="1k", committer="bench")
        )
        await lake.drain()

        async def full_diff() -> int:
            count, after = 0, ""
            while True:
                page = await lake.diff("bench", "main", "feature", after=after, limit=1000)
                count += len(page.changes)
                if not page.truncated or page.next_after is None:
                    return count
                after = page.next_after

        res["diff_1k_s"], ndiff = await timed(full_diff)
        assert ndiff == 1000, ndiff

        # Merge: the destination also changed 1,000 other paths since the fork.
        await lake.create_branch("bench", "dest", "main")
        other = sorted((path_of(i), entry_of(i, 2)) for i in range(1, step * 1000, step))
        await stage(lake, "dest", other)
        await lake.commit("bench", "dest", message="dest 1k", committer="bench")
        await lake.drain()
        res["merge_1k_s"], _ = await timed(
            lambda: lake.merge("bench", "feature", "dest", committer="bench")
        )

        if big_commit:
            await lake.create_branch("bench", "big", "main")
            bstep = max(1, n // big_commit)
            big = sorted((path_of(i), entry_of(i, 3)) for i in range(0, bstep * big_commit, bstep))
            await stage(lake, "big", big)
            res[f"commit_{big_commit // 1000}k_s"], _ = await timed(
                lambda: lake.commit("bench", "big", message="big", committer="bench")
            )
            await lake.drain()

        async def full_listing() -> int:
            count, after = 0, ""
            while True:
                page = await lake.list_objects("bench", "main", after=after, limit=1000)
                count += len(page.objects)
                if not page.truncated or page.next_after is None:
                    return count
                after = page.next_after

        dt, count = await timed(full_listing)
        res["list_keys_per_s"] = count / dt

        def tree_scan(r: Any) -> int:
            view = View(r)
            root_tree = view.commit("bench", view.branch("bench", "main").head).tree
            return sum(1 for _ in tree.iterate(root_tree, view.nodes))

        t0 = time.perf_counter()
        count = lake.kv.read_sync(tree_scan)
        res["tree_iterate_keys_per_s"] = count / (time.perf_counter() - t0)

        times = []
        for _ in range(20):
            dt, page = await timed(
                lambda: lake.list_objects("bench", "main", prefix="small/", delimiter="/")
            )
            times.append(dt)
        assert len(page.objects) == 10
        res["list_small_dir_ms"] = statistics.median(times) * 1000
        times = []
        for _ in range(5):
            dt, page = await timed(
                lambda: lake.list_objects("bench", "main", delimiter="/", limit=DIRS + 1)
            )
            times.append(dt)
        assert len(page.prefixes) == DIRS + 1
        res["list_root_delim_ms"] = statistics.median(times) * 1000
    finally:
        await lake.close()
    return res


ROWS = [
    ("stage_all_s", "stage all n paths (put_objects, 20k batches)", "s", None),
    ("first_commit_s", "first commit of n new paths", "s", 60.0),
    ("branch_create_ms", "branch creation (median of 20)", "ms", 5.0),
    ("commit_1k_s", "commit of 1,000 changes", "s", 0.5),
    ("diff_1k_s", "diff of branches differing in 1,000 paths", "s", 0.5),
    ("merge_1k_s", "merge, 1,000 changed paths per side", "s", 0.5),
    ("commit_100k_s", "commit of 100,000 changes", "s", 10.0),
    ("list_keys_per_s", "full listing via facade (keys/s)", "keys/s", None),
    ("tree_iterate_keys_per_s", "full tree iteration (keys/s)", "keys/s", 300_000.0),
    ("list_small_dir_ms", "list a 10-key dir with delimiter", "ms", None),
    ("list_root_delim_ms", f"list root with delimiter ({DIRS + 1} prefixes)", "ms", None),
]


#: Targets on PostgreSQL where they differ from the embedded store's (a network round trip per
#: point read and per transaction): issue 11.
PG_TARGETS = {"branch_create_ms": 10.0, "commit_1k_s": 1.0, "diff_1k_s": 1.0, "merge_1k_s": 1.0}


def _cell(v: float | None, unit: str) -> str:
    if v is None:
        return "-"
    return f"{v:,.0f}" if unit == "keys/s" else f"{v:.4g} {unit}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs=2, default=[10_000, 1_000_000])
    ap.add_argument("--meta", default="lmdb,postgres", help="stores to run: lmdb,postgres")
    ap.add_argument("--dsn", help="PostgreSQL to use (default: a temporary server)")
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--dir", help="work directory (default: a temp dir, removed after)")
    args = ap.parse_args()
    small, large = args.sizes
    metas = [m.strip() for m in args.meta.split(",") if m.strip()]
    pg = None
    dsn = args.dsn or ""
    if "postgres" in metas and not dsn:
        from tests.support.postgres import start_postgres

        pg = start_postgres(prefix="weir-bench-pg-")
        dsn = pg.dsn
    results: dict[str, dict[int, dict[str, float]]] = {}
    try:
        for meta in metas:
            results[meta] = {}
            for n in (small, large):
                root = Path(tempfile.mkdtemp(prefix=f"weir-bench-{meta}-{n}-", dir=args.dir))
                try:
                    print(f"{meta}, n = {n:,} ...", file=sys.stderr, flush=True)
                    results[meta][n] = asyncio.run(
                        run_size(
                            n,
                            root,
                            big_commit=100_000 if n >= 200_000 else 0,
                            meta=meta,
                            dsn=dsn,
                        )
                    )
                finally:
                    shutil.rmtree(root, ignore_errors=True)
    finally:
        if pg is not None:
            pg.stop()
    print(
        f"\nmachine: {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.system()} {platform.release()}"
    )
    head = "| operation |"
    rule = "|---|"
    for meta in metas:
        head += f" {meta} n = {small:,} | {meta} n = {large:,} | {meta} ratio |"
        rule += "---:|---:|---:|"
    print(head + " target |")
    print(rule + "---|")
    for key, label, unit, target in ROWS:
        cells = []
        seen = False
        for meta in metas:
            a, b = results[meta][small].get(key), results[meta][large].get(key)
            seen = seen or a is not None or b is not None
            ratio = "-" if a is None or b is None or a == 0 else f"{b / a:.2f}"
            cells += [_cell(a, unit), _cell(b, unit), ratio]
        if not seen:
            continue
        tgt = (
            ""
            if target is None
            else (f">= {target:,.0f}" if unit == "keys/s" else f"<= {target:g} {unit}")
        )
        if key in PG_TARGETS and "postgres" in metas:
            tgt += f" (postgres <= {PG_TARGETS[key]:g} {unit})"
        print(f"| {label} | " + " | ".join(cells) + f" | {tgt} |")
    if args.json:
        Path(args.json).write_text(
            json.dumps({m: {str(k): v for k, v in r.items()} for m, r in results.items()}, indent=2)
        )


if __name__ == "__main__":
    main()
