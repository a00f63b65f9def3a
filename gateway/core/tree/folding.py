"""Folding a sorted batch of changes into a prolly tree, touching only the affected nodes.

The algorithm works one level at a time, bottom-up. Each level of a tree is a sorted sequence
of items cut into nodes after every boundary key (``tree_node.is_boundary``); the items of level
``L + 1`` are the nodes of level ``L`` (``last key -> (node id, count)``). A batch of changes
to level ``L`` therefore:

1. finds, from the root, the level-``L`` node holding the first unprocessed change;
2. merges that node's items with its changes and re-cuts them at boundary keys. Only inserted
   keys and the node's old last key can be boundaries (every other key of an old node is not,
   or it would have ended that node), so re-cutting hashes only those keys;
3. if the re-cut leaves a tail with no boundary (the old last key was deleted), the next node
   of the level is pulled in and the run continues -- the same node layout ``build`` produces;
4. records, as changes for level ``L + 1``, the removed old nodes and the written new nodes.

At the root's level the written nodes are the whole new level: none is the empty tree, one is
the new root (after dropping single-child levels), more grow the tree with ``LevelBuilder``.
Cost: O(k * height) node reads and writes for k changes; the result is the tree ``build`` would
produce for the resulting map (history independence).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from operator import itemgetter

from gateway.core.tree.builder import EMPTY_TREE, LevelBuilder
from gateway.core.tree.node import (
    Node,
    NodeCache,
    NodeStore,
    RawValue,
    encode_node,
    is_boundary,
    load_node,
)

#: One change to a level: a key and its new raw value, or None to delete it.
RawChange = tuple[str, RawValue | None]

_key = itemgetter(0)


class _Reader:
    """Node access for one ``apply`` call: internal nodes are memoised so that the repeated
    descents from the root read each node from the store (or cache) once."""

    def __init__(self, store: NodeStore, cache: NodeCache) -> None:
        self.store = store
        self.cache = cache
        self._memo: dict[bytes, Node] = {}

    def node(self, node_id: bytes) -> Node:
        node = self._memo.get(node_id)
        if node is None:
            node = load_node(self.store, self.cache, node_id)
            if node.level > 0:
                self._memo[node_id] = node
        return node

    def locate(self, root: bytes, level: int, key: str, *, after: bool) -> tuple[bytes, Node, bool]:
        """The node at ``level`` whose range holds ``key`` (first node with last key >= key, or
        the last node); with ``after``, the first node whose last key is > ``key`` (which must
        exist). Returns ``(node id, node, is the last node of its level)``."""
        node_id = root
        node = self.node(root)
        is_last = True
        while node.level > level:
            keys = node.keys
            i = bisect_right(keys, key) if after else bisect_left(keys, key)
            if i >= len(keys) - 1:
                i = len(keys) - 1
            else:
                is_last = False
            node_id = node.vals[i][0]
            node = self.node(node_id)
        return node_id, node, is_last


def _merge(
    node: Node, changes: list[RawChange], lo: int, hi: int
) -> tuple[list[str], list[RawValue], list[str]]:
    """Merge ``changes[lo:hi]`` into the node's items.

    Returns the new keys and values, and the keys that may be boundaries: the inserted keys and
    the node's old last key (a replaced value keeps its key, hence its boundary status).
    """
    keys = node.keys
    vals = node.vals
    out_k: list[str] = []
    out_v: list[RawValue] = []
    maybe_cuts = [keys[-1]]
    i = 0
    n = len(keys)
    for c in range(lo, hi):
        k, v = changes[c]
        j = bisect_left(keys, k, i)
        if j > i:
            out_k.extend(keys[i:j])
            out_v.extend(vals[i:j])
            i = j
        if i < n and keys[i] == k:
            i += 1
            if v is not None:
                out_k.append(k)
                out_v.append(v)
        elif v is not None:
            out_k.append(k)
            out_v.append(v)
            maybe_cuts.append(k)
    if i < n:
        out_k.extend(keys[i:])
        out_v.extend(vals[i:])
    return out_k, out_v, maybe_cuts


class _LevelRewrite:
    """Applies one level's changes; collects the changes for the level above."""

    def __init__(self, reader: _Reader, root: bytes, level: int) -> None:
        self.reader = reader
        self.root = root
        self.level = level
        self.removed: dict[str, tuple[bytes, int]] = {}  # old nodes consumed, by last key
        self.removed_ids: set[bytes] = set()
        self.written: list[tuple[str, tuple[bytes, int]]] = []  # new nodes, in key order

    def _emit(self, keys: list[str], vals: list[RawValue]) -> None:
        level = self.level
        count = len(keys) if level == 0 else sum(v[1] for v in vals)
        node_id, data = encode_node(level, keys, vals)
        # Re-cutting often reproduces an old node (a no-op change, the far side of a split):
        # that node is stored already.
        if node_id not in self.removed_ids:
            self.reader.store.put_node(node_id, data)
            self.reader.cache.put(node_id, Node(level, tuple(keys), tuple(vals), len(data)))
        self.written.append((keys[-1], (node_id, count)))

    def run(self, changes: list[RawChange]) -> None:
        reader = self.reader
        level = self.level
        ckeys = [c[0] for c in changes]
        n = len(changes)
        ci = 0
        while ci < n:
            node_id, node, is_last = reader.locate(self.root, level, ckeys[ci], after=False)
            pend_k: list[str] = []
            pend_v: list[RawValue] = []
            while True:
                last = node.keys[-1]
                self.removed[last] = (node_id, node.count())
                self.removed_ids.add(node_id)
                cj = n if is_last else bisect_right(ckeys, last, ci)
                keys, vals, maybe_cuts = _merge(node, changes, ci, cj)
                ci = cj
                base = len(pend_k)
                pend_k.extend(keys)
                pend_v.extend(vals)
                cuts = []
                for k in maybe_cuts:
                    i = bisect_left(keys, k)
                    if i < len(keys) and keys[i] == k and is_boundary(k, level):
                        cuts.append(base + i)
                cuts.sort()
                start = 0
                for p in cuts:
                    self._emit(pend_k[start : p + 1], pend_v[start : p + 1])
                    start = p + 1
                if start:
                    del pend_k[:start]
                    del pend_v[:start]
                if not pend_k:
                    break
                if is_last:
                    self._emit(pend_k, pend_v)
                    break
                # The run's tail has no boundary: it continues into the next node.
                node_id, node, is_last = reader.locate(self.root, level, last, after=True)

    def next_changes(self) -> list[RawChange]:
        """Changes for the level above: removed nodes deleted, new nodes set, no-ops dropped."""
        out: dict[str, RawValue | None] = dict.fromkeys(self.removed)
        for k, v in self.written:
            out[k] = v
        removed = self.removed
        return sorted(((k, v) for k, v in out.items() if removed.get(k) != v), key=_key)


def apply_raw(root: bytes, changes: list[RawChange], store: NodeStore, cache: NodeCache) -> bytes:
    """Apply sorted, unique raw changes (level-0 values, None = delete) to the tree ``root``."""
    if not changes:
        return root
    if root == EMPTY_TREE:
        builder = LevelBuilder(store, cache, 0)
        for k, v in changes:
            if v is not None:
                builder.add(k, v, is_boundary(k, 0))
        return builder.finish()
    reader = _Reader(store, cache)
    height = reader.node(root).level
    level = 0
    while True:
        rewrite = _LevelRewrite(reader, root, level)
        rewrite.run(changes)
        if level == height:
            break
        changes = rewrite.next_changes()
        if not changes:
            return root
        level += 1
    top = rewrite.written  # every node of the root's level in the new tree
    if not top:
        return EMPTY_TREE
    if len(top) > 1:
        builder = LevelBuilder(store, cache, height + 1)
        for k, v in top:
            builder.add(k, v, is_boundary(k, height + 1))
        return builder.finish()
    # A single node: drop the levels that now have a single child.
    new_root = top[0][1][0]
    node = reader.node(new_root)
    while node.level > 0 and len(node.keys) == 1:
        new_root = node.vals[0][0]
        node = reader.node(new_root)
    return new_root
