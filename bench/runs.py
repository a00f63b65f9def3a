"""What isolated runs cost: server CPU of a 4 KiB GET with a run credential against a plain one,
memory of recording a million reads, and the two ways to read branches as of a run's start.

Three parts, each bounded:

- ``get``: one Weir process (``--workers 1``, so all server CPU is one process tree), 4 KiB
  objects on ``main`` (``--objects`` >= 200 + ``--gets`` x ``--rounds``: every read distinct);
  GETs signed with the admin's key (plain), with a run credential reading ``REPO/main`` (mapped
  to the run branch, read recorded) and with the same credential reading
  another repository's ``main`` (mapped to its head as of the start, read recorded). The three
  are interleaved round by round so drift hits all alike; server CPU-ms per GET from
  ``/proc/<pid>/task/*/schedstat`` (as ``bench/s3.py``), medians of the rounds, ratio to plain.
- ``memory``: in-process on LMDB: ``ReadRecorder.record`` of N distinct reads (the batches
  written as they fill), then the manifest build (``build_inputs``) over the N-read log;
  tracemalloc peak of each against N.
- ``snapshot``: in-process on LMDB with B branches in a repository: opening a snapshot (O(1))
  against recording every head at the start (the alternative: scan and store B heads), a
  first-access lookup (``head_at``), and a commit's cost with a snapshot open vs none.

    flock /work/bench.lock .venv/bin/python bench/runs.py [--part get,memory,snapshot]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import json
import statistics
import sys
import tempfile
import time
import tracemalloc
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.rawclient import FastConnection, Signer, build_request, encode_key_path
from bench.s3_servers import WEIR_KEY, WEIR_SECRET, cpu_since, cpu_snapshot, start_weir
from gateway.core import codec, heads, keys
from gateway.core.ids import BranchName, CommitId
from gateway.core.lake import Lake
from gateway.core.model import (
    Branch,
    Entry,
)
from gateway.core.ports import KVWriter
from gateway.meta.lmdb_store import LmdbKVStore
from gateway.runs import inputs, store
from gateway.runs.readlog import ReadRecorder
from gateway.storage.memory import MemoryBlobStore

SMALL = 4096


# --------------------------------------------------------------------------- part: get


def _admin(endpoint: str, method: str, path: str, body: Any = None) -> Any:
    req = urllib.request.Request(
        endpoint + "/api/v1" + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
    )
    token = base64.b64encode(f"{WEIR_KEY}:{WEIR_SECRET}".encode()).decode()
    req.add_header("Authorization", "Basic " + token)
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=60) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


async def _put_objects(host: str, port: int, signer: Signer, bucket: str, n: int) -> None:
    """Create ``bucket`` and ``n`` 4 KiB objects on main, 16 PUTs in flight (group commit)."""
    authority = f"{host}:{port}"
    first = await FastConnection.open(host, port)
    status, _ = await first.send(build_request(signer, authority, "PUT", f"/{bucket}"))
    first.close()
    assert status == 200, status
    todo = iter(range(n))

    async def worker() -> None:
        conn = await FastConnection.open(host, port)
        try:
            for i in todo:
                path = encode_key_path(bucket, f"main/small/obj-{i}")
                body = (f"{i:010d}".encode() * (SMALL // 10 + 1))[:SMALL]
                status, _ = await conn.send(build_request(signer, authority, "PUT", path, body))
                assert status == 200, status
        finally:
            conn.close()

    await asyncio.gather(*(worker() for _ in range(16)))


async def _gets(
    pid: int, host: str, port: int, requests: list[bytes], concurrency: int
) -> tuple[float, float]:
    """(server CPU-seconds, wall seconds) of sending ``requests`` (all 200 with 4 KiB)."""
    conns = [await FastConnection.open(host, port) for _ in range(concurrency)]
    todo = iter(requests)

    async def worker(conn: FastConnection) -> None:
        for request in todo:
            status, got = await conn.send(request)
            if status != 200 or got != SMALL:
                raise RuntimeError(f"GET answered {status} with {got} bytes")

    before, t0 = cpu_snapshot(pid), time.perf_counter()
    try:
        await asyncio.gather(*(worker(c) for c in conns))
    finally:
        for conn in conns:
            conn.close()
    return cpu_since(pid, before), time.perf_counter() - t0


async def part_get(args: argparse.Namespace, out: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory(prefix="weir-bench-runs-") as tmp:
        server = start_weir(Path(tmp), None, [], workers=1)
        try:
            host, port_s = server.endpoint_url.removeprefix("http://").split(":")
            port = int(port_s)
            admin = Signer(WEIR_KEY, WEIR_SECRET)
            n = args.objects
            await _put_objects(host, port, admin, "models", n)
            await _put_objects(host, port, admin, "data", n)
            for repo in ("models", "data"):
                _admin(
                    server.endpoint_url,
                    "POST",
                    f"/repositories/{repo}/branches/main/commits",
                    {"message": "objects"},
                )
            started = _admin(
                server.endpoint_url,
                "POST",
                "/repositories/models/runs",
                {"command": ["bench"], "ttl_seconds": 3600},
            )
            creds = started["credentials"]
            run = Signer(creds["access_key_id"], creds["secret_access_key"])
            authority = f"{host}:{port}"

            def build(signer: Signer, bucket: str, count: int, start: int = 0) -> list[bytes]:
                return [
                    build_request(
                        signer,
                        authority,
                        "GET",
                        encode_key_path(bucket, f"main/small/obj-{i % n}"),
                    )
                    for i in range(start, start + count)
                ]

            kinds = {
                "plain": (admin, "models"),
                "run_own_branch": (run, "models"),
                "run_snapshot": (run, "data"),
            }
            for signer, bucket in kinds.values():  # warm caches and the mapping
                await _gets(server.process.pid, host, port, build(signer, bucket, 200), 4)
            cpu: dict[str, list[float]] = {k: [] for k in kinds}
            ops: dict[str, list[float]] = {k: [] for k in kinds}
            for r in range(args.rounds):
                for kind, (signer, bucket) in kinds.items():
                    # Distinct objects per round (with --objects >= gets x rounds): every read
                    # of the run is a new read-log entry, the worst case for recording.
                    reqs = build(signer, bucket, args.gets, 200 + r * args.gets)
                    used, wall = await _gets(server.process.pid, host, port, reqs, args.concurrency)
                    cpu[kind].append(used / args.gets * 1e3)
                    ops[kind].append(args.gets / wall)
            done = _admin(
                server.endpoint_url, "POST", f"/runs/{started['id']}/finish", {"exit_status": 0}
            )
            plain = statistics.median(cpu["plain"])
            out["get"] = {
                kind: {
                    "server_cpu_ms_per_get": round(statistics.median(cpu[kind]), 4),
                    "cpu_rounds": [round(x, 4) for x in cpu[kind]],
                    "ops_per_s": round(statistics.median(ops[kind])),
                    "cpu_ratio_to_plain": round(statistics.median(cpu[kind]) / plain, 3),
                }
                for kind in kinds
            }
            out["get"]["recorded_paths"] = sum(i["paths"] for i in done["inputs"])
        finally:
            server.stop()


# --------------------------------------------------------------------------- part: memory


async def part_memory(args: argparse.Namespace, out: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory(prefix="weir-bench-runs-mem-") as tmp:
        kv = LmdbKVStore(Path(tmp) / "meta")
        try:
            run_id = "bench"
            # A running run record, so the recorder joins it.
            from gateway.runs.model import Run

            record = Run(
                id=run_id,
                name=run_id,
                repository="models",
                source_branch="main",
                run_branch="runs/bench",
                start_commit="0" * 64,
                snapshot=0,
                user="u",
                access_key_id="ASIA",
                command=("bench",),
                created=time.time(),
                expires_at=time.time() + 3600,
            )
            await kv.write(lambda w: store.put(w, record))
            recorder = ReadRecorder(kv, process_id="bench", interval=0.2)
            commit = "c" * 64
            value = codec.pack(["e" * 32, SMALL, "main"])
            results: dict[str, Any] = {}
            for n in args.reads:
                row: dict[str, Any] = {}
                # Twice: timed without tracemalloc (it slows allocation-heavy code several
                # times over), then with it for the peak of Python memory.
                for traced in (False, True):
                    if traced:
                        tracemalloc.start()
                    t0 = time.perf_counter()
                    for i in range(n):
                        key = store.read_key(
                            run_id, "data", commit, f"part-{i // 1000:05d}/{i:09d}"
                        )
                        if not recorder.try_record(run_id, key, value):
                            await recorder.record(run_id, key, value)
                    await recorder.flush()
                    record_s = time.perf_counter() - t0
                    if traced:
                        row["record_peak_mib"] = round(
                            tracemalloc.get_traced_memory()[1] / 2**20, 1
                        )
                        tracemalloc.reset_peak()
                    else:
                        row["record_us_per_read"] = round(record_s / n * 1e6, 2)
                    t0 = time.perf_counter()
                    summaries = await asyncio.to_thread(inputs.build_inputs, kv, run_id)
                    build_s = time.perf_counter() - t0
                    if traced:
                        row["manifest_build_peak_mib"] = round(
                            tracemalloc.get_traced_memory()[1] / 2**20, 1
                        )
                        tracemalloc.stop()
                    else:
                        row["manifest_build_s"] = round(build_s, 2)
                    assert summaries[0].paths == n, summaries
                    await asyncio.to_thread(inputs.delete_log, kv, run_id)
                    recorder._written.clear()  # a fresh pass writes every key again
                results[str(n)] = row
            await recorder.close()
            out["memory"] = results
        finally:
            kv.close()


# --------------------------------------------------------------------------- part: snapshot


def _branches(lo: int, total: int, head: CommitId, w: KVWriter) -> None:
    for i in range(lo, min(lo + 5000, total)):
        heads.put_branch(w, "data", Branch(BranchName(f"b{i:07d}"), head, f"t{i}"), None)


async def part_snapshot(args: argparse.Namespace, out: dict[str, Any]) -> None:
    results: dict[str, Any] = {}
    for branches in args.branches:
        with tempfile.TemporaryDirectory(prefix="weir-bench-runs-snap-") as tmp:
            kv = LmdbKVStore(Path(tmp) / "meta")
            lake = Lake(kv, MemoryBlobStore())
            try:
                await lake.create_repository("data")
                head = (await lake.get_branch("data", "main")).head
                for lo in range(0, branches, 5000):
                    await kv.write(functools.partial(_branches, lo, branches, head))

                # (a) record every head at the start: scan the branch table, store the heads.
                def record_all(w: Any) -> int:
                    count = 0
                    pairs = []
                    for k, v in w.scan(keys.BRANCH, keys.prefix_end(keys.BRANCH)):
                        pairs.append((k, codec.decode_branch(v).head))
                        count += 1
                    for k, h in pairs:
                        w.put(b"r/s/bench\x00" + k[len(keys.BRANCH) :], h.encode())
                    return count

                t0 = time.perf_counter()
                await kv.write(record_all)
                record_ms = (time.perf_counter() - t0) * 1e3
                # (b) open a snapshot: one counter read and one record.
                samples = []
                for i in range(20):
                    t0 = time.perf_counter()
                    seq = await kv.write(lambda w, i=i: heads.open_snapshot(w, f"h{i}", 1e12))
                    samples.append((time.perf_counter() - t0) * 1e3)
                open_ms = statistics.median(samples)
                # A first access: one seek (+ one point read when unchanged).
                t0 = time.perf_counter()
                for i in range(1000):
                    await lake.head_at("data", f"b{i % branches:07d}", seq)
                lookup_us = (time.perf_counter() - t0) / 1000 * 1e6
                # A commit with snapshots open logs its head change; without, it does not.
                # Interleaved (open/release outside the timed region) so order effects cancel.
                await kv.write(
                    lambda w: [
                        heads.release_snapshot(w, s.seq, s.holder) for s in heads.snapshots(w)
                    ]
                )
                times: dict[str, list[float]] = {"snapshot_open": [], "no_snapshot": []}
                for i in range(args.commits):
                    for label in ("no_snapshot", "snapshot_open"):
                        if label == "snapshot_open":
                            seq = await kv.write(lambda w: heads.open_snapshot(w, "c", 1e12))
                        entry = Entry(address="a" * 64, size=1, etag=f"{i:031x}{len(label) % 2}")
                        await lake.put_object("data", "main", f"f{i % 10}", entry)
                        t0 = time.perf_counter()
                        await lake.commit("data", "main", message="c", committer="b")
                        times[label].append((time.perf_counter() - t0) * 1e3)
                        if label == "snapshot_open":
                            await kv.write(lambda w, q=seq: heads.release_snapshot(w, q, "c"))
                commit_ms = {k: round(statistics.median(v), 3) for k, v in times.items()}
                results[str(branches)] = {
                    "record_all_heads_ms": round(record_ms, 2),
                    "open_snapshot_ms": round(open_ms, 3),
                    "head_at_first_access_us": round(lookup_us, 1),
                    "commit_ms": commit_ms,
                }
            finally:
                await lake.close()
    out["snapshot"] = results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", default="get,memory,snapshot")
    parser.add_argument("--objects", type=int, default=20_200)
    parser.add_argument("--gets", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--reads", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--branches", type=int, nargs="+", default=[10, 1000, 100_000])
    parser.add_argument("--commits", type=int, default=50)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    out: dict[str, Any] = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    parts = args.part.split(",")
    if "get" in parts:
        asyncio.run(part_get(args, out))
    if "memory" in parts:
        asyncio.run(part_memory(args, out))
    if "snapshot" in parts:
        asyncio.run(part_snapshot(args, out))
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
