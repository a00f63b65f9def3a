"""`weir serve` as an operator meets it: first-start credentials, restart, health, metrics, the
access log, and one-line errors for bad settings."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3  # type: ignore[import-untyped]
import pytest
from botocore.config import Config

from tests.functional.conftest import REPO_ROOT, _healthy, free_port, run_weir
from tests.support.postgres import server_meta_env

CRED_RE = re.compile(r"access key id:\s+(\S+)\n\s+secret access key:\s+(\S+)")


def _env(data_dir: Path | None = None) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("WEIR_")}
    env["PYTHONPATH"] = str(REPO_ROOT)
    # WEIR_TEST_META_BACKEND=postgres: one schema per data directory, kept across restarts.
    env.update(server_meta_env(key=str(data_dir) if data_dir else None))
    return env


@contextlib.contextmanager
def serve_plain(data_dir: Path, log: Path) -> Iterator[int]:
    """`weir serve` with no credential in the environment; yields the port."""
    port = free_port()
    with log.open("wb") as out:
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
            cwd=REPO_ROOT,
            env=_env(data_dir),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        for _ in range(600):
            if _healthy("127.0.0.1", port):
                break
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.05)
            assert proc.returncode is None, log.read_text()
        else:
            raise AssertionError(f"weir did not become healthy: {log.read_text()}")
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def client(port: int, key: str, secret: str) -> object:
    return boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def test_first_start_prints_a_generated_credential_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with serve_plain(data, tmp_path / "first.log") as port:
        first = (tmp_path / "first.log").read_text()
        found = CRED_RE.search(first)
        assert found, first
        key, secret = found.groups()
        s3 = client(port, key, secret)
        s3.create_bucket(Bucket="kept")  # type: ignore[attr-defined]
    with serve_plain(data, tmp_path / "second.log") as port:
        second = (tmp_path / "second.log").read_text()
        assert "secret access key" not in second and secret not in second
        s3 = client(port, key, secret)
        names = [b["Name"] for b in s3.list_buckets()["Buckets"]]  # type: ignore[attr-defined]
        assert names == ["kept"]
    # The secret is stored sealed: it never appears in the metadata files.
    for f in data.rglob("*"):
        if f.is_file():
            assert secret.encode() not in f.read_bytes(), f


def test_health_metrics_and_access_log(tmp_path: Path) -> None:
    with run_weir(tmp_path / "data", tmp_path / "server.log") as server:
        s3 = server.boto3_client()
        s3.create_bucket(Bucket="metrics")
        s3.put_object(Bucket="metrics", Key="main/a.txt", Body=b"hello")
        assert s3.get_object(Bucket="metrics", Key="main/a.txt")["Body"].read() == b"hello"
        with urllib.request.urlopen(f"{server.endpoint}/_health") as r:
            assert json.load(r) == {"status": "ok", "blob_store": {"status": "ok"}}
        with urllib.request.urlopen(f"{server.endpoint}/_health/live") as r:
            assert json.load(r) == {"status": "ok"}
        with urllib.request.urlopen(f"{server.endpoint}/_metrics") as r:
            text = r.read().decode()

        # One series per worker (label worker="<slot>"); the requests went to any of them.
        def total(series: str) -> int:
            pattern = re.escape(series) + r'(?:,worker="\d+")?\} (\d+)'
            return sum(int(n) for n in re.findall(pattern, text))

        assert total('weir_requests_total{api="s3",operation="GetObject",status="200"') == 1
        assert total('weir_requests_total{api="s3",operation="PutObject",status="200"') == 1
        assert total('weir_request_duration_seconds_count{api="s3",operation="GetObject"') == 1
        assert re.search(r'weir_sent_bytes_total\{api="s3"(,worker="\d+")?\} \d+', text)
        assert "weir_requests_in_flight" in text
    # The access log is written in batches and flushed at shutdown: read it once stopped.
    log_lines = (tmp_path / "server.log").read_text().splitlines()
    records = [json.loads(x) for x in log_lines if x.startswith("{")]
    get = next(r for r in records if r["operation"] == "GetObject")
    assert get["repository"] == "metrics" and get["ref"] == "main" and get["status"] == 200
    assert get["bytes_out"] == 5 and get["user"] and len(get["request_id"]) >= 16
    assert all(server.secret_key not in line for line in log_lines)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--listen", "nonsense"], "listen address must be HOST:PORT"),
        (["--config", "/nonexistent/weir.toml"], "cannot read config file"),
    ],
)
def test_bad_settings_are_one_line_errors(tmp_path: Path, args: list[str], message: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--data-dir", str(tmp_path), *args],
        cwd=REPO_ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert out.stderr.strip().startswith("weir: error:") and message in out.stderr
    assert "Traceback" not in out.stderr


def test_unknown_setting_in_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "weir.toml"
    cfg.write_text('listen = "127.0.0.1:1"\n[storage]\nbackend = "tape"\n')
    out = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--config", str(cfg)],
        cwd=REPO_ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "storage.backend must be local, s3 or memory" in out.stderr


def test_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "gateway", "--version"],
        cwd=REPO_ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and re.fullmatch(r"weir \d+\.\d+\.\d+\s*", out.stdout)
