"""Zero-copy import speed: Weir importing N objects of a SeaweedFS bucket, against listing that
bucket directly with the same raw client (the least work any import must do), one run.

Seeds ``--objects`` (100,000) small objects under one prefix of a SeaweedFS bucket (``weed
mini``, started here), lists them once directly (raw SigV4 client, ListObjectsV2 pages of
1,000: keys/s), then starts Weir (``python -m gateway serve``, blobs on local disk, the storage.s3_*
settings pointing at SeaweedFS), imports the prefix through the admin API and polls until the
import's commit is published. Reports objects/s, the ratio to the direct listing rate, and the
growth of Weir's resident memory during the import (its process tree, sampled every 20 ms).

Target (issue 10): >= 5,000 objects/s for 100,000 objects, bounded memory.

    PYTHONPATH=. python bench/importer.py [--objects 100000] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import os
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.rawclient import Connection, Signer, encode_key_path
from bench.s3_backend import tree_rss_bytes
from bench.s3_servers import start_weir
from gateway.client.api import AdminClient
from gateway.client.imports import ImportsApi
from tests.support.s3servers import S3Server, start_seaweedfs

BUCKET = "import-bench"
PREFIX = "lake/events/"
TARGET = 5000.0
_TOKEN = re.compile(r"<NextContinuationToken>([^<]*)</NextContinuationToken>")


def key(i: int) -> str:
    return f"{PREFIX}day={i % 30:02d}/hour={i % 24:02d}/part-{i:07d}.parquet"


async def seed(store: S3Server, signer: Signer, n: int, concurrency: int = 32) -> float:
    host, port = store.endpoint_url.removeprefix("http://").split(":")
    conns = [Connection(host, int(port), signer) for _ in range(concurrency)]
    counter = iter(range(n))
    t0 = time.perf_counter()

    async def worker(conn: Connection) -> None:
        for i in counter:  # shared iterator: each index once; bounded by n
            resp = await conn.request(
                "PUT", encode_key_path(BUCKET, key(i)), body=f"row {i}\n".encode()
            )
            if resp.status != 200:
                raise RuntimeError(f"seed PUT: HTTP {resp.status} {resp.body[:200]!r}")

    await asyncio.gather(*(worker(c) for c in conns))
    for c in conns:
        await c.close()
    return n / (time.perf_counter() - t0)


async def list_directly(store: S3Server, signer: Signer, n: int) -> float:
    host, port = store.endpoint_url.removeprefix("http://").split(":")
    conn = Connection(host, int(port), signer)
    keys, token = 0, None
    t0 = time.perf_counter()
    for _ in range(n // 1000 + 10):  # bounded: more pages than the data can need
        query = [("list-type", "2"), ("max-keys", "1000"), ("prefix", PREFIX)]
        if token is not None:
            query.append(("continuation-token", token))
        resp = await conn.request("GET", f"/{BUCKET}", query)
        text = resp.body.decode()
        keys += text.count("<Key>")
        match = _TOKEN.search(text)
        if "<IsTruncated>true</IsTruncated>" not in text or match is None:
            break
        token = html.unescape(match.group(1))
    wall = time.perf_counter() - t0
    await conn.close()
    if keys != n:
        raise RuntimeError(f"direct listing saw {keys} keys, seeded {n}")
    return n / wall


def run_import(weir: S3Server, n: int) -> dict[str, float]:
    admin = AdminClient(weir.endpoint_url, weir.access_key_id, weir.secret_access_key)
    admin.create_repository("imported", "local://imported", "main")
    imports = ImportsApi(admin)
    base = tree_rss_bytes(weir.process.pid)
    peak = base
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_bytes(weir.process.pid))
            done.wait(0.02)  # a sampling period

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    import_id = imports.start(
        "imported", "main", [("common_prefix", f"s3://{BUCKET}/{PREFIX}", "")]
    )
    listed_at = None
    try:
        for _ in range(100_000):  # bounded: 100,000 polls x 20 ms
            status = imports.status("imported", "main", import_id)
            if listed_at is None and status.get("listed"):
                listed_at = time.perf_counter() - t0
            if status["state"] != "running":
                break
            time.sleep(0.02)  # polling the server's progress
    finally:
        done.set()
        sampler.join(timeout=5)
    wall = time.perf_counter() - t0
    if status["state"] != "completed" or status["ingested_objects"] != n:
        raise RuntimeError(f"import ended {status['state']}: {status}")
    return {
        "import_seconds": wall,
        "import_objects_s": n / wall,
        "listing_seconds": listed_at or wall,
        "commit_seconds": wall - (listed_at or wall),
        "rss_growth_mib": (peak - base) / (1 << 20),
        "rss_base_mib": base / (1 << 20),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if not 1_000 <= args.objects <= 2_000_000:
        parser.error("--objects must be 1,000-2,000,000")
    print(f"load average {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="weir-bench-import-") as tmp_name:
        tmp = Path(tmp_name)
        store = start_seaweedfs(tmp / "seaweedfs")
        weir: S3Server | None = None
        try:
            store.make_bucket(BUCKET)
            signer = Signer(store.access_key_id, store.secret_access_key, store.region)
            seeded = asyncio.run(seed(store, signer, args.objects))
            print(f"seeded {args.objects:,} objects at {seeded:,.0f}/s", flush=True)
            listing = asyncio.run(list_directly(store, signer, args.objects))
            print(f"direct listing: {listing:,.0f} keys/s", flush=True)
            env = {
                "WEIR_STORAGE_S3_ENDPOINT_URL": store.endpoint_url,
                "WEIR_STORAGE_S3_ACCESS_KEY_ID": store.access_key_id,
                "WEIR_STORAGE_S3_SECRET_ACCESS_KEY": store.secret_access_key,
            }
            weir = start_weir(tmp / "weir", None, [], env=env)
            result = run_import(weir, args.objects)
        finally:
            if weir is not None:
                weir.stop()
            store.stop()
    rate = result["import_objects_s"]
    print()
    print(f"{'objects':32}{args.objects:>12,}")
    verdict = "MET" if rate >= TARGET else "MISSED"
    print(f"{'import, objects/s':32}{rate:>12,.0f}  >= {TARGET:,.0f}  {verdict}")
    print(f"{'  listing + staging, s':32}{result['listing_seconds']:>12.2f}")
    print(f"{'  commit, s':32}{result['commit_seconds']:>12.2f}")
    print(f"{'direct listing, keys/s':32}{listing:>12,.0f}")
    print(f"{'import / direct listing':32}{rate / listing:>12.2f}")
    print(f"{'Weir RSS growth, MiB':32}{result['rss_growth_mib']:>12.0f}")
    if args.json is not None:
        doc = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "load_avg": os.getloadavg(),
            "objects": args.objects,
            "direct_listing_keys_s": listing,
            **result,
        }
        args.json.write_text(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
