"""Several Weir gateways on one PostgreSQL and one S3 store, as a scaled-out deployment runs.

    cluster = start_cluster(tmp_path, gateways=3)    # PostgreSQL, SeaweedFS, 3 x weir serve
    try:
        cluster.endpoints        # ["http://127.0.0.1:P1", ...]: separate processes and ports
        cluster.kill(1)          # SIGKILL one gateway; cluster.start(1) brings it back
    finally:
        cluster.stop()

Every gateway gets the same metadata schema (``meta.backend = postgres``), the same blob bucket
(``storage.backend = s3`` on a real SeaweedFS), the same encryption key file and the same admin
credential, and its own data directory (spool files only). Processes are stopped by the PID they
were started with. ``shared_cluster()`` is one cluster per test process (stopped at exit).
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
from botocore.config import Config

from tests.support.postgres import PostgresServer, new_schema_name, shared_server
from tests.support.s3servers import S3Server, start_seaweedfs

REPO_ROOT = Path(__file__).resolve().parents[2]
ACCESS_KEY = "AKIAWEIRCLUSTER00001"
SECRET_KEY = "cluster-test-secret-key-0123456789abcdef"
READY_TIMEOUT_S = 60.0


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/_health")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


@dataclass
class Gateway:
    index: int
    port: int
    data_dir: Path
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Cluster:
    root: Path
    pg: PostgresServer
    schema: str
    s3: S3Server
    bucket: str
    key_file: Path
    gateways: list[Gateway] = field(default_factory=list)
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    extra_env: dict[str, str] = field(default_factory=dict)
    owns_s3: bool = True

    @property
    def endpoints(self) -> list[str]:
        return [g.endpoint for g in self.gateways]

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WEIR_")}
        env.update(
            PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
            WEIR_ACCESS_KEY_ID=self.access_key,
            WEIR_SECRET_ACCESS_KEY=self.secret_key,
            WEIR_META_BACKEND="postgres",
            WEIR_META_DSN=self.pg.dsn,
            WEIR_META_SCHEMA=self.schema,
            WEIR_META_CONNECT_TIMEOUT_SECONDS="2",
            WEIR_META_RETRY_SECONDS="2",
            WEIR_STORAGE_BACKEND="s3",
            WEIR_STORAGE_S3_BUCKET=self.bucket,
            WEIR_STORAGE_S3_PREFIX="blobs/",
            WEIR_STORAGE_S3_ENDPOINT_URL=self.s3.endpoint_url,
            WEIR_STORAGE_S3_ACCESS_KEY_ID=self.s3.access_key_id,
            WEIR_STORAGE_S3_SECRET_ACCESS_KEY=self.s3.secret_access_key,
            WEIR_AUTH_ENCRYPTION_KEY_FILE=str(self.key_file),
            WEIR_ACCESS_LOG="false",
            WEIR_S3_DOMAIN="s3.conformance.test",  # virtual-hosted style (conformance)
            WEIR_SERVER_WORKERS="1",  # one process per gateway: the gateways are the point here
        )
        env.update(self.extra_env)
        return env

    def start(self, index: int) -> Gateway:
        """Start gateway ``index`` (again, on its old port and data directory if it ran)."""
        self.spawn(index)
        return self.wait_ready(index)

    def spawn(self, index: int) -> Gateway:
        """Start gateway ``index``'s process without waiting for it to serve."""
        while len(self.gateways) <= index:
            i = len(self.gateways)
            self.gateways.append(
                Gateway(i, _free_port(), self.root / f"gw{i}", self.root / f"gw{i}.log")
            )
        g = self.gateways[index]
        with g.log_path.open("ab") as log:
            g.proc = subprocess.Popen(
                [sys.executable, "-m", "gateway", "serve", "--listen", f"127.0.0.1:{g.port}",
                 "--data-dir", str(g.data_dir)],
                cwd=REPO_ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        return g

    def wait_ready(self, index: int) -> Gateway:
        g = self.gateways[index]
        assert g.proc is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not _healthy(g.port):
            if g.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gateway {index} did not start: {self.log_tail(index)}")
            with contextlib.suppress(subprocess.TimeoutExpired):
                g.proc.wait(timeout=0.05)  # bounded readiness poll; notices an early exit
        return g

    def log_tail(self, index: int) -> str:
        try:
            return self.gateways[index].log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def kill(self, index: int) -> None:
        """SIGKILL gateway ``index`` (a crash: no draining, no cleanup)."""
        proc = self.gateways[index].proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)

    def terminate(self, index: int) -> None:
        proc = self.gateways[index].proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=20)

    def client(self, index_or_endpoint: int | str, **config: Any) -> Any:
        """A boto3 S3 client of one gateway (or of any endpoint, e.g. a load balancer)."""
        endpoint = (
            self.endpoints[index_or_endpoint]
            if isinstance(index_or_endpoint, int)
            else index_or_endpoint
        )
        return boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                retries={"max_attempts": 1},
                **config,
            ),
        )

    def stop(self) -> None:
        for i in range(len(self.gateways)):
            self.terminate(i)
        if self.owns_s3:
            self.s3.stop()
        shutil.rmtree(self.root, ignore_errors=True)
        with contextlib.suppress(ValueError):
            _CLUSTERS.remove(self)


_CLUSTERS: list[Cluster] = []


@atexit.register
def _stop_all() -> None:
    for c in list(_CLUSTERS):
        c.stop()


def start_cluster(
    root: Path | None = None,
    *,
    gateways: int = 3,
    pg: PostgresServer | None = None,
    s3: S3Server | None = None,
    extra_env: dict[str, str] | None = None,
) -> Cluster:
    """Start ``gateways`` Weir servers on a fresh schema of ``pg`` (default: the shared test
    PostgreSQL) and a new bucket of ``s3`` (default: a SeaweedFS of their own)."""
    root = root or Path(tempfile.mkdtemp(prefix="weir-cluster-"))
    root.mkdir(parents=True, exist_ok=True)
    owns_s3 = s3 is None
    if s3 is None:
        s3 = start_seaweedfs(root / "seaweedfs")
    try:
        bucket = s3.make_bucket()
        key_file = root / "secret.key"
        key_file.write_text(secrets.token_hex(32) + "\n")
        key_file.chmod(0o600)
        cluster = Cluster(
            root=root,
            pg=pg or shared_server(),
            schema=new_schema_name(),
            s3=s3,
            bucket=bucket,
            key_file=key_file,
            extra_env=dict(extra_env or {}),
            owns_s3=owns_s3,
        )
        _CLUSTERS.append(cluster)
        cluster.start(0)  # the first one creates the schema and the admin, the others find them
        for i in range(1, gateways):
            cluster.spawn(i)
        for i in range(1, gateways):
            cluster.wait_ready(i)
    except BaseException:
        if owns_s3:
            s3.stop()
        raise
    return cluster


_SHARED: Cluster | None = None


def shared_cluster() -> Cluster:
    """The three-gateway cluster of this test process, started on first use."""
    global _SHARED
    if _SHARED is None:
        _SHARED = start_cluster()
    return _SHARED
