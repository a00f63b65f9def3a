"""The garbage collector: runs collections in the server process, in the background, on a
schedule or on demand, with progress, while the server keeps serving.

One collection (``GcRun``):

1. takes the lease (``gateway.gc.lease``), which turns the engine's write barrier on;
2. aborts multipart uploads abandoned for longer than ``multipart_abandon_days``;
3. marks from every root in one snapshot (``gateway.gc.roots``), then what they reach
   (``gateway.gc.mark``), into an on-disk mark set (``gateway.gc.markset``);
4. sweeps (``gateway.gc.sweep``): per repository in scope, unretained commits with their chain
   links (remembered as collected) and expired ref-log records; then the path-history and
   downstream records of removed commits and repositories; then unmarked tree nodes, manifests
   and small blobs; young-content records past the grace period; last, the blob backend's
   unmarked blobs older than the grace period;
5. releases the lease and stores its report (``E/r/<id>``).

Steps 2-4 are ``gateway.gc.collection``; every metadata step runs on one dedicated thread (the
mark set's LMDB transaction belongs to it); the blob backend is driven from the event loop.
A dry run marks and counts, deletes
nothing, and leaves the write barrier off.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from gateway.core import audit, gcrefs, keys
from gateway.core.errors import Conflict, InvalidArgument, NotFound
from gateway.core.ports import BlobStore, KVReader, KVStore, KVWriter
from gateway.core.view import View
from gateway.gc import lease, roots, rules
from gateway.gc.collection import Collection
from gateway.gc.report import CANCELLED, FAILED, RUNNING, SUCCEEDED, GcRun

if TYPE_CHECKING:
    from gateway.gc.markset import MarkSet

log = logging.getLogger("weir.gc")
T = TypeVar("T")

#: Reports kept in the metadata store.
KEEP_REPORTS = 100
#: A running collection stores its progress (and looks for a cancel request from another
#: worker process) this often, so any worker can answer for it.
PROGRESS_EVERY = 1.0
CANCEL = gcrefs.CANCELS


def _run_id() -> str:
    """Sortable by start time (microseconds), unique: ``20261202T065832.123456Z-a1b2c3``."""
    now = time.time()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now))
    return f"{stamp}.{int(now * 1e6) % 1_000_000:06d}Z-{secrets.token_hex(3)}"


class Cancelled(Exception):
    """The collection was cancelled; nothing half-done stays (every step is transactional)."""


@dataclass(frozen=True)
class GcConfig:
    """Settings of the ``[gc]`` section (see gateway/config.py)."""

    retention_days: int = 7
    grace_seconds: int = 3600
    multipart_abandon_days: int = 7
    interval_minutes: int = 0
    work_dir: Path = field(default_factory=lambda: Path("gc"))


class Collector:
    """Runs collections of ``kv`` + ``blobs``; one at a time (see the module docstring).

    Args:
        kv: the metadata store.
        blobs: the blob backend.
        config: settings.
        audit: appends a finished run's record to the audit trail, inside the transaction that
            stores its report (``(writer, run, report JSON)``).
    """

    def __init__(
        self,
        kv: KVStore,
        blobs: BlobStore,
        config: GcConfig,
        *,
        audit: Callable[[KVWriter, GcRun, dict[str, Any]], None] | None = None,
    ) -> None:
        self.kv = kv
        self.blobs = blobs
        self.config = config
        self._audit = audit
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="weir-gc")
        self._run: GcRun | None = None
        self._task: asyncio.Task[GcRun] | None = None
        self._cancel = threading.Event()
        self._schedule: asyncio.Task[None] | None = None
        self._last_beat = 0.0

    # -- lifecycle ----------------------------------------------------------------------------
    async def recover(self) -> None:
        """At start-up: clear a lease a dead collector left and its leftover mark sets."""
        dead = await self._in_thread(lambda: lease.recover(self.kv, time.time()))
        if dead is not None:
            log.warning("gc: run %s was interrupted; its lease was cleared", dead)
        live = await self.kv.read(lease.holder)  # a collection in another worker process
        work = self.config.work_dir
        if work.exists():
            for child in work.glob("marks-*"):
                if live is None or child.name != f"marks-{live[0]}":
                    shutil.rmtree(child, ignore_errors=True)

    def start_schedule(self) -> None:
        """Collect every ``interval_minutes`` (0: never) in the background."""
        minutes = self.config.interval_minutes
        if minutes > 0 and self._schedule is None:
            self._schedule = asyncio.get_running_loop().create_task(
                self._scheduled(minutes * 60.0), context=contextvars.Context()
            )

    async def _scheduled(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                run = await self.start(trigger="schedule")
            except Conflict:
                continue  # one is running already (on demand, or in another process)
            await self.wait(run.id)

    async def close(self) -> None:
        """Stop the schedule and cancel a running collection (it stops between batches)."""
        if self._schedule is not None:
            self._schedule.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._schedule
        if self._task is not None and not self._task.done():
            self._cancel.set()
            with contextlib.suppress(Exception):
                await self._task
        await asyncio.to_thread(self._executor.shutdown, True)

    # -- runs ---------------------------------------------------------------------------------
    async def start(
        self,
        *,
        repository: str | None = None,
        dry_run: bool = False,
        grace_seconds: int | None = None,
        trigger: str = "api",
    ) -> GcRun:
        """Start a collection in the background and return its run (progress updates live).

        Raises RepositoryNotFound, InvalidArgument, Conflict (one is running already).
        """
        if self._task is not None and not self._task.done():
            assert self._run is not None
            raise Conflict(f"a garbage collection is already running (run {self._run.id})")
        grace = self.config.grace_seconds if grace_seconds is None else grace_seconds
        if grace < 0:
            raise InvalidArgument("grace_seconds must not be negative")
        if repository is not None:
            await self.kv.read(lambda r: View(r).repo(repository))
        scope = audit.current()  # the request that starts it (None: the schedule)
        run = GcRun(
            started_by=scope.user if scope is not None else "weir",
            access_key_id=scope.access_key_id if scope is not None else "",
            address=scope.address if scope is not None else "",
            request_id=scope.request_id if scope is not None else "",
            id=_run_id(),
            repository=repository,
            dry_run=dry_run,
            grace_seconds=grace,
            trigger=trigger,
        )

        def begin(w: KVWriter) -> None:
            # Taken before returning, so a conflict with another process is the caller's error.
            if not dry_run:
                lease.acquire(w, run.id, time.time())
            self._progress(run, w)

        await self._in_thread(lambda: self.kv.write_sync(begin))
        self._cancel.clear()
        self._last_beat = time.time()
        self._run = run
        # A fresh context: the collection outlives the request that started it and must not
        # carry that request's context variables (an audit scope) into its own writes.
        self._task = asyncio.get_running_loop().create_task(
            self._execute(run), context=contextvars.Context()
        )
        return run

    async def collect(self, **kwargs: Any) -> GcRun:
        """Run one collection to the end (``start`` + ``wait``)."""
        run = await self.start(**kwargs)
        return await self.wait(run.id)

    async def wait(self, run_id: str) -> GcRun:
        if self._run is None or self._run.id != run_id or self._task is None:
            raise NotFound(f"garbage collection run {run_id!r} is not running")
        return await asyncio.shield(self._task)

    @property
    def current(self) -> GcRun | None:
        """The running collection, or the last one this process ran."""
        return self._run

    async def report(self, run_id: str) -> dict[str, Any]:
        """A run's progress (running, in any worker process) or report (finished).
        Raises NotFound."""
        if self._run is not None and self._run.id == run_id:
            return self._run.to_json()
        raw = await self.kv.read(lambda r: r.get(gcrefs.RUNS + run_id.encode()))
        if raw is None:
            raise NotFound(f"garbage collection run {run_id!r} not found")
        out: dict[str, Any] = json.loads(raw)
        return out

    async def reports(self, limit: int = 20) -> list[dict[str, Any]]:
        """Newest first: the running one (if any), then stored reports."""

        def fn(r: KVReader) -> list[bytes]:
            end = keys.prefix_end(gcrefs.RUNS)
            out: list[bytes] = []
            for _, v in r.scan(gcrefs.RUNS, end, reverse=True):
                out.append(v)
                if len(out) >= limit:
                    break
            return out

        stored: list[dict[str, Any]] = [json.loads(v) for v in await self.kv.read(fn)]
        run = self._run
        if run is not None:
            stored = [run.to_json() if s["id"] == run.id else s for s in stored]
        return stored

    async def cancel(self, run_id: str) -> dict[str, Any]:
        """Ask a running collection to stop (it stops at the next batch, within a second).
        Raises NotFound when it is not running."""
        if self._run is not None and self._run.id == run_id and not self._run.done:
            self._cancel.set()
            return self._run.to_json()
        current = await self.report(run_id)
        if current["state"] != RUNNING:
            raise NotFound(f"garbage collection run {run_id!r} is not running")
        await self.kv.write(lambda w: w.put(CANCEL + run_id.encode(), b""))
        return current

    # -- retention rules ------------------------------------------------------------------------
    async def get_rules(self, repo: str) -> rules.RetentionRules | None:
        """The repository's own rules (None: the server default applies)."""

        def fn(r: KVReader) -> rules.RetentionRules | None:
            View(r).repo(repo)
            raw = r.get(keys.gc_rules(repo))
            return None if raw is None else rules.decode(raw)

        return await self.kv.read(fn)

    async def set_rules(self, repo: str, value: rules.RetentionRules | None) -> None:
        def fn(w: KVWriter) -> None:
            View(w).repo(repo)
            if value is None:
                w.delete(keys.gc_rules(repo))
            else:
                w.put(keys.gc_rules(repo), rules.encode(value))

        await self.kv.write(fn)

    def default_rules(self) -> rules.RetentionRules:
        return rules.RetentionRules(self.config.retention_days)

    # -- one collection -------------------------------------------------------------------------
    async def _in_thread(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def _check(self, run: GcRun) -> Callable[[], None]:
        """Between batches: cancel if asked (here or by another process); store progress and
        refresh the lease now and then."""

        def check() -> None:
            if self._cancel.is_set():
                raise Cancelled(f"garbage collection run {run.id} was cancelled")
            now = time.time()
            if now - self._last_beat < PROGRESS_EVERY:
                return
            self._last_beat = now
            if self.kv.read_sync(lambda r: r.get(CANCEL + run.id.encode())) is not None:
                self._cancel.set()
                raise Cancelled(f"garbage collection run {run.id} was cancelled")
            self.kv.write_sync(partial(self._progress, run))

        return check

    def _progress(self, run: GcRun, w: KVWriter) -> None:
        w.put(gcrefs.RUNS + run.id.encode(), json.dumps(run.to_json()).encode())
        if not run.dry_run:
            lease.beat(w, run.id)

    async def _execute(self, run: GcRun) -> GcRun:
        marks: MarkSet | None = None
        outcome, error = FAILED, "interrupted"
        try:
            marks = await self._in_thread(lambda: self._open_marks(run))
            collection = Collection(
                self.kv,
                self.blobs,
                run,
                marks,
                context=self._context(run),
                abandon_days=self.config.multipart_abandon_days,
                check=self._check(run),
            )
            await self._in_thread(collection.records)
            await collection.blob_backend(self._in_thread)
            outcome, error = SUCCEEDED, ""
        except Cancelled as exc:
            outcome, error = CANCELLED, str(exc)
        except Exception as exc:
            log.exception("gc: run %s failed", run.id)
            outcome, error = FAILED, f"{type(exc).__name__}: {exc}"
        finally:
            # The run shows as finished only once its lease is released and its report stored:
            # whoever sees it finished may start the next one, in any worker process.
            try:
                await self._in_thread(lambda: self._finish(run, marks, outcome, error))
            except Exception:
                log.exception("gc: run %s: finishing failed", run.id)
            run.phase = "done"
            run.state, run.error = outcome, error or None
        total = sum(f.bytes for f in run.sweep.freed.values())
        log.info(
            "gc: run %s %s%s: %s bytes freed",
            run.id,
            run.state,
            " (dry run)" if run.dry_run else "",
            total,
        )
        return run

    def _open_marks(self, run: GcRun) -> MarkSet:
        from gateway.gc.markset import MarkSet  # lmdb: only where a collection runs

        return MarkSet(self.config.work_dir / f"marks-{run.id}")

    def _context(self, run: GcRun) -> roots.RootContext:
        now = time.time()
        return roots.RootContext(
            now=now,
            young_since=now - run.grace_seconds,
            default_rules=self.default_rules(),
            scope=None if run.repository is None else frozenset([run.repository]),
        )

    def _finish(self, run: GcRun, marks: MarkSet | None, outcome: str, error: str) -> None:
        try:
            if not run.dry_run:
                lease.release(self.kv, run.id)
        finally:
            if marks is not None:
                marks.close()
        run.finished_at = time.time()
        final = run.to_json() | {"state": outcome, "phase": "done", "error": error or None}
        report = json.dumps(final).encode()

        def store(w: KVWriter) -> None:
            w.put(gcrefs.RUNS + run.id.encode(), report)
            if self._audit is not None:
                self._audit(w, run, final)
            w.delete(CANCEL + run.id.encode())
            old = [k for k, _ in w.scan(gcrefs.RUNS, keys.prefix_end(gcrefs.RUNS), reverse=True)]
            for k in old[KEEP_REPORTS:]:
                w.delete(k)

        self.kv.write_sync(store)
