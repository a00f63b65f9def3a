"""Server processes for ``bench/s3.py``: Weir (plain, profiled or patched), an aiohttp floor,
and how much CPU a server process tree has used.

``python bench/s3.py --serve-inproc ...`` and ``--serve-floor PORT`` re-enter this module in a
child process; nothing here changes server code on disk.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.s3servers import S3Server, ServerStartError, free_port_block

WEIR_KEY, WEIR_SECRET = "AKIAWEIRBENCHS3PERF01", "weir-bench-s3-secret-0123456789abcdef"
S3_SCRIPT = Path(__file__).resolve().parent / "s3.py"


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU used so far by a process tree, two ways (see ``cpu_since``)."""

    threads_ns: dict[tuple[int, int], int]  # (pid, tid) -> on-CPU ns, live threads only
    ticks: int  # utime+stime+cutime+cstime of every live process: includes exited threads


def _process_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15])


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def cpu_snapshot(pid: int) -> CpuSnapshot:
    """Sample ``pid`` and every live descendant (bounded walk: 1,000 processes)."""
    threads: dict[tuple[int, int], int] = {}
    ticks, todo, seen = 0, [pid], 0
    while todo and seen < 1000:
        p = todo.pop()
        seen += 1
        try:
            ticks += _process_ticks(p)
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue  # exited between the listing and the read
        for tid in tids:
            try:
                with open(f"/proc/{p}/task/{tid}/schedstat") as f:
                    threads[(p, int(tid))] = int(f.read().split()[0])
            except OSError:
                continue  # the thread exited between the listing and the read
        todo += _children(p)
    return CpuSnapshot(threads, ticks)


def cpu_since(pid: int, before: CpuSnapshot) -> float:
    """Server CPU-seconds since ``before``, all threads of the process tree.

    Precise (ns) from ``/proc/<pid>/task/*/schedstat`` -- the scheduler's run time, user +
    system; ``stat``'s 10 ms ticks are too coarse for a 70 ms GET -- as long as the server's
    threads outlive the phase (Weir's pools, Go's threads). A thread that exits takes its
    schedstat with it, so when the tick count (which keeps exited threads' time) says clearly
    more, the tick count is used (moto's server starts a thread per request).
    """
    after = cpu_snapshot(pid)
    ns = sum(v - before.threads_ns.get(k, 0) for k, v in after.threads_ns.items())
    precise = ns / 1e9
    coarse = (after.ticks - before.ticks) / os.sysconf("SC_CLK_TCK")
    return coarse if coarse - precise > 0.03 else precise


def main_thread_cpu_seconds(pid: int) -> float:
    """On-CPU seconds of the main threads of the process and its children (Weir: the event
    loop of every worker; the supervisor's own main thread sleeps)."""
    total = 0.0
    for p in [pid, *_children(pid)]:
        try:
            with open(f"/proc/{p}/task/{p}/schedstat") as f:
                total += int(f.read().split()[0]) / 1e9
        except OSError:
            continue  # exited between the listing and the read
    return total


#: Experiments the bench can run on Weir without editing it: each is a setting or an in-process
#: patch applied by ``serve_inproc``, to measure what a proposed fix would gain.
WHAT_IFS = {
    "access-log-off": "WEIR_ACCESS_LOG=false (a setting: no JSON access-log line per request)",
    "loop-reads": "LmdbKVStore.read runs read_sync on the event loop (no thread hop per read)",
    "blob-threads-2": "LocalBlobStore gets 2 I/O threads instead of 8 (less GIL/futex churn)",
    "uvloop": "the uvloop event loop instead of asyncio's (single process; the performance "
    "budget measured it disabling sendfile and doubling request-body cost)",
    "memory-blobs": "WEIR_STORAGE_BACKEND=memory (a setting: blobs cost no file I/O; an upper "
    "bound for keeping small objects inline in LMDB)",
}


def _apply_what_ifs(names: list[str]) -> None:
    if "uvloop" in names:
        import uvloop

        uvloop.install()
    if "loop-reads" in names:
        from gateway.meta.lmdb_store import LmdbKVStore

        async def read(self: LmdbKVStore, fn: Callable[[Any], Any]) -> Any:
            return self.read_sync(fn)

        LmdbKVStore.read = read  # type: ignore[method-assign]
    if "blob-threads-2" in names:
        from gateway.storage.local import LocalBlobStore

        original = LocalBlobStore.__init__

        def init(self: LocalBlobStore, root: Path, *, io_threads: int = 8) -> None:
            original(self, root, io_threads=2)

        LocalBlobStore.__init__ = init  # type: ignore[method-assign]


def serve_inproc(out_dir: Path | None, argv: list[str]) -> int:
    """Run ``weir <argv>`` in this process, with the what-ifs named in ``WEIR_BENCH_WHAT_IF``
    applied and, when ``out_dir`` is set, under cProfile (event-loop thread CPU time only).

    On SIGUSR1 the stats gathered since the previous signal are written to
    ``out_dir/<name>.pstats``, ``name`` being the content of ``out_dir/phase``, and profiling
    starts afresh: the bench takes one profile per phase from one server run. The bench's
    hook only: nothing in the server knows about it.
    """
    import cProfile
    import signal

    from gateway.cli.main import main as weir_main

    _apply_what_ifs(os.environ.get("WEIR_BENCH_WHAT_IF", "").split(","))
    if out_dir is None:
        return weir_main(argv)
    # Thread CPU time, not wall time: on a shared machine wall time charges preemption and
    # the wake-ups of other threads to whatever call happened to be running.
    current = [cProfile.Profile(time.thread_time)]

    def dump(signum: int, frame: object) -> None:
        current[0].disable()
        name = (out_dir / "phase").read_text().strip()
        current[0].dump_stats(str(out_dir / f"{name}.pstats.tmp"))
        os.replace(out_dir / f"{name}.pstats.tmp", out_dir / f"{name}.pstats")
        current[0] = cProfile.Profile(time.thread_time)
        current[0].enable()

    signal.signal(signal.SIGUSR1, dump)
    current[0].enable()
    try:
        return weir_main(argv)
    finally:
        current[0].disable()


def start_weir(
    tmp: Path,
    profile: Path | None,
    what_ifs: list[str],
    workers: int | None = None,
    env: dict[str, str] | None = None,
) -> S3Server:
    """``python -m gateway serve --workers N`` on a free port (named ``weir-wN`` when ``workers``
    is given, else ``weir`` with one worker); through ``serve_inproc`` in a single process when
    profiling or patching (an in-process patch or profiler reaches no worker process)."""
    port = free_port_block(1)
    tmp.mkdir(parents=True, exist_ok=True)
    data, log_path = tmp / "weir-data", tmp / "weir.log"
    env = dict(os.environ, WEIR_ACCESS_KEY_ID=WEIR_KEY, WEIR_SECRET_ACCESS_KEY=WEIR_SECRET) | (
        env or {}
    )
    if "access-log-off" in what_ifs:
        env["WEIR_ACCESS_LOG"] = "false"
    if "memory-blobs" in what_ifs:
        env["WEIR_STORAGE_BACKEND"] = "memory"
    env["WEIR_BENCH_WHAT_IF"] = ",".join(what_ifs)
    launcher = [sys.executable, "-m", "gateway"]
    if profile is not None or {"loop-reads", "blob-threads-2", "uvloop"} & set(what_ifs):
        if profile is not None:
            profile.mkdir(parents=True, exist_ok=True)
        out = str(profile) if profile is not None else "-"
        launcher = [sys.executable, str(S3_SCRIPT), "--serve-inproc", out]
    argv = [*launcher, "serve", "--listen", f"127.0.0.1:{port}"]
    argv += ["--data-dir", str(data)]
    if launcher[1] == str(S3_SCRIPT):
        argv.append("--single-process")
    else:
        argv += ["--workers", str(workers or 1)]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    name = "+".join(["weir" if workers is None else f"weir-w{workers}", *what_ifs])
    server = S3Server(name, f"http://127.0.0.1:{port}", WEIR_KEY, WEIR_SECRET, proc, log_path)
    for _ in range(600):  # bounded readiness poll, 0.05 s apart: at most 30 s
        if proc.poll() is not None:
            raise ServerStartError(f"weir exited with {proc.returncode}: {server.log_tail()}")
        try:
            with urllib.request.urlopen(server.endpoint_url + "/_health", timeout=1) as r:
                if r.status == 200:
                    return server
        except OSError:
            pass
        time.sleep(0.05)
    server.stop()
    raise ServerStartError(f"weir not healthy: {server.log_tail()}")


def code_version() -> str:
    """The checkout's commit, plus how many server files differ from it (a shared checkout
    changes under a running bench: every run records what it measured)."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "gateway"], cwd=root, capture_output=True, text=True
        ).stdout.splitlines()
    except OSError:
        return "unknown"
    return f"{head} ({len(dirty)} gateway files modified)" if dirty else head


def serve_floor(port: int) -> int:
    """A bare aiohttp server: the least any aiohttp-based S3 server can spend per request.

    No auth, no metadata, no disk: PUT keeps bodies of at most 1 MiB in a dict (larger ones are
    read and dropped), GET answers the stored bytes, HEAD their length. The same middleware-free
    app the budget's "minimal aiohttp server" column describes, measured in the same run.
    """
    import asyncio

    from aiohttp import web

    store: dict[str, bytes] = {}

    async def handle(request: web.Request) -> web.StreamResponse:
        key = request.path
        if request.method == "PUT":
            parts = [chunk async for chunk in request.content.iter_chunked(1 << 20)]
            if sum(len(p) for p in parts) <= 1 << 20:
                store[key] = b"".join(parts)
            return web.Response(status=200, headers={"ETag": '"0"'})
        body = store.get(key, b"") if "/" in key.strip("/") else b""
        if request.method == "HEAD":
            return web.Response(status=200, headers={"Content-Length": str(len(body))})
        return web.Response(status=200, body=body)

    async def run() -> None:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        import signal

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await runner.cleanup()

    asyncio.run(run())
    return 0


def start_floor(tmp: Path) -> S3Server:
    """The aiohttp floor server (``serve_floor``) in a child process, stopped by PID."""
    port = free_port_block(1)
    tmp.mkdir(parents=True, exist_ok=True)
    log_path = tmp / "floor.log"
    argv = [sys.executable, str(S3_SCRIPT), "--serve-floor", str(port)]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    server = S3Server("aiohttp-floor", f"http://127.0.0.1:{port}", "x", "y", proc, log_path)
    for _ in range(600):  # bounded readiness poll, 0.05 s apart: at most 30 s
        if proc.poll() is not None:
            raise ServerStartError(f"floor server exited: {server.log_tail()}")
        try:
            with urllib.request.urlopen(server.endpoint_url + "/", timeout=1):
                return server
        except OSError:
            time.sleep(0.05)
    server.stop()
    raise ServerStartError("floor server not ready")
