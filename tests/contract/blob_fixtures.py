"""Pytest fixtures for blob backends and the real S3 servers behind the S3 backend.

Import them into a test module (``from tests.contract.blob_fixtures import *  # noqa: F403``);
``pytest_plugins`` is only allowed in the rootdir conftest.

* ``seaweedfs_server`` / ``moto_server``: session-scoped, started on first use only.
* ``blob_store``: function-scoped, parametrised over every backend (``BLOB_BACKENDS``); S3
  stores get a fresh key prefix per test in one session bucket, so listings are isolated.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest import TempPathFactory

from gateway.core.ports import BlobStore, KVStore
from gateway.meta.memory_store import MemoryKVStore
from gateway.storage.local import LocalBlobStore
from gateway.storage.memory import MemoryBlobStore
from gateway.storage.s3 import MIN_PART_SIZE, S3BlobStore
from tests.support import weir_backend
from tests.support.s3servers import S3Server, start_moto

__all__ = [
    "BLOB_BACKENDS",
    "S3_TEST_PART_SIZE",
    "blob_store",
    "moto_bucket",
    "moto_server",
    "seaweedfs_bucket",
    "seaweedfs_server",
]

BLOB_BACKENDS = ["local", "memory", "s3-seaweedfs", "s3-moto"]
S3_TEST_PART_SIZE = MIN_PART_SIZE  # small parts: multipart paths run with modest blobs


# Fixtures imported into several test modules become one fixture definition per module, each
# with its own session-scoped cache; this process-wide cache keeps it one server per session.
_SERVERS: dict[str, S3Server] = {}
_BUCKETS: dict[str, str] = {}


def _shared_server(kind: str, factory: TempPathFactory) -> S3Server:
    server = _SERVERS.get(kind)
    if server is None:
        if kind == "seaweedfs":  # one SeaweedFS per test process, shared with the Weir servers
            server = _SERVERS[kind] = weir_backend.seaweedfs()
        else:
            server = _SERVERS[kind] = start_moto(factory.mktemp(kind))
    return server


def _shared_bucket(kind: str, server: S3Server) -> str:
    if kind not in _BUCKETS:
        _BUCKETS[kind] = server.make_bucket("weir-blob-contract")
    return _BUCKETS[kind]


@pytest.fixture(scope="session")
def seaweedfs_server(tmp_path_factory: TempPathFactory) -> Iterator[S3Server]:
    """One SeaweedFS (``weed mini``) for the whole session."""
    server = _shared_server("seaweedfs", tmp_path_factory)
    try:
        yield server
    finally:
        server.stop()  # idempotent; every session-scoped finaliser runs at session end


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: TempPathFactory) -> Iterator[S3Server]:
    """One moto server for the whole session."""
    server = _shared_server("moto", tmp_path_factory)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def seaweedfs_bucket(seaweedfs_server: S3Server) -> str:
    return _shared_bucket("seaweedfs", seaweedfs_server)


@pytest.fixture(scope="session")
def moto_bucket(moto_server: S3Server) -> str:
    return _shared_bucket("moto", moto_server)


def make_s3_store(
    server: S3Server, bucket: str, tmp_path: Path, *, kv: KVStore | None = None, **options: Any
) -> S3BlobStore:
    """An S3 store on ``server`` under a fresh prefix, with the test part size, spooling to
    ``tmp_path / "weir-s3-spool"``, its blob index in ``kv`` (a fresh in-memory store)."""
    return S3BlobStore(
        kv=kv or MemoryKVStore(),
        bucket=bucket,
        prefix=f"t-{secrets.token_hex(6)}",
        endpoint_url=server.endpoint_url,
        region=server.region,
        access_key_id=server.access_key_id,
        secret_access_key=server.secret_access_key,
        spool_dir=tmp_path / "weir-s3-spool",
        **({"part_size": S3_TEST_PART_SIZE} | options),
    )


@pytest.fixture(params=BLOB_BACKENDS)
async def blob_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlobStore]:
    """A fresh, empty store of each backend kind (servers start lazily, once per session)."""
    kind: str = request.param
    store: BlobStore
    if kind == "local":
        store = LocalBlobStore(tmp_path / "blobs")
    elif kind == "memory":
        store = MemoryBlobStore()
    elif kind == "s3-seaweedfs":
        server: S3Server = request.getfixturevalue("seaweedfs_server")
        store = make_s3_store(server, request.getfixturevalue("seaweedfs_bucket"), tmp_path)
    elif kind == "s3-moto":
        server = request.getfixturevalue("moto_server")
        store = make_s3_store(server, request.getfixturevalue("moto_bucket"), tmp_path)
    else:
        raise AssertionError(kind)
    try:
        yield store
    finally:
        await store.close()
