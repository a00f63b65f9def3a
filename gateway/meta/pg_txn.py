"""``KVReader``/``KVWriter`` over one PostgreSQL transaction.

Round trips, not rows, are what a database-backed store pays for, so a view keeps them few:

* ``put`` and ``delete`` are buffered and sent in bulk (one ``INSERT ... SELECT FROM unnest``
  and one ``DELETE ... = ANY`` per table) before the next scan page, when the buffer is large,
  and when the callback returns. ``get`` answers from the buffer first (read-your-writes).
* ``delete`` must say whether the key existed: it answers from the buffer, or from what this
  transaction already read (a key seen by ``get`` or ``scan`` in this snapshot), before asking
  the database.
* ``scan`` reads pages of growing size by keyset (``k > last ORDER BY k LIMIT n``), so that the
  common ``next(iter(scan))`` costs one small query and a long scan streams. Rows of a page are
  checked against writes made while the scan runs, so a key deleted by the callback after its
  page was read is not yielded (a key written ahead of the scan may or may not be).

Keys of at most ``SHORT_KEY`` bytes live in table ``kv``; longer ones in ``kv_long`` (by hash,
ordered by their first ``SHORT_KEY`` bytes; see ``migrations/0001_kv.sql``). A scan reads both
in one statement and merges them.

A database error marks the view failed (PostgreSQL aborts the whole transaction); the store
looks at ``failed`` after the callback, whatever the callback did with the exception.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from gateway.core.errors import StorageError
from gateway.meta.limits import check_bound, check_key, check_topic, check_value

SHORT_KEY = 2000
_FLUSH_ROWS = 2000
_FLUSH_BYTES = 8 << 20
_PAGES = (32, 256, 2048)  # rows per scan page: first, second, then every further page
_KNOWN_MAX = 200_000  # keys whose existence this transaction remembers (bounded memory)


@dataclass(frozen=True, slots=True)
class Statements:
    """The SQL a view runs, with the schema's tables filled in (built once per store)."""

    get: sql.Composed
    get_long: sql.Composed
    upsert: sql.Composed
    upsert_long: sql.Composed
    delete: sql.Composed
    delete_long: sql.Composed
    touch: sql.Composed
    scan: dict[tuple[bool, bool], sql.Composed]  # (reverse, bounded above) -> query

    @classmethod
    def for_schema(cls, schema: str, channel: str) -> Statements:
        kv = sql.Identifier(schema, "kv")
        gens = sql.Identifier(schema, "generations")
        long = sql.Identifier(schema, "kv_long")
        scans: dict[tuple[bool, bool], sql.Composed] = {}
        for reverse in (False, True):
            for bounded in (False, True):
                order = sql.SQL("DESC" if reverse else "ASC")
                upper = sql.SQL("AND k < %(end)s" if bounded else "")
                upper_head = sql.SQL("AND head <= substring(%(end)s for 2000)" if bounded else "")
                scans[reverse, bounded] = sql.SQL(
                    "(SELECT k, v FROM {kv} WHERE k >= %(start)s {upper} ORDER BY k {o} "
                    "LIMIT %(n)s) UNION ALL "
                    "(SELECT k, v FROM {long} WHERE head >= substring(%(start)s for 2000) "
                    "{upper_head} AND k >= %(start)s {upper} ORDER BY head {o}, k {o} "
                    "LIMIT %(n)s)"
                ).format(kv=kv, long=long, upper=upper, upper_head=upper_head, o=order)
        return cls(
            get=sql.SQL("SELECT v FROM {} WHERE k = %s").format(kv),
            get_long=sql.SQL("SELECT v FROM {} WHERE h = %s").format(long),
            upsert=sql.SQL(
                "INSERT INTO {} (k, v) SELECT * FROM unnest(%s::bytea[], %s::bytea[]) "
                "ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v"
            ).format(kv),
            upsert_long=sql.SQL(
                "INSERT INTO {} (h, head, k, v) SELECT * FROM "
                "unnest(%s::bytea[], %s::bytea[], %s::bytea[], %s::bytea[]) "
                "ON CONFLICT (h) DO UPDATE SET v = EXCLUDED.v"
            ).format(long),
            delete=sql.SQL("DELETE FROM {} WHERE k = ANY(%s::bytea[])").format(kv),
            delete_long=sql.SQL("DELETE FROM {} WHERE h = ANY(%s::bytea[])").format(long),
            touch=sql.SQL(
                "WITH g AS (INSERT INTO {gens} AS old (topic, gen) "
                "SELECT t, 1 FROM unnest(%s::text[]) AS t "
                "ON CONFLICT (topic) DO UPDATE SET gen = old.gen + 1 RETURNING topic, gen) "
                "SELECT topic, gen, pg_notify({channel}, gen || ':' || topic) FROM g"
            ).format(gens=gens, channel=sql.Literal(channel)),
            scan=scans,
        )


def _hash(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()


_MISSING = object()


class PgTxnView:
    """A ``KVWriter`` (a ``KVReader`` on a read-only transaction) over one connection.

    Not thread-safe: used by the one thread that runs the callback. Invalid once the callback
    that received it returns (every method then raises RuntimeError).
    """

    __slots__ = (
        "_conn",
        "_known",
        "_live",
        "_pending",
        "_pending_bytes",
        "_recent",
        "_scans",
        "_sql",
        "_touched",
        "failed",
    )

    def __init__(self, conn: psycopg.Connection[TupleRow], statements: Statements) -> None:
        self._conn = conn
        self._sql = statements
        self._live = True
        self._pending: dict[bytes, bytes | None] = {}  # unsent writes; None = delete
        self._pending_bytes = 0
        self._known: dict[bytes, bool] = {}  # existence of keys read in this transaction
        self._scans = 0  # open scan generators
        self._recent: dict[bytes, bytes | None] = {}  # writes made while a scan was open
        self._touched: set[str] = set()  # cache-invalidation topics this transaction changes
        #: The database error that aborted this transaction, if any.
        self.failed: psycopg.Error | None = None

    def invalidate(self) -> None:
        """Forbid further use; called when the callback returns."""
        self._live = False

    def _check(self) -> None:
        if not self._live:
            raise RuntimeError("a KV reader/writer was used outside the callback that received it")
        if self.failed is not None:
            raise StorageError(f"metadata transaction failed: {self.failed}")

    def _db_error(self, exc: psycopg.Error) -> StorageError:
        if self.failed is None:
            self.failed = exc
        return StorageError(f"metadata transaction failed: {exc}")

    def _remember(self, key: bytes, exists: bool) -> None:
        if len(self._known) < _KNOWN_MAX or key in self._known:
            self._known[key] = exists

    # -- reads ------------------------------------------------------------------------------

    def get(self, key: bytes) -> bytes | None:
        """Value stored under ``key`` (seeing this transaction's writes), or None."""
        check_key(key)
        self._check()
        pending = self._pending.get(key, _MISSING)
        if pending is not _MISSING:
            return pending  # type: ignore[return-value]
        try:
            if len(key) <= SHORT_KEY:
                row = self._conn.execute(self._sql.get, (key,), binary=True).fetchone()
            else:
                row = self._conn.execute(self._sql.get_long, (_hash(key),), binary=True).fetchone()
        except psycopg.Error as exc:
            raise self._db_error(exc) from exc
        value = None if row is None else bytes(row[0])
        self._remember(key, value is not None)
        return value

    def scan(
        self, start: bytes, end: bytes | None = None, *, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        """Pairs with ``start <= key < end`` (``end=None``: to the end), in key order
        (descending when ``reverse``). Keys and values are ``bytes`` copies, safe to keep."""
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
        self._scans += 1
        try:
            page = 0
            lo, hi = start, end  # the part of the range not yet yielded: [lo, hi)
            while True:
                self._check()
                n = _PAGES[min(page, len(_PAGES) - 1)]
                page += 1
                rows, more = self._fetch(lo, hi, reverse, n)
                for k, v in rows:
                    self._check()
                    recent = self._recent.get(k, _MISSING)
                    if recent is None:
                        continue  # deleted by this transaction after the page was read
                    if recent is not _MISSING:
                        v = recent  # type: ignore[assignment]
                    self._remember(k, True)
                    yield k, v
                if not more:
                    return
                last = rows[-1][0]
                if reverse:
                    hi = last
                else:
                    lo = last + b"\x00"  # the smallest key above ``last``
        finally:
            self._scans -= 1
            if not self._scans:
                self._recent.clear()

    def _fetch(
        self, lo: bytes, hi: bytes | None, reverse: bool, n: int
    ) -> tuple[list[tuple[bytes, bytes]], bool]:
        """Up to ``n`` rows of ``[lo, hi)`` in order, and whether more may follow them."""
        self.flush()
        params: dict[str, object] = {"start": lo, "end": hi, "n": n}
        try:
            got = self._conn.execute(
                self._sql.scan[reverse, hi is not None], params, binary=True
            ).fetchall()
        except psycopg.Error as exc:
            raise self._db_error(exc) from exc
        short = [(bytes(r[0]), bytes(r[1])) for r in got if len(r[0]) <= SHORT_KEY]
        long = [(bytes(r[0]), bytes(r[1])) for r in got if len(r[0]) > SHORT_KEY]
        # Each table gave at most n rows in order. Past the last row of a full part, that table
        # may hold rows not fetched yet: only rows before that point are safe to yield now.
        cut: bytes | None = None
        for part in (short, long):
            if len(part) == n:
                edge = part[-1][0]
                if cut is None or (edge > cut if reverse else edge < cut):
                    cut = edge
        merged = list(heapq.merge(short, long, reverse=reverse))
        if cut is None:
            return merged, False
        keep = [kv for kv in merged if (kv[0] >= cut if reverse else kv[0] <= cut)]
        return keep, True

    # -- writes -----------------------------------------------------------------------------

    def put(self, key: bytes, value: bytes) -> None:
        """Store ``value`` under ``key``, replacing any previous value."""
        check_key(key)
        check_value(value)
        self._check()
        self._buffer(key, value)

    def delete(self, key: bytes) -> bool:
        """Delete ``key``; return whether it existed."""
        check_key(key)
        self._check()
        pending = self._pending.get(key, _MISSING)
        if pending is not _MISSING:
            existed = pending is not None
        else:
            known = self._known.get(key)
            existed = self.get(key) is not None if known is None else known
        if existed:
            self._buffer(key, None)
        return existed

    def touch(self, topic: str) -> None:
        """Mark ``topic`` changed: its generation is bumped (and notified) with this commit."""
        check_topic(topic)
        self._check()
        self._touched.add(topic)

    def apply_touches(self) -> dict[str, int]:
        """Bump the touched topics' counters in this transaction; their new generations."""
        if not self._touched:
            return {}
        try:
            rows = self._conn.execute(self._sql.touch, (sorted(self._touched),)).fetchall()
        except psycopg.Error as exc:
            raise self._db_error(exc) from exc
        return {str(r[0]): int(r[1]) for r in rows}

    def _buffer(self, key: bytes, value: bytes | None) -> None:
        self._pending[key] = value
        self._pending_bytes += len(key) + (len(value) if value is not None else 0)
        self._remember(key, value is not None)
        if self._scans:
            self._recent[key] = value
        if len(self._pending) >= _FLUSH_ROWS or self._pending_bytes >= _FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Send buffered writes to the database (at most one statement per table and kind)."""
        if not self._pending:
            return
        pending, self._pending, self._pending_bytes = self._pending, {}, 0
        ups_k: list[bytes] = []
        ups_v: list[bytes] = []
        dels: list[bytes] = []
        lh: list[bytes] = []
        lhead: list[bytes] = []
        lk: list[bytes] = []
        lv: list[bytes] = []
        ldels: list[bytes] = []
        for k, v in pending.items():
            if len(k) <= SHORT_KEY:
                if v is None:
                    dels.append(k)
                else:
                    ups_k.append(k)
                    ups_v.append(v)
            elif v is None:
                ldels.append(_hash(k))
            else:
                lh.append(_hash(k))
                lhead.append(k[:SHORT_KEY])
                lk.append(k)
                lv.append(v)
        try:
            if dels:
                self._conn.execute(self._sql.delete, (dels,))
            if ldels:
                self._conn.execute(self._sql.delete_long, (ldels,))
            if ups_k:
                self._conn.execute(self._sql.upsert, (ups_k, ups_v))
            if lh:
                self._conn.execute(self._sql.upsert_long, (lh, lhead, lk, lv))
        except psycopg.Error as exc:
            raise self._db_error(exc) from exc
