"""Moving an embedded (LMDB) installation to PostgreSQL with ``weir db copy``, end to end.

A Weir server on LMDB gets repositories, commits, staged changes, a branch, a user with a key and
a grant; it is stopped; ``weir db copy`` moves its metadata into a fresh PostgreSQL schema; a
server on PostgreSQL with the same blob directory and key file then serves all of it.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
from botocore.config import Config

from gateway.client.api import AdminClient
from tests.functional.conftest import REPO_ROOT, _healthy, free_port
from tests.support.postgres import new_schema_name, shared_server

KEY, SECRET = "AKIAWEIRDBCOPY000001", "db-copy-test-secret-key-0123456789abcdef"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEIR_")}
    env.update(
        PYTHONPATH=str(REPO_ROOT),
        WEIR_ACCESS_KEY_ID=KEY,
        WEIR_SECRET_ACCESS_KEY=SECRET,
        WEIR_SERVER_WORKERS="1",
        **extra,
    )
    return env


@contextlib.contextmanager
def _serve(data: Path, log: Path, env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--listen", f"127.0.0.1:{port}",
             "--data-dir", str(data)],
            cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        for _ in range(600):
            if _healthy("127.0.0.1", port):
                break
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.05)
            assert proc.returncode is None, log.read_text()
        else:
            raise AssertionError(log.read_text())
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _s3(endpoint: str, key: str = KEY, secret: str = SECRET) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def test_weir_db_copy_moves_an_lmdb_installation_to_postgres(tmp_path: Path) -> None:
    data = tmp_path / "data"
    big = os.urandom(200_000)  # a blob in the blob directory, not inline in the metadata
    with _serve(data, tmp_path / "lmdb.log", _env()) as endpoint:
        s3, admin = _s3(endpoint), AdminClient(endpoint, KEY, SECRET)
        s3.create_bucket(Bucket="lake")
        s3.put_object(Bucket="lake", Key="main/a.txt", Body=b"committed")
        s3.put_object(Bucket="lake", Key="main/big.bin", Body=big)
        first = admin.commit("lake", "main", "first")["id"]
        s3.put_object(Bucket="lake", Key="main/b.txt", Body=b"staged")
        admin.create_branch("lake", "dev", "main")
        admin.create_user("reader")
        admin.add_grant("reader", "lake", "*", "read")
        key = admin.create_key("reader")
    schema = new_schema_name()
    dsn = shared_server().dsn
    copied = subprocess.run(
        [sys.executable, "-m", "gateway", "db", "copy", "--from-data-dir", str(data),
         "--dsn", dsn, "--schema", schema],
        cwd=REPO_ROOT, env=_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert copied.returncode == 0, copied.stderr
    assert "copied and verified" in copied.stdout
    again = subprocess.run(
        [sys.executable, "-m", "gateway", "db", "copy", "--from-data-dir", str(data),
         "--dsn", dsn, "--schema", schema],
        cwd=REPO_ROOT, env=_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert again.returncode == 1 and "not empty" in again.stderr  # never merges two lakes
    status = subprocess.run(
        [sys.executable, "-m", "gateway", "db", "status", "--dsn", dsn, "--schema", schema],
        cwd=REPO_ROOT, env=_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert status.returncode == 0 and "up to date" in status.stdout
    pg_env = _env(WEIR_META_BACKEND="postgres", WEIR_META_DSN=dsn, WEIR_META_SCHEMA=schema)
    with _serve(data, tmp_path / "pg.log", pg_env) as endpoint:
        s3, admin = _s3(endpoint), AdminClient(endpoint, KEY, SECRET)
        assert s3.get_object(Bucket="lake", Key="main@/a.txt")["Body"].read() == b"committed"
        assert s3.get_object(Bucket="lake", Key="main/big.bin")["Body"].read() == big
        assert s3.get_object(Bucket="lake", Key="main/b.txt")["Body"].read() == b"staged"
        assert next(c["id"] for c in admin.log("lake", "main")) == first
        assert {b["id"] for b in admin.list_branches("lake")} == {"main", "dev"}
        reader = _s3(endpoint, key["access_key_id"], key["secret_access_key"])
        assert reader.get_object(Bucket="lake", Key="main/a.txt")["Body"].read() == b"committed"
        assert "metadata: postgres" in (tmp_path / "pg.log").read_text()
