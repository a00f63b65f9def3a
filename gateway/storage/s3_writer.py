"""One blob being written to the S3 backend: the bytes stream to the store once, while they are
hashed by the caller, and the blob index records them under their hash at ``commit``.

States (see docs/decisions/0012-s3-streaming-layout.md):

* **buffered** -- up to ``part_size`` bytes in memory (taken from the store's memory budget).
  ``commit`` then stores them with one PutObject, unless the index already knows the blob.
* **streaming** -- once the blob outgrows ``part_size``: a pending-upload record is written, a
  multipart upload to the fresh physical key ``data/<token>`` is created, and every further
  ``part_size`` bytes go up as one part while the next ones arrive (at most
  ``max_concurrency`` parts in flight per writer; each part's memory is taken from the budget
  before it is filled, so a slow store slows the client down instead of filling memory).
  ``commit`` uploads the rest, then either completes the upload and records it, or -- when the
  blob turned out to be known already -- aborts it (dedup: nothing is kept).
* **spooled** -- a blob still buffered when the budget runs out is spooled to a locked local
  file instead, and uploaded at ``commit`` (the old path; only under memory pressure).

Whatever happens, nothing is visible before ``commit`` returns (the index is the only way to
find a physical object), and a failed or cancelled commit leaves either the whole blob or
nothing: the commit runs as its own task, which ``abort`` waits for before it removes the
leftovers (an incomplete multipart upload, an unrecorded object, the pending record).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from gateway.core import blobindex
from gateway.core.errors import InvalidArgument, StorageError
from gateway.core.ids import BlobId
from gateway.storage.layout import check_blob_id
from gateway.storage.spool import SpoolFile

if TYPE_CHECKING:
    from gateway.storage.s3 import S3BlobStore

log = logging.getLogger("weir.storage.s3")

MAX_PARTS = 10_000
PART_GROWTH_EVERY = 1_000  # part size doubles every 1,000 parts: 10,000 parts reach petabytes


class S3BlobWriter:
    """A blob being written (see the module docstring). One task at a time."""

    def __init__(self, store: S3BlobStore) -> None:
        self._store = store
        self._chunks: list[bytes] = []  # the current part (or the whole blob while buffered)
        self._buffered = 0  # bytes in _chunks
        self._reserved = 0  # budget held for _chunks
        self._size = 0
        self._spool: SpoolFile | None = None
        self._finished = False
        # streaming / physical-object state
        self._token: str | None = None
        self._start: asyncio.Future[str] | None = None  # -> multipart upload id
        self._parts: list[asyncio.Future[str]] = []  # -> part ETags, in part order
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
        self._size += len(chunk)
        store = self._store
        if self._spool is not None:
            await self._spool_write(chunk)
            return
        if self._start is None:  # buffered
            if self._buffered + len(chunk) <= store.part_size:
                if store.budget.try_take(len(chunk)):
                    self._reserved += len(chunk)
                    self._append(chunk)
                    return
                await self._to_spool(chunk)
                return
            self._begin_streaming()
        self._check_parts()
        if self._reserved == 0:
            # A new part: take its memory first (waits while the store is slow), holding
            # nothing but parts in flight, which finish on their own.
            await store.budget.take(self._part_size())
            self._reserved = self._part_size()
        if self._buffered + len(chunk) > self._reserved:
            store.budget.force_take(len(chunk))  # overdraft of at most one chunk
            self._reserved += len(chunk)
        self._append(chunk)
        if self._buffered >= self._part_size():
            await self._send_part()

    def _append(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._buffered += len(chunk)

    def _part_size(self) -> int:
        return self._store.part_size << (len(self._parts) // PART_GROWTH_EVERY)

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

    def _begin_streaming(self) -> None:
        """Record the pending upload and create the multipart upload, in the background."""
        self._token = blobindex.new_token()
        self._start = asyncio.ensure_future(self._store.begin_multipart(self._token))

    def _check_parts(self) -> None:
        for part in self._parts:
            if part.done() and not part.cancelled() and part.exception() is not None:
                raise StorageError(f"uploading a part failed: {part.exception()}")

    async def _send_part(self) -> None:
        """Hand the buffered bytes to a part upload; wait while too many are in flight."""
        data = b"".join(self._chunks) if len(self._chunks) != 1 else self._chunks[0]
        reserved = self._reserved
        self._chunks, self._buffered, self._reserved = [], 0, 0
        number = len(self._parts) + 1
        if number > MAX_PARTS:
            self._store.budget.give(reserved)
            raise StorageError("blob too large: more than 10,000 parts")
        assert self._start is not None and self._token is not None
        self._parts.append(
            asyncio.ensure_future(
                self._store.upload_part(self._token, self._start, number, data, reserved)
            )
        )
        del data
        in_flight = [p for p in self._parts if not p.done()]
        if len(in_flight) > self._store.max_concurrency:
            await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
        self._check_parts()

    # -- commit -----------------------------------------------------------------------------------

    async def commit(self, blob_id: BlobId) -> None:
        """Store the blob under ``blob_id`` unless the index knows it already; atomic and
        idempotent. Cancelling the caller does not cancel the commit (``abort`` waits for it)."""
        blob_id = check_blob_id(blob_id)
        if self._finished:
            raise InvalidArgument("commit after commit or abort")
        self._finished = True
        self._publishing = asyncio.ensure_future(self._commit(blob_id))
        await asyncio.shield(self._publishing)

    async def _commit(self, blob_id: BlobId) -> None:
        store = self._store
        try:
            if self._start is not None:
                if self._chunks:
                    await self._send_part()
                etags = await asyncio.gather(*self._parts)
                upload_id = await self._start
                self._release_reserved()
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
        for part in self._parts:
            part.cancel()
        if self._parts:
            await asyncio.gather(*self._parts, return_exceptions=True)
        self._parts = []
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
