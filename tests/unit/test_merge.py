"""Three-way merge: the decision table, conflict kinds, resolutions, every conflict, cost."""

from __future__ import annotations

import random

import pytest

from gateway.core import tree
from gateway.core.model import ConflictKind, Entry, PathConflict, Side
from gateway.core.tree import EMPTY_TREE, DictNodeStore, NodeCache
from gateway.core.tree.merge import MergeResult, merge
from gateway.core.tree.node import load_node, override_fanout


def entry(n: int, *, mtime: float = 0.0) -> Entry:
    return Entry(address=f"{n:064x}", size=n, etag=f"{n:032x}", mtime=mtime)


def build_map(m: dict[str, Entry], store: DictNodeStore) -> bytes:
    return tree.build(sorted(m.items()), store)


def contents(root: bytes | None, store: DictNodeStore) -> dict[str, Entry]:
    assert root is not None
    return dict(tree.iterate(root, store))


def three(
    base: dict[str, Entry], source: dict[str, Entry], dest: dict[str, Entry]
) -> tuple[DictNodeStore, bytes, bytes, bytes]:
    store = DictNodeStore()
    return store, build_map(base, store), build_map(source, store), build_map(dest, store)


B = {"keep": entry(1), "src": entry(2), "dst": entry(3), "both": entry(4), "gone": entry(5)}


def test_clean_merge_takes_each_side_where_the_other_is_unchanged() -> None:
    source = {**B, "src": entry(20), "new-src": entry(21)}
    del source["gone"]
    dest = {**B, "dst": entry(30), "new-dst": entry(31)}
    del dest["gone"]  # both deleted: clean
    store, b, s, d = three(B, source, dest)
    r = merge(b, s, d, store)
    assert r.conflicts == []
    assert contents(r.root, store) == {
        "keep": entry(1),
        "src": entry(20),
        "new-src": entry(21),
        "dst": entry(30),
        "new-dst": entry(31),
        "both": entry(4),
    }
    assert r.changes == 2  # "src" and "new-src" differ from dest
    # The merged tree is the canonical tree of its map.
    assert r.root == build_map(contents(r.root, store), DictNodeStore())


def test_identical_changes_merge_cleanly() -> None:
    source = {**B, "both": entry(40), "added": entry(9)}
    dest = {**B, "both": entry(40, mtime=7.0), "added": entry(9, mtime=3.0)}
    store, b, s, d = three(B, source, dest)
    r = merge(b, s, d, store)
    assert r == MergeResult(d, [], 0)  # same identity on both sides: dest is kept as it is


def test_reupload_on_one_side_is_not_a_change() -> None:
    source = {**B, "keep": entry(1, mtime=99.0)}  # same bytes re-uploaded
    dest = {**B, "keep": entry(100)}
    store, b, s, d = three(B, source, dest)
    r = merge(b, s, d, store)
    assert r.conflicts == [] and r.root == d and r.changes == 0


def test_every_conflict_kind_is_reported_sorted() -> None:
    base = {"bc": entry(1), "cd": entry(2), "dc": entry(3)}
    source = {"bc": entry(10), "cd": entry(20), "ba": entry(40)}  # dc deleted
    dest = {"bc": entry(11), "dc": entry(31), "ba": entry(41)}  # cd deleted
    store, b, s, d = three(base, source, dest)
    r = merge(b, s, d, store)
    assert r.root is None
    assert r.conflicts == [
        PathConflict("ba", ConflictKind.BOTH_ADDED, None, entry(40), entry(41)),  # type: ignore[arg-type]
        PathConflict("bc", ConflictKind.BOTH_CHANGED, entry(1), entry(10), entry(11)),  # type: ignore[arg-type]
        PathConflict("cd", ConflictKind.CHANGED_DELETED, entry(2), entry(20), None),  # type: ignore[arg-type]
        PathConflict("dc", ConflictKind.DELETED_CHANGED, entry(3), None, entry(31)),  # type: ignore[arg-type]
    ]


def test_never_stops_at_the_first_conflict() -> None:
    with override_fanout(4, 4):
        base = {f"k{i:04d}": entry(i) for i in range(1000)}
        source = {k: entry(-i - 1) if i % 10 == 0 else v for i, (k, v) in enumerate(base.items())}
        dest = {k: entry(-i - 5001) if i % 20 == 0 else v for i, (k, v) in enumerate(base.items())}
        dest["k0005"] = entry(5555)
        store, b, s, d = three(base, source, dest)
        r = merge(b, s, d, store)
        assert r.root is None
        assert [c.path for c in r.conflicts] == [f"k{i:04d}" for i in range(0, 1000, 20)]
        assert r.changes == 50  # the source-only changes were decided, not applied


@pytest.mark.parametrize("side", [Side.SOURCE, Side.DEST])
def test_resolve_a_whole_side(side: Side) -> None:
    base = {"a": entry(1), "b": entry(2), "c": entry(3)}
    source = {"a": entry(10), "b": entry(20), "x": entry(50)}
    dest = {"a": entry(11), "c": entry(31), "x": entry(51)}
    store, b, s, d = three(base, source, dest)
    seen: list[str] = []

    def resolve(c: PathConflict) -> Side:
        seen.append(c.path)
        return side

    r = merge(b, s, d, store, resolve=resolve)
    assert seen == ["a", "b", "c", "x"]
    assert r.conflicts == []
    winner = source if side is Side.SOURCE else dest
    assert contents(r.root, store) == winner
    assert r.changes == (4 if side is Side.SOURCE else 0)


def test_resolve_per_path_leaves_the_rest_reported() -> None:
    base = {"a": entry(1), "b": entry(2), "c": entry(3)}
    source = {"a": entry(10), "b": entry(20), "c": entry(30)}
    dest = {"a": entry(11), "b": entry(21), "c": entry(31)}
    store, b, s, d = three(base, source, dest)
    choice = {"a": Side.SOURCE, "c": Side.DEST}
    r = merge(b, s, d, store, resolve=lambda c: choice.get(c.path))
    assert r.root is None
    assert [c.path for c in r.conflicts] == ["b"]
    choice["b"] = Side.SOURCE
    r = merge(b, s, d, store, resolve=lambda c: choice.get(c.path))
    assert contents(r.root, store) == {"a": entry(10), "b": entry(20), "c": entry(31)}
    assert r.changes == 2


def test_fast_forward_and_trivial_merges() -> None:
    base = {"a": entry(1)}
    source = {"a": entry(2), "b": entry(3)}
    store, b, s, _ = three(base, source, {})
    assert merge(b, s, b, store).root == s  # dest unchanged: fast-forward to source's map
    assert merge(b, b, s, store) == MergeResult(s, [], 0)  # nothing new in source
    assert merge(s, s, s, store) == MergeResult(s, [], 0)
    assert merge(EMPTY_TREE, s, EMPTY_TREE, store).root == s
    r = merge(EMPTY_TREE, EMPTY_TREE, EMPTY_TREE, store)
    assert r == MergeResult(EMPTY_TREE, [], 0)
    # Source deleted everything, dest untouched: the result is empty.
    assert merge(s, EMPTY_TREE, s, store).root == EMPTY_TREE


class CountingStore:
    def __init__(self, inner: DictNodeStore) -> None:
        self.inner = inner
        self.reads = 0
        self.writes = 0

    def get_node(self, node_id: bytes) -> bytes | None:
        self.reads += 1
        return self.inner.get_node(node_id)

    def put_node(self, node_id: bytes, data: bytes) -> None:
        self.writes += 1
        self.inner.put_node(node_id, data)


def test_merge_cost_is_o_d_log_n_node_reads() -> None:
    with override_fanout(8, 8):
        inner = DictNodeStore()
        n = 20_000
        base = {f"obj/{i:06d}": entry(i) for i in range(n)}
        b = build_map(base, inner)
        depth = load_node(inner, NodeCache(0), b).level + 1
        rng = random.Random(2)
        src_changes = sorted({f"obj/{rng.randrange(n):06d}": entry(-1) for _ in range(20)}.items())
        dst_changes = sorted({f"obj/{rng.randrange(n):06d}": entry(-2) for _ in range(20)}.items())
        s = tree.apply(b, src_changes, inner)
        d = tree.apply(b, dst_changes, inner)
        store = CountingStore(inner)
        r = merge(b, s, d, store, resolve=lambda c: Side.SOURCE, cache=NodeCache(0))
        d_paths = len(src_changes) + len(dst_changes)
        # Two diffs (one path per difference and side) plus one apply.
        assert store.reads <= 6 * d_paths * depth
        assert store.reads < len(inner.nodes) // 4
        expect = dict(base)
        expect.update(dict(dst_changes))
        expect.update(dict(src_changes))
        assert contents(r.root, inner) == expect
