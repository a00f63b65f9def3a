"""Helpers for garbage-collection tests against a real server: run a collection through the
admin API and wait for it (bounded), and count what a stopped server's data directory holds."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from gateway.client.api import AdminClient
from gateway.core.ports import BlobStore
from gateway.meta.lmdb_store import LmdbKVStore
from tests.functional.conftest import WeirServer
from tests.support import gc_census

#: A collection of a test-sized lake takes well under a second; this bounds a hang, it is not
#: a timing assertion.
GC_DEADLINE_S = 120.0
POLL_S = 0.05


def admin(server: WeirServer) -> AdminClient:
    return AdminClient(server.endpoint, server.access_key, server.secret_key)


def run_gc(client: AdminClient, **kwargs: Any) -> dict[str, Any]:
    """Start a collection and wait until it is no longer running; return its report."""
    run: dict[str, Any] = client.start_gc(**kwargs)
    deadline = time.monotonic() + GC_DEADLINE_S
    while run["state"] == "running":
        assert time.monotonic() < deadline, f"collection {run['id']} still running: {run}"
        time.sleep(POLL_S)
        run = client.get_gc_run(run["id"])
    return run


def census(data_dir: Path, blobs: BlobStore) -> tuple[gc_census.Census, gc_census.Census]:
    """(expected, stored) of a data directory whose server is stopped."""
    kv = LmdbKVStore(data_dir / "meta")
    try:

        async def backend() -> set[str]:
            try:
                return {b async for b, _ in blobs.inventory()}
            finally:
                await blobs.close()

        stored_blobs = asyncio.run(backend())
        exp = kv.read_sync(gc_census.expected)
        have = kv.read_sync(lambda r: gc_census.stored(r, stored_blobs))
        return exp, have
    finally:
        kv.close()
