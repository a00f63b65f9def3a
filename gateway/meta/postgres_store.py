"""The shared metadata store: PostgreSQL, so that many gateways can serve one lake.

Same semantics as the embedded LMDB store (``gateway.meta.lmdb_store``), on a database:

* **Writes** go to one writer thread per process, which groups what is queued into one
  ``SERIALIZABLE`` transaction: each callback runs inside a savepoint (a callback that raises is
  rolled back alone and gets its exception), then one ``COMMIT`` makes the batch durable and
  only then are the callers answered. Within one process writes never conflict with each other
  (they are serialised, as in LMDB); between processes PostgreSQL's serialisable isolation
  detects every conflict, and the batch is **re-run from the start** after a serialisation
  failure or deadlock (jittered exponential back-off, bounded by ``retry_seconds``). Callbacks
  must therefore be safe to re-run: no side effects outside the transaction. A callback that
  raised is still committed with the batch (its writes rolled back) so that the reads it
  decided on are validated like everyone else's.
* **Reads** run in ``REPEATABLE READ READ ONLY`` transactions: one snapshot, never blocked,
  never blocking. ``read`` uses a thread pool, ``read_sync`` the calling thread; neither may run
  on an event loop (a query is a network round trip): the facade asks ``inline_reads``.
* **Failures**: a connection lost before ``COMMIT`` is retried on a fresh connection until
  ``retry_seconds`` have passed, then ``StorageError`` (HTTP 503); a connection lost *during*
  ``COMMIT`` leaves the outcome unknown, so it is not retried: the callers get ``StorageError``
  (their write may or may not have happened; it was not acknowledged). The pool replaces broken
  connections; nothing needs a restart when the database comes back.

Schema: ``gateway.meta.pg_schema`` (versioned migrations). The view over one transaction:
``gateway.meta.pg_txn``. Decision records: docs/decisions/0016-postgresql-metadata.md and
0017-postgresql-cache-invalidation.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import queue
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import TupleRow
from psycopg_pool import ConnectionPool, PoolTimeout

from gateway.core.errors import StorageError
from gateway.core.ports import KVReader, KVWriter
from gateway.meta import pg_schema
from gateway.meta.limits import check_topic
from gateway.meta.pg_notify import GenerationListener, channel_for
from gateway.meta.pg_txn import PgTxnView, Statements

T = TypeVar("T")
log = logging.getLogger("weir.meta")

Conn = psycopg.Connection[TupleRow]
_RETRYABLE = (pg_errors.SerializationFailure, pg_errors.DeadlockDetected)


class _Retry(Exception):
    """The transaction did not commit and may be run again (conflict or lost connection)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


@dataclass(slots=True)
class _Request:
    fn: Callable[[KVWriter], Any]
    settle: Callable[[bool, Any], None]  # (ok, result or exception); called once
    cancelled: Callable[[], bool]


def _connection_lost(exc: BaseException, conn: Conn | None) -> bool:
    return isinstance(exc, psycopg.OperationalError | PoolTimeout) or (
        conn is not None and conn.broken
    )


class PostgresKVStore:
    """``KVStore`` on PostgreSQL (psycopg 3 with a connection pool).

    Guarantees (beyond the ``KVStore`` protocol), as ``LmdbKVStore``:
        * ``write`` callbacks of one process run one at a time on the writer thread, in
          submission order; a returned ``write``/``write_sync`` is durable (committed).
        * Cancelling an awaiting ``write`` does not undo it: a callback that has not started is
          skipped, one that has started is committed normally.
        * Keys are 1 to ``MAX_KEY_BYTES`` bytes; other keys raise ``InvalidArgument``. Database
          failures raise ``StorageError``; the writer thread survives them.

    Attributes:
        inline_reads: False: a read is a network round trip, never to be run on an event loop.
        commit_count: transactions committed by the writer so far.
        retry_count: transactions re-run after a conflict or a lost connection.
    """

    inline_reads = False

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "weir",
        pool_size: int = 8,
        read_workers: int = 4,
        max_batch_ops: int = 256,
        max_batch_seconds: float = 0.02,
        connect_timeout: float = 5.0,
        retry_seconds: float = 5.0,
        migrate: bool = True,
    ) -> None:
        """Connect, check (or on an empty database create) the schema, start the writer.

        Args:
            dsn: libpq connection string or URI.
            schema: the PostgreSQL schema holding Weir's tables.
            pool_size: most connections for reads (the writer has its own one).
            read_workers: threads serving ``read``.
            max_batch_ops: most write callbacks grouped into one commit (1 disables grouping).
            max_batch_seconds: stop adding callbacks to a batch once it has run this long.
            connect_timeout: longest wait for a connection before failing an operation.
            retry_seconds: how long a transaction is re-run after conflicts or lost
                connections before it fails with StorageError.
            migrate: on a database without Weir's tables, create them; an older schema is
                never upgraded here (``weir db migrate``).

        Raises:
            StorageError: the database is unreachable or its schema is not this code's.
        """
        if max_batch_ops < 1 or read_workers < 1 or pool_size < 1:
            raise ValueError("max_batch_ops, read_workers and pool_size must be at least 1")
        self._schema = schema
        self._sql = Statements.for_schema(schema, channel_for(schema))
        self._max_batch_ops = max_batch_ops
        self._max_batch_seconds = max_batch_seconds
        self._timeout = connect_timeout
        self._retry_seconds = retry_seconds
        self.commit_count = 0
        self.retry_count = 0
        kwargs: dict[str, Any] = {
            "autocommit": True,
            "connect_timeout": max(1, int(connect_timeout)),
        }
        self._prepare(dsn, kwargs, migrate)
        self._pool: ConnectionPool[Conn] = ConnectionPool(
            dsn, min_size=1, max_size=pool_size, kwargs=_named(kwargs, "read"), open=False,
            name="weir-read",
            timeout=connect_timeout, reconnect_timeout=connect_timeout,
        )  # fmt: skip
        self._wpool: ConnectionPool[Conn] = ConnectionPool(
            dsn, min_size=1, max_size=1, kwargs=_named(kwargs, "write"), open=False,
            name="weir-write",
            timeout=connect_timeout, reconnect_timeout=connect_timeout,
        )  # fmt: skip
        self._pool.open()
        self._wpool.open()
        self._listener = GenerationListener(dsn, _named(kwargs, "listen"), schema)
        self._listener.start(wait=connect_timeout)
        self._tls = threading.local()
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._state = threading.Condition()  # guards _closed and _active_reads
        self._closed = False
        self._stopping = False  # the writer saw the close sentinel while batching
        self._active_reads = 0
        self._read_pool = ThreadPoolExecutor(read_workers, thread_name_prefix="weir-pg-read")
        self._writer = threading.Thread(target=self._run_writer, name="weir-pg-writer", daemon=True)
        self._writer.start()

    def _prepare(self, dsn: str, kwargs: dict[str, Any], migrate: bool) -> None:
        try:
            with psycopg.connect(dsn, **kwargs) as conn:
                if migrate and pg_schema.current_version(conn, self._schema) == 0:
                    applied = pg_schema.migrate(conn, self._schema)
                    if applied:
                        log.info("created the metadata schema %r (version %d)",
                                 self._schema, applied[-1].version)  # fmt: skip
                pg_schema.check(conn, self._schema)
        except psycopg.Error as exc:
            raise StorageError(f"cannot use the PostgreSQL metadata database: {exc}") from exc

    # -- reads ------------------------------------------------------------------------------

    def read_sync(self, fn: Callable[[KVReader], T]) -> T:
        """Run ``fn`` on a consistent snapshot, in the calling thread (never an event loop)."""
        with self._state:
            if self._closed:
                raise StorageError("the metadata store is closed")
            self._active_reads += 1
        try:
            return self._with_retries(self._pool, lambda conn: self._read_once(conn, fn))
        finally:
            with self._state:
                self._active_reads -= 1
                if not self._active_reads:
                    self._state.notify_all()

    def _read_once(self, conn: Conn, fn: Callable[[KVReader], T]) -> T:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        view = PgTxnView(conn, self._sql)
        try:
            result = fn(view)
        except BaseException:
            view.invalidate()
            self._raise_failed(view, conn)
            conn.execute("ROLLBACK")
            raise
        view.invalidate()
        self._raise_failed(view, conn)
        conn.execute("COMMIT")
        return result

    async def read(self, fn: Callable[[KVReader], T]) -> T:
        """Run ``fn`` on a consistent snapshot in a reader thread (never on the event loop)."""
        self._check_open()
        loop = asyncio.get_running_loop()
        try:
            pending = loop.run_in_executor(self._read_pool, self.read_sync, fn)
        except RuntimeError as exc:  # the pool shut down: close() is running
            raise StorageError("the metadata store is closed") from exc
        return await pending

    # -- writes -----------------------------------------------------------------------------

    async def write(self, fn: Callable[[KVWriter], T]) -> T:
        """Run ``fn`` in a write transaction on the writer thread; return once committed.

        Raises:
            Whatever ``fn`` raised (nothing it wrote is kept); StorageError when the commit
            fails or the store is closed.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def settle(ok: bool, value: Any) -> None:
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                loop.call_soon_threadsafe(_settle_async, future, ok, value)

        self._submit(_Request(fn, settle, future.cancelled))
        return await future

    def write_sync(self, fn: Callable[[KVWriter], T]) -> T:
        """Run ``fn`` in a write transaction (on the writer thread) and wait for the commit.

        Raises:
            Whatever ``fn`` raised (nothing it wrote is kept); StorageError when the commit
            fails or the store is closed; RuntimeError when called inside a write callback.
        """
        if getattr(self._tls, "in_write", False):
            raise RuntimeError("a metadata write was started inside a write callback")
        future: Future[T] = Future()

        def settle(ok: bool, value: Any) -> None:
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

        self._submit(_Request(fn, settle, lambda: False))
        return future.result()

    def _submit(self, request: _Request) -> None:
        with self._state:
            if self._closed:
                raise StorageError("the metadata store is closed")
            self._queue.put(request)

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("the metadata store is closed")

    # -- the writer thread ------------------------------------------------------------------

    def _run_writer(self) -> None:
        """Serve batches until the close sentinel; never dies on a callback or database error."""
        while not self._stopping:
            first = self._queue.get()
            if first is None:
                return
            if first.cancelled():
                continue
            batch = [first]
            try:
                outcomes = self._with_retries(
                    self._wpool, functools.partial(self._run_batch, batch=batch)
                )
            except BaseException as exc:  # StorageError, or a bug: never strand the callers
                error = exc if isinstance(exc, StorageError) else StorageError(repr(exc))
                outcomes = [(False, error)] * len(batch)
            for request, (ok, value) in zip(batch, outcomes, strict=True):
                request.settle(ok, value)

    def _next_queued(self) -> _Request | None:
        """The next queued, not cancelled request, if any (notes the close sentinel)."""
        while not self._stopping:
            try:
                following = self._queue.get_nowait()
            except queue.Empty:
                return None
            if following is None:
                self._stopping = True
                return None
            if not following.cancelled():
                return following
        return None

    def _run_batch(self, conn: Conn, *, batch: list[_Request]) -> list[tuple[bool, Any]]:
        """One attempt: every callback in a savepoint of one serialisable transaction.

        The first attempt adds what else is queued to ``batch`` (up to ``max_batch_ops`` or
        ``max_batch_seconds`` of callback time); a re-run runs exactly the same requests.
        """
        first_attempt = len(batch) == 1
        outcomes: list[tuple[bool, Any]] = []
        touched: dict[str, int] = {}
        conn.execute("BEGIN ISOLATION LEVEL SERIALIZABLE; SAVEPOINT fn")
        deadline = time.monotonic() + self._max_batch_seconds
        i = 0
        while True:
            if i:
                conn.execute("RELEASE SAVEPOINT fn; SAVEPOINT fn")
            outcomes.append(self._run_one(conn, batch[i], touched))
            i += 1
            if i < len(batch):
                continue
            if not first_attempt or i >= self._max_batch_ops or time.monotonic() >= deadline:
                break
            following = self._next_queued()
            if following is None:
                break
            batch.append(following)
        try:
            conn.execute("COMMIT")
        except BaseException as exc:
            if isinstance(exc, _RETRYABLE):
                raise _Retry(exc) from exc
            # The outcome of a COMMIT whose answer was lost is unknown: never re-run it.
            raise StorageError(f"metadata commit failed (outcome unknown): {exc}") from exc
        self.commit_count += 1
        for topic, gen in touched.items():  # seen here at once, elsewhere when notified
            self._listener.note(topic, gen)
        return outcomes

    def _run_one(self, conn: Conn, request: _Request, touched: dict[str, int]) -> tuple[bool, Any]:
        """Run one callback inside the current savepoint; roll it back alone if it fails.

        The generations of the topics it touched are added to ``touched`` when it succeeds.
        """
        view = PgTxnView(conn, self._sql)
        self._tls.in_write = True
        outcome: tuple[bool, Any]
        gens: dict[str, int] = {}
        try:
            value = request.fn(view)
            if view.failed is None:
                view.flush()
                gens = view.apply_touches()
        except BaseException as exc:
            outcome = (False, exc)
        else:
            outcome = (True, value)
        finally:
            self._tls.in_write = False
            view.invalidate()
        failed = view.failed  # a database error decides, whatever the callback made of it
        if failed is not None:
            if isinstance(failed, _RETRYABLE) or _connection_lost(failed, conn):
                raise _Retry(failed) from failed
            outcome = (False, StorageError(f"metadata write failed: {failed}"))
        if not outcome[0]:
            conn.execute("ROLLBACK TO SAVEPOINT fn")
        else:
            touched.update(gens)
        return outcome

    def _raise_failed(self, view: PgTxnView, conn: Conn) -> None:
        """After a callback: a database error in its transaction decides the outcome."""
        failed = view.failed
        if failed is None:
            return
        if isinstance(failed, _RETRYABLE) or _connection_lost(failed, conn):
            raise _Retry(failed)
        raise StorageError(f"metadata transaction failed: {failed}") from failed

    # -- connections and retries ------------------------------------------------------------

    def _with_retries(self, pool: ConnectionPool[Conn], attempt: Callable[[Conn], T]) -> T:
        """Run ``attempt`` on a pooled connection; again after a conflict or a lost connection
        (jittered exponential back-off) until ``retry_seconds`` have passed."""
        deadline = time.monotonic() + self._retry_seconds
        delay = 0.002
        while True:
            try:
                return self._attempt(pool, attempt)
            except _Retry as retry:
                cause = retry.cause
            if time.monotonic() + delay > deadline:
                if _connection_lost(cause, None):
                    raise StorageError(f"the metadata database is unavailable: {cause}") from cause
                raise StorageError(f"metadata transaction kept conflicting: {cause}") from cause
            self.retry_count += 1
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.25)

    def _attempt(self, pool: ConnectionPool[Conn], attempt: Callable[[Conn], T]) -> T:
        try:
            conn = pool.getconn(timeout=self._timeout)
        except PoolTimeout as exc:
            raise _Retry(exc) from exc
        try:
            return attempt(conn)
        except _Retry:
            self._reset(conn)
            raise
        except psycopg.Error as exc:
            self._reset(conn)
            if isinstance(exc, _RETRYABLE) or _connection_lost(exc, conn):
                raise _Retry(exc) from exc
            raise StorageError(f"metadata database error: {exc}") from exc
        except BaseException:
            self._reset(conn)
            raise
        finally:
            pool.putconn(conn)

    @staticmethod
    def _reset(conn: Conn) -> None:
        """Leave the connection idle (or broken: the pool then discards it)."""
        if conn.broken or conn.closed:
            return
        try:
            if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                conn.execute("ROLLBACK")
        except psycopg.Error:
            with contextlib.suppress(psycopg.Error):
                conn.close()

    # -- cross-process cache invalidation ---------------------------------------------------

    def generation(self, topic: str) -> int:
        """``topic``'s generation from the local copy LISTEN/NOTIFY keeps fresh (no round trip).

        At once after this process's own touching commits; within ``pg_notify.STALE_AFTER_S``
        (0.5 s) of another gateway's; while that bound cannot be proven (listener behind or
        reconnecting) a value no call returned before, so that caches read through.
        """
        check_topic(topic)
        self._check_open()
        return self._listener.generation(topic)

    # -- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        """Finish queued writes, wait for running reads, then close the connections.

        Idempotent. Later calls to any method raise StorageError.

        Raises:
            RuntimeError: called from inside a write callback.
        """
        if getattr(self._tls, "in_write", False):
            raise RuntimeError("close() called inside a write callback")
        with self._state:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        self._writer.join()
        self._read_pool.shutdown(wait=True)
        with self._state:
            while self._active_reads:
                self._state.wait()
        self._listener.close()
        self._pool.close()
        self._wpool.close()


def _named(kwargs: dict[str, Any], role: str) -> dict[str, Any]:
    """Connection options with an ``application_name`` that tells operators (pg_stat_activity)
    which process and which role a connection serves: ``weir-<role>/<pid>``."""
    return {**kwargs, "application_name": f"weir-{role}/{os.getpid()}"}


def _settle_async(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():  # cancelled by the caller meanwhile
        return
    if ok:
        future.set_result(value)
    elif isinstance(value, StopIteration):  # futures cannot carry StopIteration
        future.set_exception(RuntimeError(f"write callback raised {value!r}"))
    else:
        future.set_exception(value)
