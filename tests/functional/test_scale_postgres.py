"""Several gateways on one PostgreSQL and one S3 store behave as one service.

Three ``weir serve`` processes (separate ports, standing in for separate machines) share one
metadata schema on a real PostgreSQL and one bucket on a real SeaweedFS (``tests/support/
cluster.py``). A write acknowledged by one is read, listed and deleted through the others at
once; concurrent commits and merges of one branch through different gateways lose nothing; a
key revoked through one gateway stops working on the others within the documented bound.
The conformance suite runs against the same setup behind a round-robin load balancer
(``WEIR_CONFORMANCE_TARGET=weir-cluster``, part of ``make test``).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3  # type: ignore[import-untyped]
import psycopg
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from gateway.client.api import AdminClient, ApiError
from tests.support.cluster import Cluster, shared_cluster, start_cluster
from tests.support.postgres import start_postgres

STALE_BOUND_S = 0.5  # gateway.meta.pg_notify.STALE_AFTER_S: documented in docs/deploy.md


@pytest.fixture(scope="module")
def cluster() -> Cluster:
    return shared_cluster()


def _admin(cluster: Cluster, i: int) -> AdminClient:
    return AdminClient(cluster.endpoints[i], cluster.access_key, cluster.secret_key)


@pytest.fixture
def repo(cluster: Cluster) -> Iterator[str]:
    name = f"scale-{uuid.uuid4().hex[:10]}"
    cluster.client(0).create_bucket(Bucket=name)
    yield name


def _wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)  # polling a condition, bounded by the deadline
    return True


def _commit(admin: AdminClient, repo: str, message: str) -> str | None:
    """Commit main; None when nothing was staged (another commit took it). A commit that lost
    the compare-and-swap race more often than the server retries (409) is retried, as a client
    would."""
    for _ in range(20):
        try:
            return str(admin.commit(repo, "main", message)["id"])
        except ApiError as exc:
            if exc.status == 400 and "no changes" in exc.message.lower():
                return None
            if exc.status != 409:
                raise
    raise AssertionError("commit kept losing the race")


def test_a_write_through_one_gateway_is_read_listed_and_deleted_through_the_others(
    cluster: Cluster, repo: str
) -> None:
    clients = [cluster.client(i) for i in range(len(cluster.endpoints))]
    n = len(clients)
    for i in range(12):
        writer, readers = clients[i % n], [clients[(i + k) % n] for k in range(1, n)]
        key = f"main/raw/{i:03d}.bin"
        body = uuid.uuid4().bytes * (1 + i * 700)  # inline (small) and blob-store sizes
        etag = writer.put_object(Bucket=repo, Key=key, Body=body)["ETag"]
        for r in readers:  # immediately, with no retry: read-after-write across gateways
            got = r.get_object(Bucket=repo, Key=key)
            assert got["ETag"] == etag and got["Body"].read() == body
            listed = r.list_objects_v2(Bucket=repo, Prefix="main/raw/")["Contents"]
            assert key in [o["Key"] for o in listed]
        if i % 3 == 0:
            writer.delete_object(Bucket=repo, Key=key)
            for r in readers:
                with pytest.raises(ClientError) as err:
                    r.head_object(Bucket=repo, Key=key)
                assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    # A branch created through one gateway is usable through another at once.
    _admin(cluster, 1).create_branch(repo, "dev", "main")
    clients[2].put_object(Bucket=repo, Key="dev/x", Body=b"x")
    assert clients[0].get_object(Bucket=repo, Key="dev/x")["Body"].read() == b"x"


def test_concurrent_writes_and_commits_through_all_gateways_lose_nothing(
    cluster: Cluster, repo: str
) -> None:
    n = len(cluster.endpoints)
    acknowledged: dict[str, str] = {}
    lock = threading.Lock()
    commits: list[str] = []
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        s3 = cluster.client(w % n)
        admin = _admin(cluster, (w + 1) % n)
        try:
            for i in range(24):
                key = f"w{w}/{i:03d}"
                body = f"{w}:{i}:{uuid.uuid4()}".encode()
                s3.put_object(Bucket=repo, Key=f"main/{key}", Body=body)
                with lock:
                    acknowledged[key] = hashlib.md5(body).hexdigest()
                if i % 6 == 5:  # commit what is staged, through another gateway
                    c = _commit(admin, repo, f"writer {w} at {i}")
                    if c is not None:
                        with lock:
                            commits.append(c)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert not errors, errors
    _commit(_admin(cluster, 0), repo, "the rest")
    committed = {
        o["Key"].removeprefix("main@/"): o["ETag"].strip('"')
        for page in cluster.client(2)
        .get_paginator("list_objects_v2")
        .paginate(Bucket=repo, Prefix="main@/")
        for o in page.get("Contents", [])
    }
    assert committed == acknowledged
    log = [c["id"] for c in _admin(cluster, 1).log(repo, "main", limit=1000)]
    assert set(commits) <= set(log)


def test_concurrent_merges_into_one_branch_through_different_gateways(
    cluster: Cluster, repo: str
) -> None:
    n = len(cluster.endpoints)
    branches = [f"feature-{k}" for k in range(6)]
    setup = _admin(cluster, 0)
    for k, b in enumerate(branches):
        setup.create_branch(repo, b, "main")
        s3 = cluster.client(k % n)
        for i in range(5):
            s3.put_object(Bucket=repo, Key=f"{b}/{b}/{i}", Body=f"{b}/{i}".encode())
        _admin(cluster, (k + 1) % n).commit(repo, b, f"work on {b}")
    start = threading.Barrier(len(branches))
    results: dict[str, Any] = {}

    def merge(k: int) -> None:
        admin = _admin(cluster, k % n)
        start.wait(30)
        for _ in range(20):  # a client retries a merge that lost the race (409 "moved")
            try:
                results[branches[k]] = admin.merge(repo, branches[k], "main")
                return
            except ApiError as exc:
                if exc.status != 409 or "moved" not in exc.message:
                    results[branches[k]] = exc
                    return
        results[branches[k]] = "gave up"

    with ThreadPoolExecutor(len(branches)) as pool:
        list(pool.map(merge, range(len(branches))))
    assert all(isinstance(r, dict) for r in results.values()), results
    keys = {
        o["Key"]
        for o in cluster.client(1).list_objects_v2(Bucket=repo, Prefix="main@/")["Contents"]
    }
    assert keys == {f"main@/{b}/{i}" for b in branches for i in range(5)}
    merges = [c for c in _admin(cluster, 2).log(repo, "main") if len(c["parents"]) == 2]
    assert len(merges) == len(branches)


def test_a_revoked_key_stops_working_on_every_gateway(cluster: Cluster, repo: str) -> None:
    admin = _admin(cluster, 0)
    user = f"u{uuid.uuid4().hex[:8]}"
    admin.create_user(user)
    grant = admin.add_grant(user, repo, "*", "read")
    key = admin.create_key(user)
    kid, secret = key["access_key_id"], key["secret_access_key"]
    cluster.client(0).put_object(Bucket=repo, Key="main/readme", Body=b"hi")
    clients = [
        boto3.client(
            "s3",
            endpoint_url=e,
            aws_access_key_id=kid,
            aws_secret_access_key=secret,
            region_name="us-east-1",
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                retries={"max_attempts": 1},
            ),
        )
        for e in cluster.endpoints
    ]
    for c in clients:  # every gateway has the key and the grant in its caches now
        assert c.get_object(Bucket=repo, Key="main/readme")["Body"].read() == b"hi"

    def refused(c: Any, code: str) -> bool:
        try:
            c.get_object(Bucket=repo, Key="main/readme")
        except ClientError as exc:
            return bool(exc.response["Error"]["Code"] == code)
        return False

    # A grant removed through gateway 1: every gateway denies within the staleness bound
    # (a bounded wait on the condition; the gateway that made the change denies at once).
    _admin(cluster, 1).remove_grant(user, grant["id"])
    assert refused(clients[1], "AccessDenied")
    for c in clients:
        assert _wait_for(lambda c=c: refused(c, "AccessDenied"), STALE_BOUND_S * 2)
    # The key revoked through gateway 2: every gateway refuses it.
    _admin(cluster, 2).revoke_key(user, kid)
    assert refused(clients[2], "InvalidAccessKeyId")
    for c in clients:
        assert _wait_for(lambda c=c: refused(c, "InvalidAccessKeyId"), STALE_BOUND_S * 2)


# -- faults ---------------------------------------------------------------------------------------


def _status(exc: ClientError) -> int:
    return int(exc.response["ResponseMetadata"]["HTTPStatusCode"])


def test_postgres_restart_mid_workload_is_503_then_recovers_losing_nothing(
    cluster: Cluster,
) -> None:
    pg = start_postgres(prefix="weir-pg-restart-")
    c = start_cluster(gateways=2, pg=pg, s3=cluster.s3)
    try:
        repo = f"restart-{uuid.uuid4().hex[:8]}"
        c.client(0).create_bucket(Bucket=repo)
        acked: dict[str, bytes] = {}
        statuses: Counter[int] = Counter()
        lock = threading.Lock()
        stop = threading.Event()

        def writer(w: int) -> None:
            s3 = c.client(w % 2, connect_timeout=5, read_timeout=30)
            for i in itertools.count():
                if stop.is_set():
                    return
                key, body = f"main/w{w}/{i:05d}", f"{w}-{i}-{uuid.uuid4()}".encode()
                try:
                    s3.put_object(Bucket=repo, Key=key, Body=body)
                    status = 200
                except ClientError as exc:
                    status = _status(exc)
                with lock:
                    statuses[status] += 1
                    if status == 200:
                        acked[key] = body

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(2)]
        for t in threads:
            t.start()
        try:
            assert _wait_for(lambda: len(acked) >= 20, 60)
            pg.stop(mode="immediate", remove=False)  # a crash: no clean shutdown
            # While it is down, requests fail with 503 (never 500, never a hang).
            assert _wait_for(lambda: statuses[503] >= 2, 60), statuses
            before = len(acked)
            pg.start()
            # They recover by themselves: no gateway is restarted.
            assert _wait_for(lambda: len(acked) >= before + 20, 60), statuses
        finally:
            stop.set()
            for t in threads:
                t.join(60)
        assert set(statuses) <= {200, 503}, statuses
        # Every acknowledged write is there: read through one gateway, listed through the other.
        s3 = c.client(0)
        for key, body in acked.items():
            assert s3.get_object(Bucket=repo, Key=key)["Body"].read() == body
        listed = {
            o["Key"]
            for page in c.client(1).get_paginator("list_objects_v2").paginate(Bucket=repo)
            for o in page.get("Contents", [])
        }
        assert listed >= set(acked)
        assert _commit(_admin(c, 1), repo, "after the restart") is not None
    finally:
        c.stop()
        pg.stop()


def _busy(conn: psycopg.Connection[Any], pid: int, role: str) -> bool:
    """Whether gateway process ``pid`` is inside a metadata transaction: its writer having
    written (``role`` "write": mid-publication) or a reader running a query ("read")."""
    where = "backend_xid IS NOT NULL" if role == "write" else "state = 'active'"
    row = conn.execute(
        f"SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND {where}",
        (f"weir-{role}/{pid}",),
    ).fetchone()
    return bool(row and row[0])


def _try_commit(admin: AdminClient, repo: str, message: str) -> None:
    with contextlib.suppress(Exception):  # the gateway is killed under it: no answer
        admin.commit(repo, "main", message)


def test_a_gateway_killed_mid_commit_publishes_all_or_nothing(cluster: Cluster, repo: str) -> None:
    n = len(cluster.endpoints)
    victim = n - 1
    staged: set[str] = set()
    writers = [cluster.client(i) for i in range(n - 1)]
    for round_no, moment in enumerate(["write", "read"]):
        keys = [f"r{round_no}/{i:04d}" for i in range(400)]

        def put(k: str) -> None:
            writers[hash(k) % len(writers)].put_object(Bucket=repo, Key=f"main/{k}", Body=k)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(put, keys))
        staged |= set(keys)
        head = _admin(cluster, 0).get_commit(repo, "main")["id"]
        proc = cluster.gateways[victim].proc
        assert proc is not None
        pid = proc.pid
        committing = threading.Thread(
            target=_try_commit, args=(_admin(cluster, victim), repo, f"round {round_no}")
        )
        committing.start()
        # SIGKILL it while its writer holds the publication transaction open, or while it
        # computes the commit (a reader busy): no chance to clean up. If the moment passed
        # unseen, it is killed after the commit: the outcome must be whole either way.
        with psycopg.connect(cluster.pg.dsn, autocommit=True) as conn:
            deadline = time.monotonic() + 30
            while committing.is_alive() and time.monotonic() < deadline:
                if _busy(conn, pid, moment):
                    break
        cluster.kill(victim)
        committing.join(60)
        # Seen from another gateway: the old head with everything still staged, or a new
        # commit holding everything -- never a part.
        admin = _admin(cluster, 0)
        now = admin.get_commit(repo, "main")["id"]
        committed = {
            o["Key"].removeprefix("main@/")
            for page in cluster.client(0)
            .get_paginator("list_objects_v2")
            .paginate(Bucket=repo, Prefix="main@/")
            for o in page.get("Contents", [])
        }
        uncommitted = {d["path"] for d in admin.diff_uncommitted(repo, "main")}
        if now == head:
            assert uncommitted >= set(keys) and not (committed & set(keys))
        else:
            assert committed >= set(keys) and not uncommitted
        cluster.start(victim)
    _commit(_admin(cluster, victim), repo, "the rest")
    final = {
        o["Key"].removeprefix("main@/")
        for page in cluster.client(victim)
        .get_paginator("list_objects_v2")
        .paginate(Bucket=repo, Prefix="main@/")
        for o in page.get("Contents", [])
    }
    assert final == staged
