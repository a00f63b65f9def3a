"""Endpoints the conformance suite can run against: one given by environment, or one it starts.

``S3_ENDPOINT_URL`` (with ``S3_ACCESS_KEY_ID``, ``S3_SECRET_ACCESS_KEY``, ``S3_BUCKET``,
``S3_KEY_PREFIX``) selects an existing endpoint. Otherwise ``WEIR_CONFORMANCE_TARGET`` picks a
server to start on 127.0.0.1: ``weir`` (default), ``weir-cluster`` (three gateways on one
PostgreSQL and one SeaweedFS behind a round-robin load balancer: every request goes to the next
gateway), ``seaweedfs`` or ``moto``. Started servers are
stopped by the PID they were started with, never by name. SeaweedFS and moto are started by the
shared helpers in ``tests/support/s3servers.py``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 60.0
POLL_INTERVAL_S = 0.1

TEST_ACCESS_KEY = "AKIACONFORMANCE00001"
TEST_SECRET_KEY = "conformance/secret/key/0000000000000000000"
#: The virtual-hosted-style domain the suite configures on the servers it starts.
VIRTUAL_DOMAIN = "s3.conformance.test"


@dataclass(frozen=True, slots=True)
class Target:
    """Where the suite sends requests.

    Attributes:
        name: ``env``, ``weir``, ``seaweedfs`` or ``moto``; reports only, never branches tests.
        endpoint_url: ``http://host:port``.
        access_key: access key id.
        secret_key: secret access key.
        bucket: the bucket the suite writes into (created if missing).
        key_prefix: every key the suite writes starts with this (Weir: the branch, ``main/``).
        region: the region the suite signs for.
        virtual_domain: the domain under which ``<bucket>.<domain>`` addresses a bucket
            (virtual-hosted style); the suite sends such requests to the endpoint's address
            with that ``Host``.
    """

    name: str
    endpoint_url: str
    access_key: str
    secret_key: str
    bucket: str | None
    key_prefix: str
    region: str = "us-east-1"
    virtual_domain: str = ""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_answering(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Poll ``url`` until any HTTP answer arrives (bounded by READY_TIMEOUT_S)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # any HTTP status means the listener is up
        except OSError:
            time.sleep(POLL_INTERVAL_S)  # readiness polling, bounded by the deadline
    raise RuntimeError(f"{url} not answering after {READY_TIMEOUT_S}s: {log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen[bytes], first: signal.Signals = signal.SIGINT) -> None:
    """Stop a process this module started: ``first`` signal, then SIGKILL after 10 s."""
    if proc.poll() is not None:
        return
    proc.send_signal(first)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def _start_weir(workdir: Path) -> Iterator[Target]:
    port = free_port()
    env = dict(os.environ)
    env["WEIR_ACCESS_KEY_ID"] = TEST_ACCESS_KEY
    env["WEIR_SECRET_ACCESS_KEY"] = TEST_SECRET_KEY
    env["WEIR_S3_DOMAIN"] = VIRTUAL_DOMAIN
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    # WEIR_TEST_BLOB_BACKEND=s3: Weir keeps its blobs on a SeaweedFS started for the session.
    from tests.support.weir_backend import server_env

    data = workdir / "data"
    env.update(server_env(data, "conformance"))
    argv = [sys.executable, "-m", "gateway", "serve", "--listen", f"127.0.0.1:{port}"]
    argv += ["--data-dir", str(data)]
    log = workdir / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
    try:
        wait_until_answering(f"http://127.0.0.1:{port}/_health", proc, log)
        yield Target(
            "weir",
            f"http://127.0.0.1:{port}",
            TEST_ACCESS_KEY,
            TEST_SECRET_KEY,
            None,
            "main/",
            virtual_domain=VIRTUAL_DOMAIN,
        )
    finally:
        stop(proc)


def _start_weir_cluster(workdir: Path) -> Iterator[Target]:
    # Three gateways on one PostgreSQL and one SeaweedFS, behind a round-robin load balancer
    # that sends each request to the next gateway (see tests/support/cluster.py, rrproxy.py).
    # The cluster is the test process's shared one (tests/functional/test_scale_postgres.py
    # uses it too); it stops when the process exits.
    from tests.support.cluster import shared_cluster
    from tests.support.rrproxy import RoundRobinProxy

    cluster = shared_cluster()
    proxy = RoundRobinProxy([e.removeprefix("http://") for e in cluster.endpoints])
    try:
        endpoint = proxy.start()
        yield Target(
            "weir-cluster",
            endpoint,
            cluster.access_key,
            cluster.secret_key,
            None,
            "main/",
            virtual_domain=VIRTUAL_DOMAIN,  # the cluster's gateways set WEIR_S3_DOMAIN to it
        )
    finally:
        proxy.stop()
    # Every gateway answered its share: the suite really ran against all of them.
    assert min(proxy.served.values(), default=0) >= 20, dict(proxy.served)


def _start_seaweedfs(workdir: Path) -> Iterator[Target]:
    # The shared starter also waits until a volume accepts writes and retries on port races.
    from tests.support.s3servers import start_seaweedfs

    server = start_seaweedfs(
        workdir,
        access_key_id=TEST_ACCESS_KEY,
        secret_access_key=TEST_SECRET_KEY,
        extra_args=[f"-s3.domainName={VIRTUAL_DOMAIN}"],
    )
    try:
        yield Target(
            "seaweedfs",
            server.endpoint_url,
            server.access_key_id,
            server.secret_access_key,
            None,
            "",
            virtual_domain=VIRTUAL_DOMAIN,
        )
    finally:
        server.stop()


def _start_moto(workdir: Path) -> Iterator[Target]:
    from tests.support.s3servers import start_moto

    server = start_moto(workdir)
    try:
        yield Target(
            "moto", server.endpoint_url, server.access_key_id, server.secret_access_key, None, ""
        )
    finally:
        server.stop()


def targets_from_environment() -> list[str]:
    """The kinds of target to run the suite against, in order: ``WEIR_CONFORMANCE_TARGETS``
    (comma-separated, e.g. ``weir,weir-cluster`` as ``make test`` sets it), else
    ``WEIR_CONFORMANCE_TARGET``, else ``weir``. An ``S3_ENDPOINT_URL`` overrides them all."""
    if os.environ.get("S3_ENDPOINT_URL"):
        return ["env"]
    many = os.environ.get("WEIR_CONFORMANCE_TARGETS", "")
    kinds = [k.strip() for k in many.split(",") if k.strip()]
    return kinds or [os.environ.get("WEIR_CONFORMANCE_TARGET", "weir")]


@contextlib.contextmanager
def target_from_environment(kind: str | None = None) -> Iterator[Target]:
    """Yield the target chosen by the environment (or ``kind``), starting (and finally
    stopping) a server."""
    endpoint = os.environ.get("S3_ENDPOINT_URL")
    if endpoint:
        yield Target(
            "env",
            endpoint.rstrip("/"),
            os.environ["S3_ACCESS_KEY_ID"],
            os.environ["S3_SECRET_ACCESS_KEY"],
            os.environ.get("S3_BUCKET") or None,
            os.environ.get("S3_KEY_PREFIX", ""),
            os.environ.get("S3_REGION", "us-east-1"),
            os.environ.get("S3_VIRTUAL_HOST_DOMAIN", ""),
        )
        return
    kind = kind or os.environ.get("WEIR_CONFORMANCE_TARGET", "weir")
    starters = {
        "weir": _start_weir,
        "weir-cluster": _start_weir_cluster,
        "seaweedfs": _start_seaweedfs,
        "moto": _start_moto,
    }
    if kind not in starters:
        raise RuntimeError(f"WEIR_CONFORMANCE_TARGET must be one of {sorted(starters)}")
    with tempfile.TemporaryDirectory(prefix=f"conformance-{kind}-") as tmp:
        yield from starters[kind](Path(tmp))
