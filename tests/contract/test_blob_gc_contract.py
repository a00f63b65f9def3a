"""What garbage collection needs of every blob backend: an inventory with times, a conditional
delete, and claims by deduplicated writes (``BlobStore.inventory``, ``delete(unused_since)``)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from gateway.core.ids import BlobId
from gateway.core.ports import BlobStore
from gateway.storage.local import LocalBlobStore
from gateway.storage.memory import MemoryBlobStore
from tests.contract.blob_fixtures import *  # noqa: F403
from tests.support.blob_helpers import payload, put


async def _inventory(store: BlobStore, prefix: str = "") -> dict[BlobId, tuple[int, float]]:
    return {b: (s.size, s.mtime) for b, s in [x async for x in store.inventory(prefix)]}


async def test_inventory_lists_sizes_and_times(blob_store: BlobStore) -> None:
    before = time.time()
    a = await put(blob_store, payload(1000, seed=1))
    b = await put(blob_store, payload(70_000, seed=2))
    found = await _inventory(blob_store)
    assert found.keys() == {a, b}
    assert found[a][0] == 1000 and found[b][0] == 70_000
    for _, mtime in found.values():
        # S3 LastModified has one-second resolution; nothing is from the future either.
        assert before - 2 <= mtime <= time.time() + 2
    assert (await _inventory(blob_store, a[:3])).keys() == {a}


async def test_conditional_delete_keeps_what_is_newer_than_the_bound(blob_store: BlobStore) -> None:
    a = await put(blob_store, payload(5000, seed=3))
    assert not await blob_store.delete(a, unused_since=time.time() - 3600)
    assert await blob_store.exists(a)
    assert await blob_store.delete(a, unused_since=time.time() + 3600)
    assert not await blob_store.exists(a)
    assert not await blob_store.delete(a, unused_since=time.time() + 3600)


def _backdate(store: BlobStore, blob_id: BlobId, when: float) -> None:
    if isinstance(store, LocalBlobStore):
        os.utime(store.path_of(blob_id), (when, when))
    else:
        assert isinstance(store, MemoryBlobStore)
        store.mtimes[blob_id] = when


@pytest.mark.parametrize("kind", ["local", "memory"])
async def test_a_deduplicated_write_claims_the_blob(kind: str, tmp_path: Path) -> None:
    """A write of bytes the store already has makes the blob young again, so a collection that
    decided on an older inventory keeps it. (S3: the blake3 index's ``touched``, tested with the
    index in tests/contract/test_blob_contract.py.)"""
    store: BlobStore = LocalBlobStore(tmp_path) if kind == "local" else MemoryBlobStore()
    try:
        data = payload(40_000, seed=4)
        a = await put(store, data)
        _backdate(store, a, time.time() - 7200)
        bound = time.time() - 3600  # a collection with a one-hour grace period
        assert await put(store, data) == a  # dedup: claims
        assert not await store.delete(a, unused_since=bound)
        assert await store.exists(a)
        _backdate(store, a, time.time() - 7200)
        assert await store.delete(a, unused_since=bound)
    finally:
        await store.close()
