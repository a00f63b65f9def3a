"""Web UI: server time of each page's first view at a 1,000,000-object repository, against the
same page at a 1,000-object repository measured in the same run.

Builds one data directory in-process (``Lake`` over LMDB + local blobs): per size n, a
repository whose ``main`` holds n objects under the one prefix ``data/`` (the million-object
prefix a person may open) plus a README at the root, committed; a ``feature`` branch with 1,000
changed paths committed and 100 more staged. Every entry points at one real Parquet blob (so the
object page's preview reads a real file). Then it starts ``weir serve --workers 1`` on that
directory and drives headless Debian Chromium: signs in once, loads every page once untimed,
then ``--repeat`` times in a fresh tab (the sizes alternating), waits for the view to be
ready, and sums the server time of the ``/api/v1`` requests the view made (Playwright's
``responseStart - requestStart`` per request: loopback plus the server's handling). Static
files are cached by then and not counted.

    flock /work/bench.lock .venv/bin/python bench/ui.py                   # n = 1,000 and 1,000,000
    flock /work/bench.lock .venv/bin/python bench/ui.py --sizes 1000 100000 --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pyarrow as pa
import pyarrow.parquet as pq
from playwright.sync_api import Page, Request, sync_playwright

from gateway.core.lake import Lake
from gateway.core.model import Entry
from gateway.meta.lmdb_store import LmdbKVStore
from gateway.storage.local import LocalBlobStore
from tests.functional.conftest import run_weir
from tests.ui.browser import ARGS, chromium_path

BATCH = 20_000
FEATURE_CHANGES = 1_000
STAGED = 100
TARGET_MS = 300.0


def parquet_blob() -> bytes:
    table = pa.table(
        {"id": pa.array(range(10_000)), "v": pa.array([i * 0.5 for i in range(10_000)])}
    )
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def path_of(i: int) -> str:
    return f"data/part-{i:08d}.parquet"


async def build(root: Path, sizes: list[int]) -> None:
    lake = Lake(LmdbKVStore(root / "meta"), LocalBlobStore(root / "blobs"))
    try:
        data = parquet_blob()

        async def once() -> Any:
            yield data

        blob = await lake.ingest(once())

        def entry(version: int = 0) -> Entry:
            return Entry(
                address=blob.blob_id,
                size=blob.size,
                etag=blob.md5_hex,
                content_type="application/vnd.apache.parquet",
                mtime=1.7e9 + version,
            )

        for n in sizes:
            repo = f"repo-{n}"
            await lake.create_repository(repo)
            t0 = time.perf_counter()
            await lake.put_objects(repo, "main", [("README.md", entry())])
            for start in range(0, n, BATCH):
                items = [(path_of(i), entry()) for i in range(start, min(n, start + BATCH))]
                await lake.put_objects(repo, "main", items)
            await lake.commit(repo, "main", message=f"{n} objects", committer="bench")
            await lake.create_branch(repo, "feature", "main")
            step = max(1, n // FEATURE_CHANGES)
            changed = [(path_of(i), entry(1)) for i in range(0, n, step)][:FEATURE_CHANGES]
            await lake.put_objects(repo, "feature", changed)
            await lake.commit(repo, "feature", message="1,000 changes", committer="bench")
            staged = [(path_of(i), entry(2)) for i in range(1, n, step)][:STAGED]
            await lake.put_objects(repo, "feature", staged)
            await lake.drain()
            print(f"built {repo} in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    finally:
        await lake.close()


def pages(repo: str) -> dict[str, str]:
    base = f"/ui/repositories/{repo}"
    return {
        "objects (root)": f"{base}/objects?ref=main",
        "objects (data/: n objects)": f"{base}/objects?ref=main&path=data/",
        "object + Parquet preview": f"{base}/objects?ref=main&path=data/part-00000000.parquet",
        "commit graph": f"{base}/commits?ref=feature",
        "branches": f"{base}/branches",
        "compare main...feature": f"{base}/compare?base=main&compare=feature",
        "uncommitted changes": f"{base}/changes?ref=feature",
        "blame of data/": f"{base}/blame?ref=main&path=data/",
    }


def server_ms(request: Request) -> float:
    t = request.timing
    return max(0.0, float(t["responseStart"]) - float(t["requestStart"]))


def load(page: Page, url: str) -> tuple[float, int, float, float]:
    """(API server ms summed, API requests, slowest request ms, wall ms to ready)."""
    seen: list[Request] = []
    page.on("requestfinished", lambda r: seen.append(r) if "/api/v1/" in r.url else None)
    t0 = time.perf_counter()
    page.goto(url)
    page.wait_for_selector("section.view[data-ready]", timeout=120_000)
    wall = (time.perf_counter() - t0) * 1000
    times = [server_ms(r) for r in seen]
    return sum(times), len(times), max(times, default=0.0), wall


def measure(endpoint: str, key: str, secret: str, sizes: list[int], repeat: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=ARGS)
        context = browser.new_context(base_url=endpoint)
        page = context.new_page()
        page.goto("/ui/login")
        page.get_by_label("Access key id").fill(key)
        page.get_by_label("Secret access key").fill(secret)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_selector("button.signout")
        page.close()
        # One untimed pass first (imports, caches, the browser's static files), then the sizes
        # alternate within every repetition so that load on the machine hits both alike.
        for n in sizes:
            for url in pages(f"repo-{n}").values():
                tab = context.new_page()
                load(tab, url)
                tab.close()
        runs: dict[tuple[str, int], list[tuple[float, int, float, float]]] = {}
        for _ in range(repeat):
            for n in sizes:
                for name, url in pages(f"repo-{n}").items():
                    tab = context.new_page()
                    runs.setdefault((name, n), []).append(load(tab, url))
                    tab.close()
        for (name, n), timed in runs.items():
            timed.sort()
            median = timed[len(timed) // 2]
            results.setdefault(name, {})[n] = {
                "server_ms": round(median[0], 1),
                "requests": median[1],
                "slowest_ms": round(median[2], 1),
                "wall_ms": round(statistics.median(r[3] for r in timed), 1),
            }
        browser.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    sizes = sorted(args.sizes)
    with tempfile.TemporaryDirectory(prefix="weir-ui-bench-") as tmp:
        root = Path(tmp) / "data"
        asyncio.run(build(root, sizes))
        with run_weir(root, Path(tmp) / "server.log", ["--workers", "1"]) as server:
            results = measure(
                server.endpoint, server.access_key, server.secret_key, sizes, args.repeat
            )
    ref, big = sizes[0], sizes[-1]
    print(
        f"\nmachine: {platform.machine()}, Python {platform.python_version()}; "
        f"median of {args.repeat}"
    )
    print(
        f"{'page':<28} {'n=' + format(ref, ','):>14} {'n=' + format(big, ','):>16} {'ratio':>6}  "
        f"requests  slowest  wall (n={big:,})"
    )
    for name, by_n in results.items():
        a, b = by_n[ref], by_n[big]
        ratio = b["server_ms"] / a["server_ms"] if a["server_ms"] else float("nan")
        flag = "" if b["server_ms"] < TARGET_MS else "  over target"
        print(
            f"{name:<28} {a['server_ms']:>11.1f} ms {b['server_ms']:>13.1f} ms {ratio:>6.2f}  "
            f"{b['requests']:>8} {b['slowest_ms']:>6.1f} ms {b['wall_ms']:>7.0f} ms{flag}"
        )
    if args.json:
        args.json.write_text(json.dumps({"sizes": sizes, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
