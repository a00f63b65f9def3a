"""Fixtures for the metadata (KV) store contract tests. Blob fixtures live in blob_fixtures.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.meta.lmdb_store import LmdbKVStore
from gateway.meta.memory_store import MemoryKVStore
from gateway.meta.postgres_store import PostgresKVStore
from tests.support.postgres import PostgresServer, new_schema_name, shared_server

KV_BACKENDS = ["lmdb", "memory", "postgres"]

KVStoreImpl = LmdbKVStore | MemoryKVStore | PostgresKVStore
KVLmdbFactory = Callable[..., LmdbKVStore]
KVPgFactory = Callable[..., PostgresKVStore]


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


@pytest.fixture(scope="session")
def pg_server() -> PostgresServer:
    """The real PostgreSQL server of this test session (started on first use)."""
    return shared_server()


@pytest.fixture
def kv_pg_factory(pg_server: PostgresServer) -> Iterator[KVPgFactory]:
    """Opens ``PostgresKVStore``s, each in a fresh schema unless ``schema=`` is given."""
    opened: list[PostgresKVStore] = []

    def make(schema: str | None = None, **options: Any) -> PostgresKVStore:
        store = PostgresKVStore(pg_server.dsn, schema=schema or new_schema_name(), **options)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture(params=KV_BACKENDS)
def kv_store(
    request: pytest.FixtureRequest, kv_lmdb_factory: KVLmdbFactory, tmp_path: Path
) -> Iterator[KVStoreImpl]:
    """A fresh, empty store of every kind."""
    if request.param == "lmdb":
        yield kv_lmdb_factory()
        return
    if request.param == "postgres":
        yield request.getfixturevalue("kv_pg_factory")()
        return
    store = MemoryKVStore()
    yield store
    store.close()
