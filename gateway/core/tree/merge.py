"""Three-way merge of prolly trees on entry identity, collecting every conflict.

For each path, with ``b``/``s``/``d`` its entry in base/source/dest (None when absent) and
equality meaning the same content identity (``Entry.identity``):

* ``s == b``: keep ``d`` (only dest changed it, or nobody did);
* ``d == b``: take ``s`` (only source changed it);
* ``s == d``: keep ``d`` (both made the same change, including both deleting);
* otherwise a conflict: ``BOTH_ADDED`` when ``b`` is None, ``CHANGED_DELETED`` when ``d`` is
  None, ``DELETED_CHANGED`` when ``s`` is None, else ``BOTH_CHANGED``. ``resolve`` may pick a
  side; a conflict it leaves unresolved is reported, and so is every other one (the merge never
  stops at the first).

Only paths changed on either side are visited: the merge walks ``diff(base, source)`` and
``diff(base, dest)`` together (both sorted by path) and folds the source-side decisions into
``dest`` with ``apply``. Cost O(d log n) for d changed paths, never O(n).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from gateway.core.model import Change, ConflictKind, Entry, PathConflict, Side
from gateway.core.tree import apply
from gateway.core.tree.diff import diff, same_entry
from gateway.core.tree.node import NodeCache, NodeStore

__all__ = ["MergeResult", "merge"]


@dataclass(frozen=True, slots=True)
class MergeResult:
    """The outcome of a three-way merge.

    Attributes:
        root: the merged tree, or None if any conflict was left unresolved (nothing is written
            then).
        conflicts: every unresolved conflict, sorted by path.
        changes: number of paths whose entry differs between dest and the merged tree (when
            ``root`` is None: the number of source-side changes that were decided).
    """

    root: bytes | None
    conflicts: list[PathConflict]
    changes: int


def _no_resolution(conflict: PathConflict) -> Side | None:
    return None


def _conflict_kind(b: Entry | None, s: Entry | None, d: Entry | None) -> ConflictKind:
    if b is None:
        return ConflictKind.BOTH_ADDED
    if d is None:
        return ConflictKind.CHANGED_DELETED
    if s is None:
        return ConflictKind.DELETED_CHANGED
    return ConflictKind.BOTH_CHANGED


def merge(
    base: bytes,
    source: bytes,
    dest: bytes,
    store: NodeStore,
    *,
    resolve: Callable[[PathConflict], Side | None] = _no_resolution,
    cache: NodeCache | None = None,
) -> MergeResult:
    """Merge the changes from ``base`` to ``source`` into ``dest``.

    Pure apart from writing the merged tree's new nodes into ``store`` (only when every conflict
    is resolved). Safe to run concurrently with other readers and writers of the same store.

    Args:
        base: the merge base (best common ancestor's tree).
        source: the tree being merged in.
        dest: the tree being merged into.
        store: where nodes are read and written.
        resolve: called once per conflict, in path order: ``Side.SOURCE`` takes the source
            entry, ``Side.DEST`` keeps the dest entry, None leaves the conflict unresolved.
        cache: decoded-node cache (default: ``tree.DEFAULT_CACHE``).

    Returns:
        The merged root (or None) with every unresolved conflict and the number of changed paths.
    """
    decided: list[tuple[str, Entry | None]] = []
    conflicts: list[PathConflict] = []
    src: Iterator[Change] = diff(base, source, store, cache=cache)
    dst: Iterator[Change] = diff(base, dest, store, cache=cache)
    cs = next(src, None)
    cd = next(dst, None)
    while cs is not None:
        if cd is None or cs.path < cd.path:
            decided.append((cs.path, cs.right))  # dest left it as in base: take source
            cs = next(src, None)
        elif cd.path < cs.path:
            cd = next(dst, None)  # source left it as in base: keep dest
        else:
            b, s, d = cs.left, cs.right, cd.right
            if not same_entry(s, d):
                conflict = PathConflict(cs.path, _conflict_kind(b, s, d), b, s, d)
                side = resolve(conflict)
                if side is Side.SOURCE:
                    decided.append((cs.path, s))
                elif side is None:
                    conflicts.append(conflict)
            cs = next(src, None)
            cd = next(dst, None)
    if conflicts:
        return MergeResult(None, conflicts, len(decided))
    return MergeResult(apply(dest, decided, store, cache=cache), [], len(decided))
