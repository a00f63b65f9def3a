"""``KVReader``/``KVWriter`` over one LMDB transaction, with keys longer than LMDB allows.

LMDB (as built by py-lmdb) compares keys of at most 511 bytes; the engine's keys reach about
1.2 KB (a 1024-byte object path inside a path-log key). Hashing the tail of a long key would
break ordering, so long keys are stored as a trie of *groups*, which keeps every scan in key
order without ever loading a group into memory:

* The store is split into *levels*. A level is a namespace ``ns`` inside one LMDB database and
  a head length ``p``. Level 0 is the ``kv`` database with ``ns = b""`` and ``p = 510``; every
  deeper level lives in the ``kv_long`` database under a 16-byte ``ns``, with ``p = 494``.
* A key ``k`` (relative to its level) of at most ``p`` bytes is stored as ``ns + k``.
* A longer key is split into its head ``x = k[:p]`` and tail ``k[p:]``. The level records a
  *marker* row ``ns + x + b"\\0"`` (value ``b""``), and the tail is stored, recursively, in the
  child level ``ns' = blake2b(ns + x)`` of ``kv_long``.

Every physical key is at most 511 bytes, and a physical key is a marker exactly when it is 511
bytes long. A marker sorts after the plain key ``x`` and before every plain key greater than
``x`` of at most ``p`` bytes (such a key differs from ``x`` within the first ``p`` bytes), which
is exactly where the keys ``x + tail`` belong; so walking a level in physical order and
descending into a child level at each marker yields keys in logical order, forwards or
backwards. A marker is deleted with the last key of its group. The cost of a key longer than
510 bytes is one extra B-tree lookup per 494 bytes of length.

Deleting keys while iterating a scan of the same write transaction is safe (LMDB fixes up open
cursors); a key written ahead of a running scan may or may not be yielded by it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import lmdb

from gateway.core.errors import StorageError
from gateway.meta.limits import check_bound, check_key, check_topic, check_value

if TYPE_CHECKING:
    from lmdb import _Database

LMDB_MAX_KEY = 511  # mdb_env_get_maxkeysize() of the bundled LMDB; checked when a store opens
_NS_LEN = 16
_MARKER_LEN = LMDB_MAX_KEY
_ROOT_P = LMDB_MAX_KEY - 1  # 510: keys up to this length are stored as they are
_LONG_P = LMDB_MAX_KEY - _NS_LEN - 1  # 494
_MARK = b"\x00"

_SKIP = 0  # the group lies entirely on the far side of the scan's starting bound
_STOP = 1  # the group lies entirely beyond the scan's finishing bound
_Range = tuple[bytes, bytes | None]
_GEN = b"gen/"  # generation counters live in the ``meta`` database: invisible to scans


def generation_key(topic: str) -> bytes:
    """The ``meta``-database key of ``topic``'s generation counter (a big-endian u64)."""
    return _GEN + check_topic(topic)


def decode_generation(raw: bytes | None) -> int:
    return 0 if raw is None else int.from_bytes(raw, "big")


def _child_ns(ns: bytes, head: bytes) -> bytes:
    return hashlib.blake2b(ns + head, digest_size=_NS_LEN, person=b"weir-kv-group").digest()


def _ns_end(ns: bytes) -> bytes | None:
    """The smallest byte string above every key starting with ``ns`` (None: no such string)."""
    b = bytearray(ns)
    while b and b[-1] == 0xFF:
        b.pop()
    if not b:
        return None
    b[-1] += 1
    return bytes(b)


def _group_range(head: bytes, p: int, start: bytes, end: bytes | None) -> _Range | int:
    """The sub-range of the group ``head + tail`` (tail non-empty) that ``[start, end)`` covers.

    Returns ``(sub_start, sub_end)`` on tails, ``_SKIP`` when every key of the group is below
    ``start`` or ``_STOP`` when every key of the group is at or above ``end``.
    """
    if len(start) > p and start[:p] == head:
        sub_start = start[p:]
    elif start <= head:
        sub_start = b""
    else:
        return _SKIP
    if end is None:
        sub_end = None
    elif len(end) > p and end[:p] == head:
        sub_end = end[p:]
    elif end <= head:
        return _STOP
    else:
        sub_end = None
    return sub_start, sub_end


class LmdbTxnView:
    """A ``KVWriter`` (or, on a read-only transaction, a ``KVReader``) over one LMDB txn.

    Not thread-safe: used by the one thread that runs the callback. Invalid once the callback
    that received it returns (every method then raises RuntimeError).
    """

    __slots__ = ("_db", "_long", "_meta", "_txn")

    def __init__(
        self,
        txn: lmdb.Transaction[bytes],
        db: _Database,
        long_db: _Database,
        meta_db: _Database,
    ) -> None:
        self._txn: lmdb.Transaction[bytes] | None = txn
        self._db = db
        self._long = long_db
        self._meta = meta_db

    def invalidate(self) -> None:
        """Forbid further use; called when the callback returns."""
        self._txn = None

    def _live(self) -> lmdb.Transaction[bytes]:
        txn = self._txn
        if txn is None:
            raise RuntimeError("a KV reader/writer was used outside the callback that received it")
        return txn

    def _locate(self, key: bytes) -> tuple[_Database, bytes, list[tuple[_Database, bytes, bytes]]]:
        """The database and physical key of ``key``, and the (db, marker, child ns) descended."""
        db, ns, p, rel = self._db, b"", _ROOT_P, key
        path: list[tuple[_Database, bytes, bytes]] = []
        while len(rel) > p:
            head = rel[:p]
            child = _child_ns(ns, head)
            path.append((db, ns + head + _MARK, child))
            db, ns, p, rel = self._long, child, _LONG_P, rel[p:]
        return db, ns + rel, path

    def get(self, key: bytes) -> bytes | None:
        """Value stored under ``key``, or None."""
        check_key(key)
        txn = self._live()
        try:
            if len(key) <= _ROOT_P:
                return txn.get(key, db=self._db)
            db, phys, _ = self._locate(key)
            return txn.get(phys, db=db)
        except lmdb.Error as exc:
            raise StorageError(f"metadata read failed: {exc}") from exc

    def put(self, key: bytes, value: bytes) -> None:
        """Store ``value`` under ``key``, replacing any previous value."""
        check_key(key)
        check_value(value)
        txn = self._live()
        try:
            if len(key) <= _ROOT_P:
                txn.put(key, value, db=self._db)
                return
            db, phys, path = self._locate(key)
            for parent_db, marker, _ in path:
                if txn.get(marker, db=parent_db) is None:
                    txn.put(marker, b"", db=parent_db)
            txn.put(phys, value, db=db)
        except lmdb.Error as exc:
            raise StorageError(f"metadata write failed: {exc}") from exc

    def delete(self, key: bytes) -> bool:
        """Delete ``key``; return whether it existed."""
        check_key(key)
        txn = self._live()
        try:
            if len(key) <= _ROOT_P:
                return txn.delete(key, db=self._db)
            db, phys, path = self._locate(key)
            if not txn.delete(phys, db=db):
                return False
            for parent_db, marker, child in reversed(path):
                if self._group_nonempty(txn, child):
                    break
                txn.delete(marker, db=parent_db)
            return True
        except lmdb.Error as exc:
            raise StorageError(f"metadata write failed: {exc}") from exc

    def touch(self, topic: str) -> None:
        """Bump ``topic``'s generation counter inside this transaction."""
        key = generation_key(topic)
        txn = self._live()
        try:
            current = decode_generation(txn.get(key, db=self._meta))
            txn.put(key, ((current + 1) & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "big"), db=self._meta)
        except lmdb.Error as exc:
            raise StorageError(f"metadata write failed: {exc}") from exc

    def _group_nonempty(self, txn: lmdb.Transaction[bytes], ns: bytes) -> bool:
        cur = txn.cursor(db=self._long)
        return cur.set_range(ns) and cur.key()[:_NS_LEN] == ns

    def scan(
        self, start: bytes, end: bytes | None = None, *, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        """Pairs with ``start <= key < end`` (``end=None``: to the end), in key order
        (descending when ``reverse``). Keys and values are ``bytes`` copies, safe to keep."""
        check_bound(start)
        if end is not None:
            check_bound(end)
        txn = self._live()
        if end is not None and end <= start:
            return iter(())
        return self._guarded(txn, start, end, reverse)

    def _guarded(
        self, txn: lmdb.Transaction[bytes], start: bytes, end: bytes | None, reverse: bool
    ) -> Iterator[tuple[bytes, bytes]]:
        try:
            if reverse:
                yield from self._backward(txn, self._db, b"", _ROOT_P, start, end)
            else:
                yield from self._forward(txn, self._db, b"", _ROOT_P, start, end)
        except lmdb.Error as exc:
            if self._txn is None:
                raise RuntimeError("a KV scan was iterated after its callback returned") from exc
            raise StorageError(f"metadata scan failed: {exc}") from exc

    def _forward(
        self,
        txn: lmdb.Transaction[bytes],
        db: _Database,
        ns: bytes,
        p: int,
        start: bytes,
        end: bytes | None,
    ) -> Iterator[tuple[bytes, bytes]]:
        cur = txn.cursor(db=db)
        if not cur.set_range(ns + start[:p]):
            return
        n = len(ns)
        for k, v in cur.iternext():
            if n and k[:n] != ns:
                return
            if len(k) == _MARKER_LEN:
                head = k[n:-1]
                sub = _group_range(head, p, start, end)
                if sub == _SKIP:
                    continue
                if sub == _STOP:
                    return
                assert isinstance(sub, tuple)
                child = _child_ns(ns, head)
                for tail, value in self._forward(txn, self._long, child, _LONG_P, *sub):
                    yield head + tail, value
                continue
            rel = k[n:] if n else k
            if rel < start:
                continue
            if end is not None and rel >= end:
                return
            yield rel, v

    def _backward(
        self,
        txn: lmdb.Transaction[bytes],
        db: _Database,
        ns: bytes,
        p: int,
        start: bytes,
        end: bytes | None,
    ) -> Iterator[tuple[bytes, bytes]]:
        cur = txn.cursor(db=db)
        if end is None:
            above = _ns_end(ns) if ns else None
            positioned = cur.set_range(above) if above is not None else False
            if not positioned and not cur.last():
                return
        else:
            # The first row at or above this seek holds nothing below ``end`` except, when
            # ``end`` is long, the group of its head, whose marker is exactly this key.
            seek = ns + (end[:p] + _MARK if len(end) > p else end)
            if not cur.set_range(seek) and not cur.last():
                return
        n = len(ns)
        for k, v in cur.iterprev():
            if n and k[:n] != ns:
                if k > ns:
                    continue  # the first row visited can belong to a later namespace
                return
            if len(k) == _MARKER_LEN:
                head = k[n:-1]
                sub = _group_range(head, p, start, end)
                if sub == _STOP:
                    continue
                if sub == _SKIP:
                    return
                assert isinstance(sub, tuple)
                child = _child_ns(ns, head)
                for tail, value in self._backward(txn, self._long, child, _LONG_P, *sub):
                    yield head + tail, value
                continue
            rel = k[n:] if n else k
            if end is not None and rel >= end:
                continue
            if rel < start:
                return
            yield rel, v
