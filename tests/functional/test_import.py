"""Zero-copy import, end to end: a real Weir imports a prefix of a real SeaweedFS bucket.

Weir reads the source through the fault-injecting proxy (``tests/support/faulty_proxy.py``), which
counts the requests: an import lists, it never reads an object. Weir keeps its own blobs on local
disk here (the source bucket is foreign to it). Clients: Weir's admin client, the ``weir`` CLI,
lakeFS's own ``lakefs`` client, boto3 for S3 reads.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import lakefs
import pytest
from botocore.exceptions import ClientError

from gateway.client.api import AdminClient, ApiError
from gateway.client.imports import ImportsApi
from tests.cli.conftest import run
from tests.cli.weir_e2e import cli_env, ok
from tests.functional.conftest import WeirServer, run_weir
from tests.support import weir_backend
from tests.support.faulty_proxy import Fault, ProxyThread
from tests.support.s3servers import S3Server

MiB = 1 << 20
N = 240  # objects under the imported prefix


def content(i: int, size: int = 1000) -> bytes:
    return hashlib.shake_256(f"object {i}".encode()).digest(size)


def source_key(i: int) -> str:
    return f"events/day={i % 4}/part-{i:05d}.bin"


@pytest.fixture(scope="module")
def source() -> Iterator[tuple[S3Server, str]]:
    """A bucket of the session's SeaweedFS with N objects under ``events/`` and a large one."""
    sfs = weir_backend.seaweedfs()
    bucket = f"import-src-{os.getpid()}"
    client = sfs.client()
    client.create_bucket(Bucket=bucket)
    for i in range(N):
        client.put_object(Bucket=bucket, Key=source_key(i), Body=content(i))
    client.put_object(Bucket=bucket, Key="events/large.bin", Body=content(-1, 3 * MiB))
    client.put_object(Bucket=bucket, Key="other/ignored.bin", Body=b"not under the prefix")
    yield sfs, bucket


def weir_env(endpoint: str, sfs: S3Server, **extra: str) -> dict[str, str]:
    return {
        "WEIR_STORAGE_BACKEND": "local",
        "WEIR_STORAGE_S3_ENDPOINT_URL": endpoint,
        "WEIR_STORAGE_S3_ACCESS_KEY_ID": sfs.access_key_id,
        "WEIR_STORAGE_S3_SECRET_ACCESS_KEY": sfs.secret_access_key,
        "WEIR_STORAGE_S3_MAX_ATTEMPTS": "3",
        "WEIR_IMPORTS_LEASE_S": "2",
        **extra,
    }


@pytest.fixture(scope="module")
def weir(
    source: tuple[S3Server, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[WeirServer, ProxyThread]]:
    sfs, _ = source
    proxy = ProxyThread(sfs.endpoint_url)
    root = tmp_path_factory.mktemp("import")
    try:
        with run_weir(
            root / "data", root / "server.log", env_extra=weir_env(proxy.endpoint, sfs)
        ) as server:
            yield server, proxy
    finally:
        proxy.close()


def api(server: WeirServer) -> ImportsApi:
    return ImportsApi(AdminClient(server.endpoint, server.access_key, server.secret_key))


def wait_done(imports: ImportsApi, repo: str, branch: str, import_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        status = imports.status(repo, branch, import_id)
        if status["state"] != "running":
            return dict(status)
        assert time.monotonic() < deadline, status
        time.sleep(0.1)  # polling a condition with a bounded deadline


def make_repo(server: WeirServer, name: str) -> Any:
    s3 = server.boto3_client()
    s3.create_bucket(Bucket=name)
    return s3


def test_import_is_one_commit_of_entries_pointing_at_the_source(
    weir: tuple[WeirServer, ProxyThread], source: tuple[S3Server, str]
) -> None:
    server, proxy = weir
    proxy.clear()
    sfs, bucket = source
    s3 = make_repo(server, "imp-basic")
    imports = api(server)
    before = proxy.proxy.requests
    counted = proxy.inject(Fault("delay", "GET", "list-type", count=10**6, seconds=0.0))
    import_id = imports.start(
        "imp-basic",
        "main",
        [("common_prefix", f"s3://{bucket}/events/", "raw/")],
        message="Take over the events",
        metadata={"ticket": "DATA-7"},
    )
    status = wait_done(imports, "imp-basic", "main", import_id)
    assert status["state"] == "completed" and status["completed"], status
    assert status["ingested_objects"] == N + 1
    commit = status["commit"]
    assert commit["message"] == "Take over the events"
    assert commit["metadata"]["ticket"] == "DATA-7"
    assert commit["metadata"]["import_id"] == import_id
    # Listing only: every request the import made was a listing page, no object was read.
    assert proxy.proxy.requests - before == counted.fired
    # Zero-copy: Weir stored no blob.
    blobs = list((server.data_dir / "blobs" / "blobs").rglob("*"))
    assert [b for b in blobs if b.is_file()] == []

    pages = s3.get_paginator("list_objects_v2").paginate(Bucket="imp-basic", Prefix="main/raw/")
    keys = {o["Key"]: o for page in pages for o in page.get("Contents", [])}
    assert len(keys) == N + 1
    head = sfs.client().head_object(Bucket=bucket, Key=source_key(7))
    got = s3.get_object(Bucket="imp-basic", Key="main/raw/" + source_key(7)[len("events/") :])
    assert got["Body"].read() == content(7)
    assert got["ETag"] == head["ETag"]
    assert keys["main/raw/" + source_key(7)[len("events/") :]]["Size"] == 1000
    # The large object streams from the source, ranges too.
    large = s3.get_object(Bucket="imp-basic", Key="main/raw/large.bin", Range="bytes=1000-2000999")
    assert large["Body"].read() == content(-1, 3 * MiB)[1000:2001000]
    assert s3.get_object(Bucket="imp-basic", Key="main/raw/large.bin")["Body"].read() == content(
        -1, 3 * MiB
    )
    # Nothing outside the prefix, and the branch's own staging is untouched (nothing staged).
    assert "main/raw/ignored.bin" not in keys
    listed = imports.list("imp-basic")
    assert [j["id"] for j in listed] == [import_id]


def test_changed_or_deleted_sources_are_refused_naming_the_import(
    weir: tuple[WeirServer, ProxyThread], source: tuple[S3Server, str]
) -> None:
    server, proxy = weir
    proxy.clear()
    sfs, bucket = source
    s3 = make_repo(server, "imp-changed")
    imports = api(server)
    client = sfs.client()
    client.put_object(Bucket=bucket, Key="mutable/a.bin", Body=b"original a" * 1000)
    client.put_object(Bucket=bucket, Key="mutable/b.bin", Body=b"original b" * 1000)
    client.put_object(Bucket=bucket, Key="mutable/c.bin", Body=b"original c" * 1000)
    import_id = imports.start(
        "imp-changed", "main", [("common_prefix", f"s3://{bucket}/mutable/", "")]
    )
    assert wait_done(imports, "imp-changed", "main", import_id)["state"] == "completed"
    client.put_object(Bucket=bucket, Key="mutable/a.bin", Body=b"changed a" * 1000)
    client.delete_object(Bucket=bucket, Key="mutable/b.bin")
    for key in ("main/a.bin", "main/b.bin"):
        with pytest.raises(ClientError) as info:
            s3.get_object(Bucket="imp-changed", Key=key)["Body"].read()
        err = info.value.response
        assert err["ResponseMetadata"]["HTTPStatusCode"] == 412
        assert err["Error"]["Code"] == "PreconditionFailed"
        assert import_id in err["Error"]["Message"]
    assert s3.get_object(Bucket="imp-changed", Key="main/c.bin")["Body"].read() == (
        b"original c" * 1000
    )
    # The admin API says the same, as JSON.
    admin = AdminClient(server.endpoint, server.access_key, server.secret_key)
    with pytest.raises(ApiError) as api_err:
        admin.open_object("imp-changed", "main", "a.bin").close()
    assert api_err.value.status == 412 and import_id in str(api_err.value)


def test_imported_entries_diff_merge_and_copy_like_any_other(
    weir: tuple[WeirServer, ProxyThread], source: tuple[S3Server, str]
) -> None:
    server, proxy = weir
    proxy.clear()
    _, bucket = source
    s3 = make_repo(server, "imp-merge")
    s3.put_object(Bucket="imp-merge", Key="main/readme.txt", Body=b"hello")
    admin = AdminClient(server.endpoint, server.access_key, server.secret_key)
    admin.commit("imp-merge", "main", "readme")
    admin.create_branch("imp-merge", "landing", "main")
    imports = api(server)
    first = imports.start(
        "imp-merge", "landing", [("common_prefix", f"s3://{bucket}/events/", "ev/")]
    )
    assert wait_done(imports, "imp-merge", "landing", first)["state"] == "completed"
    added = list(admin.diff_refs("imp-merge", "main", "landing"))
    assert len(added) == N + 1 and {d["type"] for d in added} == {"added"}
    admin.merge("imp-merge", "landing", "main")
    s3.copy_object(
        Bucket="imp-merge",
        Key="main/copied.bin",
        CopySource={"Bucket": "imp-merge", "Key": "main/ev/" + source_key(3)[len("events/") :]},
    )
    assert s3.get_object(Bucket="imp-merge", Key="main/copied.bin")["Body"].read() == content(3)
    # Importing the unchanged source again changes nothing: identity is the source, its ETag
    # and size, not the import that brought it in.
    again = imports.start("imp-merge", "main", [("common_prefix", f"s3://{bucket}/events/", "ev/")])
    status = wait_done(imports, "imp-merge", "main", again)
    assert status["state"] == "completed" and "commit" not in status, status


def test_lakefs_client_imports(
    weir: tuple[WeirServer, ProxyThread], source: tuple[S3Server, str]
) -> None:
    server, proxy = weir
    proxy.clear()
    _, bucket = source
    make_repo(server, "imp-lakefs")
    client = lakefs.Client(
        host=server.endpoint, username=server.access_key, password=server.secret_key
    )
    branch = lakefs.Repository("imp-lakefs", client=client).branch("main")
    manager = branch.import_data(commit_message="via lakefs", metadata={"by": "lakefs"})
    manager.prefix(f"s3://{bucket}/events/day=1/", "day1/").object(
        f"s3://{bucket}/events/large.bin", "big/large.bin"
    )
    status = manager.run(poll_interval=timedelta(seconds=0.2))
    assert status.completed
    assert status.ingested_objects == N // 4 + 1
    assert status.commit is not None and status.commit.message == "via lakefs"
    obj = branch.object("big/large.bin")
    assert obj.stat().size_bytes == 3 * MiB


def test_cancel_leaves_nothing(
    weir: tuple[WeirServer, ProxyThread], source: tuple[S3Server, str]
) -> None:
    server, proxy = weir
    proxy.clear()
    _, bucket = source
    s3 = make_repo(server, "imp-cancel")
    imports = api(server)
    proxy.inject(Fault("delay", "GET", "list-type", count=10**6, seconds=30))
    import_id = imports.start(
        "imp-cancel", "main", [("common_prefix", f"s3://{bucket}/events/", "")]
    )
    imports.cancel("imp-cancel", "main", import_id)
    status = wait_done(imports, "imp-cancel", "main", import_id)
    assert status["state"] == "cancelled" and not status["completed"]
    assert status["error"]["message"] == "cancelled"
    proxy.clear()
    assert s3.list_objects_v2(Bucket="imp-cancel", Prefix="main/").get("KeyCount", 0) == 0
    with pytest.raises(ApiError) as info:  # a finished import cannot be cancelled again...
        imports.cancel("imp-cancel", "main", "no-such-import")
    assert info.value.status == 404


def test_a_killed_server_resumes_its_import(source: tuple[S3Server, str], tmp_path: Path) -> None:
    """SIGKILL mid-listing; the restarted server takes the job over (lease expired) and
    finishes it from its cursor: one commit with every object exactly once."""
    sfs, bucket = source
    proxy = ProxyThread(sfs.endpoint_url)
    # Pages of 40 keys: the listing takes 7 pages, each slowed down; the kill comes after one.
    env = weir_env(proxy.endpoint, sfs, WEIR_SERVER_WORKERS="1", WEIR_IMPORTS_LIST_PAGE_SIZE="40")
    try:
        with run_weir(tmp_path / "data", tmp_path / "one.log", env_extra=env) as server:
            make_repo(server, "imp-resume")
            imports = api(server)
            slow = proxy.inject(Fault("delay", "GET", "list-type", count=10**6, seconds=0.5))
            import_id = imports.start(
                "imp-resume", "main", [("common_prefix", f"s3://{bucket}/events/", "")]
            )
            deadline = time.monotonic() + 60
            staged = 0
            while staged == 0:
                assert time.monotonic() < deadline
                time.sleep(0.05)  # polling a condition with a bounded deadline
                staged = imports.status("imp-resume", "main", import_id)["ingested_objects"]
            os.kill(server.pid, signal.SIGKILL)
            assert slow.fired >= 1
            assert staged < N + 1  # interrupted half-way through the listing
        proxy.clear()
        with run_weir(tmp_path / "data", tmp_path / "two.log", env_extra=env) as server:
            imports = api(server)
            status = wait_done(imports, "imp-resume", "main", import_id)
            assert status["state"] == "completed", status
            assert status["ingested_objects"] == N + 1
            s3 = server.boto3_client()
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket="imp-resume")
            assert sum(len(p.get("Contents", [])) for p in pages) == N + 1
    finally:
        proxy.close()


def test_cli_import(
    weir: tuple[WeirServer, ProxyThread], source: tuple[S3Server, str], tmp_path: Path
) -> None:
    server, proxy = weir
    proxy.clear()
    _, bucket = source
    make_repo(server, "imp-cli")
    env = cli_env(server, tmp_path)
    source_url = f"s3://{bucket}/events/day=2/"
    argv = ["import", "imp-cli", "main", source_url, "--dest", "d2/", "--commit-message", "cli"]
    done = ok([*argv, "--meta", "team=data"], env)
    assert f"imported {N // 4} objects into imp-cli/main: commit " in done.stdout
    listed = ok(["import", "imp-cli", "--list"], env)
    assert "completed" in listed.stdout and "day=2" in listed.stdout
    failed = run(["import", "imp-cli", "main", "s3://no-such-bucket-here/x/"], env)
    assert failed.code == 1 and "failed" in failed.stderr, failed.stderr
