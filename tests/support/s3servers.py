"""Real S3 servers for tests: SeaweedFS (``weed mini``) and moto, on free loopback ports.

Usage::

    server = start_seaweedfs(tmp_path)      # or start_moto(tmp_path)
    try:
        server.make_bucket("b")
        ... endpoint_url=server.endpoint_url, aws_access_key_id=server.access_key_id ...
    finally:
        server.stop()

``S3Server`` is also a context manager. Both servers bind 127.0.0.1 only, log to files under
``tmp_path``, and are stopped by the PID they were started with (SIGINT, then SIGKILL after a
bounded wait). Readiness is a bounded polling loop; start-up is retried on fresh ports when
the process dies early (a port taken between our probe and its bind). Servers still running at
interpreter exit are stopped by an ``atexit`` hook.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3  # type: ignore[import-untyped]
from botocore.config import Config

BIN_DIR = Path(sys.executable).parent
READY_ATTEMPTS = 240  # x READY_POLL_S: a bound on start-up time, not a synchronisation sleep
READY_POLL_S = 0.25
STOP_WAIT_S = 10.0
START_ATTEMPTS = 3


class ServerStartError(RuntimeError):
    """The server did not become ready; the message carries the tail of its log."""


@dataclass
class S3Server:
    """A running S3 server process we started."""

    name: str
    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    process: subprocess.Popen[bytes]
    log_path: Path
    region: str = "us-east-1"
    argv: list[str] = field(default_factory=list, repr=False)  # how it was started (restart)
    _stopped: bool = field(default=False, repr=False)

    def client(self) -> Any:
        """A boto3 S3 client for this server (path-style, few retries)."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}),
        )

    def make_bucket(self, name: str | None = None) -> str:
        """Create a bucket (a random name when None) and return its name."""
        bucket = name or f"test-{secrets.token_hex(6)}"
        self.client().create_bucket(Bucket=bucket)
        return bucket

    def stop(self) -> None:
        """SIGINT, then SIGKILL after ``STOP_WAIT_S``; by PID. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        _stop_process(self.process)

    def kill(self) -> None:
        """SIGKILL the process (a crash), by PID; ``restart`` brings it back."""
        _RUNNING.pop(self.process.pid, None)
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        self.process.wait(timeout=STOP_WAIT_S)

    def restart(self) -> None:
        """Start the same command again (same ports, same data) and wait until it is ready."""
        if self.process.poll() is None:
            self.kill()
        self.process = _spawn(self.argv, self.log_path, self.log_path.parent)
        self._stopped = False
        _wait_ready(self.process, lambda: _seaweed_writable(self), self.log_path)

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def __enter__(self) -> S3Server:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _stop_process(proc: subprocess.Popen[bytes]) -> None:
    _RUNNING.pop(proc.pid, None)
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=STOP_WAIT_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(timeout=STOP_WAIT_S)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_block(count: int, attempts: int = 50) -> int:
    """A port P such that P..P+count-1 are all free on 127.0.0.1 right now."""
    for _ in range(attempts):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            base = int(s.getsockname()[1])
        if base + count > 65535:
            continue
        if all(_port_free(base + i) for i in range(count)):
            return base
    raise RuntimeError(f"no block of {count} free ports found")


def _wait_ready(proc: subprocess.Popen[bytes], probe: Any, log_path: Path) -> None:
    """Poll ``probe()`` until it returns True; fail early if the process exits."""
    last: BaseException | None = None
    for _ in range(READY_ATTEMPTS):
        if proc.poll() is not None:
            raise ServerStartError(f"exited with {proc.returncode}:\n{_tail(log_path)}")
        try:
            if probe():
                return
        except Exception as exc:  # not up yet
            last = exc
        time.sleep(READY_POLL_S)  # bounded readiness poll
    raise ServerStartError(f"not ready (last error: {last!r}):\n{_tail(log_path)}")


def _tail(path: Path, n: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def _http_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP status (403 without credentials) means it is serving


_RUNNING: dict[int, subprocess.Popen[bytes]] = {}


@atexit.register
def _stop_leftovers() -> None:
    """Stop servers a caller forgot to stop (also on an uncaught exception). A SIGKILLed test
    process cannot do this; the servers share its process group, so a Ctrl-C reaches them."""
    for proc in list(_RUNNING.values()):
        _stop_process(proc)


def _spawn(argv: list[str], log_path: Path, cwd: Path) -> subprocess.Popen[bytes]:
    log = open(log_path, "ab")  # noqa: SIM115 - the child inherits it; we close our copy below
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    finally:
        log.close()
    _RUNNING[proc.pid] = proc
    return proc


def start_seaweedfs(
    tmp_path: Path,
    *,
    access_key_id: str = "weir-test",
    secret_access_key: str | None = None,
    extra_args: Sequence[str] = (),
) -> S3Server:
    """Start ``weed mini`` (master, volume, filer, S3 in one process) and wait until a signed
    PutObject succeeds. Takes 5-20 s. ``extra_args`` are added to the command line (e.g.
    ``-s3.domainName=...``)."""
    weed = BIN_DIR / "weed"
    if not weed.exists():
        raise ServerStartError(f"weed binary not found next to {sys.executable}")
    secret = secret_access_key or secrets.token_hex(16)
    tmp_path.mkdir(parents=True, exist_ok=True)
    identity = tmp_path / "s3-identity.json"
    identity.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "tester",
                        "credentials": [{"accessKey": access_key_id, "secretKey": secret}],
                        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                    }
                ]
            }
        )
    )
    last: ServerStartError | None = None
    for attempt in range(START_ATTEMPTS):
        p = free_port_block(10)
        data_dir = tmp_path / f"weed-data-{attempt}"
        data_dir.mkdir()
        log_path = tmp_path / f"weed-{attempt}.log"
        argv = [
            str(weed),
            "mini",
            f"-dir={data_dir}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={p + 1}",
            f"-master.port.grpc={p + 2}",
            f"-volume.port={p + 3}",
            f"-volume.port.grpc={p + 4}",
            f"-filer.port={p + 5}",
            f"-filer.port.grpc={p + 6}",
            f"-s3.port={p}",
            f"-s3.port.grpc={p + 7}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={identity}",
            "-webdav=false",
            "-admin.ui=false",
            f"-admin.port={p + 8}",
            f"-admin.port.grpc={p + 9}",
            "-master.telemetry=false",
            "-s3.autoCreateBucket=false",
            *extra_args,
        ]
        proc = _spawn(argv, log_path, tmp_path)
        server = S3Server(
            name="seaweedfs",
            endpoint_url=f"http://127.0.0.1:{p}",
            access_key_id=access_key_id,
            secret_access_key=secret,
            process=proc,
            log_path=log_path,
            argv=argv,
        )
        try:
            _wait_ready(proc, lambda s=server: _seaweed_writable(s), log_path)
            return server
        except ServerStartError as exc:
            server.stop()
            last = exc
    raise ServerStartError(f"SeaweedFS did not start in {START_ATTEMPTS} attempts: {last}")


def _seaweed_writable(server: S3Server) -> bool:
    """Ready when the S3 gateway answers and a volume accepts a write (not only the listener)."""
    if not _http_answers(server.endpoint_url + "/"):
        return False
    client = server.client()
    bucket = "weir-ready-probe"
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key="probe", Body=b"ready")
    client.delete_object(Bucket=bucket, Key="probe")
    client.delete_bucket(Bucket=bucket)  # tests that list buckets see only their own
    return True


def start_moto(tmp_path: Path) -> S3Server:
    """Start ``moto_server`` (in-memory, ignores credentials) and wait until it answers."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    exe = BIN_DIR / "moto_server"
    last: ServerStartError | None = None
    for attempt in range(START_ATTEMPTS):
        port = free_port_block(1)
        log_path = tmp_path / f"moto-{attempt}.log"
        launcher = [str(exe)] if exe.exists() else [sys.executable, "-m", "moto.server"]
        argv = [*launcher, "-H", "127.0.0.1", "-p", str(port)]
        proc = _spawn(argv, log_path, tmp_path)
        server = S3Server(
            name="moto",
            endpoint_url=f"http://127.0.0.1:{port}",
            access_key_id="testing",
            secret_access_key="testing",
            process=proc,
            log_path=log_path,
        )
        try:
            _wait_ready(proc, lambda url=server.endpoint_url: _http_answers(url + "/"), log_path)
            return server
        except ServerStartError as exc:
            server.stop()
            last = exc
    raise ServerStartError(f"moto did not start in {START_ATTEMPTS} attempts: {last}")


def env_for(server: S3Server) -> dict[str, str]:
    """Environment variables pointing AWS SDKs and CLIs at ``server``."""
    env = dict(os.environ)
    env.update(
        AWS_ACCESS_KEY_ID=server.access_key_id,
        AWS_SECRET_ACCESS_KEY=server.secret_access_key,
        AWS_DEFAULT_REGION=server.region,
        AWS_ENDPOINT_URL=server.endpoint_url,
    )
    return env
