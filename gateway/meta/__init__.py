"""Metadata stores: ordered, transactional key-value stores implementing ``core.ports.KVStore``.

* ``LmdbKVStore`` — the embedded store: one LMDB environment, durable group commit.
* ``MemoryKVStore`` — in memory, for unit tests.

Both accept keys of 1 to ``MAX_KEY_BYTES`` bytes (``InvalidArgument`` otherwise).
"""

from gateway.meta.limits import MAX_KEY_BYTES
from gateway.meta.lmdb_store import LmdbKVStore
from gateway.meta.memory_store import MemoryKVStore

__all__ = ["MAX_KEY_BYTES", "LmdbKVStore", "MemoryKVStore"]
