"""One garbage collection, step by step (``Collector`` runs it; see its module docstring).

Every metadata step runs on the collection's own thread (the mark set's LMDB transaction
belongs to it); the blob backend is driven from the event loop, with mark-set lookups sent to
that thread in batches.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from gateway.core import gcrefs, keys, multipart
from gateway.core.ids import BlobId
from gateway.core.ports import BlobStore, KVReader, KVStore, KVWriter
from gateway.gc import lease, roots, rules
from gateway.gc.mark import Marker
from gateway.gc.report import GcRun
from gateway.gc.sweep import Sweeper

if TYPE_CHECKING:
    from gateway.gc.markset import MarkSet

#: Blobs looked up in the mark set per hop to the collection's thread, and deleted at once.
BLOB_BATCH = 1_000
BLOB_CONCURRENCY = 8

InThread = Callable[[Callable[[], Any]], Awaitable[Any]]


def _names_any(ids: set[str], key: bytes) -> bool:
    """Whether an index key ends with one of the commit ids ``ids``."""
    return key[-64:].decode("ascii", "replace") in ids


class Collection:
    """The steps of one collection over ``kv`` and ``blobs`` into ``marks``.

    Args:
        context: the roots' context (time, grace, default rules, scope).
        abandon_days: multipart uploads started longer ago are aborted.
        check: raises to cancel; stores progress now and then.
    """

    def __init__(
        self,
        kv: KVStore,
        blobs: BlobStore,
        run: GcRun,
        marks: MarkSet,
        *,
        context: roots.RootContext,
        abandon_days: int,
        check: Callable[[], None],
    ) -> None:
        self.kv = kv
        self.blobs = blobs
        self.run = run
        self.marks = marks
        self.ctx = context
        self.abandon_days = abandon_days
        self.check = check
        self.sweeper: Sweeper

    def records(self) -> None:
        """Everything but the blob backend, on the collection's thread: abort abandoned
        uploads, mark, then sweep commits, indexes, nodes, manifests, small blobs and young
        records."""
        run, ctx, marks, check = self.run, self.ctx, self.marks, self.check
        run.phase = "aborting abandoned uploads"
        run.uploads_aborted = self._abort_abandoned()
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
        self.sweeper = sweeper
        run.sweep = sweeper.stats
        run.phase = "sweeping commits"
        if not run.dry_run:
            sweeper.remark()
        self._sweep_commits()
        run.phase = "sweeping tree nodes"
        sweeper.sweep_table(keys.NODE, "tree nodes", gcrefs.node_ref)
        run.phase = "sweeping manifests"
        sweeper.sweep_table(keys.MANIFEST, "manifests", lambda s: gcrefs.manifest_ref(s.decode()))
        run.phase = "sweeping small blobs"
        sweeper.sweep_table(keys.INLINE, "small blobs", lambda s: gcrefs.blob_ref(s.decode()))
        sweeper.sweep_young(ctx.young_since)

    def _abort_abandoned(self) -> int:
        ctx = self.ctx
        cutoff = ctx.now - self.abandon_days * rules.DAY

        def find(r: KVReader) -> list[tuple[str, str]]:
            out: list[tuple[str, str]] = []
            for _, v in r.scan(keys.UPLOAD, keys.prefix_end(keys.UPLOAD)):
                up = multipart.decode_upload(v)
                if up.initiated < cutoff and ctx.in_scope(up.repo):
                    out.append((up.repo, up.upload_id))
            return out

        found = self.kv.read_sync(find)
        if self.run.dry_run:
            return len(found)

        def abort(repo: str, upload_id: str, w: KVWriter) -> int:
            raw = w.get(keys.upload(repo, upload_id))
            if raw is None or multipart.decode_upload(raw).initiated >= cutoff:
                return 0
            multipart.delete_upload(w, repo, upload_id)
            return 1

        return sum(self.kv.write_sync(partial(abort, repo, uid)) for repo, uid in found)

    def _sweep_commits(self) -> None:
        run, ctx, sweeper = self.run, self.ctx, self.sweeper

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

    async def blob_backend(self, in_thread: InThread) -> None:
        """Delete the blob backend's unmarked blobs older than the grace period, checking the
        write barrier before each batch (``in_thread`` runs a call on the collection's
        thread, which owns the mark set)."""
        run, marks, sweeper, check = self.run, self.marks, self.sweeper, self.check
        young_since = self.ctx.young_since
        run.phase = "sweeping blobs"
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
            garbage = await in_thread(lambda: unmarked(batch))
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
