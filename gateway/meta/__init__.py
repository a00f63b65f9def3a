"""Metadata stores: ordered, transactional key-value stores implementing ``core.ports.KVStore``.

* ``LmdbKVStore`` (``gateway.meta.lmdb_store``) — the embedded store: one LMDB environment,
  durable group commit. The default.
* ``PostgresKVStore`` (``gateway.meta.postgres_store``) — PostgreSQL, shared by many gateways;
  schema in ``pg_schema`` and ``migrations/``.
* ``MemoryKVStore`` (``gateway.meta.memory_store``) — in memory, for unit tests.

All accept keys of 1 to ``MAX_KEY_BYTES`` bytes (``InvalidArgument`` otherwise). The stores are
loaded on first use, so that using one never imports another's driver.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway.meta.limits import MAX_KEY_BYTES

if TYPE_CHECKING:
    from gateway.meta.lmdb_store import LmdbKVStore
    from gateway.meta.memory_store import MemoryKVStore

__all__ = ["MAX_KEY_BYTES", "LmdbKVStore", "MemoryKVStore"]


def __getattr__(name: str) -> Any:
    if name == "LmdbKVStore":
        from gateway.meta.lmdb_store import LmdbKVStore

        return LmdbKVStore
    if name == "MemoryKVStore":
        from gateway.meta.memory_store import MemoryKVStore

        return MemoryKVStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
