"""A real PostgreSQL server for tests: the system's binaries, a temporary cluster on loopback.

Usage::

    server = start_postgres()          # initdb + pg_ctl start on a free port
    try:
        dsn = server.dsn               # postgresql://weir@127.0.0.1:PORT/weir
        server.restart()               # pg_ctl restart (fault tests)
    finally:
        server.stop()                  # pg_ctl stop, then the directory is removed

The binaries are looked up in ``WEIR_PG_BINDIR``, then ``/usr/lib/postgresql/<newest>/bin``
(Debian's ``postgresql`` package), then ``PATH``. ``initdb`` and ``postgres`` refuse to run as
root, so when the tests run as root (CI does) every server command runs as the ``postgres``
user through ``runuser``, in a directory under the system temp dir that user owns. The server
listens on 127.0.0.1 only, with its unix socket in that directory, trust authentication for the
superuser ``weir`` and ``fsync=off`` (it is thrown away; ``synchronous_commit`` stays on, so a
killed server still keeps every acknowledged commit). Servers still running at interpreter exit
are stopped by an ``atexit`` hook, by the data directory they were started with.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 60


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine: install Debian's ``postgresql``."""


def find_bindir() -> Path:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres``."""
    configured = os.environ.get("WEIR_PG_BINDIR")
    candidates: list[Path] = [Path(configured)] if configured else []
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        versions = sorted(
            (p for p in debian.iterdir() if p.name.isdigit()), key=lambda p: int(p.name)
        )
        candidates += [v / "bin" for v in reversed(versions)]
    found = shutil.which("pg_ctl")
    if found:
        candidates.append(Path(found).parent)
    for c in candidates:
        if (c / "initdb").exists() and (c / "pg_ctl").exists():
            return c
    raise PostgresUnavailable(
        "PostgreSQL server binaries not found (apt-get install postgresql, or set WEIR_PG_BINDIR)"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_server_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


@dataclass
class PostgresServer:
    """A running PostgreSQL cluster we started."""

    bindir: Path
    root: Path  # owned by the server user; holds data/, the socket and the log
    port: int
    user: str = "weir"
    database: str = "weir"
    _running: bool = field(default=True, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "server.log"

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def _ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        argv = [str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), *args]
        return subprocess.run(
            _as_server_user(argv), capture_output=True, timeout=STOP_TIMEOUT_S + 30, check=check
        )

    def _start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
            "-c fsync=off -c full_page_writes=off -c max_connections=200 "
            "-c shared_buffers=128MB -c max_pred_locks_per_transaction=256"
        )
        result = self._ctl(
            "start", "-w", "-t", str(int(READY_TIMEOUT_S)), "-l", str(self.log_path),
            "-o", options, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {result.stderr.decode()}\n{self.log_tail()}")
        self._running = True

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def stop(self, *, mode: str = "fast", remove: bool = True) -> None:
        """Stop the server (``mode``: smart, fast or immediate); remove its files when asked."""
        if self._running:
            self._ctl("stop", "-w", "-m", mode, "-t", str(STOP_TIMEOUT_S), check=False)
            self._running = False
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)
            with contextlib.suppress(ValueError):
                _RUNNING.remove(self)

    def start(self) -> None:
        """Start a stopped server again on the same port and data directory."""
        if not self._running:
            self._start()

    def restart(self, *, mode: str = "fast") -> None:
        self.stop(mode=mode, remove=False)
        self.start()


_RUNNING: list[PostgresServer] = []


@atexit.register
def _stop_all() -> None:
    for server in list(_RUNNING):
        server.stop()


def start_postgres(prefix: str = "weir-pg-") -> PostgresServer:
    """initdb a fresh cluster in a new temporary directory and start it on a free port.

    Raises:
        PostgresUnavailable: the server binaries are not installed.
        RuntimeError: initdb or the start failed (the message carries the server's log).
    """
    bindir = find_bindir()
    root = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    init = subprocess.run(
        _as_server_user(
            [
                str(bindir / "initdb"),
                "-D",
                str(root / "data"),
                "-U",
                "weir",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ]
        ),
        capture_output=True,
        timeout=120,
        check=False,
    )
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {init.stderr.decode()}")
    last: Exception | None = None
    for _ in range(3):  # a port taken between our probe and the server's bind: try another
        server = PostgresServer(bindir, root, _free_port(), _running=False)
        try:
            server._start()
        except RuntimeError as exc:
            last = exc
            continue
        _RUNNING.append(server)
        _create_database(server)
        return server
    shutil.rmtree(root, ignore_errors=True)
    raise RuntimeError(f"PostgreSQL did not start: {last}")


def _create_database(server: PostgresServer) -> None:
    import psycopg

    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        try:
            with psycopg.connect(
                f"postgresql://{server.user}@127.0.0.1:{server.port}/postgres", autocommit=True
            ) as conn:
                conn.execute(f'CREATE DATABASE "{server.database}"')
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)  # bounded readiness poll (pg_ctl -w already waited)


# -- one server per test process, shared by every suite ------------------------------------------

_SHARED: PostgresServer | None = None

#: Selects the metadata backend of the servers the functional and conformance suites start:
#: ``lmdb`` (default) or ``postgres`` (``pytest --meta-backend postgres`` sets it too).
META_BACKEND_ENV = "WEIR_TEST_META_BACKEND"


def shared_server() -> PostgresServer:
    """The PostgreSQL server of this test process, started on first use (stopped at exit)."""
    global _SHARED
    if _SHARED is None:
        _SHARED = start_postgres()
    return _SHARED


def new_schema_name() -> str:
    """A schema name no other test uses: each test store or server gets an empty database."""
    return f"t_{uuid.uuid4().hex[:16]}"


def meta_backend() -> str:
    backend = os.environ.get(META_BACKEND_ENV, "lmdb") or "lmdb"
    if backend not in ("lmdb", "postgres"):
        raise RuntimeError(f"{META_BACKEND_ENV} must be lmdb or postgres, got {backend!r}")
    return backend


_SCHEMAS: dict[str, str] = {}


def server_meta_env(backend: str | None = None, *, key: str | None = None) -> dict[str, str]:
    """Environment for a ``weir serve`` process that selects the test metadata backend.

    For ``postgres``: the shared server and a fresh schema, so the process starts empty; calls
    with the same ``key`` (e.g. a data directory that is served again) get the same schema.
    """
    if (backend or meta_backend()) != "postgres":
        return {}
    schema = new_schema_name() if key is None else _SCHEMAS.setdefault(key, new_schema_name())
    return {
        "WEIR_META_BACKEND": "postgres",
        "WEIR_META_DSN": shared_server().dsn,
        "WEIR_META_SCHEMA": schema,
    }
