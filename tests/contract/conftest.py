"""Fixtures for the metadata (KV) store contract tests. Blob fixtures live in blob_fixtures.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.meta.lmdb_store import LmdbKVStore
from gateway.meta.memory_store import MemoryKVStore

KV_BACKENDS = ["lmdb", "memory"]

KVStoreImpl = LmdbKVStore | MemoryKVStore
KVLmdbFactory = Callable[..., LmdbKVStore]


@pytest.fixture
def kv_lmdb_factory(tmp_path: Path) -> Iterator[KVLmdbFactory]:
    """Opens ``LmdbKVStore``s (in ``tmp_path/kv`` unless ``path=`` is given); closes them all."""
    opened: list[LmdbKVStore] = []

    def make(path: Path | None = None, **options: Any) -> LmdbKVStore:
        store = LmdbKVStore(path or tmp_path / "kv", **options)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture(params=KV_BACKENDS)
def kv_store(
    request: pytest.FixtureRequest, kv_lmdb_factory: KVLmdbFactory
) -> Iterator[KVStoreImpl]:
    """A fresh, empty store of every kind."""
    if request.param == "lmdb":
        yield kv_lmdb_factory()
        return
    store = MemoryKVStore()
    yield store
    store.close()
