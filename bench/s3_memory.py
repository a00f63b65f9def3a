"""Server memory under a 2 GiB PUT and GET: RSS growth must stay under 100 MiB.

Starts ``python -m gateway serve`` on a free loopback port with a fresh data directory, warms
it up with a small PUT/GET, then streams a 2 GiB object in (a generator, never in client
memory) and back out (read in 1 MiB pieces and discarded), sampling the server's VmRSS from
``/proc/<pid>/status`` every 20 ms. Prints the baseline, the peaks and the growth, and exits
non-zero when the growth reaches the limit.

    PYTHONPATH=. python bench/s3_memory.py [--size-mib 2048] [--limit-mib 100]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from gateway.s3 import sigv4

ACCESS_KEY = "AKIAWEIRBENCHMEMORY1"
SECRET_KEY = "bench-memory-secret-key-0123456789abcdef"
CHUNK = 1024 * 1024
MIB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (``/proc/<pid>/stat`` fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


class RssSampler:
    """Samples a process's RSS in a thread; ``peak`` is the maximum seen since ``reset``."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, rss_bytes(self.pid))

    def reset(self) -> None:
        self.peak = rss_bytes(self.pid)

    def __enter__(self) -> RssSampler:
        self.reset()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@contextlib.contextmanager
def weir(data_dir: Path) -> Iterator[tuple[int, int]]:
    """Run the server; yield (pid, port); stop it by PID."""
    port = free_port()
    env = dict(os.environ, WEIR_ACCESS_KEY_ID=ACCESS_KEY, WEIR_SECRET_ACCESS_KEY=SECRET_KEY)
    log = (data_dir.parent / "server.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gateway",
            "serve",
            "--listen",
            f"127.0.0.1:{port}",
            "--data-dir",
            str(data_dir),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(600):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                conn.request("GET", "/_health")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.05)
            if proc.returncode is not None:
                raise RuntimeError(f"server exited with {proc.returncode}")
        else:
            raise RuntimeError("server did not become healthy")
        yield proc.pid, port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def signed_request(
    port: int, method: str, path: str, *, body: object = None, length: int | None = None
) -> http.client.HTTPResponse:
    host = f"127.0.0.1:{port}"
    signed = sigv4.sign_request(
        method=method,
        path=path,
        headers={"host": host},
        access_key=ACCESS_KEY,
        secret=SECRET_KEY,
        now=datetime.now(UTC),
    )
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.putrequest(method, signed.url_path, skip_host=True)
    for name, value in signed.headers.items():
        conn.putheader(name, value)
    if length is not None:
        conn.putheader("Content-Length", str(length))
    conn.endheaders()
    if body is not None:
        for piece in body:  # type: ignore[attr-defined]
            conn.send(piece)
    return conn.getresponse()


def body_chunks(size: int, block: bytes) -> Iterator[bytes]:
    sent = 0
    while sent < size:
        piece = block[: min(len(block), size - sent)]
        sent += len(piece)
        yield piece


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=2048)
    parser.add_argument("--limit-mib", type=int, default=100)
    args = parser.parse_args()
    size = args.size_mib * MIB
    block = os.urandom(CHUNK)
    with (
        tempfile.TemporaryDirectory(prefix="weir-mem-") as tmp,
        weir(Path(tmp) / "data") as (
            pid,
            port,
        ),
    ):
        assert signed_request(port, "PUT", "/memtest").status == 200
        warm = signed_request(port, "PUT", "/memtest/main/warm", body=[block], length=len(block))
        assert warm.status == 200, warm.read()
        signed_request(port, "GET", "/memtest/main/warm").read()
        baseline = rss_bytes(pid)
        with RssSampler(pid) as sampler:
            started, cpu0 = time.perf_counter(), cpu_seconds(pid)
            put = signed_request(
                port, "PUT", "/memtest/main/big", body=body_chunks(size, block), length=size
            )
            assert put.status == 200, put.read()
            put.read()
            put_seconds = time.perf_counter() - started
            put_cpu = cpu_seconds(pid) - cpu0
            put_peak = sampler.peak
            sampler.reset()
            started, cpu0 = time.perf_counter(), cpu_seconds(pid)
            get = signed_request(port, "GET", "/memtest/main/big")
            assert get.status == 200
            received = 0
            digest = hashlib.md5(usedforsecurity=False)
            while piece := get.read(CHUNK):
                received += len(piece)
                if received <= CHUNK:
                    digest.update(piece)
            get_seconds = time.perf_counter() - started
            get_cpu = cpu_seconds(pid) - cpu0
            get_peak = sampler.peak
        assert received == size, (received, size)
        growth = max(put_peak, get_peak) - baseline
        print(f"object size         {size / MIB:10.0f} MiB")
        print(f"baseline RSS        {baseline / MIB:10.1f} MiB")
        gib = size / (1024 * MIB)
        print(
            f"peak RSS during PUT {put_peak / MIB:10.1f} MiB  ({size / MIB / put_seconds:.0f} "
            f"MiB/s, server {put_cpu / gib:.2f} CPU-s/GiB)"
        )
        print(
            f"peak RSS during GET {get_peak / MIB:10.1f} MiB  ({size / MIB / get_seconds:.0f} "
            f"MiB/s, server {get_cpu / gib:.2f} CPU-s/GiB)"
        )
        print(f"growth              {growth / MIB:10.1f} MiB  (limit {args.limit_mib} MiB)")
        if growth >= args.limit_mib * MIB:
            print("FAIL: RSS grew past the limit")
            return 1
        print("OK")
        return 0


if __name__ == "__main__":
    sys.exit(main())
