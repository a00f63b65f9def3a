"""Small helpers for tests that write and read blobs through any ``BlobStore``."""

from __future__ import annotations

import random

from blake3 import blake3

from gateway.core.ids import BlobId
from gateway.core.ports import BlobStore

MiB = 1024 * 1024


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def id_of(data: bytes) -> BlobId:
    return BlobId(blake3(data).hexdigest())


def fake_id(head: str) -> BlobId:
    """An id with a chosen prefix: backends do not hash, so any 64-hex name is storable."""
    return BlobId(head + "0" * (64 - len(head)))


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


async def put(
    store: BlobStore, data: bytes, chunk: int = MiB, blob_id: str | None = None
) -> BlobId:
    writer = await store.open_writer()
    for piece in chunked(data, chunk):
        await writer.write(piece)
    bid = BlobId(blob_id) if blob_id else id_of(data)
    await writer.commit(bid)
    return bid


async def chunks_of(
    store: BlobStore, blob_id: BlobId, offset: int = 0, length: int | None = None
) -> list[bytes]:
    return [c async for c in store.read(blob_id, offset, length)]


async def read_all(
    store: BlobStore, blob_id: BlobId, offset: int = 0, length: int | None = None
) -> bytes:
    return b"".join(await chunks_of(store, blob_id, offset, length))


async def listed(store: BlobStore, prefix: str = "") -> list[BlobId]:
    return sorted([b async for b in store.list(prefix)])


async def blob_hash(store: BlobStore, bid: BlobId) -> str:
    hasher = blake3()
    async for chunk in store.read(bid):
        hasher.update(chunk)
    return str(hasher.hexdigest())
