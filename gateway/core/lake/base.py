"""State and plumbing shared by the parts of the ``Lake`` facade (``gateway.core.lake``)."""

from __future__ import annotations

import asyncio
from collections.abc import (
    Callable,
    Coroutine,
    Iterator,
)
from typing import Any, TypeVar

from gateway.core import audit, committing, keys
from gateway.core.errors import (
    BranchNotFound,
    ReadOnlyRef,
    RefNotFound,
)
from gateway.core.events import NO_EVENTS, LakeEvents
from gateway.core.model import (
    Branch,
)
from gateway.core.ports import BlobStore, ExternalReader, KVReader, KVStore, KVWriter
from gateway.core.view import View

#: Keys deleted per purge transaction: small enough that a purge of a million retired staging
#: records never holds the single LMDB writer for more than a few milliseconds at a time.
PURGE_BATCH = 2_000
#: Blobs of at most this many bytes live in the metadata store, not the blob backend: a small
#: PUT then costs one (group-committed) LMDB write instead of a file create, fsync and rename,
#: and a small GET one B-tree lookup. The rule depends on the size only, so a reader knows where
#: to look. See docs/decisions/0010-inline-small-blobs.md.
INLINE_LIMIT = 32 << 10
T = TypeVar("T")


def page_of(items: list[T], limit: int) -> tuple[list[T], bool]:
    """The first ``limit`` items of a list fetched with one extra, and whether there are more."""
    return items[:limit], len(items) > limit


class LakeBase:
    """The stores, background housekeeping and checks every part of the facade uses.

    Args:
        kv: the metadata store (``gateway.core.ports.KVStore``).
        blobs: the blob backend (``gateway.core.ports.BlobStore``).
        events: where lineage events go (``gateway.core.events``; default: nowhere).
    """

    def __init__(self, kv: KVStore, blobs: BlobStore, *, events: LakeEvents = NO_EVENTS) -> None:
        self.kv = kv
        self.blobs = blobs
        #: Told of every published commit (lineage events); runs report through it too.
        self.events = events
        #: Where imported (external) objects are read from; set by the composition root.
        self.external: ExternalReader | None = None
        self._tasks: set[asyncio.Future[None]] = set()

    async def _quick(self, fn: Callable[[KVReader], T]) -> T:
        """A bounded point read: resolve a ref, stat one path, get one record.

        On an embedded store (``kv.inline_reads``: a few B-tree descents, microseconds) it runs
        on the calling thread, cheaper than the worker-thread hop of ``kv.read`` (see
        docs/decisions/0009). On a networked store a read is a round trip, which must never
        block the event loop: it goes through ``kv.read`` like every other read.
        """
        if self.kv.inline_reads:
            return self.kv.read_sync(fn)
        return await self.kv.read(fn)

    def _background(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run housekeeping after the caller's answer; ``close`` waits for it."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _purge(self, prefix: bytes) -> None:
        """Delete every key under ``prefix``, in bounded transactions."""
        end = keys.prefix_end(prefix)

        def batch(w: KVWriter) -> int:
            ks = [k for k, _ in take(w.scan(prefix, end), PURGE_BATCH)]
            for k in ks:
                w.delete(k)
            return len(ks)

        with audit.housekeeping():  # consequences of an audited change (retire, delete)
            while await self.kv.write(batch) == PURGE_BATCH:
                pass

    def _writable_branch(self, view: View, repo: str, branch: str) -> Branch:
        b = view.branch_or_none(repo, branch)
        if b is None:
            try:
                view.resolve(repo, branch)
            except RefNotFound:
                raise BranchNotFound(
                    f"branch {branch!r} not found in repository {repo!r}"
                ) from None
            raise ReadOnlyRef(f"{branch!r} is a tag or commit, not a branch: it is read-only")
        committing.check_writable(view, repo, branch)
        return b

    async def drain(self) -> None:
        """Wait for background housekeeping (purges of retired staging areas) to finish."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        await self.drain()
        await self.blobs.close()
        self.kv.close()


def take(it: Iterator[tuple[bytes, bytes]], n: int) -> list[tuple[bytes, bytes]]:
    out: list[tuple[bytes, bytes]] = []
    for item in it:
        out.append(item)
        if len(out) >= n:
            break
    return out


async def in_thread(fn: Callable[[], T]) -> T:
    return await asyncio.to_thread(fn)
