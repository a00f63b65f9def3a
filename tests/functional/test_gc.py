"""Garbage collection through the real server: the admin API, the CLI, and what S3 clients and
the admin API answer for a commit removed by retention."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from gateway.client.api import AdminClient, ApiError
from tests.functional.conftest import REPO_ROOT, WeirServer, run_weir
from tests.functional.gc_helpers import admin, run_gc

BIG = 48_000  # stored in the blob backend (small objects live in the metadata store)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WeirServer]:
    root = tmp_path_factory.mktemp("weir-gc")
    env = {"WEIR_GC_RETENTION_DAYS": "0", "WEIR_GC_GRACE_SECONDS": "0"}
    with run_weir(root / "data", root / "server.log", env_extra=env) as s:
        yield s


@pytest.fixture
def repo(server: WeirServer) -> str:
    name = f"gc-{uuid.uuid4().hex[:10]}"
    server.boto3_client().create_bucket(Bucket=name)
    return name


def _commit(client: AdminClient, repo: str, branch: str, message: str) -> str:
    body: dict[str, Any] = client.commit(repo, branch, message)
    return str(body["id"])


def test_collects_and_reads_of_collected_commits_name_retention(
    server: WeirServer, repo: str
) -> None:
    s3, client = server.boto3_client(), admin(server)
    s3.put_object(Bucket=repo, Key="main/keep", Body=b"k" * BIG)
    s3.put_object(Bucket=repo, Key="main/over", Body=b"1" * BIG)
    s3.put_object(Bucket=repo, Key="main/over", Body=b"2" * BIG)  # overwrites a staged entry
    _commit(client, repo, "main", "first")
    client.create_branch(repo, "dev", "main")
    s3.put_object(Bucket=repo, Key="dev/only-dev", Body=b"d" * BIG)
    dev_head = _commit(client, repo, "dev", "dev work")
    client.delete_branch(repo, "dev")

    report = run_gc(client)
    assert report["state"] == "succeeded", report
    assert report["freed"]["commits"]["count"] >= 1
    assert report["freed"]["blobs"]["count"] >= 2  # the overwritten "1"s and dev's object
    assert report["freed_bytes"] >= 2 * BIG

    with pytest.raises(ClientError) as info:
        s3.get_object(Bucket=repo, Key=f"{dev_head}/only-dev")
    err = info.value.response["Error"]
    assert err["Code"] == "NoSuchKey" and "retention" in err["Message"]
    with pytest.raises(ApiError) as api_info:
        client.request(
            "GET", f"/repositories/{repo}/refs/{dev_head}/objects/stat", query={"path": "only-dev"}
        )
    assert api_info.value.status == 410 and "retention" in api_info.value.message
    with pytest.raises(ApiError) as api_info:
        client.create_branch(repo, "again", dev_head)
    assert api_info.value.status == 410

    assert s3.get_object(Bucket=repo, Key="main/keep")["Body"].read() == b"k" * BIG
    assert s3.get_object(Bucket=repo, Key="main/over")["Body"].read() == b"2" * BIG
    listed = client.list_gc_runs()
    assert listed[0]["id"] == report["id"]
    assert client.get_gc_run(report["id"])["state"] == "succeeded"
    # On the audit trail: who ran it and what it freed.
    record = next(r for r in client.audit(limit=50) if r.get("ref") == report["id"])
    assert record["operation"] == "garbageCollection" and record["result"] == "ok"
    assert record["user"] not in ("", "(unauthenticated)", "weir")
    assert record["detail"].startswith("freed ") and "blobs" in record["detail"]


def test_rules_errors_and_permissions(server: WeirServer, repo: str) -> None:
    client = admin(server)
    assert client.get_gc_rules(repo) is None
    rules = {"default_retention_days": 3, "branches": [{"branch_id": "tmp/*", "retention_days": 0}]}
    client.set_gc_rules(repo, rules)
    assert client.get_gc_rules(repo) == rules
    client.delete_gc_rules(repo)
    assert client.get_gc_rules(repo) is None
    for bad in ({}, {"default_retention_days": -1}, {"default_retention_days": 1, "branches": 3}):
        with pytest.raises(ApiError) as info:
            client.set_gc_rules(repo, bad)
        assert info.value.status == 400
    for kwargs, status in (({"repository": "no-such-repo"}, 404), ({"grace_seconds": -1}, 400)):
        with pytest.raises(ApiError) as info:
            client.start_gc(**kwargs)
        assert info.value.status == status
    with pytest.raises(ApiError) as info:
        client.get_gc_run("no-such-run")
    assert info.value.status == 404
    client.request("POST", "/auth/users", json_body={"id": "gc-reader"})
    creds = client.request("POST", "/auth/users/gc-reader/credentials")
    client.add_grant("gc-reader", repo, "*", "read")
    reader = AdminClient(server.endpoint, creds["access_key_id"], creds["secret_access_key"])
    for call in (lambda: reader.start_gc(), lambda: reader.get_gc_rules(repo)):
        with pytest.raises(ApiError) as info:
            call()
        assert info.value.status == 403


def _weir(server: WeirServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update(
        WEIR_ENDPOINT=server.endpoint,
        WEIR_ACCESS_KEY_ID=server.access_key,
        WEIR_SECRET_ACCESS_KEY=server.secret_key,
        WEIR_CONFIG=os.devnull,
        PYTHONPATH=str(REPO_ROOT),
    )
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(REPO_ROOT),
        timeout=120,
    )


def test_cli(server: WeirServer, repo: str) -> None:
    s3 = server.boto3_client()
    s3.put_object(Bucket=repo, Key="main/x", Body=b"1" * BIG)
    s3.put_object(Bucket=repo, Key="main/x", Body=b"2" * BIG)
    out = _weir(server, "gc", "--dry-run", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["state"] == "succeeded" and report["dry_run"]
    assert report["freed"]["blobs"]["count"] >= 1
    assert s3.get_object(Bucket=repo, Key="main/x")["Body"].read() == b"2" * BIG

    out = _weir(server, "gc", repo)
    assert out.returncode == 0, out.stderr
    assert "succeeded" in out.stdout and "total freed" in out.stdout

    out = _weir(server, "gc-rules", repo, "--default-days", "5", "--branch", "runs/*=1")
    assert out.returncode == 0, out.stderr
    assert "default retention: 5 days" in out.stdout and "runs/*: 1 days" in out.stdout
    out = _weir(server, "gc-runs")
    assert out.returncode == 0 and "succeeded" in out.stdout
    out = _weir(server, "gc", "no-such-repo")
    assert out.returncode == 1 and "not found" in out.stderr
