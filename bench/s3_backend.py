"""``bench/s3.py --backend s3``: Weir keeping its blobs on SeaweedFS, against that same SeaweedFS
used directly, same client, one run (issue 10, docs/decisions/0020-s3-streaming-layout.md).

One SeaweedFS (``weed mini``) serves both targets: the ``seaweedfs`` target writes to it
directly, the ``weir`` target is ``python -m gateway serve`` with ``storage.backend = "s3"`` on a
bucket of it. Phases: the 64 MiB PUT and GET of ``s3.py``, the two targets taking turns round
by round (``phase_large_paired``: load from elsewhere hits both alike; the median of the per-round
ratios is reported beside the ratio of medians) (MB/s; CPU per GB of the server
process tree -- for Weir, Weir alone -- and of the whole stack -- for Weir, Weir plus the
SeaweedFS work its requests cause), then ``rss``: four 64 MiB PUTs at once, sampling
the resident memory of each server's process tree every 20 ms; reported as growth over the RSS
just before the phase.

Targets (Weir/SeaweedFS): 64 MiB PUT >= 0.8x, GET >= 0.9x; Weir's RSS growth < 200 MiB.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bench.rawclient import blocking_transfer, encode_key_path
from bench.s3_servers import start_weir
from tests.support.s3servers import S3Server

if TYPE_CHECKING:
    from bench.s3 import Target

MIB = 1 << 20
LARGE = 64 * MIB
BLOB_BUCKET = "weir-blobs"
RSS_UPLOADS = 4

#: (metric, label, target ratio Weir/SeaweedFS, sense) for --backend s3.
METRICS: list[tuple[str, str, float | None, str]] = [
    ("put64_mbps", "PUT 64 MiB  MB/s", 0.8, ">="),
    ("put64_cpu_s_gb", "PUT 64 MiB  server CPU-s/GB", None, "<="),
    ("put64_stack_cpu_s_gb", "PUT 64 MiB  stack CPU-s/GB", None, "<="),
    ("get64_mbps", "GET 64 MiB  MB/s", 0.9, ">="),
    ("get64_cpu_s_gb", "GET 64 MiB  server CPU-s/GB", None, "<="),
    ("get64_stack_cpu_s_gb", "GET 64 MiB  stack CPU-s/GB", None, "<="),
    ("put64_client_cpu_s_gb", "PUT 64 MiB  client CPU-s/GB", None, "<="),
    ("get64_client_cpu_s_gb", "GET 64 MiB  client CPU-s/GB", None, "<="),
    ("rss4_mbps", "4 x 64 MiB PUT at once, MB/s", None, ">="),
    ("rss4_growth_mib", "4 x 64 MiB PUT  RSS growth MiB", None, "<="),
]
#: Absolute target: Weir's resident memory growth during the ``rss`` phase, MiB.
RSS_GROWTH_TARGET = 200.0


def start_weir_on(store: S3Server, tmp: Path, profile: Path | None = None) -> S3Server:
    """Weir with its blobs in a bucket of ``store`` (created here), one worker (profiled in
    one process with ``profile``)."""
    store.make_bucket(BLOB_BUCKET)
    env = {
        "WEIR_STORAGE_BACKEND": "s3",
        "WEIR_STORAGE_S3_BUCKET": BLOB_BUCKET,
        "WEIR_STORAGE_S3_ENDPOINT_URL": store.endpoint_url,
        "WEIR_STORAGE_S3_REGION": store.region,
        "WEIR_STORAGE_S3_ACCESS_KEY_ID": store.access_key_id,
        "WEIR_STORAGE_S3_SECRET_ACCESS_KEY": store.secret_access_key,
    }
    return start_weir(tmp, profile, [], env=env)


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and its live descendants (bounded walk: 1,000 processes)."""
    total, todo, seen = 0, [pid], 0
    while todo and seen < 1000:
        p = todo.pop()
        seen += 1
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            continue  # exited meanwhile
    return total


async def phase_large_paired(
    targets: list[Target], reps: int, data: bytearray, nonce: int
) -> dict[str, float]:
    """The 64 MiB PUT and GET, Weir and SeaweedFS taking turns round by round (ABAB...), so
    that load from elsewhere on the machine hits both alike; per-target medians go to each
    target's results, and the median over rounds of the per-round ratios is returned."""
    from bench.s3 import phase_large

    rounds: dict[str, list[dict[str, float]]] = {t.name: [] for t in targets}
    for r in range(reps):
        for t in targets:
            await phase_large(t, 1, data, nonce + 1000 * (r + 1))
            rounds[t.name].append(dict(t.results))
    for t in targets:
        for metric in rounds[t.name][0]:
            t.results[metric] = statistics.median(row[metric] for row in rounds[t.name])
    paired: dict[str, float] = {}
    weir, store = rounds.get("weir"), rounds.get("seaweedfs")
    if weir and store:
        for metric in ("put64_mbps", "get64_mbps"):
            paired[metric] = statistics.median(
                w[metric] / s[metric] for w, s in zip(weir, store, strict=True)
            )
    return paired


async def phase_rss(t: Target, data: bytearray, nonce: int) -> None:
    """Four 64 MiB PUTs at once (distinct content); peak RSS growth of the server tree."""
    host, port = t.address
    view = memoryview(data)
    chunks = [view[i : i + MIB] for i in range(0, LARGE, MIB)]
    bodies: list[list[bytes | memoryview]] = []
    copies = [bytearray(data) for _ in range(RSS_UPLOADS)]
    for n, copy in enumerate(copies):
        copy[:16] = f"r{nonce:07d}{n:08d}".encode()
        v = memoryview(copy)
        bodies.append([v[i : i + MIB] for i in range(0, LARGE, MIB)])
    del chunks
    base = tree_rss_bytes(t.pid)
    peak = base
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_bytes(t.pid))
            done.wait(0.02)  # a sampling period, not a synchronisation

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    try:
        resps = await asyncio.gather(
            *(
                asyncio.to_thread(
                    blocking_transfer,
                    host,
                    port,
                    t.signer,
                    "PUT",
                    encode_key_path("bench", f"main/rss/obj-{n}"),
                    body=body,
                    length=LARGE,
                )
                for n, body in enumerate(bodies)
            )
        )
    finally:
        done.set()
        sampler.join(timeout=5)
    wall = time.perf_counter() - t0
    for resp in resps:
        if resp.status != 200:
            raise RuntimeError(f"concurrent PUT: HTTP {resp.status}: {resp.body[:300]!r}")
    t.results["rss4_mbps"] = RSS_UPLOADS * LARGE / wall / 1e6
    t.results["rss4_growth_mib"] = (peak - base) / MIB
    t.results["rss4_base_mib"] = base / MIB
