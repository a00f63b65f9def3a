"""The CLI as a real process: ``python -m gateway ...`` (entry point, exit codes, no traceback)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.cli.conftest import Result, check_golden
from tests.cli.fake_api import KEY, SECRET, FakeApi

ROOT = Path(__file__).resolve().parents[2]


def weir(args: list[str], env: dict[str, str], stdin: bytes = b"") -> Result:
    full = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "COLUMNS": "100",
        "HOME": env.get("HOME", "/nonexistent"),
        **env,
    }
    proc = subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        input=stdin,
        capture_output=True,
        env=full,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    out = proc.stdout.decode("utf-8", "replace")
    return Result(args, proc.returncode, out, proc.stderr.decode("utf-8", "replace"), proc.stdout)


def _env(fake: FakeApi, tmp_path: Path) -> dict[str, str]:
    return {
        "WEIR_ENDPOINT": fake.endpoint,
        "WEIR_ACCESS_KEY_ID": KEY,
        "WEIR_SECRET_ACCESS_KEY": SECRET,
        "WEIR_CONFIG": str(tmp_path / "none.toml"),
        "HOME": str(tmp_path),
    }


def test_subprocess_table_matches_golden(fake: FakeApi, tmp_path: Path) -> None:
    # Same golden file as the in-process run: both paths print identically.
    check_golden("repo_list", weir(["repo", "list"], _env(fake, tmp_path)))


def test_subprocess_conflict_exit_1(fake: FakeApi, tmp_path: Path) -> None:
    result = weir(["merge", "analytics", "conflicting", "main"], _env(fake, tmp_path))
    check_golden("merge_conflict", result)


def test_subprocess_connection_refused_exit_3_no_traceback(fake: FakeApi, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**_env(fake, tmp_path), "WEIR_ENDPOINT": f"127.0.0.1:{port}"}
    result = weir(["log", "analytics", "main"], env)
    assert result.code == 3
    assert (
        result.stderr
        == f"weir: error: cannot connect to http://127.0.0.1:{port}/api/v1: connection refused\n"
    )


def test_subprocess_usage_error_exit_2(fake: FakeApi, tmp_path: Path) -> None:
    result = weir(["tag", "create", "analytics"], _env(fake, tmp_path))
    assert result.code == 2
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr


def test_subprocess_help_and_version(fake: FakeApi, tmp_path: Path) -> None:
    assert weir(["--help"], {}).stdout.startswith("usage: weir")
    version = weir(["--version"], {})
    assert version.code == 0 and version.stdout.startswith("weir ")


def test_subprocess_cat_binary(fake: FakeApi, tmp_path: Path) -> None:
    payload = bytes(range(256)) * 4096
    fake.state.objects["main"]["bin"] = (payload, {**fake.state.objects["main"]["README.md"][1]})
    fake.state.objects["main"]["bin"][1]["checksum"] = ""
    result = weir(["cat", "analytics", "main", "bin"], _env(fake, tmp_path))
    assert result.code == 0 and result.raw == payload


def test_subprocess_cat_into_closed_pipe_is_quiet(fake: FakeApi, tmp_path: Path) -> None:
    env = {**os.environ, **_env(fake, tmp_path), "PYTHONPATH": str(ROOT)}
    cmd = f"{sys.executable} -m gateway cat analytics main data/2026/10/part-0.csv | head -c 10"
    proc = subprocess.run(
        ["bash", "-c", cmd], capture_output=True, env=env, cwd=ROOT, timeout=60, check=False
    )
    assert proc.stdout == b"y" * 10
    assert b"Traceback" not in proc.stderr and b"error" not in proc.stderr
