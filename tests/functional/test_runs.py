"""``weir run`` end to end: the real server, the real CLI, unmodified jobs using real clients.

Each job below is a plain script that only knows ``s3://REPO/main/...`` and the standard AWS
environment; ``weir run`` gives it a private branch, a snapshot of every other branch and a
recorded lineage. Jobs that must interleave with the test wait for marker files (bounded).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from gateway.client.api import AdminClient, ApiError
from gateway.client.runs import RunsApi
from tests.cli.conftest import Result, run
from tests.functional.conftest import REPO_ROOT, WeirServer

DEADLINE = 60.0


@pytest.fixture
def env(weir_server: WeirServer, tmp_path: Path) -> dict[str, str]:
    """The CLI's environment: the admin credential, no config file, no inherited AWS setup."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "WEIR_"))}
    base.update(
        WEIR_ENDPOINT=weir_server.endpoint,
        WEIR_ACCESS_KEY_ID=weir_server.access_key,
        WEIR_SECRET_ACCESS_KEY=weir_server.secret_key,
        WEIR_CONFIG=str(tmp_path / "none.toml"),
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        PYTHONPATH=str(REPO_ROOT),
    )
    return base


@pytest.fixture
def api(weir_server: WeirServer) -> AdminClient:
    return AdminClient(weir_server.endpoint, weir_server.access_key, weir_server.secret_key)


def repo_name(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:10]}"


def job(tmp_path: Path, name: str, source: str) -> list[str]:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return [sys.executable, str(path)]


def weir(argv: list[str], env: dict[str, str]) -> Result:
    return run(argv, env)


def wait_for(condition: Any, what: str, deadline: float = DEADLINE) -> None:
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.02)


def run_json(api: AdminClient, run_id: str) -> Any:
    return RunsApi(api).get(run_id)


def last_run(api: AdminClient, repo: str) -> Any:
    return next(iter(RunsApi(api).list(repo, limit=1)))


def keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]


BOTO3_JOB = """
    import os, pathlib, time, boto3
    s3 = boto3.client("s3")  # everything from the environment, as an unmodified job would
    bucket = os.environ["JOB_BUCKET"]
    markers = pathlib.Path(os.environ["JOB_MARKERS"])
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="main/raw/")["Contents"]
    first = {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}
    (markers / "read").write_text("x")
    end = time.monotonic() + 60
    while not (markers / "go").exists():
        assert time.monotonic() < end
        time.sleep(0.02)
    again = s3.get_object(Bucket=bucket, Key="main/raw/a.txt")["Body"].read()
    assert again == first["main/raw/a.txt"], (again, first)  # main moved: not seen by the run
    total = sum(int(v) for v in first.values())
    s3.put_object(Bucket=bucket, Key="main/out/total.txt", Body=str(total).encode())
    # The job sees its own write, under its own path.
    assert s3.get_object(Bucket=bucket, Key="main/out/total.txt")["Body"].read() == b"%d" % total
"""


def test_boto3_job_is_isolated_recorded_and_merged(
    env: dict[str, str], s3: Any, api: AdminClient, tmp_path: Path
) -> None:
    bucket = repo_name("runs")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="main/raw/a.txt", Body=b"1")
    s3.put_object(Bucket=bucket, Key="main/raw/b.txt", Body=b"2")
    start = api.commit(bucket, "main", "raw")["id"]
    markers = tmp_path / "markers"
    markers.mkdir()
    child_env = {**env, "JOB_BUCKET": bucket, "JOB_MARKERS": str(markers)}
    command = job(tmp_path, "boto3_job", BOTO3_JOB)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "run", bucket, "--name", "first", "--", *command],
        env=child_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=str(tmp_path),
    )
    try:
        wait_for(lambda: (markers / "read").exists() or proc.poll() is not None, "the first read")
        # A concurrent write and commit to main while the run is running.
        s3.put_object(Bucket=bucket, Key="main/raw/a.txt", Body=b"100")
        moved = api.commit(bucket, "main", "concurrent")["id"]
        (markers / "go").write_text("x")
        out, err = proc.communicate(timeout=DEADLINE)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err.decode()
    assert b"succeeded" in out
    # Outputs on the run branch only; main untouched by the run.
    assert keys(s3, bucket, "main/out/") == []
    run_branch_total = api.open_object(bucket, "runs/first", "out/total.txt")
    with run_branch_total as body:
        assert b"".join(body.chunks()) == b"3"
    record = last_run(api, bucket)
    assert record["status"] == "succeeded" and record["name"] == "first"
    assert record["start_commit"] == start and record["exit_status"] == 0
    # The recorded inputs are main's commit at the start (both reads of a.txt: one path).
    assert [(i["repository"], i["commit"], i["paths"], i["refs"]) for i in record["inputs"]] == [
        (bucket, start, 2, ["main"])
    ]
    commit = api.get_commit(bucket, record["result_commit"])
    assert commit["parents"] == [start]
    meta = commit["metadata"]
    assert json.loads(meta["weir.run.command"]) == command
    assert meta["weir.run.exit_status"] == "0" and meta["weir.run.user"] == "admin"
    assert moved != start

    # The same job with --merge: main gets the output (computed from main's new state).
    (markers / "read").unlink()
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "run", bucket, "--merge", "--", *command],
        env=child_env,
        capture_output=True,
        timeout=DEADLINE,
        cwd=str(tmp_path),
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert s3.get_object(Bucket=bucket, Key="main/out/total.txt")["Body"].read() == b"102"
    merged = last_run(api, bucket)
    assert merged["merge_commit"] and merged["inputs"][0]["commit"] == moved


TABULAR_JOB = """
    import os
    import duckdb, duckdb_extension_httpfs, polars as pl, pyarrow.fs as pafs, pyarrow.parquet as pq
    from pathlib import Path
    repo, endpoint = os.environ["WEIR_REPO"], os.environ["AWS_ENDPOINT_URL_S3"]
    # pyarrow: credentials from the environment; S3FileSystem() ignores AWS_ENDPOINT_URL*, so
    # jobs pass it on themselves (apache/arrow#49643), as they would for any S3-compatible store.
    fs = pafs.S3FileSystem(endpoint_override=endpoint)
    table = pq.read_table(f"{repo}/main/raw/t.parquet", filesystem=fs)
    pq.write_table(table, f"{repo}/main/out/arrow.parquet", filesystem=fs)
    # Polars (object_store): everything from the environment.
    frame = pl.read_parquet(f"s3://{repo}/main/raw/t.parquet")
    frame.with_columns(pl.col("k") * 10).write_parquet(f"s3://{repo}/main/out/polars.parquet")
    # DuckDB: credentials from the environment, the endpoint in a secret.
    ext = Path(next(iter(duckdb_extension_httpfs.__path__)))
    ext = ext / "extensions" / f"v{duckdb.__version__}" / "httpfs.duckdb_extension"
    con = duckdb.connect(
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    )
    con.execute(f"LOAD '{ext}'")
    host = endpoint.split("://", 1)[1]
    con.execute(f"CREATE SECRET job (TYPE s3, ENDPOINT '{host}', URL_STYLE 'path', USE_SSL false)")
    con.execute(
        f"COPY (SELECT sum(k) AS total FROM read_parquet('s3://{repo}/main/raw/t.parquet')) "
        f"TO 's3://{repo}/main/out/duck.parquet'"
    )
"""


def test_pyarrow_polars_and_duckdb_jobs(
    env: dict[str, str], s3: Any, api: AdminClient, tmp_path: Path
) -> None:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    repo = repo_name("tabular")
    s3.create_bucket(Bucket=repo)
    buffer = io.BytesIO()
    pq.write_table(pa.table({"k": [1, 2, 3]}), buffer)
    s3.put_object(Bucket=repo, Key="main/raw/t.parquet", Body=buffer.getvalue())
    start = api.commit(repo, "main", "raw")["id"]
    command = job(tmp_path, "tabular", TABULAR_JOB)
    result = weir(["run", repo, "--", *command], env)
    assert result.code == 0, result.stderr
    assert keys(s3, repo, "main/out/") == []  # nothing on main before --merge
    finished = last_run(api, repo)
    assert [(i["commit"], i["paths"]) for i in finished["inputs"]] == [(start, 1)]
    result = weir(["run", repo, "--merge", "--", *command], env)
    assert result.code == 0, result.stderr

    def table(key: str) -> Any:
        body = s3.get_object(Bucket=repo, Key=key)["Body"].read()
        return pq.read_table(io.BytesIO(body)).to_pydict()

    assert table("main/out/arrow.parquet") == {"k": [1, 2, 3]}
    assert table("main/out/polars.parquet") == {"k": [10, 20, 30]}
    assert table("main/out/duck.parquet") == {"total": [6]}


TRAIN_JOB = """
    import hashlib, os, boto3
    s3 = boto3.client("s3")
    data, models = os.environ["DATA_REPO"], os.environ["WEIR_REPO"]
    rows = s3.get_object(Bucket=data, Key="main/train/rows.csv")["Body"].read()
    labels = s3.get_object(Bucket=data, Key="main/train/labels.csv")["Body"].read()
    model = hashlib.sha256(rows + labels).hexdigest().encode()
    if os.environ.get("NONDETERMINISTIC"):
        model += os.urandom(8).hex().encode()
    s3.put_object(Bucket=models, Key="main/model.bin", Body=model)
    s3.put_object(Bucket=models, Key="main/params.json", Body=b'{"lr": 0.1}')
"""


def test_cross_repository_lineage_and_reruns(
    env: dict[str, str], s3: Any, api: AdminClient, tmp_path: Path
) -> None:
    data, models = repo_name("data"), repo_name("models")
    for repo in (data, models):
        s3.create_bucket(Bucket=repo)
    s3.put_object(Bucket=data, Key="main/train/rows.csv", Body=b"1,2\n3,4\n")
    s3.put_object(Bucket=data, Key="main/train/labels.csv", Body=b"0\n1\n")
    s3.put_object(Bucket=data, Key="main/unused.csv", Body=b"never read")
    data_commit = api.commit(data, "main", "training data")["id"]
    child_env = {**env, "DATA_REPO": data}
    command = job(tmp_path, "train", TRAIN_JOB)
    result = weir(["run", models, "--merge", "--", *command], child_env)
    assert result.code == 0, result.stderr
    trained = last_run(api, models)
    assert [(i["repository"], i["commit"], i["paths"]) for i in trained["inputs"]] == [
        (data, data_commit, 2)
    ]
    shown = weir(["runs", "show", trained["id"], "--json"], env)
    assert shown.code == 0, shown.stderr
    detail = json.loads(shown.stdout)
    assert {o["path"] for o in detail["outputs"]} == {"model.bin", "params.json"}
    assert weir(["runs", "list", models], env).stdout.count(trained["id"]) == 1

    # data/main moves on; a rerun still reads the commit the original read.
    s3.put_object(Bucket=data, Key="main/train/rows.csv", Body=b"changed\n")
    api.commit(data, "main", "new data")
    again = weir(["rerun", trained["id"]], child_env)
    assert again.code == 0, again.stderr + again.stdout
    assert "2 same, 0 differs, 0 missing, 0 new" in again.stdout
    rerun = last_run(api, models)
    assert rerun["rerun_of"] == trained["id"] and rerun["comparison"]["same"] == 2
    assert rerun["inputs"][0]["commit"] == data_commit
    assert any(p["commit"] == data_commit for p in rerun["pins"])

    # A job made to be non-deterministic: the rerun reports which output differs.
    differs = weir(["rerun", trained["id"], "--json"], {**child_env, "NONDETERMINISTIC": "1"})
    assert differs.code == 1, differs.stderr
    report = json.loads(differs.stdout)
    verdicts = {row["path"]: row["verdict"] for row in report["comparison"]}
    assert verdicts == {"model.bin": "differs", "params.json": "same"}


FAILING_JOB = """
    import os, boto3
    boto3.client("s3").put_object(Bucket=os.environ["WEIR_REPO"], Key="main/half.txt", Body=b"h")
    raise SystemExit(3)
"""


def test_failure_keeps_the_source_branch_untouched(
    env: dict[str, str], s3: Any, api: AdminClient, tmp_path: Path
) -> None:
    repo = repo_name("fail")
    s3.create_bucket(Bucket=repo)
    command = job(tmp_path, "fail", FAILING_JOB)
    result = weir(["run", repo, "--name", "broken", "--merge", "--", *command], env)
    assert result.code == 3
    failed = last_run(api, repo)
    assert failed["status"] == "failed" and failed["exit_status"] == 3
    assert keys(s3, repo, "main/") == []
    # The run branch is kept with what the job wrote, uncommitted.
    assert [d["path"] for d in api.diff_uncommitted(repo, "runs/broken")] == ["half.txt"]

    # Killed by a signal: weir run exits 128+N, the run fails with the signal's name.
    killed = job(tmp_path, "killed", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    result = weir(["run", repo, "--name", "killed", "--", *killed], env)
    assert result.code == 128 + 9
    assert "SIGKILL" in last_run(api, repo)["error"]

    result = weir(["run", repo, "--name", "gone", "--discard-on-failure", "--", *command], env)
    assert result.code == 3
    assert "runs/gone" not in {b["id"] for b in api.list_branches(repo)}
    assert all(r["name"] != "gone" for r in RunsApi(api).list(repo))


WAITING_JOB = """
    import os, pathlib, signal, sys
    marker = pathlib.Path(os.environ["JOB_MARKER"])
    try:
        (marker.parent / "tmp").write_text("started")
        (marker.parent / "tmp").rename(marker)  # appears whole, once the handler is in place
        signal.pause()  # until the forwarded SIGINT arrives
    except KeyboardInterrupt:
        marker.write_text("interrupted")
        sys.exit(130)
"""


def _started(marker: Path) -> bool:
    try:
        return marker.read_text() == "started"
    except FileNotFoundError:
        return False


def test_ctrl_c_is_forwarded_and_fails_the_run(
    env: dict[str, str], s3: Any, api: AdminClient, tmp_path: Path
) -> None:
    repo = repo_name("sigint")
    s3.create_bucket(Bucket=repo)
    marker = tmp_path / "marker"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "run", repo, "--", *job(tmp_path, "wait", WAITING_JOB)],
        env={**env, "JOB_MARKER": str(marker)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: _started(marker) or proc.poll() is not None, "the job to start")
        proc.send_signal(signal.SIGINT)  # to weir run only: it must forward it to the job
        _, err = proc.communicate(timeout=DEADLINE)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert marker.read_text() == "interrupted"
    assert proc.returncode == 130, err.decode()
    failed = last_run(api, repo)
    assert failed["status"] == "failed" and "SIGINT" in failed["error"]


def test_credentials_expire_end_with_the_run_and_stay_within_grants(
    weir_server: WeirServer, s3: Any, api: AdminClient
) -> None:
    repo, secret = repo_name("exp"), repo_name("secret")
    for name in (repo, secret):
        s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=repo, Key="main/a", Body=b"a")
    api.commit(repo, "main", "a")
    runs = RunsApi(api)

    # Expiry (a crashed `weir run` stops renewing): refused, and the run shows expired.
    started = runs.start(repo, ["job"], ttl_seconds=1)
    creds = started["credentials"]
    client = _client_for(weir_server, creds)
    assert client.get_object(Bucket=repo, Key="main/a")["Body"].read() == b"a"

    def refused() -> bool:
        try:
            client.head_object(Bucket=repo, Key="main/a")
        except ClientError as exc:
            return exc.response["Error"]["Code"] in ("403", "InvalidAccessKeyId")
        return False

    wait_for(refused, "the run credential to expire", 30)
    assert runs.get(started["id"])["status"] == "expired"
    late = runs.finish(started["id"], 0)  # weir run came back too late: nothing is committed
    assert late["status"] == "expired" and not late["result_commit"]
    with pytest.raises(ApiError) as again:
        runs.finish(started["id"], 0)
    assert again.value.status == 409

    # After a run ends its credential is refused (403) on S3 and on the admin API.
    started = runs.start(repo, ["job"])
    client = _client_for(weir_server, started["credentials"])
    client.put_object(Bucket=repo, Key="main/b", Body=b"b")
    assert runs.finish(started["id"], 0)["status"] == "succeeded"
    with pytest.raises(ClientError) as after:
        client.get_object(Bucket=repo, Key="main/a")
    assert after.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    run_admin = AdminClient(
        weir_server.endpoint,
        started["credentials"]["access_key_id"],
        started["credentials"]["secret_access_key"],
    )
    with pytest.raises(ApiError) as admin_after:
        run_admin.list_branches(repo).__next__()
    assert admin_after.value.status == 401

    # A user's run can do no more than the user: another repository is refused.
    user = f"bob-{uuid.uuid4().hex[:6]}"
    api.create_user(user)
    key = api.create_key(user)
    api.add_grant(user, repo, "*", "commit")
    bob = RunsApi(AdminClient(weir_server.endpoint, key["access_key_id"], key["secret_access_key"]))
    with pytest.raises(ApiError) as denied:
        bob.start(secret, ["job"])
    assert denied.value.status == 403
    started = bob.start(repo, ["job"])
    client = _client_for(weir_server, started["credentials"])
    for call in (
        lambda: client.get_object(Bucket=secret, Key="main/x"),
        lambda: client.put_object(Bucket=secret, Key="main/x", Body=b"x"),
        lambda: client.create_bucket(Bucket=repo_name("new")),
    ):
        with pytest.raises(ClientError) as refused_call:
            call()
        assert refused_call.value.response["Error"]["Code"] == "AccessDenied"
    # Nor may the run credential mint itself a permanent key through the admin API.
    run_admin = AdminClient(
        weir_server.endpoint,
        started["credentials"]["access_key_id"],
        started["credentials"]["secret_access_key"],
    )
    with pytest.raises(ApiError) as minted:
        run_admin.create_key(user)
    assert minted.value.status == 403
    assert bob.finish(started["id"], 0)["status"] == "succeeded"


def _client_for(server: WeirServer, creds: Any) -> Any:
    import boto3  # type: ignore[import-untyped]
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=creds["access_key_id"],
        aws_secret_access_key=creds["secret_access_key"],
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def test_two_concurrent_runs_from_one_branch_are_isolated(
    weir_server: WeirServer, s3: Any, api: AdminClient
) -> None:
    repo = repo_name("twins")
    s3.create_bucket(Bucket=repo)
    s3.put_object(Bucket=repo, Key="main/in", Body=b"shared")
    api.commit(repo, "main", "in")
    runs = RunsApi(api)
    a, b = runs.start(repo, ["a"], name="a"), runs.start(repo, ["b"], name="b")
    ca, cb = _client_for(weir_server, a["credentials"]), _client_for(weir_server, b["credentials"])
    ca.put_object(Bucket=repo, Key="main/out", Body=b"from a")
    cb.put_object(Bucket=repo, Key="main/out", Body=b"from b")
    ca.put_object(Bucket=repo, Key="main/only-a", Body=b"a")
    assert ca.get_object(Bucket=repo, Key="main/out")["Body"].read() == b"from a"
    assert cb.get_object(Bucket=repo, Key="main/out")["Body"].read() == b"from b"
    with pytest.raises(ClientError):
        cb.get_object(Bucket=repo, Key="main/only-a")
    assert sorted(keys(cb, repo, "main/")) == ["main/in", "main/out"]
    # The root listing shows the branch names the job expects, nothing of the run branches.
    roots = ca.list_objects_v2(Bucket=repo, Delimiter="/").get("CommonPrefixes", [])
    assert [p["Prefix"] for p in roots] == ["main/"]
    assert keys(s3, repo, "main/") == ["main/in"]
    # The admin API maps the same way for the same credential.
    admin_a = AdminClient(
        weir_server.endpoint,
        a["credentials"]["access_key_id"],
        a["credentials"]["secret_access_key"],
    )
    listed = [o["path"] for o in admin_a.list_objects(repo, "main", delimiter="")]
    assert listed == ["in", "only-a", "out"]
    with admin_a.open_object(repo, "main", "out") as body:
        assert b"".join(body.chunks()) == b"from a"
    assert [b["id"] for b in admin_a.list_branches(repo)] == ["main"]
    with pytest.raises(ApiError) as refused:
        admin_a.create_branch(repo, "elsewhere", "main")
    assert refused.value.status == 403
    done = [runs.finish(a["id"], 0), runs.finish(b["id"], 0)]
    assert [d["status"] for d in done] == ["succeeded", "succeeded"]
    # Starting and finishing runs (the key's creation and revocation, the run's commit) are in
    # the audit trail like every other change made through the API.
    records = [r for r in api.audit(limit=500) if r.get("operation") in ("startRun", "finishRun")]
    assert len([r for r in records if r.get("repository") == repo]) == 2  # the two starts
    details = {r.get("detail", "") for r in records if r["operation"] == "finishRun"}
    for d in done:
        assert f"commit {d['result_commit']}" in details
