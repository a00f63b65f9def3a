"""The audit trail: records ride in the changing transaction, the chain catches tampering on
disk (altered, deleted, reordered records) at the right position, and queries filter and page."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import msgpack
import pytest

from gateway.audit import log
from gateway.audit.kv import AuditedKV
from gateway.core import audit, keys
from gateway.core.errors import Conflict
from gateway.core.lake import Lake
from gateway.core.ports import KVReader, KVWriter
from gateway.meta.lmdb_store import LmdbKVStore
from gateway.meta.memory_store import MemoryKVStore
from gateway.storage.memory import MemoryBlobStore
from tests.unit.lake_helpers import put


def records(kv: AuditedKV) -> list[log.Record]:
    return list(reversed(kv.read_sync(lambda r: log.query(r, limit=1000)).records))


def scope(op: str, repo: str = "", user: str = "alice") -> audit.Scope:
    return audit.Scope(
        api="admin",
        operation=op,
        repository=repo,
        user=user,
        access_key_id="AKIAALICE",
        address="10.0.0.7",
        request_id="R1",
    )


async def test_a_record_commits_with_its_change_and_only_with_it() -> None:
    kv = AuditedKV(MemoryKVStore())
    with audit.scope(scope("setThing")):
        await kv.write(lambda w: w.put(b"x/1", b"v"))

        def fails(w: KVWriter) -> None:
            w.put(b"x/2", b"v")
            raise Conflict("no")

        with pytest.raises(Conflict):
            await kv.write(fails)
        with audit.housekeeping():
            await kv.write(lambda w: w.put(b"x/3", b"v"))
    await kv.write(lambda w: w.put(b"x/4", b"v"))  # no scope: not an API operation
    assert kv.read_sync(lambda r: [k for k, _ in r.scan(b"x/", b"x0")]) == [b"x/1", b"x/3", b"x/4"]
    (rec,) = records(kv)
    assert rec.seq == 1 and rec.prev == log.GENESIS
    assert dict(rec.fields) == {
        "api": "admin",
        "operation": "setThing",
        "user": "alice",
        "access_key_id": "AKIAALICE",
        "address": "10.0.0.7",
        "request_id": "R1",
        "result": "ok",
    }


async def test_one_record_per_lake_operation_with_what_it_made() -> None:
    kv = AuditedKV(MemoryKVStore())
    lake = Lake(kv, MemoryBlobStore())
    with audit.scope(scope("createRepository", "data")):
        await lake.create_repository("data")
    with audit.scope(scope("upload", "data")):
        await put(lake, "data", "main", "a", b"x" * 100)
    with audit.scope(scope("commit", "data")):
        c = await lake.commit("data", "main", message="m", committer="alice")
    with audit.scope(scope("deleteRepository", "data")):
        await lake.delete_repository("data")  # purges in the background: housekeeping
    await lake.drain()
    got = [(r.fields["operation"], r.fields.get("detail", "")) for r in records(kv)]
    assert got[0] == ("createRepository", "repository data")
    assert got[1][0] == "upload" and got[1][1].startswith("object ")
    assert got[2] == ("commit", f"commit {c.id}")
    assert got[3][0] == "deleteRepository" and len(got) == 4
    assert log.verify(kv).ok


def _chain(path: Path, n: int) -> None:
    store = AuditedKV(LmdbKVStore(path))
    try:
        for i in range(1, n + 1):
            with audit.scope(scope(f"op{i}", repo=f"repo{i % 3}", user=f"u{i % 2}")):
                store.write_sync(lambda w, i=i: w.put(b"x/%d" % i, b"v"))
    finally:
        store.close()


def _tamper(path: Path, change: Callable[[KVWriter], None]) -> log.Verdict:
    raw = LmdbKVStore(path)
    try:
        raw.write_sync(change)
        return log.verify(raw)
    finally:
        raw.close()


def _rewrite_user(w: KVWriter, seq: int, user: str) -> None:
    version, s, prev, when, body = msgpack.unpackb(w.get(keys.audit_record(seq)))
    body["user"] = user
    w.put(keys.audit_record(seq), msgpack.packb([version, s, prev, when, body]))


def test_tampering_on_disk_is_caught_at_its_position(tmp_path: Path) -> None:
    pristine = tmp_path / "pristine"
    _chain(pristine, 10)
    raw = LmdbKVStore(pristine)
    assert log.verify(raw) == log.Verdict(10, raw.read_sync(log.head)[1])
    raw.close()

    def case(name: str, change: Callable[[KVWriter], None]) -> log.Verdict:
        copy = tmp_path / name
        shutil.copytree(pristine, copy)
        return _tamper(copy, change)

    altered = case("altered", lambda w: _rewrite_user(w, 4, "mallory"))
    assert (altered.broken_at, altered.ok) == (5, False)
    assert "does not chain to record 4" in altered.reason

    deleted = case("deleted", lambda w: w.delete(keys.audit_record(6)))
    assert (deleted.broken_at, deleted.reason) == (6, "record 6 is missing")

    def swap(w: KVWriter) -> None:
        a, b = w.get(keys.audit_record(3)), w.get(keys.audit_record(7))
        assert a is not None and b is not None
        w.put(keys.audit_record(3), b)
        w.put(keys.audit_record(7), a)

    reordered = case("reordered", swap)
    assert reordered.broken_at == 3 and "reordered" in reordered.reason

    truncated = case("truncated", lambda w: w.delete(keys.audit_record(10)))
    assert (truncated.broken_at, truncated.reason) == (10, "record 10 is missing")

    last = case("last", lambda w: _rewrite_user(w, 10, "mallory"))
    assert last.broken_at == 10 and "does not match the head" in last.reason

    garbage = case("garbage", lambda w: w.put(keys.audit_record(2), b"\x01\x02"))
    assert garbage.broken_at == 2 and "record 2" in garbage.reason


def test_queries_filter_by_repository_user_and_time_and_page() -> None:
    kv = AuditedKV(MemoryKVStore())
    for i in range(1, 31):

        def put_one(w: KVWriter, i: int = i) -> None:
            log.append(
                w,
                {"operation": f"op{i}", "repository": f"r{i % 3}", "user": f"u{i % 2}"},
                now=1000.0 + i,
            )

        kv.inner.write_sync(put_one)

    def q(**kw: object) -> list[int]:
        page = kv.read_sync(lambda r: log.query(r, **kw))  # type: ignore[arg-type]
        return [rec.seq for rec in page.records]

    assert q(limit=3) == [30, 29, 28]
    assert q(repository="r0", user="u1", limit=100) == [27, 21, 15, 9, 3]
    assert q(since=1025.0, limit=100) == [30, 29, 28, 27, 26, 25]
    assert q(since=1010.0, until=1012.0, limit=100) == [12, 11, 10]
    first = kv.read_sync(lambda r: log.query(r, repository="r1", limit=2))
    assert [x.seq for x in first.records] == [28, 25] and first.next_before == 25
    second = kv.read_sync(lambda r: log.query(r, repository="r1", limit=2, before=25))
    assert [x.seq for x in second.records] == [22, 19]
    cut = kv.read_sync(lambda r: log.query(r, repository="r2", limit=100, budget=4))
    assert [x.seq for x in cut.records] == [29] and cut.next_before == 27
    assert kv.read_sync(lambda r: log.query(r, limit=5, since=5000.0)).records == []


def test_time_never_decreases_along_the_chain() -> None:
    kv = MemoryKVStore()
    a = kv.write_sync(lambda w: log.append(w, {"operation": "a"}, now=2000.0))
    b = kv.write_sync(lambda w: log.append(w, {"operation": "b"}, now=1000.0))  # clock went back
    assert b.time == a.time == 2000.0 and b.prev == a.hash
    assert log.verify(kv).ok


def test_every_writer_of_the_server_goes_through_the_audited_store(tmp_path: Path) -> None:
    from gateway.admin.routing import LAKE as ADMIN_LAKE  # noqa: F401  (import check)
    from gateway.config import load_settings
    from gateway.server import LAKE, USERS, build_app

    settings = load_settings(environ={}, overrides={"data_dir": str(tmp_path)})
    app = build_app(settings)
    kv = app[LAKE].kv
    assert isinstance(kv, AuditedKV)
    assert app[USERS]._kv is kv  # users, keys and grants

    def reader(r: KVReader) -> int:
        return log.head(r)[0]

    assert kv.read_sync(reader) == 0
    kv.close()


async def test_requests_record_failures_and_writes_that_lost_the_scope() -> None:
    import asyncio

    from gateway.audit.requests import UNSCOPED, request_scope

    kv = AuditedKV(MemoryKVStore())
    s = scope("refused")
    with pytest.raises(Conflict):
        async with request_scope(kv, s):
            raise Conflict("nope")
    anonymous = audit.Scope(api="s3", operation="PutObject")  # never authenticated
    with pytest.raises(Conflict):
        async with request_scope(kv, anonymous):
            raise Conflict("who?")
    lost = scope("startSomething")
    async with request_scope(kv, lost):
        loop = asyncio.get_running_loop()  # a plain executor does not carry the scope
        await loop.run_in_executor(None, lambda: kv.write_sync(lambda w: w.put(b"x", b"1")))
    got = [(r.fields["operation"], r.fields["result"], r.fields.get("detail")) for r in records(kv)]
    assert got == [
        ("refused", "error", "Conflict: nope"),
        ("startSomething", "ok", UNSCOPED),
    ]
