"""Contract tests every ``KVStore`` passes (LMDB and memory), plus LMDB durability tests."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.core.errors import InvalidArgument, StorageError
from gateway.core.ports import KVReader, KVStore, KVWriter
from gateway.meta import MAX_KEY_BYTES
from gateway.meta.lmdb_store import LmdbKVStore
from tests.contract.conftest import KVLmdbFactory, KVStoreImpl

REPO_ROOT = Path(__file__).resolve().parents[2]


def _put_all(items: dict[bytes, bytes]) -> Callable[[KVWriter], None]:
    def fn(w: KVWriter) -> None:
        for k, v in items.items():
            w.put(k, v)

    return fn


def _all(r: KVReader) -> list[tuple[bytes, bytes]]:
    return list(r.scan(b""))


def _scan(
    store: KVStore, start: bytes, end: bytes | None = None, reverse: bool = False
) -> list[tuple[bytes, bytes]]:
    return store.read_sync(lambda r: list(r.scan(start, end, reverse=reverse)))


def _get(store: KVStore, key: object) -> bytes | None:
    return store.read_sync(lambda r: r.get(key))  # type: ignore[arg-type]


def _put(store: KVStore, key: object, value: object) -> None:
    store.write_sync(lambda w: w.put(key, value))  # type: ignore[arg-type]


class Boom(Exception):
    pass


# -- basic operations ------------------------------------------------------------------------


async def test_get_put_delete(kv_store: KVStoreImpl) -> None:
    assert kv_store.read_sync(lambda r: r.get(b"k")) is None
    kv_store.write_sync(lambda w: w.put(b"k", b"v1"))
    assert kv_store.read_sync(lambda r: r.get(b"k")) == b"v1"
    await kv_store.write(lambda w: w.put(b"k", b"v2"))
    assert await kv_store.read(lambda r: r.get(b"k")) == b"v2"
    assert await kv_store.write(lambda w: w.delete(b"k")) is True
    assert await kv_store.write(lambda w: w.delete(b"k")) is False
    assert kv_store.read_sync(lambda r: r.get(b"k")) is None
    kv_store.write_sync(lambda w: w.put(b"empty", b""))
    assert kv_store.read_sync(lambda r: r.get(b"empty")) == b""


def test_key_limits(kv_store: KVStoreImpl) -> None:
    longest = b"k" * MAX_KEY_BYTES
    kv_store.write_sync(lambda w: w.put(longest, b"v"))
    assert kv_store.read_sync(lambda r: r.get(longest)) == b"v"
    bad_keys: list[object] = [b"", b"k" * (MAX_KEY_BYTES + 1), "text", bytearray(b"k")]
    for bad in bad_keys:
        with pytest.raises(InvalidArgument):
            _put(kv_store, bad, b"v")
        with pytest.raises(InvalidArgument):
            _get(kv_store, bad)
    with pytest.raises(InvalidArgument):
        _put(kv_store, b"k", "text")
    assert kv_store.read_sync(_all) == [(longest, b"v")]


BINARY_KEYS = [
    b"\x00",
    b"\x00\x00",
    b"\x00\xff",
    b"a",
    b"a\x00",
    b"a\x00b",
    b"a\xff",
    b"ab",
    b"b",
    b"\xff",
    b"\xff\x00",
    b"\xff\xff",
    b"\xff\xff\xff",
]


def _expected(keys: list[bytes], start: bytes, end: bytes | None, reverse: bool) -> list[bytes]:
    inside = [k for k in sorted(keys) if k >= start and (end is None or k < end)]
    return inside[::-1] if reverse else inside


def test_scan_ranges_binary_keys(kv_store: KVStoreImpl) -> None:
    kv_store.write_sync(_put_all({k: k + b"=" for k in reversed(BINARY_KEYS)}))
    bounds: list[bytes] = [
        b"",
        b"\x00",
        b"\x01",
        b"a",
        b"a\x00",
        b"a\x01",
        b"b",
        b"\xff",
        b"\xff\xff",
    ]
    ends: list[bytes | None] = [None, *bounds, b"\xff\xff\xff\xff"]
    for start in bounds:
        for end in ends:
            for reverse in (False, True):
                got = _scan(kv_store, start, end, reverse)
                assert [k for k, _ in got] == _expected(BINARY_KEYS, start, end, reverse), (
                    start,
                    end,
                    reverse,
                )
                assert all(v == k + b"=" and type(k) is bytes and type(v) is bytes for k, v in got)


def test_empty_ranges(kv_store: KVStoreImpl) -> None:
    kv_store.write_sync(_put_all({b"a": b"1", b"b": b"2"}))
    for start, end in [(b"b", b"b"), (b"b", b"a"), (b"c", None), (b"a\x00", b"a\x01")]:
        for reverse in (False, True):
            assert _scan(kv_store, start, end, reverse) == []


def _long_key_corpus(rng: random.Random) -> list[bytes]:
    """Keys around LMDB's 511-byte limit and the long-key layout's 510/494-byte heads."""
    stems = [b"p" * 505, b"p" * 510, b"p" * 509 + b"q", b"S/repo\x00tok\x00" + b"d/" * 300]
    keys: set[bytes] = set()
    for _ in range(300):
        stem = rng.choice(stems)
        cut = rng.choice([rng.randrange(1, len(stem) + 1), len(stem)])
        tail_len = rng.choice([0, 1, 2, 5, 490, 494, 495, 600, 1100, 2000])
        tail = bytes(rng.choice(b"\x00ab\xff") for _ in range(tail_len))
        key = (stem[:cut] + tail)[:MAX_KEY_BYTES]
        keys.add(key)
    for n in (509, 510, 511, 512, 1004, 1005, 1006):
        keys.add(b"p" * n)
    return sorted(keys)


@pytest.mark.parametrize("seed", [1, 2])
def test_long_keys_keep_order(kv_store: KVStoreImpl, seed: int) -> None:
    rng = random.Random(seed)
    keys = _long_key_corpus(rng)
    kv_store.write_sync(
        _put_all({k: len(k).to_bytes(4, "big") for k in rng.sample(keys, len(keys))})
    )
    gone = set(rng.sample(keys, len(keys) // 3))
    kv_store.write_sync(lambda w: [w.delete(k) for k in gone])
    live = [k for k in keys if k not in gone]
    assert all(_get(kv_store, k) == len(k).to_bytes(4, "big") for k in live)
    assert all(_get(kv_store, k) is None for k in gone)
    bounds = [
        *rng.sample(keys, 40),
        *(k[: rng.randrange(0, len(k) + 1)] for k in rng.sample(keys, 40)),
        *(k + b"\x00" for k in rng.sample(keys, 20)),
        # cuts at the layout's head lengths (510 at the root, then 494 per level)
        *(k[:n] for k in rng.sample(keys, 30) for n in (509, 510, 511, 1004, 1005)),
        b"",
        b"\xff",
    ]
    for _ in range(150):
        start = rng.choice(bounds)
        end = rng.choice([None, *bounds])
        reverse = rng.random() < 0.5
        got = [k for k, _ in _scan(kv_store, start, end, reverse)]
        assert got == _expected(live, start, end, reverse)
    # Deleting every key, long ones included, leaves nothing behind.
    kv_store.write_sync(lambda w: [w.delete(k) for k in live])
    assert kv_store.read_sync(_all) == []
    assert kv_store.read_sync(lambda r: list(r.scan(b"", reverse=True))) == []


_STEMS = [b"p" * 510, b"p" * 509 + b"q", b"p" * 300, b"S/r\x00t\x00" + b"d/" * 260]
_long_keys = st.builds(
    lambda stem, cut, tail: (stem[:cut] + tail)[:MAX_KEY_BYTES] or b"p",
    st.sampled_from(_STEMS),
    st.sampled_from([1, 300, 509, 510]),
    st.sampled_from([b"", b"\x00", b"a", b"a" * 494, b"a" * 495, b"b" * 1000, b"a" * 494 + b"b"]),
)
_ops = st.lists(
    st.one_of(
        st.tuples(st.just("put"), _long_keys),
        st.tuples(st.just("delete"), _long_keys),
        st.tuples(st.just("scan"), _long_keys),
    ),
    max_size=25,
)


def test_long_keys_mixed_in_one_txn_match_a_model(kv_store: KVStoreImpl) -> None:
    """Puts, deletes and scans interleaved inside one write callback, against a dict."""

    @settings(max_examples=60, deadline=None, derandomize=True)
    @given(ops=_ops)
    def check(ops: list[tuple[str, bytes]]) -> None:
        kv_store.write_sync(lambda w: [w.delete(k) for k, _ in list(w.scan(b""))])
        model: dict[bytes, bytes] = {}

        def fn(w: KVWriter) -> None:
            for n, (op, key) in enumerate(ops):
                if op == "put":
                    w.put(key, b"%d" % n)
                    model[key] = b"%d" % n
                elif op == "delete":
                    assert w.delete(key) is (model.pop(key, None) is not None)
                else:
                    for lo, hi in ((key[:509], key), (key, None), (key[:510], key + b"b")):
                        for reverse in (False, True):
                            got = [k for k, _ in w.scan(lo, hi, reverse=reverse)]
                            assert got == _expected(list(model), lo, hi, reverse)
                assert w.get(key) == model.get(key)
            assert list(w.scan(b"")) == sorted(model.items())

        kv_store.write_sync(fn)
        assert kv_store.read_sync(_all) == sorted(model.items())
        assert _scan(kv_store, b"", None, True) == sorted(model.items(), reverse=True)

    check()


def test_lmdb_long_key_markers_are_cleaned(kv_lmdb_factory: KVLmdbFactory) -> None:
    store = kv_lmdb_factory()
    keys = [b"x" * 600 + bytes([i]) * 700 for i in range(5)] + [b"y" * 1500]
    store.write_sync(_put_all(dict.fromkeys(keys, b"v")))
    store.write_sync(lambda w: [w.delete(k) for k in keys])
    with store._env.begin() as txn:  # white box: both databases are empty again
        assert txn.stat(store._db)["entries"] == 0
        assert txn.stat(store._long_db)["entries"] == 0


# -- transactions ----------------------------------------------------------------------------


async def test_read_your_writes(kv_store: KVStoreImpl) -> None:
    kv_store.write_sync(_put_all({b"a": b"1", b"c": b"3"}))
    long_key = b"L" * 1200

    def fn(w: KVWriter) -> list[tuple[bytes, bytes]]:
        w.put(b"b", b"2")
        w.put(long_key, b"long")
        assert w.get(b"b") == b"2"
        assert w.get(long_key) == b"long"
        assert w.delete(b"a") is True
        assert w.get(b"a") is None
        w.put(b"c", b"33")
        return list(w.scan(b""))

    expected = [(long_key, b"long"), (b"b", b"2"), (b"c", b"33")]
    assert await kv_store.write(fn) == expected
    assert kv_store.read_sync(_all) == expected


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_failing_write_leaves_nothing(kv_store: KVStoreImpl, mode: str) -> None:
    kv_store.write_sync(_put_all({b"keep": b"1", b"gone": b"2"}))
    before = kv_store.read_sync(_all)
    error = Boom("no")

    def fn(w: KVWriter) -> None:
        w.put(b"new", b"x")
        w.put(b"keep", b"changed")
        w.delete(b"gone")
        w.put(b"N" * 900, b"long")
        raise error

    with pytest.raises(Boom) as caught:
        if mode == "sync":
            kv_store.write_sync(fn)
        else:
            await kv_store.write(fn)
    assert caught.value is error
    assert kv_store.read_sync(_all) == before


async def test_scan_while_deleting_in_same_txn(kv_store: KVStoreImpl) -> None:
    keys = [b"k%03d" % i for i in range(50)] + [b"k" + b"z" * 700 + b"%d" % i for i in range(5)]
    kv_store.write_sync(_put_all(dict.fromkeys(keys, b"v")))

    def drain(w: KVWriter) -> list[bytes]:
        seen = []
        for k, _ in w.scan(b"k"):
            seen.append(k)
            w.delete(k)
        return seen

    assert await kv_store.write(drain) == sorted(keys)
    assert kv_store.read_sync(_all) == []


def test_view_unusable_after_callback(kv_store: KVStoreImpl) -> None:
    kv_store.write_sync(lambda w: w.put(b"a", b"1"))
    reader = kv_store.read_sync(lambda r: r)
    with pytest.raises(RuntimeError):
        reader.get(b"a")
    scan = kv_store.read_sync(lambda r: r.scan(b""))
    with pytest.raises(RuntimeError):
        list(scan)
    writer = kv_store.write_sync(lambda w: w)
    with pytest.raises(RuntimeError):
        writer.put(b"b", b"2")


def test_nested_write_is_refused(kv_store: KVStoreImpl) -> None:
    def fn(w: KVWriter) -> None:
        kv_store.write_sync(lambda inner: inner.put(b"x", b"1"))

    with pytest.raises(RuntimeError):
        kv_store.write_sync(fn)
    assert kv_store.read_sync(_all) == []


def test_snapshot_isolation(kv_store: KVStoreImpl) -> None:
    kv_store.write_sync(_put_all({b"a": b"1", b"b": b"1"}))

    def writer() -> None:
        kv_store.write_sync(_put_all({b"a": b"2", b"b": b"2", b"c": b"2"}))

    def fn(r: KVReader) -> tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]]:
        first = list(r.scan(b""))
        thread = threading.Thread(target=writer)
        thread.start()
        thread.join(timeout=30)
        assert not thread.is_alive()
        return first, list(r.scan(b""))

    first, second = kv_store.read_sync(fn)
    assert first == second == [(b"a", b"1"), (b"b", b"1")]
    assert kv_store.read_sync(_all) == [(b"a", b"2"), (b"b", b"2"), (b"c", b"2")]


# -- concurrency -----------------------------------------------------------------------------


async def test_async_calls_run_off_the_loop(kv_store: KVStoreImpl) -> None:
    loop_thread = threading.get_ident()
    assert await kv_store.write(lambda w: threading.get_ident()) != loop_thread
    assert await kv_store.read(lambda r: threading.get_ident()) != loop_thread


def _put_one(i: int, w: KVWriter) -> int:
    w.put(b"c%04d" % i, b"%d" % i)
    return i * 10


async def test_concurrent_async_writes_all_land(kv_store: KVStoreImpl) -> None:
    n = 200
    results = await asyncio.gather(*(kv_store.write(partial(_put_one, i)) for i in range(n)))
    assert results == [i * 10 for i in range(n)]
    assert kv_store.read_sync(_all) == [(b"c%04d" % i, b"%d" % i) for i in range(n)]


async def _behind_gate(store: KVStore, fns: list[Callable[[KVWriter], object]]) -> list[object]:
    """Run ``fns`` while a first write holds the writer, so they all queue up together.

    Asyncio runs ready tasks in creation order: each write task reaches its ``await`` (and so
    has been queued) before the gate task, created last, releases the first write.
    """
    entered, release = threading.Event(), threading.Event()

    def hold(w: KVWriter) -> str:
        entered.set()
        assert release.wait(timeout=60)
        w.put(b"gate", b"1")
        return "gate"

    first = asyncio.create_task(store.write(hold))
    assert await asyncio.to_thread(entered.wait, 60)
    tasks = [asyncio.create_task(store.write(fn)) for fn in fns]

    async def open_gate() -> None:
        release.set()

    await asyncio.create_task(open_gate())
    assert await first == "gate"
    return list(await asyncio.gather(*tasks, return_exceptions=True))


async def test_group_commit_uses_fewer_commits(
    kv_lmdb_factory: KVLmdbFactory, tmp_path: Path
) -> None:
    store = kv_lmdb_factory(max_batch_seconds=3600.0)  # bound batches by count only
    n = 64
    before = store.commit_count
    results = await _behind_gate(store, [partial(_put_one, i) for i in range(n)])
    assert results == [i * 10 for i in range(n)]
    assert store.commit_count - before == 1  # the gate and all n writes: one batch
    assert store.commit_count - before < n
    # With grouping off, every write is its own commit.
    single = kv_lmdb_factory(tmp_path / "single", max_batch_ops=1)
    before = single.commit_count
    await _behind_gate(single, [partial(_put_one, i) for i in range(8)])
    assert single.commit_count - before == 9


async def _noop() -> None:
    pass


async def test_write_cancelled_before_it_starts_does_not_happen(kv_store: KVStoreImpl) -> None:
    entered, release = threading.Event(), threading.Event()

    def hold(w: KVWriter) -> None:
        entered.set()
        assert release.wait(timeout=60)

    first = asyncio.create_task(kv_store.write(hold))
    assert await asyncio.to_thread(entered.wait, 60)
    doomed = asyncio.create_task(kv_store.write(lambda w: w.put(b"doomed", b"1")))
    after = asyncio.create_task(kv_store.write(lambda w: w.put(b"after", b"1")))
    await asyncio.create_task(_noop())  # created last: runs after both queued their writes
    doomed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await doomed
    release.set()
    await first
    await after
    assert kv_store.read_sync(_all) == [(b"after", b"1")]


async def test_failing_write_in_a_batch_is_alone(kv_store: KVStoreImpl) -> None:
    errors = [Boom(str(i)) for i in range(3)]

    def ok(i: int, w: KVWriter) -> int:
        w.put(b"ok%d" % i, b"1")
        return i

    def bad(i: int, w: KVWriter) -> None:
        w.put(b"bad%d" % i, b"1")
        w.put(b"ok0", b"overwritten")
        raise errors[i]

    fns: list[Callable[[KVWriter], object]] = [
        partial(ok, 0),
        partial(bad, 0),
        partial(ok, 1),
        partial(bad, 1),
        partial(bad, 2),
        partial(ok, 2),
    ]
    before = kv_store.commit_count
    results = await _behind_gate(kv_store, fns)
    assert results == [0, errors[0], 1, errors[1], errors[2], 2]
    assert results[1] is errors[0]
    if isinstance(kv_store, LmdbKVStore):
        assert kv_store.commit_count - before <= 2  # gate batch + at most one more
    assert kv_store.read_sync(_all) == [
        (b"gate", b"1"),
        (b"ok0", b"1"),
        (b"ok1", b"1"),
        (b"ok2", b"1"),
    ]


def test_many_threads_serialise_writes(kv_store: KVStoreImpl) -> None:
    """Threads move units between two keys; every snapshot sees the same total."""
    kv_store.write_sync(_put_all({b"x": b"1000", b"y": b"0"}))
    threads, rounds = 6, 40
    failures: list[BaseException] = []
    loop = asyncio.new_event_loop()
    loop_thread = threading.Thread(target=loop.run_forever)
    loop_thread.start()

    def transfer(w: KVWriter) -> None:
        x, y = int(w.get(b"x") or b"0"), int(w.get(b"y") or b"0")
        w.put(b"x", b"%d" % (x - 1))
        w.put(b"y", b"%d" % (y + 1))

    def total(r: KVReader) -> int:
        return sum(int(v) for _, v in r.scan(b""))

    def work(t: int) -> None:
        try:
            for i in range(rounds):
                if (t + i) % 2:
                    kv_store.write_sync(transfer)
                else:
                    asyncio.run_coroutine_threadsafe(kv_store.write(transfer), loop).result(60)
                assert kv_store.read_sync(total) == 1000
        except BaseException as exc:
            failures.append(exc)

    try:
        workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
        for th in workers:
            th.start()
        for th in workers:
            th.join(timeout=120)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        loop_thread.join(timeout=30)
        loop.close()
    assert not failures
    moved = threads * rounds
    assert kv_store.read_sync(_all) == [(b"x", b"%d" % (1000 - moved)), (b"y", b"%d" % moved)]


# -- lifecycle and failures ------------------------------------------------------------------


async def test_close_is_idempotent_and_final(kv_store: KVStoreImpl) -> None:
    kv_store.write_sync(lambda w: w.put(b"a", b"1"))
    kv_store.close()
    kv_store.close()
    with pytest.raises(StorageError):
        kv_store.read_sync(_all)
    with pytest.raises(StorageError):
        await kv_store.write(lambda w: w.put(b"b", b"2"))
    with pytest.raises(StorageError):
        await kv_store.read(_all)


async def test_lmdb_close_finishes_queued_writes_and_reopens(
    kv_lmdb_factory: KVLmdbFactory, tmp_path: Path
) -> None:
    path = tmp_path / "persist"
    store = kv_lmdb_factory(path)
    long_key = b"P" * 2000
    store.write_sync(_put_all({b"a": b"1", long_key: b"long"}))
    pending = [asyncio.create_task(store.write(partial(_put_one, i))) for i in range(20)]
    # Created last, so it starts after every write task has queued its write (FIFO tasks).
    await asyncio.create_task(asyncio.to_thread(store.close))
    assert [await p for p in pending] == [i * 10 for i in range(20)]
    reopened = kv_lmdb_factory(path)
    got = reopened.read_sync(_all)
    assert (b"a", b"1") in got and (long_key, b"long") in got
    assert len(got) == 22


async def test_lmdb_map_full_is_a_storage_error(kv_lmdb_factory: KVLmdbFactory) -> None:
    store = kv_lmdb_factory(map_size=1 << 20)
    big = b"z" * (2 << 20)
    with pytest.raises(StorageError):
        await store.write(lambda w: w.put(b"big", big))
    with pytest.raises(StorageError):
        store.write_sync(lambda w: w.put(b"big", big))
    # The writer thread survived and the store still works.
    await store.write(lambda w: w.put(b"small", b"1"))
    assert store.read_sync(_all) == [(b"small", b"1")]


# -- crash durability (LMDB) -----------------------------------------------------------------

_CRASH_CHILD = """
import asyncio, sys
from pathlib import Path
from gateway.meta.lmdb_store import LmdbKVStore

async def main() -> None:
    store = LmdbKVStore(Path(sys.argv[1]), map_size=1 << 30)
    tag = sys.argv[2].encode()

    def pair(i):
        pad = b"/" + b"L" * 700 if i % 3 == 0 else b""  # some pairs use long keys
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


def _crash_keys(tag: bytes, i: int) -> tuple[bytes, bytes]:
    pad = b"/" + b"L" * 700 if i % 3 == 0 else b""
    return tag + b"/a/%06d" % i + pad, tag + b"/b/%06d" % i + pad


@pytest.mark.timeout(180)
def test_lmdb_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "crash"
    rng = random.Random(7)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    for round_no in range(4):
        tag = b"r%d" % round_no
        kill_after = rng.randrange(1, 400)
        child = subprocess.Popen(
            [sys.executable, "-c", _CRASH_CHILD, str(path), tag.decode()],
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
        store = LmdbKVStore(path)
        try:
            rows = dict(_scan(store, tag + b"/", tag + b"0"))
        finally:
            store.close()
        for i in acknowledged:
            a, b = _crash_keys(tag, i)
            assert rows.get(a) == rows.get(b) == b"%d" % i
        written = {int(v) for v in rows.values()}
        for i in written:  # all-or-nothing: never one key of a pair without the other
            a, b = _crash_keys(tag, i)
            assert a in rows and b in rows
        assert len(rows) == 2 * len(written)


# -- cross-process cache invalidation: touch / generation --------------------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_generation_changes_exactly_when_a_touching_write_commits(
    kv_store: KVStoreImpl, mode: str
) -> None:
    async def write(fn: Callable[[KVWriter], object]) -> object:
        return kv_store.write_sync(fn) if mode == "sync" else await kv_store.write(fn)

    assert kv_store.generation("auth") == 0  # never touched
    g0 = kv_store.generation("auth")

    def change(w: KVWriter) -> None:
        w.put(b"u/alice", b"1")
        w.touch("auth")

    await write(change)
    g1 = kv_store.generation("auth")
    assert g1 != g0
    assert kv_store.generation("auth") == g1  # stable while nothing touches it
    assert kv_store.generation("other") == 0  # topics are independent
    await write(lambda w: w.put(b"x", b"1"))  # a write that does not touch the topic
    assert kv_store.generation("auth") == g1

    def touch_only(w: KVWriter) -> None:
        w.touch("auth")
        w.touch("auth")  # twice in one transaction is fine

    await write(touch_only)
    g2 = kv_store.generation("auth")
    assert g2 not in (g0, g1)

    def failing(w: KVWriter) -> None:
        w.put(b"u/bob", b"1")
        w.touch("auth")
        raise Boom("rolled back")

    with pytest.raises(Boom):
        await write(failing)
    assert kv_store.generation("auth") == g2  # a rolled-back touch changes nothing
    # The counters are the store's own: no scan, of any range, ever sees them.
    assert kv_store.read_sync(_all) == [(b"u/alice", b"1"), (b"x", b"1")]


async def test_generation_in_a_group_commit_batch(kv_store: KVStoreImpl) -> None:
    def ok(topic: str, w: KVWriter) -> None:
        w.put(topic.encode(), b"1")
        w.touch(topic)

    def bad(topic: str, w: KVWriter) -> None:
        w.touch(topic)
        raise Boom(topic)

    fns: list[Callable[[KVWriter], object]] = [
        partial(ok, "a"),
        partial(bad, "b"),
        partial(ok, "c"),
        partial(bad, "a"),
    ]
    results = await _behind_gate(kv_store, fns)
    assert [type(r) for r in results] == [type(None), Boom, type(None), Boom]
    assert kv_store.generation("a") != 0
    assert kv_store.generation("b") == 0  # only failed callbacks touched it
    assert kv_store.generation("c") != 0


def test_generation_topic_limits(kv_store: KVStoreImpl) -> None:
    longest = "t" * 200
    kv_store.write_sync(lambda w: w.touch(longest))
    assert kv_store.generation(longest) != 0
    for bad in ["", "t" * 201, b"bytes"]:
        with pytest.raises(InvalidArgument):
            kv_store.generation(bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgument):
            kv_store.write_sync(lambda w, t=bad: w.touch(t))  # type: ignore[misc]
    kv_store.close()
    with pytest.raises(StorageError):
        kv_store.generation("auth")


async def test_generation_is_read_without_waiting_for_the_writer(kv_store: KVStoreImpl) -> None:
    """A request checks its caches while a long batch holds the writer: it must not wait."""
    kv_store.write_sync(lambda w: w.touch("auth"))
    g = kv_store.generation("auth")
    entered, release = threading.Event(), threading.Event()

    def hold(w: KVWriter) -> None:
        w.touch("auth")
        entered.set()
        assert release.wait(timeout=60)

    held = asyncio.create_task(kv_store.write(hold))
    assert await asyncio.to_thread(entered.wait, 60)
    assert kv_store.generation("auth") == g  # uncommitted: not visible, and no blocking
    release.set()
    await held
    assert kv_store.generation("auth") != g


_TOUCH_CHILD = """
import sys
from pathlib import Path
from gateway.meta.lmdb_store import LmdbKVStore

store = LmdbKVStore(Path(sys.argv[1]), map_size=1 << 30)
for line in sys.stdin:  # one touching transaction per line; answer once it is durable
    topic = line.strip()
    store.write_sync(lambda w: (w.put(b"by-child/" + topic.encode(), b"1"), w.touch(topic)))
    print(store.generation(topic), flush=True)
store.close()
"""


def test_lmdb_generation_is_seen_by_another_process(kv_lmdb_factory: KVLmdbFactory) -> None:
    """Two processes on one environment (as ``weir serve --workers``): a touch committed by
    one is seen by the other's very next ``generation`` call, with no delay."""
    store = kv_lmdb_factory()
    path = store._env.path()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", _TOUCH_CHILD, path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert child.stdin is not None and child.stdout is not None
        seen = [store.generation("auth")]
        for _ in range(5):
            child.stdin.write("auth\n")
            child.stdin.flush()
            theirs = int(child.stdout.readline())
            ours = store.generation("auth")  # immediately after the child acknowledged
            assert ours == theirs
            assert ours not in seen
            seen.append(ours)
        store.write_sync(lambda w: w.touch("auth"))  # and the other way round
        child.stdin.write("other\n")
        child.stdin.flush()
        assert int(child.stdout.readline()) == 1
        assert store.generation("other") == 1
        child.stdin.close()
        assert child.wait(timeout=60) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=60)
