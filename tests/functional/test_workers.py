"""``weir serve --workers N``: one port, N processes, one data directory.

Each test pins keep-alive connections to specific workers (``GET /_health`` answers with
``X-Weir-Worker: <slot>``), so "through one worker, seen by every other" is what is checked, not
what the kernel's connection spreading happened to do.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.functional.conftest import (
    ACCESS_KEY,
    REPO_ROOT,
    SECRET_KEY,
    WeirServer,
    free_port,
    run_weir,
)
from tests.functional.rawclient import sign
from tests.support import weir_backend

WORKERS = 2
PIN_ATTEMPTS = 200  # connections opened at most to reach every worker (each lands at random)


class Pinned:
    """A keep-alive connection known to be served by worker ``slot``."""

    def __init__(self, server: WeirServer, conn: http.client.HTTPConnection, slot: int) -> None:
        self.server = server
        self.conn = conn
        self.slot = slot

    def _send(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, bytes]:
        self.conn.request(method, path, body=body or None, headers=headers)
        resp = self.conn.getresponse()
        data = resp.read()
        assert resp.getheader("Connection", "").lower() != "close", "the pin was lost"
        return resp.status, data

    def s3(self, method: str, path: str, key: str, secret: str) -> tuple[int, str | None]:
        signed = sign(self.server, method, path, access_key=key, secret=secret)
        status, body = self._send(method, signed.url_path, dict(signed.headers))
        code = re.search(rb"<Code>([^<]*)</Code>", body)
        return status, code.group(1).decode() if code else None

    def admin(self, method: str, route: str, body: Any = None) -> tuple[int, Any]:
        token = f"{self.server.access_key}:{self.server.secret_key}".encode()
        headers = {"Authorization": "Basic " + base64.b64encode(token).decode()}
        data = b""
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        status, raw = self._send(method, "/api/v1" + route, headers, data)
        return status, json.loads(raw) if raw else None

    def worker_pid(self) -> int:
        """The pid of the process at the other end of this connection (by socket inode)."""
        local = self.conn.sock.getsockname()[1]
        return _pid_serving(self.server, local)


def _pid_serving(server: WeirServer, client_port: int) -> int:
    inode = None
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if (
                int(local.split(":")[1], 16) == server.port
                and int(remote.split(":")[1], 16) == client_port
            ):
                inode = fields[9]
    assert inode is not None
    for pid in _children(server.pid):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    raise AssertionError("no worker holds the connection")


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(c) for c in f.read().split()]


def pin_every_worker(server: WeirServer) -> dict[int, Pinned]:
    pinned: dict[int, Pinned] = {}
    for _ in range(PIN_ATTEMPTS):
        conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
        conn.request("GET", "/_health")
        resp = conn.getresponse()
        resp.read()
        slot = int(resp.getheader("X-Weir-Worker", "-1"))
        if slot in pinned or slot < 0:
            conn.close()
            continue
        pinned[slot] = Pinned(server, conn, slot)
        if len(pinned) == WORKERS:
            return pinned
    raise AssertionError(f"reached workers {sorted(pinned)} only")


@pytest.fixture(scope="module")
def workers_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WeirServer]:
    root = tmp_path_factory.mktemp("workers")
    with run_weir(root / "data", root / "server.log", ["--workers", str(WORKERS)]) as server:
        yield server


def test_revocation_through_one_worker_is_seen_by_every_other(workers_server: WeirServer) -> None:
    server = workers_server
    pins = pin_every_worker(server)
    first = pins[0]
    assert first.admin("POST", "/repositories", {"name": "inv", "storage_namespace": "x"})[0] < 300
    s3 = server.boto3_client()
    s3.put_object(Bucket="inv", Key="main/a", Body=b"a")
    assert first.admin("POST", "/auth/users", {"id": "alice"})[0] == 201
    status, creds = first.admin("POST", "/auth/users/alice/credentials", {})
    assert status == 201
    key, secret = creds["access_key_id"], creds["secret_access_key"]
    grant = {"repository": "inv", "branch": "*", "action": "read"}
    status, made = first.admin("POST", "/auth/users/alice/grants", grant)
    assert status == 201
    for pin in pins.values():  # every worker has now cached alice's key and grants
        assert pin.s3("GET", "/inv/main/a", key, secret) == (200, None)

    for through, pin in pins.items():
        # Revoke the grant through one worker: every worker refuses the very next request.
        assert pin.admin("DELETE", f"/auth/users/alice/grants/{made['id']}")[0] == 204
        for other in pins.values():
            assert other.s3("GET", "/inv/main/a", key, secret) == (403, "AccessDenied"), through
        status, made = pin.admin("POST", "/auth/users/alice/grants", grant)
        assert status == 201
        for other in pins.values():
            assert other.s3("GET", "/inv/main/a", key, secret) == (200, None), through

    # Revoke the key through worker 1: worker 0 no longer knows it.
    assert pins[1].admin("DELETE", f"/auth/users/alice/credentials/{key}")[0] == 204
    for pin in pins.values():
        assert pin.s3("GET", "/inv/main/a", key, secret) == (403, "InvalidAccessKeyId")
    for pin in pins.values():
        pin.conn.close()


def _metrics(server: WeirServer) -> str:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        conn.request("GET", "/_metrics")
        return conn.getresponse().read().decode()
    finally:
        conn.close()


def test_a_dead_worker_is_restarted_and_logged(workers_server: WeirServer) -> None:
    server = workers_server
    pins = pin_every_worker(server)
    victim = pins[1]
    pid = victim.worker_pid()
    starts = re.compile(r'weir_worker_starts\{worker="1"\} (\d+)')
    found = starts.search(_metrics(server))
    before = int(found.group(1)) if found else 0
    os.kill(pid, signal.SIGKILL)
    # The other worker serves meanwhile; the slot comes back under a new process.
    assert pins[0].s3("GET", "/", server.access_key, server.secret_key)[0] == 200
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = _metrics(server)
        now = starts.search(text)
        if now and int(now.group(1)) == before + 1 and 'weir_worker_up{worker="1"} 1' in text:
            break
    else:
        raise AssertionError(f"worker 1 was not restarted:\n{text}")
    log = server.log_path.read_text()
    assert f"worker 1 (pid {pid}) exited with signal 9 (SIGKILL)" in log
    again = pin_every_worker(server)
    assert again[1].worker_pid() != pid
    assert again[1].s3("GET", "/", server.access_key, server.secret_key)[0] == 200
    for pin in (*pins.values(), *again.values()):
        pin.conn.close()


def test_metrics_label_every_worker(workers_server: WeirServer) -> None:
    pins = pin_every_worker(workers_server)
    for pin in pins.values():
        pin.s3("GET", "/", workers_server.access_key, workers_server.secret_key)
    text = _metrics(workers_server)
    for slot in range(WORKERS):
        assert f'weir_worker_up{{worker="{slot}"}} 1' in text
        assert re.search(
            rf'weir_requests_total\{{api="s3",operation="ListBuckets",status="200",'
            rf'worker="{slot}"\}} [1-9]',
            text,
        ), text
    for pin in pins.values():
        pin.conn.close()


def test_sigterm_drains_in_flight_requests_then_refuses(tmp_path: Path) -> None:
    """A PUT whose body is still arriving when SIGTERM comes is finished and acknowledged; a
    request stuck longer than ``server.shutdown_timeout`` does not hold the server up."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEIR_")}
    env.update(
        PYTHONPATH=str(REPO_ROOT),
        WEIR_ACCESS_KEY_ID=ACCESS_KEY,
        WEIR_SECRET_ACCESS_KEY=SECRET_KEY,
        WEIR_SERVER_SHUTDOWN_TIMEOUT="3",
    )
    env.update(weir_backend.server_env(tmp_path / "data", "functional"))  # as run_weir does
    port = free_port()
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "gateway", "serve", "--listen", f"127.0.0.1:{port}"),
            *("--data-dir", str(tmp_path / "data"), "--workers", str(WORKERS)),
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = WeirServer("127.0.0.1", port, ACCESS_KEY, SECRET_KEY, proc.pid, tmp_path, tmp_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline
                proc_wait(proc, 0.05)
        server.boto3_client().create_bucket(Bucket="drain")
        body = b"x" * 100_000
        signed = sign(server, "PUT", "/drain/main/slow")
        finishing = _open_put(server, signed.url_path, dict(signed.headers), len(body))
        finishing.send(body[:50_000])  # in flight: half the body is there
        stuck = _open_put(server, signed.url_path, dict(signed.headers), len(body))
        stuck.send(body[:10])  # never finished
        _wait_in_flight(server, 2)
        proc.send_signal(signal.SIGTERM)
        finishing.send(body[50_000:])
        head = finishing.recv(4096)
        assert head.startswith(b"HTTP/1.1 200"), head
        assert proc.wait(timeout=60) == 0  # gave up on `stuck` after the timeout
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        log.close()
    # The drained PUT was acknowledged: it is there after a restart.
    with run_weir(tmp_path / "data", tmp_path / "again.log") as again:
        s3 = again.boto3_client()
        assert s3.get_object(Bucket="drain", Key="main/slow")["Body"].read() == body


def proc_wait(proc: subprocess.Popen[bytes], seconds: float) -> None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=seconds)


def _open_put(server: WeirServer, path: str, headers: dict[str, str], length: int) -> socket.socket:
    sock = socket.create_connection((server.host, server.port), timeout=30)
    lines = [f"PUT {path} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items())]
    lines.append(f"Content-Length: {length}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    return sock


def _wait_in_flight(server: WeirServer, n: int) -> None:
    """Until the server reports ``n`` requests in flight (the two PUTs), bounded."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = _metrics(server)
        total = sum(int(v) for v in re.findall(r"weir_requests_in_flight\{[^}]*\} (\d+)", text))
        if total - 1 >= n:  # the scrape itself is in flight too
            return
    raise AssertionError("the PUTs never reached the server")
