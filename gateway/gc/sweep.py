"""Sweeping: delete what marking did not reach, without ever racing a writer's new reference.

Deletions of metadata-store records (commits, tree nodes, manifests, small blobs) run in short
write transactions that first check the write barrier's counter (``gcrefs.SEQ``): if a writer
created a reference since the last look, the transaction deletes nothing, the new references are
marked, the candidates are filtered again, and the batch is retried. A reference and a deletion
are therefore never both committed without one seeing the other.

Blobs in the blob backend are deleted with ``BlobStore.delete(unused_since=...)``, which keeps
any blob stored
or claimed within the grace period (a deduplicated write claims the existing blob atomically);
the barrier is checked before each batch.

Commits of a repository are removed in one transaction per repository, before any content:
a merge, pick or input that read a commit checks at publication that it still exists, so no new
commit can reuse the nodes of a commit being collected, and no kept commit loses an ancestor.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, TypeVar

from gateway.core import codec, gcrefs, keys
from gateway.core.ports import KVReader, KVStore, KVWriter
from gateway.gc.mark import Marker, read_fresh

if TYPE_CHECKING:
    from gateway.gc.markset import MarkSet

#: Keys read per snapshot while looking for garbage, and deleted per write transaction.
SCAN_BATCH = 5_000
DELETE_BATCH = 2_000
T = TypeVar("T")


@dataclass
class Freed:
    count: int = 0
    bytes: int = 0

    def add(self, n: int, size: int) -> None:
        self.count += n
        self.bytes += size


@dataclass
class SweepStats:
    freed: dict[str, Freed] = field(default_factory=dict)
    scanned: dict[str, int] = field(default_factory=dict)
    remarks: int = 0  # times a deletion found new references and re-marked first

    def of(self, kind: str) -> Freed:
        return self.freed.setdefault(kind, Freed())

    def scan(self, kind: str, n: int) -> None:
        self.scanned[kind] = self.scanned.get(kind, 0) + n


def _take(
    r: KVReader, start: bytes, end: bytes, keep: Callable[[bytes, bytes], T | None]
) -> tuple[list[T], int, bytes | None]:
    """Up to SCAN_BATCH records from ``start``: the non-None ``keep(key, value)`` results,
    how many were read, and the last key when there may be more."""
    out: list[T] = []
    n = 0
    last: bytes | None = None
    for k, v in r.scan(start, end):
        n += 1
        last = k
        item = keep(k, v)
        if item is not None:
            out.append(item)
        if n >= SCAN_BATCH:
            return out, n, last
    return out, n, None


class Sweeper:
    """Deletes unmarked records in barrier-checked batches (see the module docstring).

    Args:
        last_seq: the barrier counter the marks are complete up to.
        dry_run: find and count, delete nothing.
        heartbeat: called in every deletion transaction (keeps the collection's lease fresh).
        check: raises to cancel; called between batches.
    """

    def __init__(
        self,
        kv: KVStore,
        marks: MarkSet,
        marker: Marker,
        *,
        last_seq: int,
        dry_run: bool,
        heartbeat: Callable[[KVWriter], None] = lambda w: None,
        check: Callable[[], None] = lambda: None,
    ) -> None:
        self.kv = kv
        self.marks = marks
        self.marker = marker
        self.last_seq = last_seq
        self.dry_run = dry_run
        self.stats = SweepStats()
        self._heartbeat = heartbeat
        self._check = check

    # -- the barrier ----------------------------------------------------------------------------
    def remark(self) -> None:
        """Mark what writers referenced since ``last_seq``."""
        seq, refs = self.kv.read_sync(lambda r: read_fresh(r, self.last_seq))
        self.kv.read_sync(lambda r: self.marker.add_all(r, refs))
        self.marker.drain()
        self.last_seq = seq
        self.stats.remarks += 1

    def barrier_moved(self) -> bool:
        return self.kv.read_sync(gcrefs.seq) != self.last_seq

    def _delete(
        self,
        items: list[tuple[bytes, bytes, int]],
        kind: str,
        extra: Callable[[KVWriter, list[tuple[bytes, bytes, int]]], None] | None = None,
    ) -> list[tuple[bytes, bytes, int]]:
        """Delete ``(key, ref, size)`` items whose ref is still unmarked, in one transaction
        that commits only if the barrier did not move; else re-mark and retry with what is
        still unmarked. ``extra(w, items)`` runs in the same transaction. Returns what was
        deleted (in a dry run: what would have been)."""
        while items:
            if self.dry_run:
                self.stats.of(kind).add(len(items), sum(s for _, _, s in items))
                return items
            if self.kv.write_sync(partial(self._delete_txn, items, extra)):
                self.stats.of(kind).add(len(items), sum(s for _, _, s in items))
                return items
            self.remark()
            items = [it for it in items if it[1] not in self.marks]
        return []

    def _delete_txn(
        self,
        items: list[tuple[bytes, bytes, int]],
        extra: Callable[[KVWriter, list[tuple[bytes, bytes, int]]], None] | None,
        w: KVWriter,
    ) -> bool:
        if gcrefs.seq(w) != self.last_seq:
            return False
        for key, _, _ in items:
            w.delete(key)
        if extra is not None:
            extra(w, items)
        self._heartbeat(w)
        return True

    def _chunks(
        self, prefix: bytes, kind: str, keep: Callable[[bytes, bytes], T | None]
    ) -> Iterator[list[T]]:
        """Successive chunks of ``keep`` results over every record under ``prefix``, each
        chunk read in its own snapshot."""
        start, end = prefix, keys.prefix_end(prefix)
        while True:
            self._check()
            found, n, last = self.kv.read_sync(partial(_take, start=start, end=end, keep=keep))
            self.stats.scan(kind, n)
            yield found
            if last is None:
                return
            start = last + b"\x00"

    # -- content tables -------------------------------------------------------------------------
    def sweep_table(self, prefix: bytes, kind: str, ref_of: Callable[[bytes], bytes]) -> None:
        """Delete every record under ``prefix`` whose ref (``ref_of(key suffix)``) is unmarked."""
        n = len(prefix)

        def keep(k: bytes, v: bytes) -> tuple[bytes, bytes, int] | None:
            ref = ref_of(k[n:])
            return None if ref in self.marks else (k, ref, len(v))

        for found in self._chunks(prefix, kind, keep):
            for i in range(0, len(found), DELETE_BATCH):
                self._delete(found[i : i + DELETE_BATCH], kind)

    def sweep_young(self, young_since: float) -> None:
        """Forget young-content records older than the grace period (unless rewritten since)."""

        def keep(k: bytes, v: bytes) -> tuple[bytes, bytes] | None:
            return (k, v) if gcrefs.young_time(v) < young_since else None

        for old in self._chunks(gcrefs.YOUNG, "young records", keep):
            if old and not self.dry_run:
                self.stats.of("young records").add(self.kv.write_sync(partial(_forget, old)), 0)

    # -- commits --------------------------------------------------------------------------------
    def sweep_commits(
        self, repo: str, expired_reflog: list[tuple[bytes, bytes]], run_id: str
    ) -> list[str]:
        """Remove the repository's unmarked commits with their first-parent chain links
        (remembered under ``Z/``) and its expired ref-log records, in one barrier-checked
        transaction. Returns the removed commit ids."""
        base = keys.commits(repo)
        stamp = codec.pack([time.time(), run_id])

        def candidates(r: KVReader) -> list[tuple[bytes, bytes, int]]:
            out = []
            n = 0
            for k, v in r.scan(base, keys.prefix_end(base)):
                n += 1
                ref = gcrefs.commit_ref(repo, k[len(base) :].decode("ascii"))
                if ref not in self.marks:
                    out.append((k, ref, len(v)))
            self.stats.scan("commits", n)
            return out

        def remember(w: KVWriter, batch: list[tuple[bytes, bytes, int]]) -> None:
            for k, _, _ in batch:
                cid = k[len(base) :].decode("ascii")
                w.put(keys.collected(repo, cid), stamp)
                w.delete(keys.chain(repo, cid))
            for k, v in expired_reflog:
                if w.get(k) == v:
                    w.delete(k)

        items = self.kv.read_sync(candidates)
        if not items:
            if expired_reflog and not self.dry_run:
                self.kv.write_sync(lambda w: remember(w, []))
            return []
        done = self._delete(items, "commits", remember)
        return [k[len(base) :].decode("ascii") for k, _, _ in done]

    def sweep_index(self, prefix: bytes, kind: str, dead: Callable[[bytes], bool]) -> None:
        """Delete index records (no content: path log, downstream index) for which
        ``dead(key)`` holds. No barrier: nothing ever references an index record."""
        for found in self._chunks(prefix, kind, lambda k, v: k if dead(k) else None):
            if found:
                if not self.dry_run:
                    self.kv.write_sync(partial(_delete_keys, found))
                self.stats.of(kind).add(len(found), 0)


def _forget(items: list[tuple[bytes, bytes]], w: KVWriter) -> int:
    n = 0
    for k, v in items:
        if w.get(k) == v:
            w.delete(k)
            n += 1
    return n


def _delete_keys(found: list[bytes], w: KVWriter) -> None:
    for k in found:
        w.delete(k)
