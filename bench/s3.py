"""Weir against SeaweedFS (and optionally moto) on this machine, same client, one run.

Starts each server on 127.0.0.1 (Weir: ``python -m gateway serve``; SeaweedFS: ``weed mini``
through ``tests.support.s3servers``), then runs every phase on every server in turn, so drift
on a shared machine hits both alike:

- 64 MiB PUT and GET, ``--reps`` times each (distinct content per repetition, so Weir's dedup
  cannot skip the write): MB/s (10^6 bytes) and server CPU-seconds per GB (10^9 bytes);
- 4 KiB PUT, GET, HEAD at ``--concurrency`` in flight, ``--small-ops`` each: ops/s, p50/p99
  latency, server CPU-ms per operation;
- ListObjectsV2 over 10,000 keys (100 "directories" of 50 keys interleaved with 5,000 top-level
  keys, so a ``/`` listing returns 100 common prefixes and 5,000 objects), max-keys 1000 with
  full pagination: keys/s (10,000 keys covered / seconds), with and without the delimiter.

Client: ``bench.rawclient`` for every phase (asyncio streams, SigV4 with UNSIGNED-PAYLOAD, one
persistent connection per in-flight request; 64 MiB bodies go through blocking sockets in a
thread, sent from and received into 1 MiB buffers). Server CPU is the scheduler's on-CPU time
(``/proc/<pid>/task/*/schedstat``, ns) of every thread of the server process and of its live
descendants (``/proc/<pid>/stat`` ticks instead when threads exit mid-phase, as moto's do); for
Weir the event-loop (main) thread is also shown on its own.
Medians over repetitions. ``--profile DIR`` profiles Weir's event loop with cProfile, one
``DIR/<phase>.pstats`` per phase; ``--what-if`` runs Weir with an experiment applied (a setting or
an in-process patch made by this harness, never an edit of the server) to measure a proposed fix.

    PYTHONPATH=. python bench/s3.py [--moto] [--json out.json] [--profile prof/]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import html
import json
import os
import re
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import s3_backend
from bench.rawclient import (
    Connection,
    FastConnection,
    Response,
    Signer,
    blocking_transfer,
    build_request,
    encode_key_path,
)
from bench.s3_servers import (
    WHAT_IFS,
    code_version,
    cpu_since,
    cpu_snapshot,
    main_thread_cpu_seconds,
    serve_floor,
    serve_inproc,
    start_floor,
    start_weir,
)
from tests.support.s3servers import S3Server, start_moto, start_seaweedfs

MIB = 1 << 20
LARGE = 64 * MIB
SMALL = 4096
BUCKET = "bench"
LIST_DIRS, LIST_PER_DIR, LIST_TOP = 100, 50, 5000
LIST_KEYS = LIST_DIRS * LIST_PER_DIR + LIST_TOP
WARMUP_OPS = 100

#: (metric, label, target ratio Weir/SeaweedFS, ">=" or "<=").
METRICS: list[tuple[str, str, float | None, str]] = [
    ("put64_mbps", "PUT 64 MiB  MB/s", 3.0, ">="),
    ("put64_cpu_s_gb", "PUT 64 MiB  server CPU-s/GB", None, "<="),
    ("get64_mbps", "GET 64 MiB  MB/s", 1.2, ">="),
    ("get64_cpu_s_gb", "GET 64 MiB  server CPU-s/GB", None, "<="),
    ("put64_loop_cpu_s_gb", "PUT 64 MiB  event-loop CPU-s/GB", None, "<="),
    ("get64_loop_cpu_s_gb", "GET 64 MiB  event-loop CPU-s/GB", None, "<="),
    ("put64_client_cpu_s_gb", "PUT 64 MiB  client CPU-s/GB", None, "<="),
    ("get64_client_cpu_s_gb", "GET 64 MiB  client CPU-s/GB", None, "<="),
    ("put4k_ops", "PUT 4 KiB   ops/s (durable)", 1.0, ">="),
    ("put4k_p50_ms", "PUT 4 KiB   p50 ms", None, "<="),
    ("put4k_p99_ms", "PUT 4 KiB   p99 ms", None, "<="),
    ("put4k_cpu_ms", "PUT 4 KiB   server CPU-ms/op", None, "<="),
    ("put4k_loop_cpu_ms", "PUT 4 KiB   event-loop CPU-ms/op", None, "<="),
    ("put4k_client_cpu_ms", "PUT 4 KiB   client CPU-ms/op", None, "<="),
    ("get4k_ops", "GET 4 KiB   ops/s", None, ">="),
    ("get4k_p50_ms", "GET 4 KiB   p50 ms", None, "<="),
    ("get4k_p99_ms", "GET 4 KiB   p99 ms", None, "<="),
    ("get4k_cpu_ms", "GET 4 KiB   server CPU-ms/op", 0.5, "<="),
    ("get4k_loop_cpu_ms", "GET 4 KiB   event-loop CPU-ms/op", None, "<="),
    ("get4k_client_cpu_ms", "GET 4 KiB   client CPU-ms/op", None, "<="),
    ("head4k_ops", "HEAD 4 KiB  ops/s", None, ">="),
    ("head4k_p50_ms", "HEAD 4 KiB  p50 ms", None, "<="),
    ("head4k_p99_ms", "HEAD 4 KiB  p99 ms", None, "<="),
    ("head4k_cpu_ms", "HEAD 4 KiB  server CPU-ms/op", 0.5, "<="),
    ("head4k_loop_cpu_ms", "HEAD 4 KiB  event-loop CPU-ms/op", None, "<="),
    ("list_keys_s", "LIST 10k    keys/s", 2.0, ">="),
    ("list_cpu_us_key", "LIST 10k    server CPU-us/key", None, "<="),
    ("list_loop_cpu_us_key", "LIST 10k    event-loop CPU-us/key", None, "<="),
    ("listd_keys_s", "LIST 10k /  keys/s", 2.0, ">="),
    ("listd_cpu_us_key", "LIST 10k /  server CPU-us/key", None, "<="),
    ("listd_loop_cpu_us_key", "LIST 10k /  event-loop CPU-us/key", None, "<="),
]


@dataclass
class Target:
    """One server under test, with its client and its results."""

    server: S3Server
    signer: Signer
    results: dict[str, float] = field(default_factory=dict)
    samples: dict[str, list[float]] = field(default_factory=dict)
    last_main_cpu: float = 0.0  # main-thread CPU-seconds of the last run_pool
    profile: Path | None = None  # Weir under serve_inproc: per-phase profiles go here
    store_pid: int | None = None  # --backend s3: the SeaweedFS behind Weir (its CPU counts too)

    async def mark(self, name: str = "discard") -> None:
        """Have a profiled server dump what it profiled since the last mark as ``name``."""
        if self.profile is None:
            return
        out = self.profile / f"{name}.pstats"
        out.unlink(missing_ok=True)
        (self.profile / "phase").write_text(name)
        os.kill(self.pid, signal.SIGUSR1)
        for _ in range(400):  # bounded wait for the dump: at most 20 s
            if out.exists():
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"profiled server did not dump {out}")

    @property
    def name(self) -> str:
        return self.server.name

    @property
    def pid(self) -> int:
        return self.server.process.pid

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.server.endpoint_url.removeprefix("http://").split(":")
        return host, int(port)

    def conn(self) -> Connection:
        return Connection(*self.address, self.signer)


# --------------------------------------------------------------------------- phases


def _expect(resp: Response, status: int, what: str) -> None:
    if resp.status != status:
        raise RuntimeError(f"{what}: HTTP {resp.status}: {resp.body[:300]!r}")


async def run_pool(
    t: Target, ops: int, concurrency: int, one: Callable[[Connection, int], Awaitable[None]]
) -> tuple[float, float, float, list[float]]:
    """Run ``one(conn, i)`` for i in range(ops) on ``concurrency`` connections.

    Returns (wall seconds, server CPU-seconds, client CPU-seconds, latencies in seconds)."""
    conns = [t.conn() for _ in range(concurrency)]
    latencies: list[float] = []
    counter = iter(range(ops))

    async def worker(conn: Connection) -> None:
        for i in counter:  # shared iterator: each index is taken once; bounded by ops
            start = time.perf_counter()
            await one(conn, i)
            latencies.append(time.perf_counter() - start)

    for conn in conns:  # connect before the clock starts
        await conn.request("HEAD", f"/{BUCKET}")
    cpu0, own0, t0 = cpu_snapshot(t.pid), time.process_time(), time.perf_counter()
    main0 = main_thread_cpu_seconds(t.pid)
    await asyncio.gather(*(worker(c) for c in conns))
    wall, cpu = time.perf_counter() - t0, cpu_since(t.pid, cpu0)
    own = time.process_time() - own0
    t.last_main_cpu = main_thread_cpu_seconds(t.pid) - main0
    for conn in conns:
        await conn.close()
    return wall, cpu, own, latencies


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def phase_setup(t: Target) -> None:
    conn = t.conn()
    _expect(await conn.request("PUT", f"/{BUCKET}"), 200, "CreateBucket")
    await conn.close()


async def phase_large(t: Target, reps: int, data: bytearray, nonce: int) -> None:
    host, port = t.address
    view = memoryview(data)
    chunks = [view[i : i + MIB] for i in range(0, LARGE, MIB)]
    # (MB/s, server CPU-s/GB, client CPU-s/GB, server main-thread CPU-s/GB, stack CPU-s/GB)
    put: list[tuple[float, float, float, float, float]] = []
    get: list[tuple[float, float, float, float, float]] = []
    for r in range(-1, reps):  # r == -1: warm-up, not recorded
        data[:16] = f"{nonce:08d}{r + 1:08d}".encode()  # distinct content: no dedup
        key = encode_key_path(BUCKET, f"main/large/obj-{r + 1}")
        for method, into, body in (("PUT", put, chunks), ("GET", get, [])):
            await t.mark()
            store0 = cpu_snapshot(t.store_pid) if t.store_pid else None
            cpu0, own0, t0 = cpu_snapshot(t.pid), time.process_time(), time.perf_counter()
            main0 = main_thread_cpu_seconds(t.pid)
            resp = await asyncio.to_thread(
                blocking_transfer, host, port, t.signer, method, key, body=body, length=LARGE
            )
            wall, cpu = time.perf_counter() - t0, cpu_since(t.pid, cpu0)
            stack = cpu + (cpu_since(t.store_pid, store0) if t.store_pid and store0 else 0.0)
            own = time.process_time() - own0
            loop = main_thread_cpu_seconds(t.pid) - main0
            _expect(resp, 200, f"{method} 64 MiB")
            if method == "GET" and resp.received != LARGE:
                raise RuntimeError(f"GET 64 MiB returned {resp.received} bytes")
            await t.mark(f"{method.lower()}64" if r == 0 else "discard")
            if r >= 0:
                gb = LARGE / 1e9
                into.append((LARGE / wall / 1e6, cpu / gb, own / gb, loop / gb, stack / gb))
    for name, rows in (("put64", put), ("get64", get)):
        t.samples[f"{name}_mbps"] = [row[0] for row in rows]
        t.results[f"{name}_mbps"] = statistics.median(row[0] for row in rows)
        t.results[f"{name}_cpu_s_gb"] = statistics.median(row[1] for row in rows)
        t.results[f"{name}_client_cpu_s_gb"] = statistics.median(row[2] for row in rows)
        t.results[f"{name}_stack_cpu_s_gb"] = statistics.median(row[4] for row in rows)
        if t.name.startswith("weir"):
            t.results[f"{name}_loop_cpu_s_gb"] = statistics.median(row[3] for row in rows)


def _small_body(nonce: int, i: int, base: bytes) -> bytes:
    tag = f"{nonce:08d}-{i:010d}".encode()
    return tag + base[len(tag) :]


async def run_fast(
    t: Target, requests: list[bytes], concurrency: int, *, head: bool, want: int, length: int
) -> tuple[float, float, float, list[float]]:
    """Send pre-built ``requests`` over ``concurrency`` ``FastConnection``s; each must answer
    ``want`` with a body of ``length`` bytes (HEAD: no body).

    Returns (wall seconds, server CPU-seconds, client CPU-seconds, latencies in seconds)."""
    host, port = t.address
    conns = [await FastConnection.open(host, port) for _ in range(concurrency)]
    latencies: list[float] = []
    todo = iter(requests)

    async def worker(conn: FastConnection) -> None:
        for request in todo:  # shared iterator: each request is sent once; bounded
            start = time.perf_counter()
            status, got = await conn.send(request, head=head)
            latencies.append(time.perf_counter() - start)
            if status != want or (not head and got != length):
                raise RuntimeError(f"{t.name}: HTTP {status}, {got} bytes (want {want}, {length})")

    cpu0, own0, t0 = cpu_snapshot(t.pid), time.process_time(), time.perf_counter()
    main0 = main_thread_cpu_seconds(t.pid)
    try:
        await asyncio.gather(*(worker(c) for c in conns))
    finally:
        for conn in conns:
            conn.close()
    wall, cpu = time.perf_counter() - t0, cpu_since(t.pid, cpu0)
    own = time.process_time() - own0
    t.last_main_cpu = main_thread_cpu_seconds(t.pid) - main0
    return wall, cpu, own, latencies


async def phase_small(
    t: Target, op: str, ops: int, concurrency: int, base: bytes, nonce: int, rep: int = 0
) -> None:
    """``op`` is put4k, get4k or head4k; keys main/small/obj-<i> (PUT writes them first).

    Requests are signed and built before the clock starts and sent over ``FastConnection``s, so
    the client spends tens of microseconds per request (it shares the machine's cores)."""
    host, port = t.address
    authority = f"{host}:{port}"
    method = {"put4k": "PUT", "get4k": "GET", "head4k": "HEAD"}[op]

    def build(prefix: str, i: int, tag: int) -> bytes:
        path = encode_key_path(BUCKET, f"main/{prefix}/obj-{i}")
        body = _small_body(nonce, tag, base) if op == "put4k" else b""
        return build_request(t.signer, authority, method, path, body)

    length = 0 if op == "put4k" else SMALL
    if op == "put4k":
        warm = [build("warm", i, -i - 1) for i in range(WARMUP_OPS)]
    else:
        warm = [build("small", i % ops, i) for i in range(WARMUP_OPS)]
    await run_fast(t, warm, concurrency, head=op == "head4k", want=200, length=length)
    timed = [build("small", i, i + rep * ops) for i in range(ops)]  # new content each rep
    await t.mark()
    wall, cpu, own, lat = await run_fast(
        t, timed, concurrency, head=op == "head4k", want=200, length=length
    )
    await t.mark(op)
    figures = {
        f"{op}_ops": ops / wall,
        f"{op}_p50_ms": _pct(lat, 0.50) * 1e3,
        f"{op}_p99_ms": _pct(lat, 0.99) * 1e3,
        f"{op}_cpu_ms": cpu / ops * 1e3,
        f"{op}_client_cpu_ms": own / ops * 1e3,
    }
    if t.name.startswith("weir"):  # its event loops; the rest is LMDB, blob and hashing threads
        figures[f"{op}_loop_cpu_ms"] = t.last_main_cpu / ops * 1e3
    for name, value in figures.items():  # the median over --small-reps repetitions
        t.samples.setdefault(name, []).append(value)
        t.results[name] = statistics.median(t.samples[name])


def list_key(i: int) -> str:
    """The i-th of LIST_KEYS keys: dir g<d>/k<j> or top-level g<d>-<j>, interleaved by name."""
    d, j = divmod(i, LIST_PER_DIR * 2)
    if j < LIST_PER_DIR:
        return f"main/list/g{d:03d}/k{j:03d}"
    return f"main/list/g{d:03d}-{j - LIST_PER_DIR:03d}"


async def phase_list_seed(t: Target, concurrency: int) -> None:
    async def one(conn: Connection, i: int) -> None:
        path = encode_key_path(BUCKET, list_key(i))
        _expect(await conn.request("PUT", path, body=f"k{i}".encode()), 200, "PUT list seed")

    await t.mark()
    wall, _, _, _ = await run_pool(t, LIST_KEYS, concurrency, one)
    await t.mark("list_seed_put")
    t.results["list_seed_put_ops"] = LIST_KEYS / wall


_TOKEN = re.compile(r"<NextContinuationToken>([^<]*)</NextContinuationToken>")


async def list_all(conn: Connection, delimiter: bool) -> tuple[int, int]:
    """Paginate ListObjectsV2 over main/list/; return (keys, common prefixes)."""
    keys = prefixes = 0
    token: str | None = None
    for _ in range(LIST_KEYS // 1000 + 5):  # bounded: more pages than the data can need
        query = [("list-type", "2"), ("max-keys", "1000"), ("prefix", "main/list/")]
        if delimiter:
            query.append(("delimiter", "/"))
        if token is not None:
            query.append(("continuation-token", token))
        resp = await conn.request("GET", f"/{BUCKET}", query)
        _expect(resp, 200, "ListObjectsV2")
        text = resp.body.decode()
        keys += text.count("<Key>")
        prefixes += text.count("<CommonPrefixes>")
        match = _TOKEN.search(text)
        if "<IsTruncated>true</IsTruncated>" not in text or match is None:
            return keys, prefixes
        token = html.unescape(match.group(1))
    raise RuntimeError("ListObjectsV2 did not finish within the page bound")


async def phase_list(t: Target, reps: int, delimiter: bool) -> None:
    conn = t.conn()
    name = "listd" if delimiter else "list"
    want = (LIST_TOP, LIST_DIRS) if delimiter else (LIST_KEYS, 0)
    rates: list[float] = []
    cpus: list[float] = []
    loops: list[float] = []
    for r in range(-1, reps):
        await t.mark()
        cpu0, t0 = cpu_snapshot(t.pid), time.perf_counter()
        main0 = main_thread_cpu_seconds(t.pid)
        keys, prefixes = await list_all(conn, delimiter)
        wall, cpu = time.perf_counter() - t0, cpu_since(t.pid, cpu0)
        loops.append((main_thread_cpu_seconds(t.pid) - main0) / LIST_KEYS * 1e6)
        await t.mark(name if r == 0 else "discard")
        if (keys, prefixes) != want:
            raise RuntimeError(f"{name}: got {keys} keys, {prefixes} prefixes; want {want}")
        if r >= 0:
            rates.append(LIST_KEYS / wall)
            cpus.append(cpu / LIST_KEYS * 1e6)
    await conn.close()
    t.samples[f"{name}_keys_s"] = rates
    t.results[f"{name}_keys_s"] = statistics.median(rates)
    t.results[f"{name}_cpu_us_key"] = statistics.median(cpus)
    if t.name.startswith("weir"):
        t.results[f"{name}_loop_cpu_us_key"] = statistics.median(loops[1:] or loops)


# --------------------------------------------------------------------------- report


def ratios(
    targets: list[Target], metrics: list[tuple[str, str, float | None, str]] | None = None
) -> dict[str, dict[str, dict[str, Any]]]:
    """For every Weir target: each metric's ratio to SeaweedFS in this run, and the verdict."""
    ref = next((t for t in targets if t.name == "seaweedfs"), None)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for weir in (t for t in targets if t.name.startswith("weir")):
        rows: dict[str, dict[str, Any]] = {}
        for metric, _, goal, sense in metrics or METRICS:
            w = weir.results.get(metric)
            s = ref.results.get(metric) if ref else None
            ratio = w / s if w is not None and s else None
            ok = None
            if goal is not None and ratio is not None:
                ok = ratio >= goal if sense == ">=" else ratio <= goal
            rows[metric] = {"ratio": ratio, "target": goal, "sense": sense, "met": ok}
        out[weir.name] = rows
    return out


#: Worker scaling (issue 11): throughput with N workers over 1 worker, same run.
SCALING = {"put4k_ops": 1.6, "get4k_ops": 1.6, "head4k_ops": 1.6}


def scaling(targets: list[Target]) -> dict[str, dict[str, Any]]:
    """``weir-wN`` over ``weir-w1`` for every N > 1 measured (``--workers 1,N``)."""
    one = next((t for t in targets if t.name == "weir-w1"), None)
    out: dict[str, dict[str, Any]] = {}
    if one is None:
        return out
    for t in targets:
        if not t.name.startswith("weir-w") or t is one:
            continue
        for metric, goal in SCALING.items():
            a, b = t.samples.get(metric), one.samples.get(metric)
            if not a or not b:
                continue
            # Each repetition's ratio (the two ran one right after the other), then the median.
            ratio = statistics.median(x / y for x, y in zip(a, b, strict=False))
            out[f"{t.name}/weir-w1 {metric}"] = {
                "ratio": ratio,
                "target": goal,
                "met": ratio >= goal,
            }
    return out


def render(
    targets: list[Target],
    rows: dict[str, dict[str, dict[str, Any]]],
    scaled: dict[str, dict[str, Any]],
    metrics: list[tuple[str, str, float | None, str]] | None = None,
) -> str:
    widths = [max(12, len(t.name) + 2) for t in targets]
    columns = list(zip(targets, widths, strict=True))
    head = f"{'metric':34}" + "".join(f"{t.name:>{w}}" for t, w in columns)
    rwidths = [max(10, len(n) + 6) for n in rows]
    head += "".join(f"{n + '/sfs':>{w}}" for n, w in zip(rows, rwidths, strict=True))
    head += "  target"
    lines = [head, "-" * len(head)]
    for metric, label, goal, sense in metrics or METRICS:
        if not any(metric in t.results for t in targets):
            continue  # a skipped phase
        cells = "".join(
            f"{t.results[metric]:{w}.3g}" if metric in t.results else f"{'-':>{w}}"
            for t, w in columns
        )
        verdicts = []
        for per, w in zip(rows.values(), rwidths, strict=True):
            row = per[metric]
            cells += f"{row['ratio']:{w}.2f}" if row["ratio"] is not None else f"{'-':>{w}}"
            verdicts.append({True: "MET", False: "MISSED", None: "?"}[row["met"]])
        goal_text = f"  {sense} {goal:g}x  {'/'.join(verdicts)}" if goal is not None else ""
        lines.append(f"{label:34}{cells}{goal_text}")
    for name, row in scaled.items():
        verdict = "MET" if row["met"] else "MISSED"
        lines.append(f"{name:48}{row['ratio']:8.2f}  >= {row['target']:g}x  {verdict}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


async def _small(
    t: Target, *, op: str, args: argparse.Namespace, base: bytes, nonce: int, rep: int
) -> None:
    await phase_small(t, op, args.small_ops, args.concurrency, base, nonce, rep)


async def run_phases(targets: list[Target], args: argparse.Namespace) -> None:
    data = bytearray(os.urandom(LARGE))
    base = os.urandom(SMALL)
    nonce = int(time.time()) % 10**8

    async def each(label: str, fn: Callable[[Target], Awaitable[None]]) -> None:
        small = label in ("setup", "put4k", "get4k", "head4k")
        for t in targets:
            if t.name == "aiohttp-floor" and not small:
                continue  # no listing, and it would hold 64 MiB bodies in memory
            t0 = time.perf_counter()
            await fn(t)
            print(f"  {label:22} {t.name:10} {time.perf_counter() - t0:6.1f} s", flush=True)

    await each("setup", phase_setup)
    if args.backend == "s3":  # the object-store phases only (bench/s3_backend.py)
        t0 = time.perf_counter()
        paired = await s3_backend.phase_large_paired(targets, args.reps, data, nonce)
        print(f"  {'64 MiB PUT+GET, paired':22} {time.perf_counter() - t0:6.1f} s", flush=True)
        for metric, ratio in paired.items():
            targets[0].results[f"paired_{metric}"] = ratio
        await each("4 x 64 MiB PUT (RSS)", lambda t: s3_backend.phase_rss(t, data, nonce))
        return
    if not args.skip_large:
        await each("64 MiB PUT+GET", lambda t: phase_large(t, args.reps, data, nonce))
    for op in ("put4k", "get4k", "head4k"):
        for rep in range(args.small_reps):  # targets interleaved: drift hits all of them alike
            small = functools.partial(_small, op=op, args=args, base=base, nonce=nonce, rep=rep)
            await each(op, small)
    if args.skip_list:
        return
    await each("list seed (10k PUTs)", lambda t: phase_list_seed(t, args.concurrency))
    await each("list", lambda t: phase_list(t, args.reps, delimiter=False))
    await each("list /", lambda t: phase_list(t, args.reps, delimiter=True))


def main() -> int:
    if sys.argv[1:2] == ["--serve-floor"]:
        return serve_floor(int(sys.argv[2]))
    if sys.argv[1:2] == ["--serve-inproc"]:
        out_dir = None if sys.argv[2] == "-" else Path(sys.argv[2])
        return serve_inproc(out_dir, sys.argv[3:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="repetitions of large/list phases")
    parser.add_argument("--small-ops", type=int, default=2000, help="ops per 4 KiB phase")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--small-reps",
        type=int,
        default=1,
        help="repetitions of each 4 KiB phase, every target in turn each time; medians reported",
    )
    parser.add_argument("--moto", action="store_true", help="also measure moto_server")
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also measure a bare aiohttp server (no auth, memory) in the 4 KiB phases",
    )
    parser.add_argument("--only-weir", action="store_true", help="skip SeaweedFS (profiling)")
    parser.add_argument(
        "--autogroup-nice",
        type=int,
        default=None,
        help="run the bench (client and every server) in a scheduler autogroup of this niceness "
        "(e.g. -10; needs root and its own session: start it under `setsid -w`), so that other "
        "sessions' load on a shared machine does not cap it at one group's fair share",
    )
    parser.add_argument(
        "--workers",
        default="",
        help="measure Weir with each of these worker counts (comma-separated, e.g. 1,2), "
        "named weir-wN; the N/1 throughput ratios are reported too (default: one worker)",
    )
    parser.add_argument(
        "--backend",
        choices=["local", "s3"],
        default="local",
        help="s3: Weir keeps its blobs on the SeaweedFS it is compared with (64 MiB and "
        "4 x 64 MiB RSS phases only; bench/s3_backend.py)",
    )
    parser.add_argument("--skip-large", action="store_true", help="skip the 64 MiB phase")
    parser.add_argument("--skip-list", action="store_true", help="skip the listing phases")
    parser.add_argument("--json", type=Path, help="write results and ratios to this file")
    parser.add_argument(
        "--profile",
        type=Path,
        default=Path(os.environ["WEIR_BENCH_PROFILE"])
        if os.environ.get("WEIR_BENCH_PROFILE")
        else None,
        help="profile Weir's event loop, one DIR/<phase>.pstats per phase (env WEIR_BENCH_PROFILE)",
    )
    parser.add_argument(
        "--what-if",
        action="append",
        default=[],
        help="(repeatable) also run another Weir with these comma-separated experiments: "
        + "; ".join(f"{k}: {v}" for k, v in WHAT_IFS.items()),
    )
    args = parser.parse_args()
    try:
        worker_counts = [int(n) for n in args.workers.split(",")] if args.workers else []
    except ValueError:
        parser.error("--workers takes comma-separated counts, e.g. 1,2")
    if any(not 1 <= n <= 64 for n in worker_counts) or (worker_counts and args.profile):
        parser.error("--workers counts are 1-64, and cannot be combined with --profile")
    if args.autogroup_nice is not None:
        if os.getsid(0) != os.getpid():
            parser.error("--autogroup-nice needs its own session: run the bench under setsid -w")
        Path("/proc/self/autogroup").write_text(str(args.autogroup_nice))
    what_ifs = [[w for w in group.split(",") if w] for group in args.what_if]
    if any(w not in WHAT_IFS for group in what_ifs for w in group):
        parser.error(f"--what-if takes {', '.join(WHAT_IFS)}")
    if not (1 <= args.concurrency <= 256 and 1 <= args.small_ops <= 10**6 and args.reps >= 1):
        parser.error("out-of-range --concurrency, --small-ops or --reps")
    targets: list[Target] = []
    version = code_version()
    group = Path("/proc/self/autogroup")
    where = group.read_text().strip() if group.exists() else "no autogroup"
    print(f"code {version}; load average {os.getloadavg()[0]:.1f}; {where}", flush=True)
    with tempfile.TemporaryDirectory(prefix="weir-bench-s3-") as tmp_name:
        tmp = Path(tmp_name)
        try:
            starters: list[Callable[[], S3Server]] = []
            if args.backend == "s3":
                store = start_seaweedfs(tmp / "seaweedfs")
                starters += [
                    lambda: s3_backend.start_weir_on(store, tmp / "weir", args.profile),
                    lambda: store,
                ]
            elif worker_counts:
                for n in worker_counts:
                    starters.append(functools.partial(start_weir, tmp / f"w{n}", None, [], n))
            else:
                starters.append(lambda: start_weir(tmp, args.profile, []))
            for i, group in enumerate(what_ifs):  # patched Weirs in the same run as the baseline
                starters.append(functools.partial(start_weir, tmp / f"what-if-{i}", None, group))
            if not args.only_weir and args.backend == "local":
                starters.append(lambda: start_seaweedfs(tmp / "seaweedfs"))
            if args.moto:
                starters.append(lambda: start_moto(tmp / "moto"))
            if args.floor:
                starters.append(lambda: start_floor(tmp / "floor"))
            for start in starters:
                server = start()
                signer = Signer(server.access_key_id, server.secret_access_key, server.region)
                signer.self_check()
                profile = args.profile if server.name == "weir" else None
                target = Target(server, signer, profile=profile)
                if args.backend == "s3" and server.name == "weir":
                    target.store_pid = store.process.pid
                targets.append(target)
                print(f"started {server.name} pid {server.process.pid} {server.endpoint_url}")
            asyncio.run(run_phases(targets, args))
        finally:
            for t in targets:
                t.server.stop()
    metrics = s3_backend.METRICS if args.backend == "s3" else METRICS
    rows = ratios(targets, metrics)
    scaled = scaling(targets)
    print()
    print(render(targets, rows, scaled, metrics))
    if args.backend == "s3":
        weir = next(t for t in targets if t.name == "weir")
        for metric, goal in (("put64_mbps", 0.8), ("get64_mbps", 0.9)):
            ratio = next((t.results.get(f"paired_{metric}") for t in targets), None)
            if ratio is not None:
                verdict = "MET" if ratio >= goal else "MISSED"
                label = f"median of per-round ratios, {metric}"
                print(f"{label:48}{ratio:8.2f}  >= {goal:g}x  {verdict}")
        growth = weir.results.get("rss4_growth_mib", float("nan"))
        verdict = "MET" if growth < s3_backend.RSS_GROWTH_TARGET else "MISSED"
        print(f"{'weir RSS growth, 4 x 64 MiB PUT at once':48}{growth:8.0f} MiB  < 200  {verdict}")
    if args.json is not None:
        doc = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "load_avg": os.getloadavg(),
            "code": version,
            "args": {k: str(v) for k, v in vars(args).items()},
            "what_ifs": what_ifs,
            "results": {t.name: t.results for t in targets},
            "samples": {t.name: t.samples for t in targets},
            "ratios": rows,
            "scaling": scaled,
        }
        args.json.write_text(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
