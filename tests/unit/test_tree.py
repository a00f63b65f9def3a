"""The prolly tree: build, apply, get, iterate, count, the node format and the node cache."""

from __future__ import annotations

import dataclasses
import random
import threading
from collections.abc import Iterator

import msgpack
import pytest

from gateway.core import codec, tree
from gateway.core.model import Entry
from gateway.core.tree import EMPTY_TREE, DictNodeStore, NodeCache
from gateway.core.tree.node import (
    FORMAT_VERSION,
    LEAF_TARGET,
    CorruptNode,
    MissingNode,
    decode_entry_value,
    decode_node,
    encode_entry_value,
    entry_from_raw,
    entry_to_raw,
    is_boundary,
    load_node,
    override_fanout,
)


def entry(n: int, *, mtime: float = 0.0, **kw: object) -> Entry:
    return Entry(address=f"{n:064x}", size=n, etag=f"{n:032x}", mtime=mtime, **kw)  # type: ignore[arg-type]


def build_map(m: dict[str, Entry], store: DictNodeStore, cache: NodeCache | None = None) -> bytes:
    return tree.build(sorted(m.items()), store, cache=cache)


def contents(root: bytes, store: DictNodeStore, cache: NodeCache | None = None) -> dict[str, Entry]:
    return dict(tree.iterate(root, store, cache=cache))


def apply_model(m: dict[str, Entry], changes: dict[str, Entry | None]) -> dict[str, Entry]:
    out = dict(m)
    for k, v in changes.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = v
    return out


def height(root: bytes, store: DictNodeStore) -> int:
    return load_node(store, NodeCache(0), root).level + 1 if root else 0


@pytest.fixture
def small_fanout() -> Iterator[None]:
    """Fan-out 4: a few hundred keys make trees several levels deep."""
    with override_fanout(4, 4):
        yield


# -- empty and tiny trees -------------------------------------------------------------------------


def test_empty_tree() -> None:
    store = DictNodeStore()
    assert tree.build([], store) == EMPTY_TREE == b""
    assert tree.get(EMPTY_TREE, "a", store) is None
    assert list(tree.iterate(EMPTY_TREE, store)) == []
    assert tree.count(EMPTY_TREE, store) == 0
    assert tree.apply(EMPTY_TREE, [], store) == EMPTY_TREE
    assert tree.apply(EMPTY_TREE, [("a", None)], store) == EMPTY_TREE
    assert store.nodes == {}


def test_single_entry() -> None:
    store = DictNodeStore()
    root = tree.build([("only", entry(1))], store)
    assert len(root) == 32
    assert tree.get(root, "only", store) == entry(1)
    assert tree.get(root, "onl", store) is None
    assert tree.get(root, "only2", store) is None
    assert list(tree.iterate(root, store)) == [("only", entry(1))]
    assert tree.count(root, store) == 1
    assert tree.apply(EMPTY_TREE, [("only", entry(1))], store) == root
    assert tree.apply(root, [("only", None)], store) == EMPTY_TREE


def test_delete_everything_gives_the_empty_tree(small_fanout: None) -> None:
    store = DictNodeStore()
    m = {f"k{i:04d}": entry(i) for i in range(300)}
    root = build_map(m, store)
    assert height(root, store) >= 4
    assert tree.apply(root, [(k, None) for k in sorted(m)], store) == EMPTY_TREE
    # Also by halves, so that a partial delete shrinks the tree first.
    keys = sorted(m)
    half = tree.apply(root, [(k, None) for k in keys[::2]], store)
    assert tree.count(half, store) == 150
    assert tree.apply(half, [(k, None) for k in keys[1::2]], store) == EMPTY_TREE


def test_delete_missing_path_is_a_no_op(small_fanout: None) -> None:
    store = DictNodeStore()
    root = build_map({f"k{i}": entry(i) for i in range(50)}, store)
    assert tree.apply(root, [("a", None), ("k10x", None), ("zzz", None)], store) == root


def test_setting_identical_entries_is_a_no_op(small_fanout: None) -> None:
    store = DictNodeStore()
    m = {f"k{i}": entry(i) for i in range(50)}
    root = build_map(m, store)
    before = set(store.nodes)
    assert tree.apply(root, sorted(m.items())[:20], store) == root
    assert set(store.nodes) == before


def test_unsorted_or_duplicate_input_is_rejected() -> None:
    store = DictNodeStore()
    with pytest.raises(ValueError):
        tree.build([("b", entry(1)), ("a", entry(2))], store)
    with pytest.raises(ValueError):
        tree.build([("a", entry(1)), ("a", entry(2))], store)
    with pytest.raises(ValueError):
        tree.apply(EMPTY_TREE, [("b", None), ("a", None)], store)


# -- reads ----------------------------------------------------------------------------------------


def test_get_every_key_and_misses(small_fanout: None) -> None:
    store = DictNodeStore()
    m = {f"p/{i:03d}": entry(i) for i in range(0, 400, 2)}
    root = build_map(m, store)
    for k, v in m.items():
        assert tree.get(root, k, store) == v
    for miss in ["", "p/", "p/001", "p/399", "p/999", "q", "p/0000"]:
        assert tree.get(root, miss, store) is None
    assert tree.count(root, store) == len(m)


def test_iterate_ranges_seek(small_fanout: None) -> None:
    store = DictNodeStore()
    keys = [f"k{i:03d}" for i in range(0, 500, 5)]
    m = {k: entry(i) for i, k in enumerate(keys)}
    root = build_map(m, store)
    assert [k for k, _ in tree.iterate(root, store)] == keys
    cases = [
        ("", None),
        ("k100", None),
        ("k101", None),
        ("k100", "k200"),
        ("k101", "k199"),
        ("k495", None),
        ("k496", None),
        ("", "k000"),
        ("", "k001"),
        ("k200", "k200"),
        ("k300", "k100"),
        ("a", "z"),
        ("z", None),
    ]
    for start, end in cases:
        expect = [k for k in keys if k >= start and (end is None or k < end)]
        got = list(tree.iterate(root, store, start, end))
        assert [k for k, _ in got] == expect, (start, end)
        assert all(m[k] == v for k, v in got)


def test_iterate_is_lazy_and_seeks_in_log_n_reads(small_fanout: None) -> None:
    store = CountingStore()
    m = {f"k{i:05d}": entry(i) for i in range(2000)}
    root = build_map(m, store.inner)
    depth = height(root, store.inner)
    it = tree.iterate(root, store, "k01000", cache=NodeCache(0))
    assert next(it)[0] == "k01000"
    assert store.reads == depth  # one node per level, nothing else
    assert [k for k, _ in zip(it, range(3), strict=False)] == [
        ("k01001", m["k01001"]),
        ("k01002", m["k01002"]),
        ("k01003", m["k01003"]),
    ]


@pytest.mark.parametrize(
    "keys",
    [
        # Long shared prefixes: the keys differ only near the end.
        [("x" * 900) + f"/{i:04d}" for i in range(300)],
        # Unicode, including astral characters; code-point order == UTF-8 byte order.
        sorted({f"{c}{i}" for i in range(40) for c in ["é", "日本", "a", "Z", "\U0001f600", "ü/"]}),
        # Slash-heavy paths, empty segments, trailing slashes.
        sorted({"/" * (i % 7) + f"a/{i}/" + "/" * (i % 3) for i in range(300)}),
        # Prefixes of each other.
        sorted({"a" * i for i in range(1, 200)}),
    ],
    ids=["long-prefix", "unicode", "slashes", "nested-prefixes"],
)
def test_awkward_paths(keys: list[str], small_fanout: None) -> None:
    store = DictNodeStore()
    keys = sorted(keys)
    m = {k: entry(i) for i, k in enumerate(keys)}
    root = build_map(m, store)
    assert list(tree.iterate(root, store)) == sorted(m.items())
    for k in keys[::7]:
        assert tree.get(root, k, store) == m[k]
    mid = keys[len(keys) // 2]
    assert [k for k, _ in tree.iterate(root, store, mid)] == [k for k in keys if k >= mid]
    # Incremental construction in a shuffled order lands on the same tree.
    rng = random.Random(7)
    shuffled = keys[:]
    rng.shuffle(shuffled)
    root2 = EMPTY_TREE
    for i in range(0, len(shuffled), 37):
        batch = sorted(shuffled[i : i + 37])
        root2 = tree.apply(root2, [(k, m[k]) for k in batch], store)
    assert root2 == root


# -- history independence (seeded; the hypothesis version is in test_tree_properties) -------------


@pytest.mark.parametrize("fanout", [(2, 2), (4, 2), (8, 4), (64, 64)])
def test_apply_equals_build_of_the_result(fanout: tuple[int, int]) -> None:
    rng = random.Random(hash(fanout))
    with override_fanout(*fanout):
        store = DictNodeStore()
        m = {f"k{rng.randrange(3000):04d}": entry(rng.randrange(5)) for _ in range(600)}
        root = build_map(m, store)
        for _ in range(15):
            changes: dict[str, Entry | None] = {}
            for _ in range(rng.choice([1, 2, 10, 100, 700])):
                k = f"k{rng.randrange(3000):04d}"
                changes[k] = None if rng.random() < 0.45 else entry(rng.randrange(5))
            m = apply_model(m, changes)
            root = tree.apply(root, sorted(changes.items()), store)
            assert root == build_map(m, DictNodeStore(), NodeCache(0))
            assert tree.count(root, store) == len(m)
        assert contents(root, store) == m


def test_same_map_same_root_whatever_the_history() -> None:
    store = DictNodeStore()
    m = {f"d/{i}": entry(i) for i in range(1000)}
    a = build_map(m, store)
    b = tree.apply(build_map({"zz": entry(1), "d/5": entry(9)}, store), [], store)
    b = tree.apply(b, [("d/5", entry(5)), ("zz", None)], store)
    b = tree.apply(b, sorted((k, v) for k, v in m.items() if k != "d/5"), store)
    assert a == b


def test_apply_leaves_the_old_tree_intact(small_fanout: None) -> None:
    store = DictNodeStore()
    m = {f"k{i:03d}": entry(i) for i in range(200)}
    root = build_map(m, store)
    new = tree.apply(root, [("k005", None), ("k100", entry(1000)), ("k150x", entry(7))], store)
    assert new != root
    assert contents(root, store) == m
    assert contents(new, store) == apply_model(
        m, {"k005": None, "k100": entry(1000), "k150x": entry(7)}
    )


def test_the_tree_stores_full_entries_not_only_identity() -> None:
    store = DictNodeStore()
    e = entry(1, metadata={"b": "2", "a": "1"}, checksums={"crc32": "AAAA"}, content_type="x/y")
    root = tree.build([("a", e)], store)
    assert tree.get(root, "a", store) == e
    # A re-upload (new mtime) has the same identity but is a different tree.
    assert tree.apply(root, [("a", entry(1, mtime=5.0))], store) != root


# -- structural sharing: counted node reads and writes ---------------------------------------------


class CountingStore:
    """A NodeStore that counts reads and writes (used with a disabled cache)."""

    def __init__(self) -> None:
        self.inner = DictNodeStore()
        self.reads = 0
        self.writes = 0

    def get_node(self, node_id: bytes) -> bytes | None:
        self.reads += 1
        return self.inner.get_node(node_id)

    def put_node(self, node_id: bytes, data: bytes) -> None:
        self.writes += 1
        self.inner.put_node(node_id, data)


@pytest.mark.parametrize("k", [1, 10, 50])
def test_apply_touches_o_k_log_n_nodes(k: int) -> None:
    rng = random.Random(k)
    with override_fanout(8, 8):
        store = CountingStore()
        n = 20_000
        m = {f"obj/{i:06d}": entry(i) for i in range(n)}
        root = build_map(m, store.inner)
        depth = height(root, store.inner)
        total = len(store.inner.nodes)
        assert depth >= 5
        keys = sorted(m)
        changes: dict[str, Entry | None] = {}
        while len(changes) < k:
            r = rng.random()
            key = rng.choice(keys)
            changes[key if r < 0.66 else key + "x"] = None if r < 0.33 else entry(-1)
        store.reads = store.writes = 0
        new = tree.apply(root, sorted(changes.items()), store, cache=NodeCache(0))
        # Each change reads one root-to-leaf path (internal nodes once per call) plus at most a
        # neighbour leaf, and writes about as many nodes.
        assert store.reads <= 2 * k * depth
        assert store.writes <= 2 * k * depth
        assert store.reads < total // 10
        assert new == build_map(apply_model(m, changes), DictNodeStore(), NodeCache(0))


# -- node format, codec equivalence, cache ------------------------------------------------------


def test_node_format_is_versioned_msgpack_named_by_blake3() -> None:
    import blake3

    store = DictNodeStore()
    root = tree.build([("a", entry(1)), ("b", entry(2))], store)
    data = store.nodes[root]
    assert blake3.blake3(data).digest() == root
    version, level, keys, vals = msgpack.unpackb(data, raw=False)
    assert (version, level, keys) == (FORMAT_VERSION, 0, ["a", "b"])
    # Each entry is the msgpack of the codec's list form.
    assert msgpack.unpackb(vals[0], raw=False) == codec.entry_to_list(entry(1))


def test_fast_entry_conversions_match_the_codec() -> None:
    samples = [
        entry(0),
        entry(7, mtime=1.5, content_type="text/plain"),
        entry(9, metadata={"z": "1", "a": "é"}, checksums={"sha256": "x", "crc32": "y"}),
        entry(3, tags={"team": "ml", "a": "1"}),
    ]
    for e in samples:
        as_list = codec.entry_to_list(e)
        assert msgpack.packb(entry_to_raw(e), use_bin_type=True) == msgpack.packb(
            as_list, use_bin_type=True
        )
        assert encode_entry_value(e) == msgpack.packb(as_list, use_bin_type=True)
        assert entry_from_raw(as_list) == codec.entry_from_list(as_list) == e
        assert decode_entry_value(encode_entry_value(e)) == e
        assert type(decode_entry_value(encode_entry_value(e)).metadata) is dict
        assert len(as_list) == (8 if e.tags else 7)  # no trailing element without tags


def test_untagged_entries_keep_their_bytes_and_identity() -> None:
    # Node ids and entry identities written before tags existed must not change.
    e = entry(5, metadata={"k": "v"})
    assert codec.entry_to_list(e) == [e.address, 5, e.etag, e.content_type, [["k", "v"]], 0.0, []]
    tagged = dataclasses.replace(e, tags={"k": "v"})
    assert tagged.identity() != e.identity()
    assert dataclasses.replace(tagged, tags={}).identity() == e.identity()


def test_missing_and_corrupt_nodes_raise_domain_errors() -> None:
    store = DictNodeStore()
    with pytest.raises(MissingNode):
        tree.get(b"\x01" * 32, "a", store, cache=NodeCache(0))
    store.put_node(b"\x02" * 32, b"\xc1garbage")
    with pytest.raises(CorruptNode):
        list(tree.iterate(b"\x02" * 32, store, cache=NodeCache(0)))
    store.put_node(b"\x03" * 32, msgpack.packb([99, 0, ["a"], [b""]]))
    with pytest.raises(CorruptNode):
        decode_node(store.nodes[b"\x03" * 32])


def test_boundaries_depend_on_keys_and_level_only() -> None:
    keys = [f"key-{i}" for i in range(5000)]
    leaf = [k for k in keys if is_boundary(k, 0)]
    assert leaf == [k for k in keys if is_boundary(k, 0)]
    assert 5000 / LEAF_TARGET / 2 < len(leaf) < 5000 / LEAF_TARGET * 2  # ~1 key in LEAF_TARGET
    # Levels use independent hash bytes.
    assert [k for k in keys if is_boundary(k, 1)] != leaf


def test_override_fanout_validates_and_restores() -> None:
    with pytest.raises(ValueError), override_fanout(3, 4):
        pass
    store = DictNodeStore()
    m = {f"k{i}": entry(i) for i in range(500)}
    default = build_map(m, store)
    with override_fanout(2, 2):
        assert build_map(m, store) != default
    assert build_map(m, store) == default


def test_full_scan_does_not_flood_the_cache() -> None:
    store = DictNodeStore()
    root = build_map({f"k{i:05d}": entry(i) for i in range(5000)}, store, NodeCache(0))
    leaves = sum(1 for d in store.nodes.values() if msgpack.unpackb(d)[1] == 0)
    cache = NodeCache()
    assert sum(1 for _ in tree.iterate(root, store, cache=cache)) == 5000
    assert len(cache) == len(store.nodes) - leaves + 1  # internal nodes and the first leaf


def test_node_cache_is_bounded_lru() -> None:
    store = DictNodeStore()
    cache = NodeCache(max_bytes=10_000)
    roots = [tree.build([(f"k{i}", entry(i))], store, cache=NodeCache(0)) for i in range(100)]
    for r in roots:
        load_node(store, cache, r)
    assert 0 < len(cache) < 100
    assert cache.get(roots[-1]) is not None and cache.get(roots[0]) is None
    cache.clear()
    assert len(cache) == 0


def test_overlay_store_keeps_new_nodes_until_published() -> None:
    base = DictNodeStore()
    root = build_map({f"k{i}": entry(i) for i in range(200)}, base)
    before = dict(base.nodes)
    overlay = tree.OverlayNodeStore(base)
    new = tree.apply(root, [("k5", None), ("new", entry(7))], overlay, cache=NodeCache(0))
    assert base.nodes == before  # nothing reached the base store
    assert new in overlay.pending and tree.get(new, "new", overlay) == entry(7)
    base.nodes.update(overlay.pending)  # the publishing transaction
    assert tree.get(new, "new", base, cache=NodeCache(0)) == entry(7)
    assert tree.count(new, base) == 200


def test_concurrent_readers_share_the_cache() -> None:
    store = DictNodeStore()
    m = {f"k{i:05d}": entry(i) for i in range(3000)}
    root = build_map(m, store)
    cache = NodeCache(max_bytes=200_000)  # small: forces concurrent eviction too
    errors: list[BaseException] = []

    def reader(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(200):
                k = f"k{rng.randrange(3000):05d}"
                assert tree.get(root, k, store, cache=cache) == m[k]
            assert sum(1 for _ in tree.iterate(root, store, cache=cache)) == 3000
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
