"""Imports point down only: each layer is imported in a fresh interpreter and must not load a
module that belongs to a layer above it or to infrastructure it must not know."""

from __future__ import annotations

import subprocess
import sys

import pytest

FORBIDDEN: dict[str, tuple[str, ...]] = {
    # The engine: stdlib, blake3, msgpack only.
    "gateway.core.lake": (
        "aiohttp",
        "lmdb",
        "psycopg",
        "psycopg_pool",
        "aiobotocore",
        "botocore",
        "gateway.meta",
        "gateway.storage",
        "gateway.s3",
        "gateway.admin",
        "gateway.server",
    ),
    "gateway.core.tree": ("aiohttp", "lmdb", "aiobotocore", "gateway.meta", "gateway.storage"),
    # Every module of the engine, the ports included: no database driver.
    "gateway.core.ports": ("psycopg", "psycopg_pool", "lmdb", "aiohttp"),
    "gateway.core.committing": ("psycopg", "psycopg_pool", "lmdb", "aiohttp"),
    "gateway.core.tree.merge": (
        "aiohttp",
        "lmdb",
        "aiobotocore",
        "gateway.meta",
        "gateway.storage",
    ),
    # Backends know the ports, not each other, nor the protocols.
    "gateway.meta.lmdb_store": (
        "psycopg",
        "aiohttp",
        "aiobotocore",
        "gateway.storage",
        "gateway.s3",
        "gateway.admin",
        "gateway.server",
    ),
    "gateway.meta.postgres_store": (
        "lmdb",
        "aiohttp",
        "aiobotocore",
        "gateway.meta.lmdb_store",
        "gateway.storage",
        "gateway.s3",
        "gateway.admin",
        "gateway.server",
    ),
    # The embedded default never loads the database driver: it is imported only when
    # meta.backend = "postgres" (and by ``weir db`` commands when they run).
    "gateway.server": ("psycopg", "psycopg_pool", "gateway.meta.postgres_store"),
    "gateway.storage.local": (
        "aiohttp",
        "lmdb",
        "gateway.meta",
        "gateway.s3",
        "gateway.admin",
        "gateway.server",
    ),
    # Imports run on the facade and the S3 data path; they know no protocol layer, no database.
    "gateway.importer.service": (
        "lmdb",
        "gateway.meta",
        "gateway.s3",
        "gateway.admin",
        "gateway.server",
    ),
    "gateway.core.imports": ("aiohttp", "lmdb", "aiobotocore", "botocore", "gateway.storage"),
    "gateway.core.blobindex": ("aiohttp", "lmdb", "aiobotocore", "botocore", "gateway.storage"),
    "gateway.storage.s3": ("lmdb", "gateway.meta", "gateway.s3", "gateway.admin", "gateway.server"),
    # Garbage collection sits on the engine's ports; its on-disk mark set (lmdb) loads only
    # when a collection runs, so the admin API can hold a collector without loading lmdb.
    "gateway.gc.collector": (
        "aiohttp",
        "lmdb",
        "aiobotocore",
        "gateway.meta",
        "gateway.storage",
        "gateway.s3",
        "gateway.admin",
        "gateway.server",
    ),
    # Protocol layers sit on the facade, not on concrete backends or on each other.
    "gateway.s3.app": (
        "lmdb",
        "gateway.meta",
        "gateway.storage",
        "gateway.admin",
        "gateway.server",
    ),
    "gateway.admin.app": (
        "lmdb",
        "gateway.meta",
        "gateway.storage",
        "gateway.s3",
        "gateway.server",
    ),
    # Isolated runs sit on the engine and the user store; the protocols meet them only through
    # the ``LakeScope`` port, and they know no concrete backend.
    "gateway.runs.service": (
        "aiohttp",
        "lmdb",
        "aiobotocore",
        "gateway.meta",
        "gateway.storage",
        "gateway.s3",
        "gateway.admin",
        "gateway.server",
    ),
    "gateway.client.runs": (
        "aiohttp",
        "lmdb",
        "gateway.core",
        "gateway.runs",
        "gateway.server",
    ),
    # The web UI's server part only serves its files: it knows no engine, store or protocol.
    "gateway.ui": (
        "lmdb",
        "gateway.core.lake",
        "gateway.meta",
        "gateway.storage",
        "gateway.s3",
        "gateway.admin",
        "gateway.server",
    ),
    # Previews read bytes through a range reader they are given; no web framework, no engine.
    "gateway.preview": (
        "aiohttp",
        "lmdb",
        "gateway.core.lake",
        "gateway.meta",
        "gateway.storage",
        "gateway.s3",
        "gateway.admin",
        "gateway.server",
    ),
    # The public client speaks HTTP to a server with the standard library only: a job imports it
    # without pulling in the server, the engine or a web framework.
    "gateway.client": (
        "aiohttp",
        "lmdb",
        "gateway.core",
        "gateway.meta",
        "gateway.storage",
        "gateway.s3",
        "gateway.admin",
        "gateway.server",
    ),
    # The supervisor of `weir serve --workers N` only binds sockets and manages processes; the
    # application lives in the workers (fresh interpreters), never in it.
    "gateway.workers.supervisor": (
        "aiohttp",
        "lmdb",
        "aiobotocore",
        "gateway.core.lake",
        "gateway.meta",
        "gateway.storage",
        "gateway.s3",
        "gateway.admin",
        "gateway.server",
    ),
    # The CLI speaks HTTP to a server through the client; it never loads the engine or a backend.
    "gateway.cli.main": (
        "lmdb",
        "psycopg",
        "gateway.core.lake",
        "gateway.meta",
        "gateway.storage",
        "gateway.s3",
        "gateway.admin",
    ),
    # The audit trail sits on the ports: no web framework, no concrete store.
    "gateway.audit.kv": (
        "aiohttp",
        "lmdb",
        "gateway.meta",
        "gateway.storage",
        "gateway.s3",
        "gateway.admin",
        "gateway.server",
    ),
    "gateway.audit.requests": ("aiohttp", "lmdb", "gateway.meta", "gateway.storage"),
    # Lineage drawings are pure functions of the API's JSON: the CLI renders with them.
    "gateway.lineage.render": (
        "aiohttp",
        "lmdb",
        "gateway.core",
        "gateway.meta",
        "gateway.storage",
        "gateway.admin",
        "gateway.server",
    ),
}

PROBE = """
import importlib, sys
importlib.import_module(sys.argv[1])
bad = [m for m in sys.modules for f in sys.argv[2:] if m == f or m.startswith(f + ".")]
print("\\n".join(sorted(set(bad))))
"""


@pytest.mark.parametrize("module", sorted(FORBIDDEN))
def test_layer_imports_point_down(module: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, module, *FORBIDDEN[module]],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "", f"{module} loaded forbidden modules:\n{out.stdout}"
