"""A node store that buffers the nodes a computation writes, for publication in one transaction.

Tree work (commit, merge) runs in a read snapshot; the nodes it creates are immutable and named by
their hash, so they can be written before the branch moves: a crash in between leaves only
unreferenced nodes. Large computations flush the buffer in batches to bound memory.
"""

from __future__ import annotations

from gateway.core import audit, gcrefs, keys
from gateway.core.ports import KVStore, KVWriter
from gateway.core.view import KVNodeStore

FLUSH_BYTES = 64 << 20


class BufferedNodeStore:
    """``NodeStore`` reading through a snapshot and buffering writes.

    Not thread-safe: one per computation.
    """

    def __init__(self, snapshot: KVNodeStore, kv: KVStore) -> None:
        self._snap = snapshot
        self._kv = kv
        self._buf: dict[bytes, bytes] = {}
        self._size = 0
        self._flushed = False

    def get_node(self, node_id: bytes) -> bytes | None:
        v = self._buf.get(node_id)
        if v is not None:
            return v
        v = self._snap.get_node(node_id)
        if v is None and self._flushed:
            v = self._kv.read_sync(lambda r: r.get(keys.node(node_id)))
        return v

    def put_node(self, node_id: bytes, data: bytes) -> None:
        if node_id in self._buf:
            return
        self._buf[node_id] = data
        self._size += len(data)
        if self._size >= FLUSH_BYTES:
            batch = self._buf
            self._buf = {}
            self._size = 0
            with audit.housekeeping():  # immutable nodes, unreferenced until published
                self._kv.write_sync(lambda w: write_young_nodes(w, batch))
            self._flushed = True

    def pending(self) -> dict[bytes, bytes]:
        """Nodes not yet written; the caller writes them in its publication transaction."""
        return self._buf


def write_young_nodes(w: KVWriter, nodes: dict[bytes, bytes]) -> None:
    """Write nodes that a later transaction will reference (a large commit's flushed nodes, a
    run's manifest tree before the commit naming it): young until then (``gcrefs``)."""
    write_nodes(w, nodes)
    gcrefs.note_young(w, [gcrefs.node_ref(n) for n in nodes])


def write_nodes(w: KVWriter, nodes: dict[bytes, bytes]) -> None:
    for node_id, data in nodes.items():
        w.put(keys.node(node_id), data)
