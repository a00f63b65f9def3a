"""The streaming chunker: turns a sorted stream of items of one level into a prolly tree.

Used by ``tree.build`` (items are entries at level 0) and by ``tree.apply`` (items are the new
nodes of the old root's level when the tree grows).
"""

from __future__ import annotations

from gateway.core.tree.node import NodeCache, NodeStore, RawValue, is_boundary, write_node

#: Root id of the empty map.
EMPTY_TREE: bytes = b""


class LevelBuilder:
    """Feed items of level ``base_level`` in strictly increasing key order; ``finish`` returns
    the root id.

    Memory: one node's worth of items per level. A node is closed lazily -- when the item after
    a boundary arrives -- so that ``finish`` knows which level is the first with a single node
    (that node is the root; no single-child chains are written above it).

    Not thread-safe: one builder per thread.
    """

    def __init__(self, store: NodeStore, cache: NodeCache, base_level: int = 0) -> None:
        self._store = store
        self._cache = cache
        self._base = base_level
        self._keys: list[list[str]] = []
        self._vals: list[list[RawValue]] = []
        self._cut: list[bool] = []  # the last item added at this level is a boundary
        self._written: list[int] = []  # nodes written so far at this level

    def add(self, key: str, val: RawValue, boundary: bool) -> None:
        """Append an item at the base level; ``boundary`` is ``is_boundary(key, base_level)``."""
        self._add(0, key, val, boundary)

    def _add(self, i: int, key: str, val: RawValue, boundary: bool) -> None:
        if i == len(self._keys):
            self._keys.append([])
            self._vals.append([])
            self._cut.append(False)
            self._written.append(0)
        elif self._cut[i]:
            self._flush(i)
        self._keys[i].append(key)
        self._vals[i].append(val)
        self._cut[i] = boundary

    def _flush(self, i: int) -> None:
        keys = self._keys[i]
        vals = self._vals[i]
        level = self._base + i
        node_id = write_node(self._store, self._cache, level, keys, vals)
        count = len(keys) if level == 0 else sum(v[1] for v in vals)
        self._keys[i] = []
        self._vals[i] = []
        self._written[i] += 1
        last = keys[-1]
        self._add(i + 1, last, (node_id, count), is_boundary(last, level + 1))

    def finish(self) -> bytes:
        """Write the pending nodes and return the root id (``EMPTY_TREE`` if nothing was added).

        When the base level is above 0 and holds a single item, the root is that item's child,
        which may itself have a single child: callers that need the canonical root must collapse
        single-child chains (see ``tree_apply``).
        """
        i = 0
        while i < len(self._keys):
            keys = self._keys[i]
            if self._written[i] == 0:
                # Everything of this level is pending: it is the root level.
                if self._base + i > 0 and len(keys) == 1:
                    child: bytes = self._vals[i][0][0]
                    return child
                return write_node(self._store, self._cache, self._base + i, keys, self._vals[i])
            self._flush(i)
            i += 1
        return EMPTY_TREE
