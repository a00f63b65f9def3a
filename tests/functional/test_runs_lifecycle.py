"""Runs at the edges: merge conflicts (CLI and Python API), the git state of the working
directory, and crashes of ``weir run`` and of Weir itself in the middle of a run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from botocore.config import Config

from gateway.client.api import AdminClient
from gateway.client.runs import RunFailed, RunsApi, run
from tests.functional.conftest import WeirServer, run_weir
from tests.functional.test_runs import (
    DEADLINE,
    api,
    env,
    job,
    last_run,
    repo_name,
    wait_for,
    weir,
)

__all__ = ["api", "env"]  # fixtures, re-used from test_runs


def s3_for(server: WeirServer, key: str, secret: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def test_python_run_commits_and_reports_a_merge_conflict(
    weir_server: WeirServer, s3: Any, api: AdminClient
) -> None:
    repo = repo_name("py")
    s3.create_bucket(Bucket=repo)
    s3.put_object(Bucket=repo, Key="main/in.csv", Body=b"1\n")
    s3.put_object(Bucket=repo, Key="main/model.bin", Body=b"v0")
    api.commit(repo, "main", "base")
    login = {
        "endpoint": weir_server.endpoint,
        "access_key_id": weir_server.access_key,
        "secret_access_key": weir_server.secret_key,
    }
    with run(repo, name="py-ok", merge=True, **login) as r:
        job = boto3.client("s3", config=Config(s3={"addressing_style": "path"}), **r.boto3_kwargs())
        rows = job.get_object(Bucket=repo, Key="main/in.csv")["Body"].read()
        job.put_object(Bucket=repo, Key="main/out.csv", Body=rows * 2)
        assert r.env()["WEIR_RUN_ID"] == r.id and r.branch == "main"
    assert r.result["status"] == "succeeded" and r.result["merge_commit"]
    assert s3.get_object(Bucket=repo, Key="main/out.csv")["Body"].read() == b"1\n1\n"
    assert (
        json.loads(api.get_commit(repo, r.result["result_commit"])["metadata"]["weir.run.command"])[
            0
        ]
        == sys.executable
    )

    # main moves under the run: the merge conflicts, the branch is kept, RunFailed has the table.
    with (
        pytest.raises(RunFailed) as failed,
        run(repo, name="py-conflict", merge=True, **login) as r,
    ):
        job = boto3.client("s3", config=Config(s3={"addressing_style": "path"}), **r.boto3_kwargs())
        job.put_object(Bucket=repo, Key="main/model.bin", Body=b"from the run")
        s3.put_object(Bucket=repo, Key="main/model.bin", Body=b"from main")
        api.commit(repo, "main", "meanwhile")
    assert [c["path"] for c in failed.value.conflicts] == ["model.bin"]
    assert s3.get_object(Bucket=repo, Key="main/model.bin")["Body"].read() == b"from main"
    with api.open_object(repo, "runs/py-conflict", "model.bin") as body:
        assert b"".join(body.chunks()) == b"from the run"

    # An exception in the block fails the run and goes on; main is untouched.
    with pytest.raises(ZeroDivisionError), run(repo, name="py-boom", **login) as r:
        job = boto3.client("s3", config=Config(s3={"addressing_style": "path"}), **r.boto3_kwargs())
        job.put_object(Bucket=repo, Key="main/partial", Body=b"p")
        _ = 1 / 0
    assert r.result["status"] == "failed" and "ZeroDivisionError" in r.result["error"]
    assert "main/partial" not in [
        o["Key"] for o in s3.list_objects_v2(Bucket=repo, Prefix="main/").get("Contents", [])
    ]


CONFLICT_JOB = """
    import json, os, urllib.request, base64, boto3
    repo = os.environ["WEIR_REPO"]
    boto3.client("s3").put_object(Bucket=repo, Key="main/x.txt", Body=b"run")
    # Someone else changes main meanwhile (the admin, through the admin API).
    admin = boto3.client(
        "s3",
        aws_access_key_id=os.environ["ADMIN_KEY"],
        aws_secret_access_key=os.environ["ADMIN_SECRET"],
    )
    admin.put_object(Bucket=repo, Key="main/x.txt", Body=b"main")
    req = urllib.request.Request(
        os.environ["AWS_ENDPOINT_URL"] + f"/api/v1/repositories/{repo}/branches/main/commits",
        data=json.dumps({"message": "meanwhile"}).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": "Basic " + base64.b64encode(
            (os.environ["ADMIN_KEY"] + ":" + os.environ["ADMIN_SECRET"]).encode()).decode()},
    )
    urllib.request.urlopen(req).read()
"""


def test_cli_merge_conflict_prints_the_table_and_keeps_the_branch(
    env: dict[str, str], s3: Any, api: AdminClient, tmp_path: Path, weir_server: WeirServer
) -> None:
    repo = repo_name("conflict")
    s3.create_bucket(Bucket=repo)
    s3.put_object(Bucket=repo, Key="main/x.txt", Body=b"base")
    api.commit(repo, "main", "base")
    # The working directory is a git checkout with an uncommitted change: recorded as dirty.
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    git = ["git", "-C", str(checkout), "-c", "user.email=t@e", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (checkout / "train.py").write_text("print(1)\n")
    subprocess.run([*git, "add", "train.py"], check=True)
    subprocess.run([*git, "commit", "-qm", "code"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    (checkout / "train.py").write_text("print(2)\n")
    command = job(tmp_path, "conflict", CONFLICT_JOB)
    child_env = {
        **env,
        "ADMIN_KEY": weir_server.access_key,
        "ADMIN_SECRET": weir_server.secret_key,
    }
    old = os.getcwd()
    os.chdir(checkout)
    try:
        result = weir(["run", repo, "--name", "clash", "--merge", "--", *command], child_env)
    finally:
        os.chdir(old)
    assert result.code == 1, result.stderr
    assert "x.txt" in result.stdout and "PATH" in result.stdout  # the conflict table
    assert "runs/clash is kept" in result.stderr
    record = last_run(api, repo)
    assert record["status"] == "succeeded" and record["merge_conflicts"] == 1
    assert record["git"] == {"commit": head.stdout.strip(), "dirty": True}
    meta = api.get_commit(repo, record["result_commit"])["metadata"]
    assert (
        meta["weir.run.git_commit"] == head.stdout.strip() and meta["weir.run.git_dirty"] == "true"
    )
    assert s3.get_object(Bucket=repo, Key="main/x.txt")["Body"].read() == b"main"


@pytest.fixture
def crashable(tmp_path: Path) -> Iterator[tuple[WeirServer, Path, Path]]:
    """A server of its own (it will be killed), finishing quickly when a participant is gone."""
    data, log = tmp_path / "data", tmp_path / "server.log"
    extra = {"WEIR_RUNS_FINISH_TIMEOUT_SECONDS": "1"}
    with run_weir(data, log, env_extra=extra) as server:
        yield server, data, log


def test_crashes_lose_no_acknowledged_write_and_never_half_commit(
    crashable: tuple[WeirServer, Path, Path], env: dict[str, str], tmp_path: Path
) -> None:
    server, data, log = crashable
    admin = s3_for(server, server.access_key, server.secret_key)
    api = AdminClient(server.endpoint, server.access_key, server.secret_key)
    repo = repo_name("crash")
    admin.create_bucket(Bucket=repo)
    admin.put_object(Bucket=repo, Key="main/in", Body=b"in")
    api.commit(repo, "main", "in")
    runs = RunsApi(api)

    # 1. `weir run` killed outright: nothing renews the credential; the run expires.
    marker = tmp_path / "started"
    wait_job = job(
        tmp_path,
        "hang",
        "import os, pathlib, signal\n"
        f"pathlib.Path({str(marker)!r}).write_text('x')\n"
        "signal.pause()\n",
    )
    cli_env = {
        **env,
        "WEIR_ENDPOINT": server.endpoint,
        "WEIR_ACCESS_KEY_ID": server.access_key,
        "WEIR_SECRET_ACCESS_KEY": server.secret_key,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "run", repo, "--ttl", "1", "--", *wait_job],
        env=cli_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(lambda: marker.exists() or proc.poll() is not None, "the job to start")
        os.killpg(proc.pid, signal.SIGKILL)  # weir run and its child, without warning
        proc.wait(timeout=DEADLINE)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    orphan = next(iter(runs.list(repo)))
    wait_for(lambda: runs.get(orphan["id"])["status"] == "expired", "the run to expire", 30)
    assert orphan["run_branch"] in {b["id"] for b in api.list_branches(repo)}  # kept

    # 2. Weir killed outright mid-run: the run's acknowledged write survives; the reads the dead
    # processes buffered cannot be shown complete, so finishing fails the run instead of
    # committing an incomplete record, and main is untouched.
    started = runs.start(repo, ["job"])
    creds = started["credentials"]
    client = s3_for(server, creds["access_key_id"], creds["secret_access_key"])
    assert client.get_object(Bucket=repo, Key="main/in")["Body"].read() == b"in"
    client.put_object(Bucket=repo, Key="main/out", Body=b"acknowledged")
    os.kill(server.pid, signal.SIGKILL)
    with run_weir(data, log, env_extra={"WEIR_RUNS_FINISH_TIMEOUT_SECONDS": "1"}) as again:
        api = AdminClient(again.endpoint, again.access_key, again.secret_key)
        with api.open_object(repo, started["run_branch"], "out") as body:
            assert b"".join(body.chunks()) == b"acknowledged"
        done = RunsApi(api).finish(started["id"], 0)
        assert done["status"] == "failed" and "stopped before its reads" in done["error"]
        assert not done["result_commit"] and not done["merge_commit"]
        after = s3_for(again, again.access_key, again.secret_key)
        keys = [o["Key"] for o in after.list_objects_v2(Bucket=repo, Prefix="main/")["Contents"]]
        assert keys == ["main/in"]
