"""One blob being written to the S3 backend: the bytes stream to the store once, while they are
hashed by the caller, and the blob index records them under their hash at ``commit``.

States (see docs/decisions/0020-s3-streaming-layout.md):

* **buffered** -- up to ``part_size`` bytes in memory (taken from the store's memory budget).
  ``commit`` then stores them with one PutObject, unless the index already knows the blob.
* **streaming** -- a blob larger than ``part_size``: a pending-upload record is written, a
  multipart upload to the fresh physical key ``data/<token>`` is created, and the bytes go up in
  parts. When the blob's size is known in advance (``size``: an S3 PUT's Content-Length), every
  part is *streamed*: its UploadPart request is open while its bytes arrive, so the upload ends
  with the last byte, not one part later. Each part's bytes stay in memory until the store
  acknowledged the part, so a part that fails is sent again from memory (retried like any
  request). Without a size, a part is sent once it is complete. At most ``max_concurrency``
  parts are in flight per writer, and each part's memory is taken from the budget before it is
  filled: a slow store slows the client down instead of filling memory. ``commit`` then either
  completes the upload and records it, or -- when the blob turned out to be known already --
  aborts it (dedup: nothing is kept).
* **spooled** -- a blob still buffered when the budget runs out is spooled to a locked local
  file instead, and uploaded at ``commit`` (only under memory pressure).

Whatever happens, nothing is visible before ``commit`` returns (the index is the only way to
find a physical object), and a failed or cancelled commit leaves either the whole blob or
nothing: the commit runs as its own task, which ``abort`` waits for before it removes the
leftovers (an incomplete multipart upload, an unrecorded object, the pending record).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from gateway.core import blobindex
from gateway.core.errors import InvalidArgument, StorageError
from gateway.core.ids import BlobId
from gateway.storage.layout import check_blob_id
from gateway.storage.spool import SpoolFile

if TYPE_CHECKING:
    from gateway.storage.s3 import S3BlobStore

log = logging.getLogger("weir.storage.s3")

MiB = 1 << 20
MAX_PARTS = 10_000
PART_GROWTH_EVERY = 1_000  # without a known size, part size doubles every 1,000 parts


class _Part:
    """One part's bytes: handed to its UploadPart request as they arrive (first attempt), and
    kept until the part is acknowledged (a retry sends them again, once all have arrived)."""

    def __init__(self, number: int, length: int | None, reserved: int) -> None:
        self.number = number
        self.length = length  # None: sent when complete
        self.reserved = reserved
        self.chunks: list[bytes] = []
        self.received = 0
        self.complete = asyncio.Event()
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._streaming = False
        self.task: asyncio.Future[str] | None = None

    def feed(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
        self.received += len(chunk)
        self._queue.put_nowait(chunk)

    def finish(self) -> None:
        self.complete.set()
        self._queue.put_nowait(None)

    def body(self) -> AsyncIterator[bytes]:
        """The bytes for one attempt: the live stream the first time, the kept copy after."""
        if not self._streaming and not self.complete.is_set():
            self._streaming = True
            return self._live()
        return self._replay()

    async def _live(self) -> AsyncIterator[bytes]:
        while True:
            chunk = await self._queue.get()
            if chunk is None:
                return
            yield chunk

    async def _replay(self) -> AsyncIterator[bytes]:
        await self.complete.wait()
        for chunk in self.chunks:
            yield chunk

    def joined(self) -> bytes:
        return self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)

    def drop(self) -> None:
        """The part is acknowledged (or abandoned): let go of its bytes."""
        self.chunks = []
        self._queue = asyncio.Queue()


class S3BlobWriter:
    """A blob being written (see the module docstring). One task at a time."""

    def __init__(self, store: S3BlobStore, size: int | None = None) -> None:
        self._store = store
        self._expected = size
        self._chunks: list[bytes] = []  # buffered state: the whole blob so far
        self._buffered = 0
        self._reserved = 0  # budget held for _chunks
        self._size = 0
        self._spool: SpoolFile | None = None
        self._finished = False
        self._part_len = store.part_size
        if size is not None and size > store.part_size:
            # Whole MiB, large enough for 10,000 parts.
            self._part_len = max(store.part_size, math.ceil(size / MAX_PARTS / MiB) * MiB)
        # streaming / physical-object state
        self._current: _Part | None = None
        self._parts: list[_Part] = []
        self._token: str | None = None
        self._start: asyncio.Future[str] | None = None  # -> multipart upload id
        self._object_written = False  # an object exists under the token's key
        self._recorded = False  # the index points at it: the blob is stored
        self._publishing: asyncio.Future[None] | None = None

    # -- writing ----------------------------------------------------------------------------------

    async def write(self, chunk: bytes) -> None:
        """Append ``chunk``. Raises StorageError as soon as an earlier part upload failed."""
        if self._finished:
            raise InvalidArgument("write after commit or abort")
        if not isinstance(chunk, bytes):
            chunk = bytes(chunk)  # the caller may reuse a mutable buffer
        if not chunk:
            return
        if self._expected is not None and self._size + len(chunk) > self._expected:
            raise StorageError(f"more bytes than the {self._expected} announced")
        self._size += len(chunk)
        store = self._store
        if self._spool is not None:
            await self._spool_write(chunk)
            return
        if self._start is None:  # buffered
            if self._buffered + len(chunk) <= store.part_size and (
                self._expected is None or self._expected <= store.part_size
            ):
                if store.budget.try_take(len(chunk)):
                    self._reserved += len(chunk)
                    self._chunks.append(chunk)
                    self._buffered += len(chunk)
                    return
                await self._to_spool(chunk)
                return
            await self._begin_streaming()
        await self._stream(chunk)

    async def _stream(self, chunk: bytes) -> None:
        """Feed ``chunk`` to the current part, cutting it into parts at part boundaries."""
        view = memoryview(chunk)
        while view:
            part = self._current or await self._next_part()
            room = (part.length if part.length is not None else self._part_size()) - part.received
            piece = view[:room]
            view = view[len(piece) :]
            data = chunk if len(piece) == len(chunk) else bytes(piece)
            if part.received + len(data) > part.reserved:  # no known length: overdraft
                self._store.budget.force_take(part.received + len(data) - part.reserved)
                part.reserved = part.received + len(data)
            part.feed(data)
            if part.received >= (part.length or self._part_size()):
                self._close_part(part)

    async def _next_part(self) -> _Part:
        """Open the next part once fewer than ``max_concurrency`` are in flight and its memory
        is available (holding nothing but parts in flight, which finish on their own)."""
        self._check_parts()
        in_flight = [p.task for p in self._parts if p.task is not None and not p.task.done()]
        while len(in_flight) >= self._store.max_concurrency:
            await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            self._check_parts()
            in_flight = [t for t in in_flight if not t.done()]
        number = len(self._parts) + 1
        if number > MAX_PARTS:
            raise StorageError("blob too large: more than 10,000 parts")
        length: int | None = None
        if self._expected is not None:
            length = min(self._part_len, self._expected - (number - 1) * self._part_len)
        size = length if length is not None else self._part_size()
        await self._store.budget.take(size)
        part = _Part(number, length, size)
        self._parts.append(part)
        self._current = part
        if length is not None:  # streamed: the request opens now
            part.task = asyncio.ensure_future(self._upload(part))
        return part

    def _close_part(self, part: _Part) -> None:
        part.finish()
        self._current = None
        if part.task is None:  # not streamed: send it now that it is whole
            part.task = asyncio.ensure_future(self._upload(part))

    async def _upload(self, part: _Part) -> str:
        try:
            assert self._start is not None and self._token is not None
            upload_id = await asyncio.shield(self._start)
            return await self._store.upload_part(self._token, upload_id, part)
        finally:
            self._store.budget.give(part.reserved)
            part.reserved = 0
            part.drop()

    def _part_size(self) -> int:
        if self._expected is not None:
            return self._part_len
        return self._store.part_size << (len(self._parts) // PART_GROWTH_EVERY)

    def _check_parts(self) -> None:
        for part in self._parts:
            task = part.task
            if task is not None and task.done() and not task.cancelled():
                exc = task.exception()
                if exc is not None:
                    raise StorageError(f"uploading part {part.number} failed: {exc}") from exc

    async def _begin_streaming(self) -> None:
        """Record the pending upload and create the multipart upload (in the background);
        what was buffered becomes the first bytes of part 1."""
        self._token = blobindex.new_token()
        self._start = asyncio.ensure_future(self._store.begin_multipart(self._token))
        chunks, self._chunks, self._buffered = self._chunks, [], 0
        self._release_reserved()
        for c in chunks:
            await self._stream(c)

    async def _spool_write(self, chunk: bytes) -> None:
        assert self._spool is not None
        try:
            await self._spool.write(chunk)
        except OSError as exc:
            raise StorageError(f"spooling blob to local disk: {exc}") from exc

    async def _to_spool(self, chunk: bytes) -> None:
        """The memory budget is spent: continue on local disk."""
        self._spool = await self._store.open_spool()
        chunks, self._chunks, self._buffered = self._chunks, [], 0
        self._release_reserved()
        for c in chunks:
            await self._spool_write(c)
        await self._spool_write(chunk)

    def _release_reserved(self) -> None:
        if self._reserved:
            self._store.budget.give(self._reserved)
            self._reserved = 0

    # -- commit -----------------------------------------------------------------------------------

    async def commit(self, blob_id: BlobId) -> None:
        """Store the blob under ``blob_id`` unless the index knows it already; atomic and
        idempotent. Cancelling the caller does not cancel the commit (``abort`` waits for it)."""
        blob_id = check_blob_id(blob_id)
        if self._finished:
            raise InvalidArgument("commit after commit or abort")
        self._finished = True
        if self._expected is not None and self._size != self._expected:
            await self._cleanup()
            raise StorageError(f"{self._size} bytes written, {self._expected} announced")
        self._publishing = asyncio.ensure_future(self._commit(blob_id))
        await asyncio.shield(self._publishing)

    async def _commit(self, blob_id: BlobId) -> None:
        store = self._store
        try:
            if self._start is not None:
                if self._current is not None:
                    self._close_part(self._current)
                tasks = [p.task for p in self._parts if p.task is not None]
                etags = await asyncio.gather(*tasks)
                upload_id = await self._start
                assert self._token is not None
                if await store.touch(blob_id):
                    return  # dedup: the bytes are there already; _cleanup aborts the upload
                await store.complete_multipart(self._token, upload_id, list(etags))
                self._object_written = True
                await self._record(blob_id)
                return
            if await store.touch(blob_id):
                return  # dedup
            self._token = blobindex.new_token()
            await store.kv.write(
                lambda w: blobindex.begin_upload(w, self._token or "", time.time())
            )
            if self._spool is None:
                data = b"".join(self._chunks)
                self._object_written = True  # (possibly): a failed PUT leaves nothing anyway
                await store.put_object(self._token, data)
                del data
            else:
                try:
                    await self._spool.materialize()
                except OSError as exc:
                    raise StorageError(f"reading spooled blob {blob_id}: {exc}") from exc
                self._object_written = True
                await store.upload_spooled(self._token, self._spool)
            await self._record(blob_id)
        finally:
            await self._cleanup()

    async def _record(self, blob_id: BlobId) -> None:
        """Publish the physical object as ``blob_id`` (or find it a duplicate and drop it)."""
        token, size = self._token, self._size
        assert token is not None
        try:
            outcome = await self._store.kv.write(
                lambda w: blobindex.record(w, blob_id, token, size, time.time())
            )
        except LookupError as exc:
            raise StorageError(f"blob {blob_id}: {exc}") from exc
        if outcome is blobindex.Recorded.STORED:
            self._recorded = True
        # DUPLICATE: a concurrent writer of the same bytes won; _cleanup deletes this copy.

    async def abort(self) -> None:
        """Drop what was written. Idempotent; safe after a failed or cancelled commit (it waits
        for the commit to finish first, so a blob it stored stays stored)."""
        self._finished = True
        if self._publishing is not None:
            with contextlib.suppress(BaseException):
                await asyncio.shield(self._publishing)
        await self._cleanup()

    async def _cleanup(self) -> None:
        """Give back memory, drop the spool, and remove every physical trace of an upload that
        did not end up recorded. Failures are logged and left to the sweep (the pending record
        stays, so the next ``sweep`` finds them)."""
        tasks = [p.task for p in self._parts if p.task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        for part in self._parts:  # parts never started give their memory back here
            if part.reserved:
                self._store.budget.give(part.reserved)
                part.reserved = 0
        self._parts, self._current = [], None
        self._chunks, self._buffered = [], 0
        self._release_reserved()
        if self._spool is not None:
            await self._spool.discard()
        token, start = self._token, self._start
        self._token = self._start = None
        if token is None or self._recorded:
            return
        store = self._store
        try:
            if start is not None:
                upload_id = await asyncio.shield(start)
                if not self._object_written:
                    await store.abort_multipart(token, upload_id)
            if self._object_written:
                await store.delete_physical(token)
            await store.kv.write(lambda w: blobindex.end_upload(w, token))
        except Exception as exc:  # the pending record stays: the sweep removes the rest
            log.warning("leaving upload %s to the sweep: %s", token, exc)
