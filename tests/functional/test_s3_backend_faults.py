"""Weir on the S3 backend when the object store behind it misbehaves.

The real server (``python -m gateway serve``, ``storage.backend = "s3"``) talks to a real
SeaweedFS through a fault-injecting proxy (``tests/support/faulty_proxy.py``): throttling, 5xx,
a store that is down, slow, resets an upload mid-body, or stops a read half-way. Weir retries a
bounded number of times with backoff, then answers a clear S3 error (503 SlowDown) whose request
id is in its log with the cause; it never hangs, never shows half an object, never stages an
entry whose blob was not stored. A second test kills and restarts SeaweedFS itself in the middle
of a workload: every acknowledged write reads back whole, nothing unacknowledged is visible.

Settings keep the failing paths short: 3 attempts per store request, 1 s connect and 2 s read
timeouts, 5 MiB parts (so a 12 MiB PUT is a three-part multipart upload).
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.functional.conftest import WeirServer, run_weir
from tests.support import weir_backend
from tests.support.faulty_proxy import Fault, ProxyThread
from tests.support.s3servers import S3Server, start_seaweedfs

MiB = 1024 * 1024
BUCKET = weir_backend.BUCKET


def backend_env(endpoint: str, server: S3Server, prefix: str) -> dict[str, str]:
    return {
        "WEIR_STORAGE_BACKEND": "s3",
        "WEIR_STORAGE_S3_BUCKET": BUCKET,
        "WEIR_STORAGE_S3_PREFIX": prefix,
        "WEIR_STORAGE_S3_ENDPOINT_URL": endpoint,
        "WEIR_STORAGE_S3_ACCESS_KEY_ID": server.access_key_id,
        "WEIR_STORAGE_S3_SECRET_ACCESS_KEY": server.secret_access_key,
        "WEIR_STORAGE_S3_PART_SIZE_MIB": "5",
        "WEIR_STORAGE_S3_MAX_ATTEMPTS": "3",
        "WEIR_STORAGE_S3_CONNECT_TIMEOUT_S": "1",
        "WEIR_STORAGE_S3_READ_TIMEOUT_S": "2",
    }


def body(size: int, seed: int) -> bytes:
    return hashlib.shake_256(f"{seed}".encode()).digest(size)


def health(server: WeirServer, path: str = "/_health") -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(server.endpoint + path, timeout=10) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def wait_health(server: WeirServer, status: int) -> dict[str, Any]:
    """Poll ``/_health`` until it answers ``status`` (each worker process caches its readiness
    for a second); its document."""
    seen: dict[str, Any] = {}

    def answered() -> bool:
        code, doc = health(server)
        seen.update(doc)
        return code == status

    wait_for(answered, f"/_health to answer {status}")
    return seen


def wait_for(condition: Any, what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)  # polling a condition with a bounded deadline


def error_of(call: Any) -> ClientError:
    with pytest.raises(ClientError) as info:
        call()
    return info.value


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WeirServer, ProxyThread]]:
    """Weir -> fault proxy -> the session's SeaweedFS."""
    sfs = weir_backend.seaweedfs()
    proxy = ProxyThread(sfs.endpoint_url)
    root = tmp_path_factory.mktemp("faulty")
    env = backend_env(proxy.endpoint, sfs, f"faults-{os.getpid()}/")
    try:
        with run_weir(root / "data", root / "server.log", env_extra=env) as server:
            server.boto3_client().create_bucket(Bucket="flt")
            yield server, proxy
    finally:
        proxy.close()


@pytest.fixture
def weir(faulty: tuple[WeirServer, ProxyThread]) -> Iterator[tuple[WeirServer, ProxyThread, Any]]:
    server, proxy = faulty
    proxy.clear()
    yield server, proxy, server.boto3_client()
    proxy.clear()


def test_throttling_5xx_and_resets_are_retried(weir: tuple[WeirServer, ProxyThread, Any]) -> None:
    _, proxy, s3 = weir
    data = body(12 * MiB, 1)
    throttled = proxy.inject(Fault("status", "PUT", "partNumber", count=2, code="SlowDown"))
    failed = proxy.inject(Fault("status", "POST", "uploadId", status=500, code="InternalError"))
    reset = proxy.inject(Fault("reset", "PUT", "partNumber=2", after=MiB))
    s3.put_object(Bucket="flt", Key="main/retried.bin", Body=data)
    assert (throttled.fired, failed.fired, reset.fired) == (2, 1, 1)
    assert s3.get_object(Bucket="flt", Key="main/retried.bin")["Body"].read() == data


def test_a_failing_store_answers_slowdown_and_keeps_nothing(
    weir: tuple[WeirServer, ProxyThread, Any],
) -> None:
    server, proxy, s3 = weir
    for size, match in ((12 * MiB, "partNumber"), (200_000, "/data/")):
        proxy.clear()
        proxy.inject(Fault("status", "PUT", match, count=1000, status=503, code="SlowDown"))
        key = f"main/failed-{size}.bin"
        started = time.monotonic()
        err = error_of(lambda k=key, n=size: s3.put_object(Bucket="flt", Key=k, Body=body(n, 2)))
        assert time.monotonic() - started < 60  # bounded retries, not a hang
        assert err.response["Error"]["Code"] == "SlowDown"
        assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        request_id = err.response["ResponseMetadata"]["RequestId"]
        log = server.log_path.read_text()
        line = next(x for x in log.splitlines() if request_id in x and "failed" in x)
        assert "SlowDown" in line  # the store's answer, after the retries
        proxy.clear()
        # Nothing half-visible, nothing staged.
        assert error_of(lambda k=key: s3.head_object(Bucket="flt", Key=k)).response["Error"][
            "Code"
        ] in ("404", "NoSuchKey")
        listed = s3.list_objects_v2(Bucket="flt", Prefix="main/failed")
        assert listed.get("KeyCount", 0) == 0
    s3.put_object(Bucket="flt", Key="main/after.bin", Body=body(200_000, 3))  # recovered


def test_store_down_then_back(weir: tuple[WeirServer, ProxyThread, Any]) -> None:
    server, proxy, s3 = weir
    stored = body(3 * MiB, 4)
    s3.put_object(Bucket="flt", Key="main/stored.bin", Body=stored)
    assert health(server) == (200, {"status": "ok", "blob_store": {"status": "ok"}})
    proxy.set_down(True)
    doc = wait_health(server, 503)
    assert doc["blob_store"]["status"] == "unreachable"
    assert "HeadBucket" in doc["blob_store"]["cause"]
    assert health(server, "/_health/live")[0] == 200  # the process itself is up
    for call in (
        lambda: s3.put_object(Bucket="flt", Key="main/down.bin", Body=body(100_000, 5)),
        lambda: s3.get_object(Bucket="flt", Key="main/stored.bin"),
    ):
        err = error_of(call)
        assert (
            err.response["Error"]["Code"],
            err.response["ResponseMetadata"]["HTTPStatusCode"],
        ) == (
            "SlowDown",
            503,
        )
    # Metadata-only operations keep working while the store is down.
    assert s3.head_object(Bucket="flt", Key="main/stored.bin")["ContentLength"] == len(stored)
    proxy.set_down(False)
    wait_health(server, 200)
    assert s3.get_object(Bucket="flt", Key="main/stored.bin")["Body"].read() == stored
    assert error_of(lambda: s3.head_object(Bucket="flt", Key="main/down.bin")).response["Error"][
        "Code"
    ] in ("404", "NoSuchKey")


def test_slow_store_and_reads_that_stop_half_way(
    weir: tuple[WeirServer, ProxyThread, Any],
) -> None:
    _, proxy, s3 = weir
    data = body(4 * MiB, 6)
    proxy.inject(Fault("delay", "PUT", "/data/", count=2, seconds=0.5))
    s3.put_object(Bucket="flt", Key="main/slow.bin", Body=data)  # slower, not failed
    # A read cut twice mid-body is resumed where it stopped: the client sees one whole body.
    proxy.inject(Fault("cut", "GET", "/data/", count=2, after=MiB + 123))
    assert s3.get_object(Bucket="flt", Key="main/slow.bin")["Body"].read() == data
    # A read that hangs half-way every time: bounded by the read timeout and the resumes; the
    # client gets a short body (the connection is dropped), never wrong or padded bytes.
    proxy.inject(Fault("stall", "GET", "/data/", count=1000, after=100_000))
    started = time.monotonic()
    got = b""
    with pytest.raises(Exception) as info:  # botocore: IncompleteRead / ResponseStreamingError
        resp = s3.get_object(Bucket="flt", Key="main/slow.bin")
        got = resp["Body"].read()
    assert time.monotonic() - started < 90
    assert got == b"" or (len(got) < len(data) and data.startswith(got)), info.value


def test_killing_the_store_mid_workload_loses_no_acknowledged_write(tmp_path: Path) -> None:
    sfs = start_seaweedfs(tmp_path / "sfs")
    try:
        sfs.make_bucket(BUCKET)
        env = backend_env(sfs.endpoint_url, sfs, "killed/")
        with run_weir(tmp_path / "data", tmp_path / "server.log", env_extra=env) as server:
            s3 = server.boto3_client()
            s3.create_bucket(Bucket="kil")
            acked: dict[str, bytes] = {}
            failed: list[str] = []
            lock = threading.Lock()
            sizes = (50_000, MiB, 6 * MiB)
            stop = threading.Event()

            def worker(w: int) -> None:
                client = server.boto3_client()
                for i in range(400):  # bounded; stopped by the test long before
                    if stop.is_set():
                        return
                    key = f"main/w{w}/o{i}"
                    data = body(sizes[(i + w) % len(sizes)], w * 1000 + i)
                    try:
                        client.put_object(Bucket="kil", Key=key, Body=data)
                    except Exception:
                        with lock:
                            failed.append(key)
                        continue
                    with lock:
                        acked[key] = data

            with concurrent.futures.ThreadPoolExecutor(3) as pool:
                futures = [pool.submit(worker, w) for w in range(3)]
                wait_for(lambda: len(acked) >= 4, "writes before the crash", 120)
                sfs.kill()  # the store crashes mid-workload
                wait_for(lambda: len(failed) >= 2, "writes failing while the store is down", 120)
                sfs.restart()
                n = len(acked)
                wait_for(lambda: len(acked) >= n + 4, "writes after the restart", 120)
                stop.set()
                for f in futures:
                    f.result(timeout=120)
            assert failed and acked
            for key, data in acked.items():  # every acknowledged write, whole
                assert s3.get_object(Bucket="kil", Key=key)["Body"].read() == data, key
            listed = {
                o["Key"]
                for page in s3.get_paginator("list_objects_v2").paginate(
                    Bucket="kil", Prefix="main/"
                )
                for o in page.get("Contents", [])
            }
            assert listed == set(acked)  # nothing unacknowledged is visible
            commit = s3.put_object(Bucket="kil", Key="main/last", Body=b"after")  # still serving
            assert commit["ResponseMetadata"]["HTTPStatusCode"] == 200
    finally:
        sfs.stop()
