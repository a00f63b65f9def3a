"""An in-memory ``KVStore`` for unit tests: same semantics as LMDB, no durability.

The committed state is an immutable snapshot (a sorted key list and a dict). A reader keeps the
snapshot current when its callback started, so reads never block and never see a half-applied
write. A writer records its changes in an overlay (value, or None for a deletion) over the
snapshot it started from; when its callback returns, a new snapshot is built from the two and
published with one reference assignment. If the callback raises, the overlay is dropped. Writes
are serialised by one lock. Publishing copies the snapshot: O(n) per write, fine for tests.
"""

from __future__ import annotations

import asyncio
import heapq
import threading
import weakref
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from gateway.core.errors import StorageError
from gateway.core.ports import KVReader, KVWriter
from gateway.meta.limits import check_bound, check_key, check_topic, check_value

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Snapshot:
    keys: list[bytes]  # sorted; never mutated once published
    data: dict[bytes, bytes]  # never mutated once published


class _MemoryReader:
    """A ``KVReader`` over one snapshot; invalid once its callback returns."""

    __slots__ = ("_live", "_snap")

    def __init__(self, snap: _Snapshot) -> None:
        self._snap = snap
        self._live = True

    def invalidate(self) -> None:
        self._live = False

    def _check(self) -> None:
        if not self._live:
            raise RuntimeError("a KV reader/writer was used outside the callback that received it")

    def get(self, key: bytes) -> bytes | None:
        """Value stored under ``key``, or None."""
        check_key(key)
        self._check()
        return self._snap.data.get(key)

    def scan(
        self, start: bytes, end: bytes | None = None, *, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        """Pairs with ``start <= key < end`` (``end=None``: to the end), in key order
        (descending when ``reverse``)."""
        check_bound(start)
        if end is not None:
            check_bound(end)
        self._check()
        if end is not None and end <= start:
            return iter(())
        return self._scan(start, end, reverse)

    def _scan(
        self, start: bytes, end: bytes | None, reverse: bool
    ) -> Iterator[tuple[bytes, bytes]]:
        keys, data = self._snap.keys, self._snap.data
        lo = bisect_left(keys, start)
        hi = len(keys) if end is None else bisect_left(keys, end)
        for i in range(hi - 1, lo - 1, -1) if reverse else range(lo, hi):
            self._check()
            yield keys[i], data[keys[i]]


class _MemoryWriter(_MemoryReader):
    """A ``KVWriter``: the snapshot it started from plus an overlay of its own changes.

    A scan steps key by key, looking up the next key in both the snapshot and the overlay each
    time, so changes made while iterating are seen from the cursor onwards (as in LMDB).
    """

    __slots__ = ("_changed", "_overlay", "touched")

    def __init__(self, snap: _Snapshot) -> None:
        super().__init__(snap)
        self._overlay: dict[bytes, bytes | None] = {}
        self._changed: list[bytes] = []  # the overlay's keys, sorted
        self.touched: list[str] = []  # topics to bump once this transaction is published

    def get(self, key: bytes) -> bytes | None:
        """Value stored under ``key`` (seeing this transaction's writes), or None."""
        check_key(key)
        self._check()
        if key in self._overlay:
            return self._overlay[key]
        return self._snap.data.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        """Store ``value`` under ``key``."""
        check_key(key)
        check_value(value)
        self._check()
        self._record(key, value)

    def delete(self, key: bytes) -> bool:
        """Delete ``key``; return whether it existed."""
        existed = self.get(key) is not None
        if existed:
            self._record(key, None)
        return existed

    def touch(self, topic: str) -> None:
        """Mark ``topic`` changed; its generation is bumped when this transaction commits."""
        check_topic(topic)
        self._check()
        self.touched.append(topic)

    def _record(self, key: bytes, value: bytes | None) -> None:
        if key not in self._overlay:
            insort(self._changed, key)
        self._overlay[key] = value

    def _scan(
        self, start: bytes, end: bytes | None, reverse: bool
    ) -> Iterator[tuple[bytes, bytes]]:
        keys, data, changed, overlay = (
            self._snap.keys,
            self._snap.data,
            self._changed,
            self._overlay,
        )
        bound: bytes | None = None  # the last key visited: the next one is strictly beyond it
        while True:
            self._check()
            cands: list[bytes] = []
            if reverse:
                limit = end if bound is None else bound
                i = len(keys) if limit is None else bisect_left(keys, limit)
                j = len(changed) if limit is None else bisect_left(changed, limit)
                if i:
                    cands.append(keys[i - 1])
                if j:
                    cands.append(changed[j - 1])
                if not cands:
                    return
                key = max(cands)
                if key < start:
                    return
            else:
                i = bisect_left(keys, start) if bound is None else bisect_right(keys, bound)
                j = bisect_left(changed, start) if bound is None else bisect_right(changed, bound)
                if i < len(keys):
                    cands.append(keys[i])
                if j < len(changed):
                    cands.append(changed[j])
                if not cands:
                    return
                key = min(cands)
                if end is not None and key >= end:
                    return
            bound = key
            value = overlay[key] if key in overlay else data[key]
            if value is not None:
                yield key, value

    def publish(self) -> _Snapshot | None:
        """The snapshot with this transaction's changes applied (None: nothing changed)."""
        if not self._overlay:
            return None
        base_keys, data = self._snap.keys, dict(self._snap.data)
        added: list[bytes] = []
        removed: set[bytes] = set()
        for key in self._changed:
            value = self._overlay[key]
            if value is None:
                if data.pop(key, None) is not None:
                    removed.add(key)
            else:
                if key not in data:
                    added.append(key)
                data[key] = value
        if not added and not removed:
            return _Snapshot(base_keys, data)
        kept = [k for k in base_keys if k not in removed] if removed else base_keys
        return _Snapshot(list(heapq.merge(kept, added)), data)


class MemoryKVStore:
    """``KVStore`` in memory. Thread-safe; for tests (nothing survives the process).

    Guarantees: those of ``KVStore``, except durability. Reads run on the snapshot current
    when they start and never block; writes are serialised and all-or-nothing; async writes
    from one event loop run in call order. Keys are 1 to ``MAX_KEY_BYTES`` bytes, as in every
    store.

    The store owns no threads (tests create many stores and rarely close them): the async forms
    run in the event loop's default executor, and async writes queue on a per-loop
    ``asyncio.Lock`` first, so that waiting writers hold no executor thread.

    Attributes:
        commit_count: write transactions that changed something.
    """

    inline_reads = True  # reads are in-memory lookups: no I/O wait

    def __init__(self) -> None:
        self._snap = _Snapshot([], {})
        self._write_lock = threading.Lock()
        self._tls = threading.local()
        self._loop_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]
        self._loop_locks = weakref.WeakKeyDictionary()
        self._loop_locks_guard = threading.Lock()
        self._closed = False
        self._generations: dict[str, int] = {}
        self.commit_count = 0

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("the metadata store is closed")

    def read_sync(self, fn: Callable[[KVReader], T]) -> T:
        """Run ``fn`` on the current snapshot, in the calling thread."""
        self._check_open()
        reader = _MemoryReader(self._snap)
        try:
            return fn(reader)
        finally:
            reader.invalidate()

    def write_sync(self, fn: Callable[[KVWriter], T]) -> T:
        """Run ``fn`` in a write transaction in the calling thread; all-or-nothing.

        Raises:
            Whatever ``fn`` raised (nothing it wrote is kept); RuntimeError when called inside
            a write callback; StorageError when the store is closed.
        """
        self._check_open()
        return self._write(fn)

    def _write(self, fn: Callable[[KVWriter], T]) -> T:
        if getattr(self._tls, "in_write", False):
            raise RuntimeError("a metadata write was started inside a write callback")
        with self._write_lock:
            writer = _MemoryWriter(self._snap)
            self._tls.in_write = True
            try:
                value = fn(writer)
            finally:
                writer.invalidate()
                self._tls.in_write = False
            published = writer.publish()
            if published is not None:
                self._snap = published
                self.commit_count += 1
            # After the snapshot is published: whoever sees the new generation sees the data.
            for topic in writer.touched:
                self._generations[topic] = self._generations.get(topic, 0) + 1
            return value

    def generation(self, topic: str) -> int:
        """``topic``'s committed generation (bumped after the touching write is published)."""
        check_topic(topic)
        self._check_open()
        return self._generations.get(topic, 0)

    async def read(self, fn: Callable[[KVReader], T]) -> T:
        """Run ``fn`` on the current snapshot in a worker thread (never on the event loop)."""
        self._check_open()
        return await asyncio.get_running_loop().run_in_executor(None, self.read_sync, fn)

    async def write(self, fn: Callable[[KVWriter], T]) -> T:
        """Run ``fn`` in a write transaction in a worker thread (never on the event loop).

        A write already waiting when ``close`` is called still runs.
        """
        self._check_open()
        loop = asyncio.get_running_loop()
        with self._loop_locks_guard:
            lock = self._loop_locks.setdefault(loop, asyncio.Lock())
        async with lock:
            return await loop.run_in_executor(None, self._write, fn)

    def close(self) -> None:
        """Refuse new calls (those already started finish). Idempotent."""
        self._closed = True
