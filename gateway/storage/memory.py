"""In-memory blob backend for unit tests: same semantics as the real ones, no durability."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

from gateway.core.errors import BlobNotFound, InvalidArgument, StorageError
from gateway.core.ids import BlobId
from gateway.core.ports import BlobCapabilities, BlobStat
from gateway.storage.layout import check_blob_id, check_hex_prefix
from gateway.storage.local import READ_CHUNK, check_range


class MemoryBlobWriter:
    """Collects chunks; ``commit`` publishes them at once (the first commit of an id wins)."""

    def __init__(self, store: MemoryBlobStore, size: int | None = None) -> None:
        self._store = store
        self._chunks: list[bytes] = []
        self._size = 0
        self._expected = size
        self._finished = False

    async def write(self, chunk: bytes) -> None:
        if self._finished:
            raise InvalidArgument("write after commit or abort")
        if self._expected is not None and self._size + len(chunk) > self._expected:
            raise StorageError(f"more bytes than the {self._expected} announced")
        self._chunks.append(bytes(chunk))
        self._size += len(chunk)

    async def commit(self, blob_id: BlobId) -> None:
        blob_id = check_blob_id(blob_id)
        if self._finished:
            raise InvalidArgument("commit after commit or abort")
        self._finished = True
        if self._expected is not None and self._size != self._expected:
            self._chunks = []
            raise StorageError(f"{self._size} bytes written, {self._expected} announced")
        data = b"".join(self._chunks)
        self._chunks = []
        self._store.blobs.setdefault(blob_id, data)  # dedup: an existing blob is kept
        self._store.mtimes[blob_id] = time.time()  # stored or deduplicated against: touched

    async def abort(self) -> None:
        self._finished = True
        self._chunks = []


class MemoryBlobStore:
    """Blobs in a dict. Single event loop only; every operation is atomic (no awaits inside)."""

    capabilities = BlobCapabilities()

    def __init__(self, *, read_chunk: int = READ_CHUNK) -> None:
        self.blobs: dict[BlobId, bytes] = {}
        self.mtimes: dict[BlobId, float] = {}  # last stored or deduplicated against
        self._read_chunk = read_chunk

    async def open_writer(self, size: int | None = None) -> MemoryBlobWriter:
        return MemoryBlobWriter(self, size)

    async def read(
        self, blob_id: BlobId, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        """Stream a byte range in chunks of at most ``read_chunk``; cut at the end of the blob.

        Raises:
            BlobNotFound: on first iteration, when the blob does not exist.
        """
        check_blob_id(blob_id)
        check_range(offset, length)
        data = self.blobs.get(blob_id)
        if data is None:
            raise BlobNotFound(f"blob {blob_id} not found")
        end = len(data) if length is None else min(len(data), offset + length)
        view = memoryview(data)
        for pos in range(offset, end, self._read_chunk):
            yield bytes(view[pos : min(end, pos + self._read_chunk)])

    async def stat(self, blob_id: BlobId) -> BlobStat | None:
        data = self.blobs.get(check_blob_id(blob_id))
        return None if data is None else BlobStat(len(data), self.mtimes.get(blob_id, 0.0))

    async def exists(self, blob_id: BlobId) -> bool:
        return check_blob_id(blob_id) in self.blobs

    async def delete(self, blob_id: BlobId, *, unused_since: float | None = None) -> bool:
        check_blob_id(blob_id)
        if blob_id not in self.blobs:
            return False
        if unused_since is not None and self.mtimes.get(blob_id, 0.0) >= unused_since:
            return False
        del self.blobs[blob_id]
        self.mtimes.pop(blob_id, None)
        return True

    async def list(self, prefix: str = "") -> AsyncIterator[BlobId]:
        """Ids starting with ``prefix``; a snapshot taken at the first iteration."""
        check_hex_prefix(prefix)
        for blob_id in [b for b in self.blobs if b.startswith(prefix)]:
            yield blob_id

    async def inventory(self, prefix: str = "") -> AsyncIterator[tuple[BlobId, BlobStat]]:
        """Blobs starting with ``prefix``; a snapshot taken at the first iteration."""
        check_hex_prefix(prefix)
        found = [(b, BlobStat(len(d), self.mtimes.get(b, 0.0))) for b, d in self.blobs.items()]
        for item in found:
            if item[0].startswith(prefix):
                yield item

    def local_path(self, blob_id: BlobId) -> Path | None:
        return None

    async def open_splice(self, blob_id: BlobId, offset: int, length: int) -> None:
        return None  # local files go out with sendfile (local_path); memory has no socket

    async def sweep(self, *, grace: float) -> int:
        return 0  # nothing outlives a writer here

    async def check(self) -> None:
        return None

    async def close(self) -> None:
        return None
