"""The garbage collector: runs collections in the server process, in the background, on a
schedule or on demand, with progress, while the server keeps serving.

One collection (``GcRun``):

1. aborts multipart uploads abandoned for longer than ``multipart_abandon_days``;
2. takes the lease (``gateway.gc.lease``), which turns the engine's write barrier on;
3. marks from every root in one snapshot (``gateway.gc.roots``), then what they reach
   (``gateway.gc.mark``), into an on-disk mark set (``gateway.gc.markset``);
4. sweeps (``gateway.gc.sweep``): per repository in scope, unretained commits with their chain
   links (remembered as collected) and expired ref-log records; then the path-history and
   downstream records of removed commits and repositories; then unmarked tree nodes, manifests
   and small blobs; young-content records past the grace period; last, the blob backend's
   unmarked blobs older than the grace period;
5. releases the lease and stores its report (``E/r/<id>``).

Every metadata step runs on one dedicated thread (the mark set's LMDB transaction belongs to
it); the blob backend is driven from the event loop. A dry run marks and counts, deletes
nothing, and leaves the write barrier off.
"""

from __future__ import annotations

import asyncio
import contextlib
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

from gateway.core import gcrefs, keys, multipart
from gateway.core.errors import Conflict, InvalidArgument, NotFound
from gateway.core.ids import BlobId
from gateway.core.ports import BlobStore, KVReader, KVStore, KVWriter
from gateway.core.view import View
from gateway.gc import lease, roots, rules
from gateway.gc.mark import Marker
from gateway.gc.report import CANCELLED, FAILED, RUNNING, SUCCEEDED, GcRun
from gateway.gc.sweep import Sweeper

if TYPE_CHECKING:
    from gateway.gc.markset import MarkSet

log = logging.getLogger("weir.gc")
T = TypeVar("T")

#: Blobs looked up in the mark set per hop to the collection's thread, and deleted at once.
BLOB_BATCH = 1_000
BLOB_CONCURRENCY = 8
#: Reports kept in the metadata store.
KEEP_REPORTS = 100
#: A running collection stores its progress (and looks for a cancel request from another
#: worker process) this often, so any worker can answer for it.
PROGRESS_EVERY = 1.0
CANCEL = gcrefs.CANCELS


def _names_any(ids: set[str], key: bytes) -> bool:
    """Whether an index key ends with one of the commit ids ``ids``."""
    return key[-64:].decode("ascii", "replace") in ids


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
        on_finish: called with each finished run (the audit hook); must not raise.
    """

    def __init__(
        self,
        kv: KVStore,
        blobs: BlobStore,
        config: GcConfig,
        *,
        on_finish: Callable[[GcRun], None] | None = None,
    ) -> None:
        self.kv = kv
        self.blobs = blobs
        self.config = config
        self._on_finish = on_finish
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
            self._schedule = asyncio.ensure_future(self._scheduled(minutes * 60.0))

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
        run = GcRun(
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
        self._task = asyncio.ensure_future(self._execute(run))
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
            opened = marks
            sweeper, young_since = await self._in_thread(lambda: self._collect_records(run, opened))
            await self._collect_blobs(run, opened, sweeper, young_since)
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
        if self._on_finish is not None:
            with contextlib.suppress(Exception):
                self._on_finish(run)
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

    def _collect_records(self, run: GcRun, marks: MarkSet) -> tuple[Sweeper, float]:
        """Steps 1-4 but the blob backend (see the module docstring). Runs on the GC thread."""
        check = self._check(run)
        ctx = self._context(run)
        run.phase = "aborting abandoned uploads"
        run.uploads_aborted = self._abort_abandoned(ctx, run.dry_run)
        run.phase = "marking"
        marker = Marker(self.kv, marks, check=check)
        run.mark = marker.stats

        def mark_roots(r: KVReader) -> int:
            for source in roots.ROOT_SOURCES:
                marker.add_all(r, source(r, ctx))
            return gcrefs.seq(r)

        last_seq = self.kv.read_sync(mark_roots)
        marker.drain()
        sweeper = Sweeper(
            self.kv,
            marks,
            marker,
            last_seq=last_seq,
            dry_run=run.dry_run,
            heartbeat=lambda w: lease.beat(w, run.id),
            check=check,
        )
        run.sweep = sweeper.stats
        run.phase = "sweeping commits"
        if not run.dry_run:
            sweeper.remark()
        self._sweep_commits(run, ctx, sweeper)
        run.phase = "sweeping tree nodes"
        sweeper.sweep_table(keys.NODE, "tree nodes", gcrefs.node_ref)
        run.phase = "sweeping manifests"
        sweeper.sweep_table(keys.MANIFEST, "manifests", lambda s: gcrefs.manifest_ref(s.decode()))
        run.phase = "sweeping small blobs"
        sweeper.sweep_table(keys.INLINE, "small blobs", lambda s: gcrefs.blob_ref(s.decode()))
        sweeper.sweep_young(ctx.young_since)
        return sweeper, ctx.young_since

    def _abort_abandoned(self, ctx: roots.RootContext, dry_run: bool) -> int:
        cutoff = ctx.now - self.config.multipart_abandon_days * rules.DAY

        def find(r: KVReader) -> list[tuple[str, str]]:
            out: list[tuple[str, str]] = []
            for _, v in r.scan(keys.UPLOAD, keys.prefix_end(keys.UPLOAD)):
                up = multipart.decode_upload(v)
                if up.initiated < cutoff and ctx.in_scope(up.repo):
                    out.append((up.repo, up.upload_id))
            return out

        found = self.kv.read_sync(find)
        if dry_run:
            return len(found)

        def abort(repo: str, upload_id: str, w: KVWriter) -> int:
            raw = w.get(keys.upload(repo, upload_id))
            if raw is None or multipart.decode_upload(raw).initiated >= cutoff:
                return 0
            multipart.delete_upload(w, repo, upload_id)
            return 1

        return sum(self.kv.write_sync(partial(abort, repo, uid)) for repo, uid in found)

    def _sweep_commits(self, run: GcRun, ctx: roots.RootContext, sweeper: Sweeper) -> None:
        def scoped(r: KVReader) -> dict[str, list[tuple[bytes, bytes]]]:
            out: dict[str, list[tuple[bytes, bytes]]] = {}
            for repo in roots.repositories(r):
                if not ctx.in_scope(repo):
                    continue
                rs = roots.rules_of(r, repo, ctx.default_rules)
                out[repo] = [
                    (k, r.get(k) or b"")
                    for k, kind, name, _, when in roots.reflog_entries(r, repo)
                    if roots.reflog_expiry(kind, name, when, rs) <= ctx.now
                ]
            return out

        repos = self.kv.read_sync(scoped)
        removed: dict[str, set[str]] = {}
        for repo, expired in repos.items():
            gone = sweeper.sweep_commits(repo, expired, run.id)
            if gone:
                removed[repo] = set(gone)
        run.phase = "sweeping indexes"
        for repo, ids in removed.items():
            for table in (keys.HISTORY, keys.PATHLOG):
                sweeper.sweep_index(
                    table + repo.encode() + keys.SEP, "path history", partial(_names_any, ids)
                )
        existing = set(self.kv.read_sync(lambda r: list(roots.repositories(r))))

        def dead(k: bytes) -> bool:
            in_repo, _, rest = k[len(keys.DOWNSTREAM) :].partition(keys.SEP)
            _, _, consumer = rest.partition(keys.SEP)
            repo_b, _, cid = consumer.partition(keys.SEP)
            repo = repo_b.decode("utf-8", "replace")
            if in_repo.decode("utf-8", "replace") not in existing or repo not in existing:
                return True
            return cid.decode("ascii", "replace") in removed.get(repo, ())

        sweeper.sweep_index(keys.DOWNSTREAM, "downstream index", dead)

    async def _collect_blobs(
        self, run: GcRun, marks: MarkSet, sweeper: Sweeper, young_since: float
    ) -> None:
        run.phase = "sweeping blobs"
        check = self._check(run)
        slots = asyncio.Semaphore(BLOB_CONCURRENCY)

        def unmarked(batch: list[tuple[BlobId, int]]) -> list[tuple[BlobId, int]]:
            check()
            if not run.dry_run and sweeper.barrier_moved():
                sweeper.remark()
            return [(b, s) for b, s in batch if gcrefs.blob_ref(b) not in marks]

        async def collect_one(blob_id: BlobId, size: int) -> None:
            async with slots:
                if await self.blobs.delete(blob_id, unused_since=young_since):
                    run.sweep.of("blobs").add(1, size)

        async def process(batch: list[tuple[BlobId, int]]) -> None:
            garbage = await self._in_thread(lambda: unmarked(batch))
            if run.dry_run:
                if garbage:
                    run.sweep.of("blobs").add(len(garbage), sum(s for _, s in garbage))
                return
            await asyncio.gather(*(collect_one(b, s) for b, s in garbage))

        batch: list[tuple[BlobId, int]] = []
        async for blob_id, stat in self.blobs.inventory():
            run.sweep.scan("blobs", 1)
            if stat.mtime >= young_since:
                continue
            batch.append((blob_id, stat.size))
            if len(batch) >= BLOB_BATCH:
                await process(batch)
                batch = []
        if batch:
            await process(batch)

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
            w.delete(CANCEL + run.id.encode())
            old = [k for k, _ in w.scan(gcrefs.RUNS, keys.prefix_end(gcrefs.RUNS), reverse=True)]
            for k in old[KEEP_REPORTS:]:
                w.delete(k)

        self.kv.write_sync(store)
