"""Diff of two prolly trees: order, kinds, identity equality, ranges and skipped subtrees."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from gateway.core import tree
from gateway.core.model import Change, ChangeKind, Entry
from gateway.core.tree import EMPTY_TREE, DictNodeStore, NodeCache
from gateway.core.tree.diff import diff, same_entry
from gateway.core.tree.node import load_node, override_fanout


def entry(n: int, *, mtime: float = 0.0, **kw: object) -> Entry:
    return Entry(address=f"{n:064x}", size=n, etag=f"{n:032x}", mtime=mtime, **kw)  # type: ignore[arg-type]


def build_map(m: dict[str, Entry], store: DictNodeStore) -> bytes:
    return tree.build(sorted(m.items()), store)


def model_diff(
    left: dict[str, Entry], right: dict[str, Entry], start: str = "", prefix: str = ""
) -> list[Change]:
    out = []
    for k in sorted(set(left) | set(right)):
        if k < start or not k.startswith(prefix):
            continue
        a, b = left.get(k), right.get(k)
        if same_entry(a, b):
            continue
        kind = (
            ChangeKind.ADDED
            if a is None
            else ChangeKind.REMOVED
            if b is None
            else ChangeKind.CHANGED
        )
        out.append(Change(k, kind, a, b))  # type: ignore[arg-type]
    return out


class CountingStore:
    def __init__(self, inner: DictNodeStore) -> None:
        self.inner = inner
        self.reads = 0

    def get_node(self, node_id: bytes) -> bytes | None:
        self.reads += 1
        return self.inner.get_node(node_id)

    def put_node(self, node_id: bytes, data: bytes) -> None:
        self.inner.put_node(node_id, data)


@pytest.fixture
def small_fanout() -> Iterator[None]:
    with override_fanout(4, 4):
        yield


def test_equal_and_empty_trees() -> None:
    store = DictNodeStore()
    assert list(diff(EMPTY_TREE, EMPTY_TREE, store)) == []
    root = build_map({"a": entry(1)}, store)
    assert list(diff(root, root, store)) == []
    assert list(diff(EMPTY_TREE, root, store)) == [Change("a", ChangeKind.ADDED, None, entry(1))]  # type: ignore[arg-type]
    assert list(diff(root, EMPTY_TREE, store)) == [
        Change("a", ChangeKind.REMOVED, entry(1), None)  # type: ignore[arg-type]
    ]


def test_kinds_and_order(small_fanout: None) -> None:
    store = DictNodeStore()
    left = {f"k{i:03d}": entry(i) for i in range(100)}
    right = dict(left)
    del right["k000"], right["k050"], right["k099"]
    right["k010"] = entry(1000)
    right["k0105"] = entry(5)
    right["a"] = entry(6)
    right["z"] = entry(7)
    got = list(diff(build_map(left, store), build_map(right, store), store))
    assert got == model_diff(left, right)
    assert [c.path for c in got] == sorted(c.path for c in got)
    kinds = {c.path: c.kind for c in got}
    assert kinds == {
        "a": ChangeKind.ADDED,
        "k000": ChangeKind.REMOVED,
        "k010": ChangeKind.CHANGED,
        "k0105": ChangeKind.ADDED,
        "k050": ChangeKind.REMOVED,
        "k099": ChangeKind.REMOVED,
        "z": ChangeKind.ADDED,
    }
    # And the reverse direction mirrors it.
    back = list(diff(build_map(right, store), build_map(left, store), store))
    assert back == model_diff(right, left)


def test_reupload_of_same_bytes_is_not_a_change() -> None:
    store = DictNodeStore()
    left = build_map({"a": entry(1), "b": entry(2, metadata={"x": "1"})}, store)
    # New mtime and ETag, same blob, type and metadata: same identity.
    same = Entry(address=entry(1).address, size=1, etag="other", mtime=99.0)
    right = tree.apply(left, [("a", same)], store)
    assert right != left
    assert list(diff(left, right, store)) == []
    # Metadata or content type changes are changes.
    meta = tree.apply(left, [("b", entry(2, metadata={"x": "2"}))], store)
    ctype = tree.apply(left, [("a", entry(1, content_type="text/plain"))], store)
    assert [c.path for c in diff(left, meta, store)] == ["b"]
    assert [c.path for c in diff(left, ctype, store)] == ["a"]


@pytest.mark.parametrize(
    ("start", "prefix"),
    [("", ""), ("k05", ""), ("k050", ""), ("", "k0"), ("", "k05"), ("k055", "k05"), ("", "x")],
)
def test_start_and_prefix(start: str, prefix: str, small_fanout: None) -> None:
    rng = random.Random(3)
    store = DictNodeStore()
    left = {f"k{i:03d}": entry(i) for i in range(0, 200, 2)}
    right = dict(left)
    for _ in range(60):
        k = f"k{rng.randrange(200):03d}"
        if rng.random() < 0.5:
            right.pop(k, None)
        else:
            right[k] = entry(rng.randrange(1000))
    a, b = build_map(left, store), build_map(right, store)
    assert list(diff(a, b, store, start=start, prefix=prefix)) == model_diff(
        left, right, start, prefix
    )


def test_pagination_by_start_resumes_exactly(small_fanout: None) -> None:
    store = DictNodeStore()
    left = {f"p/{i:03d}": entry(i) for i in range(300)}
    right = {k: (entry(-i) if i % 3 == 0 else v) for i, (k, v) in enumerate(sorted(left.items()))}
    a, b = build_map(left, store), build_map(right, store)
    pages: list[Change] = []
    start = ""
    while True:
        page = [c for c, _ in zip(diff(a, b, store, start=start), range(17), strict=False)]
        if not page:
            break
        pages += page
        start = page[-1].path + "\0"
    assert pages == model_diff(left, right)


def test_diff_is_lazy_and_reads_o_d_log_n_nodes() -> None:
    with override_fanout(8, 8):
        inner = DictNodeStore()
        n = 20_000
        left = {f"obj/{i:06d}": entry(i) for i in range(n)}
        a = build_map(left, inner)
        depth = load_node(inner, NodeCache(0), a).level + 1
        total = len(inner.nodes)
        rng = random.Random(11)
        for d in (1, 10, 40):
            changes = {f"obj/{rng.randrange(n):06d}": entry(-1) for _ in range(d)}
            b = tree.apply(a, sorted(changes.items()), inner)
            store = CountingStore(inner)
            got = list(diff(a, b, store, cache=NodeCache(0)))
            assert [c.path for c in got] == sorted(changes)
            # Each difference costs one root-to-leaf path per side; equal subtrees are skipped.
            assert store.reads <= 2 * len(changes) * depth + 2
            assert store.reads < total // 10
        # Lazy: the first change needs only the leftmost differing paths.
        b = tree.apply(a, [("obj/000000", None), ("obj/019999", None)], inner)
        store = CountingStore(inner)
        it = diff(a, b, store, cache=NodeCache(0))
        assert next(it).path == "obj/000000"
        assert store.reads <= 2 * depth
        # Seeking: a start near the end reads one path per side, not the skipped range.
        store = CountingStore(inner)
        assert [c.path for c in diff(a, b, store, start="obj/019000", cache=NodeCache(0))] == [
            "obj/019999"
        ]
        assert store.reads <= 4 * depth


def test_trees_of_different_heights(small_fanout: None) -> None:
    store = DictNodeStore()
    big = {f"k{i:04d}": entry(i) for i in range(3000)}
    b = build_map(big, store)
    levels = set()
    for step in (3000, 1000, 300, 30, 7):
        small = {f"k{i:04d}": entry(i) for i in range(0, 3000, step)}
        a = build_map(small, store)
        levels.add(load_node(store, NodeCache(0), a).level)
        assert list(diff(a, b, store)) == model_diff(small, big)
        assert list(diff(b, a, store)) == model_diff(big, small)
    assert len(levels) > 1


def test_random_pairs_against_the_model() -> None:
    rng = random.Random(5)
    for fanout in [(2, 2), (4, 2), (16, 4)]:
        with override_fanout(*fanout):
            store = DictNodeStore()
            for _ in range(20):
                keys = [f"{rng.choice('ab/é')}{rng.randrange(50)}" for _ in range(200)]
                left = {k: entry(rng.randrange(4)) for k in keys[:100]}
                right = {
                    k: entry(rng.randrange(4), mtime=rng.choice([0.0, 1.0])) for k in keys[50:]
                }
                a, b = build_map(left, store), build_map(right, store)
                assert list(diff(a, b, store)) == model_diff(left, right)
