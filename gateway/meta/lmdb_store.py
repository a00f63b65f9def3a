"""The embedded metadata store: one LMDB environment, durable group commit.

Reads run on a snapshot (an LMDB read transaction) in the calling thread (``read_sync``) or in a
small thread pool (``read``). Writes submitted with ``write`` go to one dedicated writer thread,
because an LMDB write transaction belongs to the thread that opened it. The writer drains the
queue and runs each callback in its own *nested* transaction inside one outer transaction, then
commits the outer one: one fsync for the whole batch. A callback that raises is rolled back on
its own (its nested transaction is aborted) and gets its exception; the others in the batch are
unaffected. Callers are answered only after the outer commit returned, so an acknowledged write
is durable. A durable commit costs from ~0.35 ms (idle disk) to several ms (busy disk), so
without grouping a store tops out at one commit latency per write whatever the concurrency
(see docs/decisions/0002-metadata-kv.md for measurements).

Callbacks hold up the whole batch while they run: they must be short, must not block on I/O or
wait for another write, and must not touch the event loop.

``write_sync`` runs in the calling thread, in its own transaction and commit, under the lock the
writer thread holds for each batch: there is never more than one write transaction in the
process.

Files: ``<path>/data.mdb`` and ``<path>/lock.mdb``. The map is a large sparse reservation (1 TiB
by default) that the file only grows into; the environment must not be opened twice in one
process (py-lmdb refuses).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import lmdb

from gateway.core.errors import StorageError
from gateway.core.ports import KVReader, KVWriter
from gateway.meta.lmdb_txn import LMDB_MAX_KEY, LmdbTxnView, decode_generation, generation_key

T = TypeVar("T")

_FORMAT_KEY = b"format"
_FORMAT = b"weir-kv-1"


@dataclass(slots=True)
class _Request(Generic[T]):
    fn: Callable[[KVWriter], T]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[T]


@dataclass(slots=True)
class _Outcome:
    request: _Request[Any]
    ok: bool
    value: Any  # the callback's result, or the BaseException to raise in the caller


def _settle(outcomes: list[_Outcome]) -> None:
    """Resolve the callers' futures; runs on their event loop (via ``call_soon_threadsafe``)."""
    for outcome in outcomes:
        future = outcome.request.future
        if future.done():  # cancelled by the caller meanwhile
            continue
        if outcome.ok:
            future.set_result(outcome.value)
        elif isinstance(outcome.value, StopIteration):  # futures cannot carry StopIteration
            future.set_exception(RuntimeError(f"write callback raised {outcome.value!r}"))
        else:
            future.set_exception(outcome.value)


class LmdbKVStore:
    """``KVStore`` on an embedded LMDB environment, with group commit.

    Guarantees (beyond the ``KVStore`` protocol):
        * ``write`` callbacks run one at a time on the writer thread, in submission order; each
          sees the effects of every callback acknowledged or batched before it.
        * A returned ``write``/``write_sync`` is durable (LMDB ``sync`` and ``metasync`` on).
        * Cancelling an awaiting ``write`` does not undo it: a callback that has not started yet
          is skipped, one that has started is committed normally.
        * Keys are 1 to ``MAX_KEY_BYTES`` (4096) bytes; keys over 510 bytes cost one more
          B-tree lookup per 494 bytes (see ``gateway.meta.lmdb_txn``). Other keys raise
          ``InvalidArgument``. Storage failures (a full map, I/O errors) raise
          ``StorageError``; the writer thread survives them.

    Attributes:
        commit_count: durable commits done so far (batches plus ``write_sync`` calls); with
            group commit it grows more slowly than the number of writes.
    """

    inline_reads = True  # reads are memory-mapped B-tree descents: no I/O wait

    def __init__(
        self,
        path: Path,
        *,
        map_size: int = 1 << 40,
        max_readers: int = 256,
        read_workers: int = 4,
        max_batch_ops: int = 256,
        max_batch_seconds: float = 0.004,
    ) -> None:
        """Open (creating if needed) the store in directory ``path``.

        Args:
            path: directory holding ``data.mdb`` and ``lock.mdb``.
            map_size: size of the address-space reservation; the file grows into it.
            max_readers: concurrent read transactions (all threads and processes together).
            read_workers: threads serving ``read``.
            max_batch_ops: most write callbacks grouped into one commit (1 disables grouping).
            max_batch_seconds: stop adding callbacks to a batch once it has run this long.

        Raises:
            StorageError: the environment cannot be opened or has an unknown format.
        """
        if max_batch_ops < 1 or read_workers < 1:
            raise ValueError("max_batch_ops and read_workers must be at least 1")
        self._max_batch_ops = max_batch_ops
        self._max_batch_seconds = max_batch_seconds
        self.commit_count = 0
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._env = lmdb.open(
                str(path),
                map_size=map_size,
                subdir=True,
                mode=0o600,  # the metadata names users and holds their (encrypted) secrets
                sync=True,
                metasync=True,
                writemap=False,  # nested transactions need it off; a stray write can't corrupt
                lock=True,
                max_readers=max_readers,
                max_dbs=3,
                max_spare_txns=read_workers + 4,  # read txns are recycled, not reallocated
            )
        except (lmdb.Error, OSError) as exc:
            raise StorageError(f"cannot open the metadata store at {path}: {exc}") from exc
        try:
            self._open_databases()
        except BaseException:
            self._env.close()
            raise
        self._write_lock = threading.Lock()  # held by the writer per batch and by write_sync
        self._tls = threading.local()
        self._queue: queue.SimpleQueue[_Request[Any] | None] = queue.SimpleQueue()
        self._state = threading.Condition()  # guards _closed and _active_reads
        self._closed = False
        self._active_reads = 0
        self._read_pool = ThreadPoolExecutor(read_workers, thread_name_prefix="weir-kv-read")
        self._writer = threading.Thread(target=self._run_writer, name="weir-kv-writer", daemon=True)
        self._writer.start()

    def _open_databases(self) -> None:
        if self._env.max_key_size() != LMDB_MAX_KEY:
            raise StorageError(
                f"LMDB was built with max key size {self._env.max_key_size()}, "
                f"the key layout needs {LMDB_MAX_KEY}"
            )
        self._env.reader_check()  # free reader slots left by crashed processes
        try:
            with self._env.begin(write=True) as txn:
                self._db = self._env.open_db(b"kv", txn=txn)
                self._long_db = self._env.open_db(b"kv_long", txn=txn)
                self._meta = meta = self._env.open_db(b"meta", txn=txn)
                found = txn.get(_FORMAT_KEY, db=meta)
                if found is None:
                    txn.put(_FORMAT_KEY, _FORMAT, db=meta)
        except lmdb.Error as exc:
            raise StorageError(f"cannot open the metadata databases: {exc}") from exc
        if found is not None and found != _FORMAT:
            raise StorageError(f"metadata store format {found!r} is not {_FORMAT!r}")

    # -- reads ------------------------------------------------------------------------------

    def read_sync(self, fn: Callable[[KVReader], T]) -> T:
        """Run ``fn`` on a consistent snapshot, in the calling thread."""
        with self._state:
            if self._closed:
                raise StorageError("the metadata store is closed")
            self._active_reads += 1
        try:
            try:
                txn = self._env.begin(buffers=False)
            except lmdb.Error as exc:
                raise StorageError(f"cannot start a metadata read: {exc}") from exc
            view = LmdbTxnView(txn, self._db, self._long_db, self._meta)
            try:
                return fn(view)
            finally:
                view.invalidate()
                txn.abort()
        finally:
            with self._state:
                self._active_reads -= 1
                if not self._active_reads:
                    self._state.notify_all()

    def generation(self, topic: str) -> int:
        """``topic``'s committed generation: one point read of its counter in the ``meta``
        database (a few microseconds, no thread hop). The counter is written by ``touch`` in
        the same LMDB transaction as the change, so every process on this environment sees
        it change exactly when the change commits."""
        key = generation_key(topic)
        with self._state:
            if self._closed:
                raise StorageError("the metadata store is closed")
            self._active_reads += 1
        try:
            try:
                txn = self._env.begin(buffers=False)
                try:
                    return decode_generation(txn.get(key, db=self._meta))
                finally:
                    txn.abort()
            except lmdb.Error as exc:
                raise StorageError(f"cannot read a generation counter: {exc}") from exc
        finally:
            with self._state:
                self._active_reads -= 1
                if not self._active_reads:
                    self._state.notify_all()

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
        """Run ``fn`` in a write transaction on the writer thread; return once it is durable.

        Raises:
            Whatever ``fn`` raised (nothing it wrote is kept); StorageError when the batch's
            commit fails or the store is closed.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._state:
            if self._closed:
                raise StorageError("the metadata store is closed")
            self._queue.put(_Request(fn, loop, future))
        return await future

    def write_sync(self, fn: Callable[[KVWriter], T]) -> T:
        """Run ``fn`` in a write transaction in the calling thread and commit it durably.

        Raises:
            Whatever ``fn`` raised (nothing it wrote is kept); StorageError when the commit
            fails or the store is closed; RuntimeError when called inside a write callback.
        """
        self._check_not_in_write()
        with self._write_lock:
            self._check_open()
            txn = self._begin_write(None)
            view = LmdbTxnView(txn, self._db, self._long_db, self._meta)
            self._tls.in_write = True
            try:
                value = fn(view)
            except BaseException:
                txn.abort()
                raise
            finally:
                view.invalidate()
                self._tls.in_write = False
            try:
                txn.commit()
            except lmdb.Error as exc:
                raise StorageError(f"metadata commit failed: {exc}") from exc
            self.commit_count += 1
            return value

    def _begin_write(self, parent: lmdb.Transaction[bytes] | None) -> lmdb.Transaction[bytes]:
        try:
            return self._env.begin(write=True, parent=parent)
        except lmdb.Error as exc:
            raise StorageError(f"cannot start a metadata write: {exc}") from exc

    def _check_not_in_write(self) -> None:
        if getattr(self._tls, "in_write", False):
            raise RuntimeError("a metadata write was started inside a write callback")

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("the metadata store is closed")

    # -- the writer thread ------------------------------------------------------------------

    def _run_writer(self) -> None:
        """Serve batches until the close sentinel; never dies on a callback or LMDB error."""
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            outcomes: list[_Outcome] = []
            try:
                with self._write_lock:
                    stopping = self._run_batch(first, outcomes)
            except BaseException as exc:  # a bug here must not strand the callers
                error = StorageError(f"metadata write batch failed: {exc!r}")
                outcomes = [o if not o.ok else _Outcome(o.request, False, error) for o in outcomes]
            self._deliver(outcomes)

    def _run_batch(self, first: _Request[Any], outcomes: list[_Outcome]) -> bool:
        """Run ``first`` and whatever else is queued in one outer transaction; commit it.

        Appends one outcome per request to ``outcomes``; returns whether the close sentinel
        was consumed.
        """
        stopping = False
        try:
            outer = self._begin_write(None)
        except StorageError as exc:
            outcomes.append(_Outcome(first, False, exc))
            return False
        deadline = time.monotonic() + self._max_batch_seconds
        request: _Request[Any] = first
        try:
            while True:
                if not request.future.cancelled():
                    outcomes.append(self._run_nested(outer, request))
                if len(outcomes) >= self._max_batch_ops or time.monotonic() >= deadline:
                    break
                try:
                    following = self._queue.get_nowait()
                except queue.Empty:
                    break
                if following is None:
                    stopping = True
                    break
                request = following
        except BaseException:
            outer.abort()
            raise
        if not any(o.ok for o in outcomes):
            outer.abort()  # nothing to make durable
            return stopping
        try:
            outer.commit()
        except lmdb.Error as exc:
            error = StorageError(f"metadata commit failed: {exc}")
            outcomes[:] = [o if not o.ok else _Outcome(o.request, False, error) for o in outcomes]
            return stopping
        self.commit_count += 1
        return stopping

    def _run_nested(self, outer: lmdb.Transaction[bytes], request: _Request[Any]) -> _Outcome:
        try:
            txn = self._begin_write(outer)
        except StorageError as exc:
            return _Outcome(request, False, exc)
        view = LmdbTxnView(txn, self._db, self._long_db, self._meta)
        self._tls.in_write = True
        try:
            value = request.fn(view)
        except BaseException as exc:
            txn.abort()
            return _Outcome(request, False, exc)
        finally:
            view.invalidate()
            self._tls.in_write = False
        try:
            txn.commit()  # into the outer transaction: no I/O
        except lmdb.Error as exc:
            return _Outcome(request, False, StorageError(f"metadata write failed: {exc}"))
        return _Outcome(request, True, value)

    @staticmethod
    def _deliver(outcomes: list[_Outcome]) -> None:
        """Hand outcomes to their event loops: one wake-up per loop per batch, not per write."""
        by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
        for outcome in outcomes:
            by_loop.setdefault(outcome.request.loop, []).append(outcome)
        for loop, group in by_loop.items():
            # RuntimeError: that event loop is closed, so nobody is waiting.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, group)

    # -- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        """Finish queued writes, wait for running reads, then close the environment.

        Idempotent. Later calls to any method raise StorageError.

        Raises:
            RuntimeError: called from inside a write callback.
        """
        self._check_not_in_write()
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
        with self._write_lock:
            self._env.close()
