"""Diff of two prolly trees: a walk of both that skips equal subtrees without reading them.

Each side is a cursor (a stack of ``[node, index]`` frames); the head of a side is the item or
child subtree at its top frame. At every step:

* two child subtrees of the same level with the same id are identical: both are skipped;
* otherwise the side whose head is the higher subtree is expanded (both when the levels are
  equal), so the sides meet at the level where equal nodes can show up again. Content-defined
  boundaries realign right after a difference, so equal ids reappear within about one node;
* two items are compared by path, and by entry identity (``Entry.identity``) when the paths are
  equal.

Cost: O(d log n) node reads for d differences (each difference expands one root-to-leaf path
per side, and the leaf around it); equal subtrees are never read.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from gateway.core.ids import Path
from gateway.core.model import Change, ChangeKind, Entry
from gateway.core.tree.builder import EMPTY_TREE
from gateway.core.tree.node import (
    DEFAULT_CACHE,
    Node,
    NodeCache,
    NodeStore,
    RawValue,
    decode_entry_value,
    load_node,
)

__all__ = ["diff", "same_entry"]


def same_entry(a: Entry | None, b: Entry | None) -> bool:
    """Equal for diff and merge: both absent, or the same content identity."""
    if a is None or b is None:
        return a is b
    return a is b or a.identity() == b.identity()


def _same_raw(a: RawValue, b: RawValue) -> bool:
    # Equal raw values are equal entries; different raw values may still share an identity
    # (a re-upload changes only the mtime and ETag).
    return a == b or decode_entry_value(a).identity() == decode_entry_value(b).identity()


def _equal_run(a: Node, ia: int, b: Node, ib: int) -> int:
    """Length of the run of equal items (keys and raw values) starting at ``a[ia]``/``b[ib]``.

    Compares slices (C speed) with a binary search instead of item by item: after a difference
    the two sides usually agree again for the rest of the node.
    """
    ka, va, kb, vb = a.keys, a.vals, b.keys, b.vals
    n = min(len(ka) - ia, len(kb) - ib)
    if ka[ia : ia + n] == kb[ib : ib + n] and va[ia : ia + n] == vb[ib : ib + n]:
        return n
    lo, hi = 0, n  # the first lo items are equal, the first hi are not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if (
            ka[ia + lo : ia + mid] == kb[ib + lo : ib + mid]
            and va[ia + lo : ia + mid] == vb[ib + lo : ib + mid]
        ):
            lo = mid
        else:
            hi = mid
    return lo


def _beyond(key: str, prefix: str) -> bool:
    """Whether every key greater than ``key`` is past the keys starting with ``prefix``."""
    return key > prefix and not key.startswith(prefix)


class _Side:
    """A cursor over one tree, restricted to keys >= ``lo``: parallel stacks of nodes and
    positions, the head being ``nodes[-1]``'s item or child at ``idx[-1]``."""

    __slots__ = ("cache", "idx", "lo", "nodes", "store")

    def __init__(self, root: bytes, store: NodeStore, cache: NodeCache, lo: str) -> None:
        self.store = store
        self.cache = cache
        self.lo = lo
        self.nodes: list[Node] = []
        self.idx: list[int] = []
        if root != EMPTY_TREE:
            self._push(root)

    def _push(self, node_id: bytes) -> None:
        node = load_node(self.store, self.cache, node_id)
        self.nodes.append(node)
        self.idx.append(bisect_left(node.keys, self.lo) if self.lo else 0)

    def top(self) -> tuple[Node, int] | None:
        """The top frame after dropping exhausted frames; None when the side is done."""
        nodes = self.nodes
        idx = self.idx
        while nodes:
            node = nodes[-1]
            i = idx[-1]
            if i < len(node.keys):
                return node, i
            nodes.pop()
            idx.pop()
            if idx:
                idx[-1] += 1
        return None

    def finish(self) -> None:
        """Drop everything left: the side is done."""
        self.nodes.clear()
        self.idx.clear()

    def advance(self) -> None:
        self.idx[-1] += 1

    def expand(self, node: Node, i: int) -> None:
        self._push(node.vals[i][0])


def diff(
    left: bytes,
    right: bytes,
    store: NodeStore,
    *,
    start: str = "",
    prefix: str = "",
    cache: NodeCache | None = None,
) -> Iterator[Change]:
    """The changes that turn tree ``left`` into tree ``right``, sorted by path.

    ``ADDED`` has ``left=None``, ``REMOVED`` has ``right=None``; entries with the same identity
    (``Entry.identity``) are equal even when their mtime or ETag differ. Lazy: nodes are read as
    the iterator advances; equal subtrees are skipped without reading below them.

    Args:
        left: the old tree.
        right: the new tree.
        store: where nodes are read.
        start: only paths >= ``start`` (for pagination: pass the last path seen + "\\0").
        prefix: only paths starting with ``prefix``.
        cache: decoded-node cache (default: ``DEFAULT_CACHE``).
    """
    if left == right:
        return
    cache = DEFAULT_CACHE if cache is None else cache
    lo = max(start, prefix)
    a = _Side(left, store, cache, lo)
    b = _Side(right, store, cache, lo)
    make = decode_entry_value
    while True:
        ta = a.top()
        tb = b.top()
        if ta is not None and tb is not None:
            na, ia = ta
            nb, ib = tb
            la = na.level
            lb = nb.level
            if la == lb:
                if la > 0:
                    # Skip the run of equal children, then expand the first differing pair.
                    run = _equal_run(na, ia, nb, ib)
                    ia += run
                    ib += run
                    end_a = len(na.keys)
                    end_b = len(nb.keys)
                    a.idx[-1] = ia
                    b.idx[-1] = ib
                    if ia < end_a and ib < end_b:
                        if prefix and ia and _beyond(na.keys[ia - 1], prefix):
                            a.finish()  # every later key of a is past the prefix range
                        elif prefix and ib and _beyond(nb.keys[ib - 1], prefix):
                            b.finish()
                        else:
                            a.expand(na, ia)
                            b.expand(nb, ib)
                    continue
                # Two leaves: merge their items in a tight loop up to the end of either.
                keys_a = na.keys
                keys_b = nb.keys
                vals_a = na.vals
                vals_b = nb.vals
                end_a = len(keys_a)
                end_b = len(keys_b)
                while ia < end_a and ib < end_b:
                    ka = keys_a[ia]
                    kb = keys_b[ib]
                    if ka == kb:
                        va = vals_a[ia]
                        vb = vals_b[ib]
                        if va == vb:
                            run = _equal_run(na, ia, nb, ib)
                            ia += run
                            ib += run
                            continue
                        if not _same_raw(va, vb):
                            if prefix and not ka.startswith(prefix):
                                return
                            yield Change(Path(ka), ChangeKind.CHANGED, make(va), make(vb))
                        ia += 1
                        ib += 1
                    elif ka < kb:
                        if prefix and not ka.startswith(prefix):
                            return  # b's head is beyond ka, hence beyond the prefix too
                        yield Change(Path(ka), ChangeKind.REMOVED, make(vals_a[ia]), None)
                        ia += 1
                    else:
                        if prefix and not kb.startswith(prefix):
                            return
                        yield Change(Path(kb), ChangeKind.ADDED, None, make(vals_b[ib]))
                        ib += 1
                a.idx[-1] = ia
                b.idx[-1] = ib
                continue
            elif la > lb:
                a.expand(na, ia)
            else:
                b.expand(nb, ib)
        elif ta is not None:
            na, ia = ta
            if na.level > 0:
                a.expand(na, ia)
                continue
            ka = na.keys[ia]
            if prefix and not ka.startswith(prefix):
                return
            yield Change(Path(ka), ChangeKind.REMOVED, make(na.vals[ia]), None)
            a.advance()
        elif tb is not None:
            nb, ib = tb
            if nb.level > 0:
                b.expand(nb, ib)
                continue
            kb = nb.keys[ib]
            if prefix and not kb.startswith(prefix):
                return
            yield Change(Path(kb), ChangeKind.ADDED, None, make(nb.vals[ib]))
            b.advance()
        else:
            return
