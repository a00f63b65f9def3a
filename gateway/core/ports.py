"""Persistence ports: the narrow Protocols the engine needs. Backends implement them.

Two kinds of persistence:

* **Metadata** is an ordered, transactional key-value store (``KVStore``). The engine owns the
  key layout (``gateway.core.keys``); a backend only stores bytes in order. LMDB is the embedded
  implementation; a distributed database can replace it later without touching the engine.
* **Blobs** are immutable byte strings named by the blake3 of their content (``BlobStore``),
  written and read as async streams so that memory stays flat whatever the object size.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Protocol, TypeVar

from gateway.core.ids import BlobId

T = TypeVar("T")


class KVReader(Protocol):
    """A consistent read snapshot. Valid only inside the callback that received it."""

    def get(self, key: bytes) -> bytes | None:
        """Value stored under ``key``, or None."""
        ...

    def scan(
        self, start: bytes, end: bytes | None = None, *, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        """Pairs with ``start <= key < end`` (``end=None``: to the end of the store), in key
        order (descending when ``reverse``). Keys and values are ``bytes`` copies, safe to keep."""
        ...


class KVWriter(KVReader, Protocol):
    """A write transaction. Reads see the transaction's own writes."""

    def put(self, key: bytes, value: bytes) -> None: ...

    def delete(self, key: bytes) -> bool:
        """Delete ``key``; return whether it existed."""
        ...

    def touch(self, topic: str) -> None:
        """Mark ``topic`` changed by this transaction (cross-process cache invalidation).

        Part of the transaction: if it commits, ``KVStore.generation(topic)`` changes in every
        process sharing the store; if it is rolled back, nothing changes. Touching a topic
        several times in one transaction is allowed. See ``KVStore.generation``.
        """
        ...


class KVStore(Protocol):
    """An ordered, transactional key-value store.

    Guarantees:
        * ``write(fn)`` runs ``fn`` in one serialisable write transaction. When it returns, the
          transaction is durable (survives a crash, power loss aside from disk lies). If ``fn``
          raises, nothing it wrote is visible and the exception propagates unchanged.
        * Write transactions are serialised: compare-and-swap is "read, check, write" inside one
          ``fn``. Implementations may group several callers' transactions into one durable commit
          (group commit) as long as each ``fn``'s effects stay all-or-nothing.
        * ``read(fn)`` runs ``fn`` on a consistent snapshot.
        * The async forms run ``fn`` in a worker thread, never on the event loop; ``fn`` must not
          touch the event loop. The ``*_sync`` forms run in the calling thread.
        * Cache invalidation across processes: a write transaction that changes state some
          process may cache calls ``w.touch(topic)``; ``generation(topic)`` is a cheap read of a
          number that changes whenever a committed transaction touched ``topic``. Once a write
          that touched ``topic`` has returned -- in this or any other process sharing the
          store -- ``generation(topic)`` differs from what it returned before that write
          began (no staleness window). See docs/decisions/0012-cache-invalidation.md.
        * ``fn`` may be run more than once (a networked store re-runs a transaction that lost a
          serialisation conflict): it must have no effect outside the transaction — no I/O,
          no mutation of objects that outlive it — except through its result.

    Attributes:
        inline_reads: True when a ``read_sync`` costs microseconds (an embedded store), so a
            bounded point read may run on the event loop's thread; False when a read is a
            network round trip (a database), which must go through ``read``.
    """

    inline_reads: bool

    async def read(self, fn: Callable[[KVReader], T]) -> T: ...

    async def write(self, fn: Callable[[KVWriter], T]) -> T: ...

    def read_sync(self, fn: Callable[[KVReader], T]) -> T: ...

    def write_sync(self, fn: Callable[[KVWriter], T]) -> T: ...

    def generation(self, topic: str) -> int:
        """The committed generation of ``topic``: changes whenever a committed transaction
        touched it (0 before any). Cheap enough to call on every request; never blocks on a
        write. A cache of state derived from ``topic`` reads it *before* reading the state and
        drops its contents when it differs from the value the contents were read under.
        """
        ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class BlobStat:
    """A stored blob's size, and when it was last stored or deduplicated against (unix seconds;
    0.0 when the backend cannot tell). Garbage collection compares ``mtime`` with the start of
    its mark phase: a blob used since then may be referenced by a write it has not seen."""

    size: int
    mtime: float = 0.0


@dataclass(frozen=True, slots=True)
class BlobCapabilities:
    """What a backend can do beyond the protocol's minimum."""

    local_files: bool = False  # local_path() returns real files (sendfile-able)
    server_side_copy: bool = False


class SpliceSource(Protocol):
    """An opened read of a byte range whose bytes can be moved into a socket by the kernel
    (``BlobStore.open_splice``): the store has answered, no byte has been sent yet."""

    length: int

    async def splice_to(self, fd: int) -> None:
        """Send all ``length`` bytes into ``fd``, a connected non-blocking socket. Raises
        StorageError when the store fails for good, ConnectionError when the peer goes away."""
        ...

    def close(self) -> None: ...


class ExternalReader(Protocol):
    """Reads objects outside Weir that imports brought in (``model.EXTERNAL_PREFIX``)."""

    def read(
        self, url: str, *, etag: str, size: int, offset: int, length: int
    ) -> AsyncIterator[bytes]:
        """Stream ``length`` bytes from ``offset`` of the object at ``url``, which must still
        have ``etag`` and ``size``: raises SourceChanged (before any byte) when it changed or
        is gone, StorageError when its store fails."""
        ...


class BlobWriter(Protocol):
    """An in-progress blob write. The bytes are invisible until ``commit``.

    The caller computes the content hash while writing (the backend does not hash), then calls
    ``commit(blob_id)`` exactly once, or ``abort()``. ``commit`` is durable and atomic: after it
    returns the blob is readable under ``blob_id``; if a blob with that id exists already the
    new bytes are dropped (dedup). A crash before ``commit`` returns leaves no visible blob.
    """

    async def write(self, chunk: bytes) -> None: ...

    async def commit(self, blob_id: BlobId) -> None: ...

    async def abort(self) -> None:
        """Discard what was written. Safe to call more than once and after a failed commit."""
        ...


class BlobStore(Protocol):
    """Immutable, content-addressed blobs, streamed in and out."""

    capabilities: BlobCapabilities

    async def open_writer(self, size: int | None = None) -> BlobWriter:
        """Start a blob. ``size``, when the caller knows it (an upload's Content-Length), lets a
        backend stream the bytes to their destination as they arrive; the writer then refuses
        more bytes and its commit fails on fewer."""
        ...

    def read(
        self, blob_id: BlobId, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        """Stream ``length`` bytes (to the end when None) starting at ``offset``.

        Raises BlobNotFound (on first iteration) when the blob does not exist.
        """
        ...

    async def stat(self, blob_id: BlobId) -> BlobStat | None: ...

    async def exists(self, blob_id: BlobId) -> bool: ...

    async def delete(self, blob_id: BlobId, *, unused_since: float | None = None) -> bool:
        """Remove a blob; a missing blob is not an error. Returns whether it was removed.

        With ``unused_since`` (garbage collection), the blob is kept when it was stored or
        deduplicated against at or after that time (``BlobStat.mtime``), atomically with
        respect to concurrent writers of the same id: a commit that deduplicates against the
        blob either keeps it alive or finds it gone and stores its own bytes.
        """
        ...

    def list(self, prefix: str = "") -> AsyncIterator[BlobId]:
        """Every stored blob id starting with ``prefix`` (hex), in no particular order."""
        ...

    def inventory(self, prefix: str = "") -> AsyncIterator[tuple[BlobId, BlobStat]]:
        """``list`` with each blob's ``BlobStat``, without a request per blob (garbage
        collection's sweep). Blobs stored or deleted meanwhile may or may not appear."""
        ...

    def local_path(self, blob_id: BlobId) -> FsPath | None:
        """The blob's file on local disk when ``capabilities.local_files``, else None."""
        ...

    async def open_splice(self, blob_id: BlobId, offset: int, length: int) -> SpliceSource | None:
        """Open ``length`` bytes from ``offset`` for an in-kernel copy into a socket, when the
        backend can (S3 over plain HTTP); None when it cannot (read it with ``read``). Raises
        what ``read`` raises on its first chunk (BlobNotFound, StorageError)."""
        ...

    async def sweep(self, *, grace: float) -> int:
        """Remove what interrupted writes left behind (temp files, orphaned physical objects,
        incomplete multipart uploads) that is older than ``grace`` seconds, or that no live
        writer holds. Safe while writers run. Returns how many leftovers were removed."""
        ...

    async def check(self) -> None:
        """Readiness: return when the store answers; raise StorageError naming the cause."""
        ...

    async def close(self) -> None: ...
