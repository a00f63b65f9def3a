"""Streaming a body into a content-addressed blob: one pass, every digest, off the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping

import blake3

from gateway.core.errors import IncompleteBody
from gateway.core.ids import BlobId
from gateway.core.lake.types import Hasher
from gateway.core.model import BlobInfo
from gateway.core.ports import BlobStore, BlobWriter

#: Bodies are hashed and written in pieces of at least this size (fewer thread hops).
CHUNK = 1 << 20
#: Below this a piece is hashed on the event loop: a thread hop costs more than the hashing.
INLINE_HASH_LIMIT = 64 << 10

#: Persists a small blob in the metadata store (``blob_id``, bytes); durable when it returns.
InlineSink = Callable[[BlobId, bytes], Awaitable[None]]


async def ingest(
    blobs: BlobStore,
    chunks: AsyncIterable[bytes],
    *,
    hashers: Mapping[str, Hasher] | None = None,
    check: Callable[[BlobInfo, Mapping[str, bytes]], None] | None = None,
    inline_limit: int = 0,
    inline_sink: InlineSink | None = None,
    defer_inline: bool = False,
    size: int | None = None,
) -> BlobInfo:
    """Write ``chunks`` into a new blob named by its blake3, computing MD5 and ``hashers`` in the
    same pass. Hashing of a piece runs in a worker thread while the backend writes the previous
    piece, so the event loop only moves buffers.

    A body of at most ``inline_limit`` bytes never reaches the blob backend: it is handed to
    ``inline_sink`` (the metadata store), which saves a file create, an fsync and a rename per
    small object. The backend writer is opened only once the body outgrows that limit. With
    ``defer_inline`` the small body is not stored but returned in ``BlobInfo.data``: the caller
    must hand that info to the write that records the object, which stores both in one
    transaction.

    ``size`` is the length the client announced, when it did: the backend may then stream the
    bytes to their destination as they arrive (``BlobStore.open_writer``). A body running past
    it raises IncompleteBody at once; one falling short is left to ``check``.

    ``check`` runs after the last byte and before the blob is published; if it raises, the blob
    is aborted and nothing is stored. Any exception from ``chunks`` (a client that went away)
    aborts the blob too. Returns once the blob is durable.
    """
    extra = dict(hashers or {})
    b3 = blake3.blake3()
    md5 = hashlib.md5()
    all_hashers: list[Hasher] = [b3, md5, *extra.values()]
    if inline_sink is None:
        inline_limit = 0

    def update(data: bytes) -> None:
        for h in all_hashers:
            h.update(data)

    writer: BlobWriter | None = None
    total = 0
    # Three stages overlap: the loop receives piece i+1 while a worker thread hashes piece i and
    # the backend writes piece i. Each stage handles pieces in order (it awaits its previous one).
    hashing: asyncio.Future[None] | None = None
    pending: asyncio.Future[None] | None = None  # the previous piece's backend write
    parts: list[bytes] = []
    buffered = 0
    loop = asyncio.get_running_loop()
    try:

        async def flush(piece: bytes) -> None:
            nonlocal hashing, pending, writer
            if hashing is not None:
                await hashing
                hashing = None
            if len(piece) <= INLINE_HASH_LIMIT:
                update(piece)
            else:
                hashing = loop.run_in_executor(None, update, piece)
            if writer is None:
                writer = await blobs.open_writer(size)
            if pending is not None:
                await pending
            pending = asyncio.ensure_future(writer.write(piece))

        async for chunk in chunks:
            if not chunk:
                continue
            total += len(chunk)
            if size is not None and total > size:
                raise IncompleteBody(f"the body is longer than the {size} bytes announced")
            if not parts and len(chunk) >= CHUNK:
                await flush(bytes(chunk))
                continue
            parts.append(bytes(chunk))
            buffered += len(chunk)
            if buffered >= CHUNK:
                piece = b"".join(parts)  # one copy per byte, not one per append
                parts.clear()
                buffered = 0
                await flush(piece)
        rest = b"".join(parts)
        small = inline_sink is not None and writer is None and total <= inline_limit
        if small:
            update(rest)
        elif rest:
            await flush(rest)
        elif writer is None:  # an empty body with no inline store
            writer = await blobs.open_writer(size)
        if hashing is not None:
            await hashing
            hashing = None
        if pending is not None:
            await pending
            pending = None
        info = BlobInfo(blob_id=BlobId(b3.hexdigest()), size=total, md5_hex=md5.hexdigest())
        if check is not None:
            check(info, {name: h.digest() for name, h in extra.items()})
        if small and defer_inline:
            return dataclasses.replace(info, data=rest)
        if small:
            assert inline_sink is not None
            await inline_sink(info.blob_id, rest)
        else:
            assert writer is not None
            await writer.commit(info.blob_id)
        return info
    except BaseException:
        for stage in (hashing, pending):
            if stage is not None:
                stage.cancel()
                with contextlib.suppress(BaseException):  # the original error is what matters
                    await stage
        if writer is not None:
            await writer.abort()
        raise
