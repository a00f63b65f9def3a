"""The committed tree of a commit: a persistent, content-addressed prolly tree of path -> Entry.

Public API (all synchronous and CPU-bound: the engine calls them in worker threads):

* :func:`build` -- a tree from a sorted stream of entries (streaming, O(n)).
* :func:`apply` -- fold sorted changes into a tree, rewriting only the affected nodes
  (O(k log n)); the result is identical to ``build`` of the resulting map.
* :func:`get`, :func:`iterate`, :func:`count` -- reads; ``iterate`` seeks in O(log n).
* ``diff`` and ``merge`` live in ``treediff`` and ``merge``.

Layout: sorted leaves of (path, entry) and internal levels of (last key, child id, child count),
cut into nodes where a key's hash says so (``tree_node.is_boundary``), so the same key set always
has the same node boundaries and the same map always has the same root id. See
docs/decisions/0001-prolly-tree.md.

Concurrency: nodes are immutable, so any number of threads may read and write trees through a
thread-safe :class:`NodeStore` at once. Decoded nodes are shared through a thread-safe
:class:`NodeCache` (``DEFAULT_CACHE`` unless the caller passes one). Durability and atomicity
are the store's: a root id is only meaningful once every node it reaches has been put, which
these functions do before returning it.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator

from gateway.core.errors import CorruptNode, MissingNode
from gateway.core.model import Entry
from gateway.core.tree.builder import EMPTY_TREE, LevelBuilder
from gateway.core.tree.folding import RawChange, apply_raw
from gateway.core.tree.node import (
    DEFAULT_CACHE,
    DictNodeStore,
    Node,
    NodeCache,
    NodeStore,
    OverlayNodeStore,
    decode_entry_value,
    encode_entry_value,
    is_boundary,
    load_node,
)

__all__ = [
    "DEFAULT_CACHE",
    "EMPTY_TREE",
    "CorruptNode",
    "DictNodeStore",
    "MissingNode",
    "NodeCache",
    "NodeStore",
    "OverlayNodeStore",
    "apply",
    "build",
    "count",
    "get",
    "iterate",
]


def build(
    items: Iterable[tuple[str, Entry]], store: NodeStore, *, cache: NodeCache | None = None
) -> bytes:
    """Build the tree of a map from its items and return the root id.

    Streaming: holds at most one node's worth of items per level. Every node is put into
    ``store`` before the root id is returned.

    Args:
        items: ``(path, entry)`` pairs sorted by path, paths unique.
        store: where the nodes go.
        cache: decoded-node cache to fill (default: ``DEFAULT_CACHE``).

    Raises:
        ValueError: the paths are not strictly increasing.
    """
    builder = LevelBuilder(store, DEFAULT_CACHE if cache is None else cache, 0)
    add = builder.add
    prev: str | None = None
    for path, entry in items:
        if prev is not None and path <= prev:
            raise ValueError(f"build: paths not sorted and unique at {path!r}")
        add(path, encode_entry_value(entry), is_boundary(path, 0))
        prev = path
    return builder.finish()


def apply(
    root: bytes,
    changes: Iterable[tuple[str, Entry | None]],
    store: NodeStore,
    *,
    cache: NodeCache | None = None,
) -> bytes:
    """Fold ``changes`` into the tree ``root`` and return the new root id.

    Only the leaves holding changed paths (and a neighbour when a node boundary disappears) and
    their ancestors are read and rewritten: O(k log n) node reads and writes for k changes on
    n entries. The result is identical to ``build`` of the resulting map. The old tree is left
    untouched (nodes are immutable); every new node is put before the root id is returned.

    Args:
        root: the tree to change (``EMPTY_TREE`` for the empty map).
        changes: ``(path, entry)`` to set or ``(path, None)`` to delete, sorted by path, paths
            unique. Deleting a missing path is a no-op.
        store: where nodes are read and written.
        cache: decoded-node cache (default: ``DEFAULT_CACHE``).

    Raises:
        ValueError: the paths are not strictly increasing.
        MissingNode: the store lacks a node of ``root``.
    """
    raw: list[RawChange] = []
    prev: str | None = None
    for path, entry in changes:
        if prev is not None and path <= prev:
            raise ValueError(f"apply: paths not sorted and unique at {path!r}")
        raw.append((path, None if entry is None else encode_entry_value(entry)))
        prev = path
    return apply_raw(root, raw, store, DEFAULT_CACHE if cache is None else cache)


def get(
    root: bytes, path: str, store: NodeStore, *, cache: NodeCache | None = None
) -> Entry | None:
    """The entry at ``path``, or None. Reads one node per level: O(log n)."""
    if root == EMPTY_TREE:
        return None
    cache = DEFAULT_CACHE if cache is None else cache
    node = load_node(store, cache, root)
    while True:
        i = bisect_left(node.keys, path)
        if i == len(node.keys):
            return None
        if node.level == 0:
            return decode_entry_value(node.vals[i]) if node.keys[i] == path else None
        node = load_node(store, cache, node.vals[i][0])


def iterate(
    root: bytes,
    store: NodeStore,
    start: str = "",
    end: str | None = None,
    *,
    cache: NodeCache | None = None,
) -> Iterator[tuple[str, Entry]]:
    """The entries with ``start <= path < end`` (``end=None``: to the last), in path order.

    Seeks to ``start`` in O(log n) node reads, then reads each leaf once. Leaves after the first
    are not added to the cache (scan resistance: a full listing does not evict the working set).
    The iterator reads lazily from the immutable tree, so it stays consistent however long it is
    held, provided the store keeps the nodes.
    """
    if root == EMPTY_TREE or (end is not None and end <= start):
        return
    cache = DEFAULT_CACHE if cache is None else cache
    stack: list[tuple[Node, int]] = []
    node = load_node(store, cache, root)
    i = bisect_left(node.keys, start) if start else 0
    while node.level > 0:
        if i == len(node.keys):
            return
        stack.append((node, i))
        node = load_node(store, cache, node.vals[i][0])
        i = bisect_left(node.keys, start) if start else 0
    make = decode_entry_value
    while True:
        keys = node.keys
        if end is not None and keys[-1] >= end:
            j = bisect_left(keys, end, i)
            yield from zip(keys[i:j], map(make, node.vals[i:j]), strict=True)
            return
        if i:
            yield from zip(keys[i:], map(make, node.vals[i:]), strict=True)
        else:
            yield from zip(keys, map(make, node.vals), strict=True)
        # Next leaf: climb to the first ancestor with a next child, then down its left edge.
        while stack:
            parent, pi = stack.pop()
            pi += 1
            if pi < len(parent.keys):
                stack.append((parent, pi))
                node = load_node(store, cache, parent.vals[pi][0], cache_leaf=False)
                while node.level > 0:
                    stack.append((node, 0))
                    node = load_node(store, cache, node.vals[0][0], cache_leaf=False)
                i = 0
                break
        else:
            return


def count(root: bytes, store: NodeStore, *, cache: NodeCache | None = None) -> int:
    """Number of entries in the tree: O(1) node reads (counts are stored in internal nodes)."""
    if root == EMPTY_TREE:
        return 0
    return load_node(store, DEFAULT_CACHE if cache is None else cache, root).count()
