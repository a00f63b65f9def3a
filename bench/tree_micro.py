"""Micro-benchmark of the prolly tree on an in-memory node store (not a test: no assertions).

Usage::

    PYTHONPATH=. python bench/tree_micro.py [--n 1000000] [--leaf 64] [--internal 64]

Prints process CPU seconds (and wall-clock seconds) for build, full iteration (cold and warm
cache), apply of 1,000 and 100,000 changes, diff of two trees 1,000 paths apart and a
1,000 + 1,000 path merge.
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from gateway.core import tree
from gateway.core.model import Entry, Side
from gateway.core.tree.diff import diff
from gateway.core.tree.merge import merge
from gateway.core.tree.node import DEFAULT_CACHE, DictNodeStore, load_node, override_fanout

T = TypeVar("T")


def _entry(i: int, rev: int = 0) -> Entry:
    return Entry(
        address=f"{i * 2654435761 + rev:064x}",
        size=i,
        etag="0123456789abcdef0123456789abcdef",
        content_type="application/octet-stream",
        mtime=1_700_000_000.0 + i,
    )


def _key(i: int) -> str:
    return f"warehouse/table={i % 7}/date=2026-{i % 12 + 1:02d}/part-{i:09d}.parquet"


def _items(keys: list[str]) -> Iterator[tuple[str, Entry]]:
    for i, k in enumerate(keys):
        yield k, _entry(i)


def _changes(
    rng: random.Random, keys: list[str], k: int, rev: int
) -> list[tuple[str, Entry | None]]:
    """k changes: 1/3 updates, 1/3 deletes, 1/3 inserts of new paths."""
    out: dict[str, Entry | None] = {}
    while len(out) < k:
        r = rng.random()
        if r < 1 / 3:
            out[rng.choice(keys)] = _entry(rng.randrange(10**9), rev)
        elif r < 2 / 3:
            out[rng.choice(keys)] = None
        else:
            out[_key(rng.randrange(10**9)) + f".new{rev}"] = _entry(rng.randrange(10**9), rev)
    return sorted(out.items())


def _timed(label: str, fn: Callable[[], T]) -> tuple[T, float]:
    # Freeze what exists before the timed call: the collector then does not re-traverse the
    # harness's own data (a 1M-key list costs ~60 ms per full collection), only what the call
    # allocates -- as in a server whose long-lived heap is small or frozen.
    gc.collect()
    gc.freeze()
    t0 = time.perf_counter()
    c0 = time.process_time()
    result = fn()
    cpu = time.process_time() - c0
    wall = time.perf_counter() - t0
    # The CI machine is shared: process CPU time is the stable number, wall time is shown too.
    gc.unfreeze()
    print(f"{label:<44} cpu {cpu:8.3f} s   wall {wall:8.3f} s")
    return result, cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--leaf", type=int, default=0)
    ap.add_argument("--internal", type=int, default=0)
    ap.add_argument("--big", type=int, default=100_000)
    args = ap.parse_args()
    rng = random.Random(42)
    keys = sorted(_key(i) for i in range(args.n))
    store = DictNodeStore()

    def run() -> None:
        root, _ = _timed(f"build n={args.n}", lambda: tree.build(_items(keys), store))
        nodes = len(store.nodes)
        size = sum(len(v) for v in store.nodes.values())
        print(f"  nodes={nodes} bytes={size} avg node={size // nodes} height=", end="")
        print(load_node(store, DEFAULT_CACHE, root).level if root else -1)
        DEFAULT_CACHE.clear()
        n, dt = _timed(
            "iterate all (cold cache)", lambda: sum(1 for _ in tree.iterate(root, store))
        )
        print(f"  {n / dt:,.0f} keys/s (cpu)")
        n, dt = _timed("iterate all (again)", lambda: sum(1 for _ in tree.iterate(root, store)))
        print(f"  {n / dt:,.0f} keys/s (cpu)")
        ch1 = _changes(rng, keys, 1000, 1)
        DEFAULT_CACHE.clear()
        r1, _ = _timed("apply 1,000 changes (cold cache)", lambda: tree.apply(root, ch1, store))
        ch1b = _changes(rng, keys, 1000, 2)
        r1b, _ = _timed("apply 1,000 other changes", lambda: tree.apply(root, ch1b, store))
        chb = _changes(rng, keys, args.big, 3)
        _timed(f"apply {args.big:,} changes", lambda: tree.apply(root, chb, store))
        DEFAULT_CACHE.clear()
        d, _ = _timed("diff 1,000 paths (cold cache)", lambda: list(diff(root, r1, store)))
        print(f"  {len(d)} changes")
        _timed("diff 1,000 paths (warm)", lambda: list(diff(root, r1, store)))
        DEFAULT_CACHE.clear()
        m, _ = _timed(
            "merge 1,000 into 1,000 (cold, source-wins)",
            lambda: merge(root, r1, r1b, store, resolve=lambda c: Side.SOURCE),
        )
        print(f"  changes={m.changes} conflicts={len(m.conflicts)}")
        _timed("merge again (warm)", lambda: merge(root, r1, r1b, store))

    if args.leaf or args.internal:
        with override_fanout(args.leaf or 64, args.internal or 64):
            run()
    else:
        run()


if __name__ == "__main__":
    main()
