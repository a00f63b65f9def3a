"""Helpers for engine tests: a Lake on in-memory stores and one-call object writes."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from gateway.core.lake import Lake
from gateway.core.model import Entry
from gateway.meta.memory_store import MemoryKVStore
from gateway.storage.memory import MemoryBlobStore


def memory_lake() -> Lake:
    return Lake(MemoryKVStore(), MemoryBlobStore())


async def chunks_of(data: bytes, size: int = 7) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def put(lake: Lake, repo: str, branch: str, path: str, data: bytes, **meta: str) -> Entry:
    info = await lake.ingest(chunks_of(data))
    entry = Entry(
        address=info.blob_id,
        size=info.size,
        etag=info.md5_hex,
        content_type="text/plain",
        metadata=meta,
        mtime=time.time(),
    )
    return await lake.put_object(repo, branch, path, entry)


async def read(lake: Lake, repo: str, ref: str, path: str) -> bytes:
    entry = await lake.stat_object(repo, ref, path)
    return b"".join([c async for c in lake.read_entry(entry)])


async def state(lake: Lake, repo: str, ref: str) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    after = ""
    while True:
        page = await lake.list_objects(repo, ref, after=after, limit=3)
        for path, entry in page.objects:
            out[path] = b"".join([c async for c in lake.read_entry(entry)])
        if not page.truncated:
            return out
        assert page.next_after is not None
        after = page.next_after
