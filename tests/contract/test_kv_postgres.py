"""What only a shared, networked store has to get right, on a real PostgreSQL server.

The common contract (``test_kv_contract.py``) runs on PostgreSQL too. Here: several stores on
one database (as several gateways are), conflicts re-run and never lost, the schema's versions,
the database going away and coming back, and a writer killed mid-stream.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from gateway.core.errors import StorageError
from gateway.core.ports import KVReader, KVWriter
from gateway.meta import pg_notify, pg_schema
from gateway.meta.postgres_store import PostgresKVStore
from tests.contract.conftest import KVPgFactory
from tests.contract.test_kv_contract import _behind_gate, _put_one
from tests.support.postgres import PostgresServer, new_schema_name, start_postgres

REPO_ROOT = Path(__file__).resolve().parents[2]


async def test_group_commit_uses_one_transaction(kv_pg_factory: KVPgFactory) -> None:
    store = kv_pg_factory(max_batch_seconds=3600.0)
    before = store.commit_count
    results = await _behind_gate(store, [partial(_put_one, i) for i in range(64)])
    assert results == [i * 10 for i in range(64)]
    assert store.commit_count - before == 1  # the gate and all 64 writes: one commit
    single = kv_pg_factory(max_batch_ops=1)
    before = single.commit_count
    await _behind_gate(single, [partial(_put_one, i) for i in range(8)])
    assert single.commit_count - before == 9


def test_conflict_between_gateways_is_rerun_not_lost(kv_pg_factory: KVPgFactory) -> None:
    """Two stores on one schema: a transaction whose read was overwritten by the other store's
    commit fails to serialise and runs again on fresh data, even if it swallowed the error."""
    schema = new_schema_name()
    a = kv_pg_factory(schema)
    b = kv_pg_factory(schema)
    a.write_sync(lambda w: w.put(b"x", b"0"))
    read_done, b_done = threading.Event(), threading.Event()
    runs: list[int] = []

    def increment(w: KVWriter) -> int:
        value = int(w.get(b"x") or b"0")
        runs.append(value)
        if len(runs) == 1:  # first run: let the other gateway commit in between
            read_done.set()
            assert b_done.wait(30)
        try:
            w.put(b"x", b"%d" % (value + 1))
            assert w.get(b"x") == b"%d" % (value + 1)
        except Exception:
            pass  # a callback that swallows the database's error must not commit anyway
        return value + 1

    def other() -> None:
        assert read_done.wait(30)
        b.write_sync(lambda w: w.put(b"x", b"10"))
        b_done.set()

    thread = threading.Thread(target=other)
    thread.start()
    assert a.write_sync(increment) == 11
    thread.join(30)
    assert runs == [0, 10]
    assert b.read_sync(lambda r: r.get(b"x")) == b"11"
    assert a.retry_count >= 1


def test_concurrent_transfers_across_gateways_keep_the_invariant(
    kv_pg_factory: KVPgFactory,
) -> None:
    schema = new_schema_name()
    stores = [kv_pg_factory(schema) for _ in range(3)]
    stores[0].write_sync(lambda w: (w.put(b"x", b"1000"), w.put(b"y", b"0")))
    failures: list[BaseException] = []
    rounds = 30

    def transfer(w: KVWriter) -> None:
        x, y = int(w.get(b"x") or b"0"), int(w.get(b"y") or b"0")
        w.put(b"x", b"%d" % (x - 1))
        w.put(b"y", b"%d" % (y + 1))

    def total(r: KVReader) -> int:
        return sum(int(v) for _, v in r.scan(b""))

    def work(store: PostgresKVStore) -> None:
        try:
            for _ in range(rounds):
                store.write_sync(transfer)
                assert store.read_sync(total) == 1000
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in stores for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not failures
    moved = len(threads) * rounds
    assert stores[1].read_sync(lambda r: list(r.scan(b""))) == [
        (b"x", b"%d" % (1000 - moved)),
        (b"y", b"%d" % moved),
    ]


def _set_version(dsn: str, schema: str, version: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("INSERT INTO {} (version, name) VALUES (%s, 'future')").format(
                sql.Identifier(schema, "weir_migrations")
            ),
            (version,),
        )


def test_schema_is_created_versioned_and_checked(
    kv_pg_factory: KVPgFactory, pg_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = new_schema_name()
    store = kv_pg_factory(schema)
    store.write_sync(lambda w: w.put(b"k", b"v"))
    with psycopg.connect(pg_server.dsn, autocommit=True) as conn:
        assert pg_schema.current_version(conn, schema) == pg_schema.latest_version()
        assert pg_schema.migrate(conn, schema) == []  # nothing pending: nothing changes
    # A Weir whose code has one more migration refuses the schema until it is migrated.
    shipped = pg_schema.migrations()
    extra = pg_schema.Migration(len(shipped) + 1, "extra", "CREATE TABLE extra (x integer);")
    monkeypatch.setattr(pg_schema, "migrations", lambda: (*shipped, extra))
    with pytest.raises(StorageError, match="weir db migrate"):
        kv_pg_factory(schema)
    with psycopg.connect(pg_server.dsn, autocommit=True) as conn:
        assert [m.version for m in pg_schema.migrate(conn, schema)] == [extra.version]
    upgraded = kv_pg_factory(schema)
    assert upgraded.read_sync(lambda r: r.get(b"k")) == b"v"
    monkeypatch.undo()
    # A schema migrated by a newer Weir is refused by this one.
    with pytest.raises(StorageError, match="upgrade Weir"):
        kv_pg_factory(schema)
    other = new_schema_name()
    kv_pg_factory(other)
    _set_version(pg_server.dsn, other, pg_schema.latest_version() + 5)
    with pytest.raises(StorageError, match="newer"):
        kv_pg_factory(other)


async def test_large_values_and_many_keys_in_one_transaction(kv_pg_factory: KVPgFactory) -> None:
    store = kv_pg_factory()
    big = os.urandom(8 << 20)
    await store.write(lambda w: w.put(b"big", big))
    assert await store.read(lambda r: r.get(b"big")) == big
    n = 25_000  # over the view's flush threshold several times
    await store.write(lambda w: [w.put(b"m/%06d" % i, b"%d" % i) for i in range(n)])
    got = await store.read(lambda r: [k for k, _ in r.scan(b"m/", b"m0")])
    assert got == [b"m/%06d" % i for i in range(n)]
    rev = await store.read(lambda r: [k for k, _ in r.scan(b"m/", b"m0", reverse=True)])
    assert rev == got[::-1]


@pytest.mark.timeout(120)
def test_database_down_is_a_storage_error_and_recovery_is_automatic() -> None:
    server = start_postgres(prefix="weir-pg-fault-")
    try:
        store = PostgresKVStore(
            server.dsn, schema="weir", connect_timeout=1.0, retry_seconds=1.0, pool_size=2
        )
        try:
            store.write_sync(lambda w: w.put(b"before", b"1"))
            assert store.read_sync(lambda r: r.get(b"before")) == b"1"
            server.stop(mode="immediate", remove=False)
            with pytest.raises(StorageError, match="unavailable"):
                store.write_sync(lambda w: w.put(b"during", b"1"))
            with pytest.raises(StorageError, match="unavailable"):
                store.read_sync(lambda r: r.get(b"before"))
            server.start()
            # No restart of the store: broken connections are replaced as they are found.
            store.write_sync(lambda w: w.put(b"after", b"1"))
            assert store.read_sync(lambda r: list(r.scan(b""))) == [
                (b"after", b"1"),
                (b"before", b"1"),
            ]

            async def async_path() -> bytes | None:
                await store.write(lambda w: w.put(b"async", b"1"))
                return await store.read(lambda r: r.get(b"async"))

            assert asyncio.run(async_path()) == b"1"
        finally:
            store.close()
    finally:
        server.stop()


_CRASH_CHILD = """
import asyncio, sys
from gateway.meta.postgres_store import PostgresKVStore

async def main() -> None:
    store = PostgresKVStore(sys.argv[1], schema=sys.argv[2])
    tag = sys.argv[3].encode()

    def pair(i):
        pad = b"/" + b"L" * 2100 if i % 3 == 0 else b""  # some pairs use long keys
        def fn(w):
            w.put(tag + b"/a/%06d" % i + pad, b"%d" % i)
            w.put(tag + b"/b/%06d" % i + pad, b"%d" % i)
        return fn

    async def worker(first):
        for i in range(first, 20000, 16):
            await store.write(pair(i))
            sys.stdout.write("%d\\n" % i)
            sys.stdout.flush()

    await asyncio.gather(*(worker(w) for w in range(16)))

asyncio.run(main())
"""


@pytest.mark.timeout(180)
def test_acknowledged_writes_survive_a_killed_gateway(pg_server: PostgresServer) -> None:
    schema = new_schema_name()
    PostgresKVStore(pg_server.dsn, schema=schema).close()  # create the schema once
    rng = random.Random(11)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    for round_no in range(3):
        tag = b"r%d" % round_no
        kill_after = rng.randrange(1, 300)
        child = subprocess.Popen(
            [sys.executable, "-c", _CRASH_CHILD, pg_server.dsn, schema, tag.decode()],
            stdout=subprocess.PIPE,
            env=env,
        )
        acknowledged: list[int] = []
        try:
            assert child.stdout is not None
            while len(acknowledged) < kill_after:
                line = child.stdout.readline()
                assert line, "the child exited before the kill point"
                acknowledged.append(int(line))
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=60)
            assert child.stdout is not None
            child.stdout.close()
        store = PostgresKVStore(pg_server.dsn, schema=schema)
        try:
            rows = dict(store.read_sync(lambda r, t=tag: list(r.scan(t + b"/", t + b"0"))))
        finally:
            store.close()
        for i in acknowledged:
            pad = b"/" + b"L" * 2100 if i % 3 == 0 else b""
            assert rows[tag + b"/a/%06d" % i + pad] == rows[tag + b"/b/%06d" % i + pad]
        written = {int(v) for v in rows.values()}
        assert len(rows) == 2 * len(written)  # never one key of a pair without the other


def _wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    """Poll ``condition`` until it holds or ``seconds`` pass (a bounded wait, not a sleep)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def test_generation_reaches_other_gateways_within_the_bound(kv_pg_factory: KVPgFactory) -> None:
    """A touch committed by one store is seen by another one (NOTIFY) within the documented
    staleness bound (pg_notify.STALE_AFTER_S = 0.5 s), and by the writer itself at once."""
    schema = new_schema_name()
    a, b = kv_pg_factory(schema), kv_pg_factory(schema)
    assert b.generation("auth") == a.generation("auth") == 0
    for _ in range(5):
        assert _wait_for(lambda: b.generation("auth") >= 0, 10)  # b trusts its copy
        before = b.generation("auth")
        a.write_sync(lambda w: w.touch("auth"))
        mine = a.generation("auth")
        assert mine != before
        # The contract: within the bound, b no longer answers what it answered before (its
        # caches drop) -- with the new generation, or, if it cannot prove its copy fresh on a
        # loaded machine, with a value that changes at every call.
        assert _wait_for(lambda g=before: b.generation("auth") != g, pg_notify.STALE_AFTER_S * 2)
        assert _wait_for(lambda m=mine: b.generation("auth") == m, 10)
    assert b.generation("other") == 0


def test_generation_is_never_trusted_while_the_listener_is_cut_off() -> None:
    server = start_postgres(prefix="weir-pg-listen-")
    try:
        store = PostgresKVStore(server.dsn, connect_timeout=1.0, retry_seconds=1.0)
        try:
            store.write_sync(lambda w: w.touch("auth"))
            g = store.generation("auth")
            server.stop(mode="immediate", remove=False)
            # Within the bound, the copy can no longer be proven fresh: every call differs,
            # so every cache reads through (and finds the database down: 503).
            assert _wait_for(
                lambda: store.generation("auth") != store.generation("auth"),
                pg_notify.STALE_AFTER_S * 2,
            )
            server.start()
            # Reconnected: the table is read again and the copy is trusted again.
            assert _wait_for(lambda: store.generation("auth") == g, 10)
            store.write_sync(lambda w: w.touch("auth"))
            assert store.generation("auth") == g + 1
        finally:
            store.close()
    finally:
        server.stop()
