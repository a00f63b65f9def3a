"""Functional-test fixtures: the real Weir server in a subprocess, and clients pointed at it.

``weir_server`` (session scope) runs ``python -m gateway serve`` on a free loopback port with a
fresh data directory and the admin credential from ``WEIR_ACCESS_KEY_ID`` /
``WEIR_SECRET_ACCESS_KEY``, waits for ``GET /_health`` (bounded), and stops the process by its
PID at the end. ``WEIR_TEST_META_BACKEND=postgres`` (or ``pytest --meta-backend postgres``) puts
its metadata in a fresh schema of a real PostgreSQL server started for the test session.
Tests isolate themselves by creating their own bucket (``bucket`` fixture).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from botocore.config import Config

from tests.support import weir_backend

REPO_ROOT = Path(__file__).resolve().parents[2]
ACCESS_KEY = "AKIAWEIRFUNCTIONAL01"
SECRET_KEY = "functional-test-secret-key-0123456789abcd"
HEALTH_ATTEMPTS = 600  # x 50 ms wait on the process = 30 s at most


@dataclass(frozen=True)
class WeirServer:
    host: str
    port: int
    access_key: str
    secret_key: str
    pid: int
    data_dir: Path
    log_path: Path

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def hostport(self) -> str:
        return f"{self.host}:{self.port}"

    def boto3_client(self, **config: Any) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
            config=Config(
                signature_version="s3v4",  # boto3 presigns with SigV2 otherwise; Weir is V4-only
                s3={"addressing_style": "path"},
                retries={"max_attempts": 1},
                **config,
            ),
        )

    def aws_env(self) -> dict[str, str]:
        """Environment for the AWS CLI and other SDK-configured tools."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("AWS_") or k in ("AWS_CA_BUNDLE",)
        }
        env.update(
            AWS_ACCESS_KEY_ID=self.access_key,
            AWS_SECRET_ACCESS_KEY=self.secret_key,
            AWS_DEFAULT_REGION="us-east-1",
            AWS_CONFIG_FILE=os.devnull,
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
            AWS_EC2_METADATA_DISABLED="true",
        )
        return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(host: str, port: int) -> bool:
    conn = http.client.HTTPConnection(host, port, timeout=1)
    try:
        conn.request("GET", "/_health")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


@contextlib.contextmanager
def run_weir(
    data_dir: Path,
    log_path: Path,
    args: Sequence[str] = (),
    *,
    env_extra: Mapping[str, str] | None = None,
) -> Iterator[WeirServer]:
    """Start ``python -m gateway serve [args]`` and stop it (by PID) when the block exits.
    ``env_extra`` (settings as ``WEIR_*`` variables) is applied last."""
    port = free_port()
    env = dict(os.environ)
    env.update(
        WEIR_ACCESS_KEY_ID=ACCESS_KEY,
        WEIR_SECRET_ACCESS_KEY=SECRET_KEY,
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p),
    )
    env.update(weir_backend.server_env(data_dir, "functional"))  # WEIR_TEST_BLOB_BACKEND=s3
    env.update(env_extra or {})
    with log_path.open("wb") as log:
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
                *args,
            ],
            cwd=str(REPO_ROOT),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        for _ in range(HEALTH_ATTEMPTS):
            if _healthy("127.0.0.1", port):
                break
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.05)  # also notices a server that died on start
            if proc.returncode is not None:
                raise RuntimeError(f"weir exited with {proc.returncode}: {log_path.read_text()}")
        else:
            raise RuntimeError(f"weir did not become healthy: {log_path.read_text()}")
        yield WeirServer("127.0.0.1", port, ACCESS_KEY, SECRET_KEY, proc.pid, data_dir, log_path)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@pytest.fixture(scope="session")
def weir_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WeirServer]:
    root = tmp_path_factory.mktemp("weir")
    with run_weir(root / "data", root / "server.log") as server:
        yield server


@pytest.fixture(scope="session")
def s3(weir_server: WeirServer) -> Any:
    """A boto3 S3 client for the shared server."""
    return weir_server.boto3_client()


def unique_bucket(stem: str = "t") -> str:
    return f"{stem}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def bucket(s3: Any) -> str:
    """A fresh repository (bucket) with its default branch ``main``."""
    name = unique_bucket()
    s3.create_bucket(Bucket=name)
    return name
