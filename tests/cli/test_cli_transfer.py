"""Streaming upload and download, with progress bars, through the CLI."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from tests.cli.conftest import run
from tests.cli.fake_api import FakeApi


def test_upload_download_round_trip_with_progress(
    env: dict[str, str], fake: FakeApi, tmp_path: Path
) -> None:
    data = os.urandom(6 << 20) + b"tail"  # 6 MiB + 4: several 1 MiB chunks and a short one
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    up = run(["upload", "analytics", "dev", str(src), "raw/big.bin", "--progress"], env)
    assert up.code == 0, up.stderr
    assert up.stdout == "Uploaded raw/big.bin (6.0 MiB) to 'dev'\n"
    assert re.search(r"raw/big\.bin \[#{30}\] 100%  6\.0 MiB/6\.0 MiB", up.stderr)
    assert up.stderr.endswith("\n") and up.stderr.count("\r") >= 6  # one redraw per 1 MiB chunk
    req = fake.state.requests[-1]
    assert req["headers"]["Content-Length"] == str(len(data))
    assert fake.state.objects["dev"]["raw/big.bin"][0] == data

    dst = tmp_path / "out"
    dst.mkdir()
    down = run(["download", "analytics", "dev", "raw/big.bin", str(dst), "--progress"], env)
    assert down.code == 0, down.stderr
    assert (dst / "big.bin").read_bytes() == data
    assert "100%" in down.stderr
    assert [p.name for p in dst.iterdir()] == ["big.bin"]  # no temporary file left


def test_no_progress_bar_when_not_forced_and_not_a_tty(
    env: dict[str, str], fake: FakeApi, tmp_path: Path
) -> None:
    src = tmp_path / "f.txt"
    src.write_bytes(b"x" * (5 << 20))
    up = run(["upload", "analytics", "dev", str(src), "f.txt"], env)
    assert up.code == 0 and up.stderr == ""


def test_upload_from_stdin_is_chunked_with_metadata(env: dict[str, str], fake: FakeApi) -> None:
    payload = b"line\n" * 100_000
    argv = ["upload", "analytics", "dev", "-", "logs/l.txt", "--content-type", "text/plain"]
    up = run([*argv, "--meta", "Owner=ana", "--json"], env, stdin=payload)
    assert up.code == 0, up.stderr
    req = fake.state.requests[-1]
    assert req["headers"].get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in req["headers"]
    assert req["headers"]["Content-Type"] == "text/plain"
    data, stats = fake.state.objects["dev"]["logs/l.txt"]
    assert data == payload and stats["metadata"] == {"owner": "ana"}
    assert '"checksum": "' + hashlib.md5(payload).hexdigest() in up.stdout


def test_cat_and_download_to_stdout_stream_bytes(env: dict[str, str], fake: FakeApi) -> None:
    expected = fake.state.objects["main"]["data/2026/10/part-0.csv"][0]
    cat = run(["cat", "analytics", "main", "data/2026/10/part-0.csv"], env)
    assert cat.code == 0 and cat.raw == expected
    down = run(["download", "analytics", "main", "data/a.csv", "-"], env)
    assert down.code == 0 and down.raw == b"id,value\n1,2\n"


def test_download_detects_corruption_and_keeps_no_file(
    env: dict[str, str], fake: FakeApi, tmp_path: Path
) -> None:
    stats = fake.state.objects["main"]["data/a.csv"][1]
    fake.state.objects["main"]["data/a.csv"] = (b"id,value\n9,9\n", stats)  # ETag of old data
    target = tmp_path / "a.csv"
    result = run(["download", "analytics", "main", "data/a.csv", str(target)], env)
    assert result.code == 1
    assert "download corrupted" in result.stderr and len(result.stderr.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_upload_missing_local_file_is_one_line(
    env: dict[str, str], fake: FakeApi, tmp_path: Path
) -> None:
    result = run(["upload", "analytics", "dev", str(tmp_path / "nope"), "x"], env)
    assert result.code == 1
    assert result.stderr.startswith("weir: error: cannot open") and "No such file" in result.stderr
    assert fake.state.requests == []


def test_upload_rejected_by_auth_reports_401(
    env: dict[str, str], fake: FakeApi, tmp_path: Path
) -> None:
    src = tmp_path / "big.bin"
    src.write_bytes(b"z" * (8 << 20))
    env["WEIR_SECRET_ACCESS_KEY"] = "wrong"
    result = run(["upload", "analytics", "dev", str(src), "big.bin"], env)
    assert result.code == 3
    assert "(HTTP 401)" in result.stderr and len(result.stderr.splitlines()) == 1
