"""Property tests: the tree, diff and merge against a plain dict model.

Small key alphabets so that random histories collide and conflict often. Fan-outs are shrunk
(``override_fanout``) so that maps of a few dozen keys make trees several levels deep.

Example counts come from a hypothesis profile registered here (not in a conftest):
``HYPOTHESIS_PROFILE=ci`` (default, quick) or ``HYPOTHESIS_PROFILE=thorough`` (2000 examples).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.core import tree
from gateway.core.model import Change, ChangeKind, ConflictKind, Entry, PathConflict, Side
from gateway.core.tree import EMPTY_TREE, DictNodeStore, NodeCache
from gateway.core.tree.diff import diff, same_entry
from gateway.core.tree.merge import MergeResult, merge
from gateway.core.tree.node import override_fanout

settings.register_profile(
    "ci", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
_PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
PROFILE = settings.get_profile(_PROFILE if _PROFILE in ("ci", "thorough") else "ci")

# -- strategies ------------------------------------------------------------------------------------

keys = st.text(alphabet="ab/é", min_size=1, max_size=3)
entries = st.builds(
    Entry,
    address=st.sampled_from(["1" * 64, "2" * 64, "m:" + "3" * 64]),
    size=st.just(1),
    etag=st.sampled_from(["e1", "e2"]),
    content_type=st.sampled_from(["application/octet-stream", "text/plain"]),
    metadata=st.sampled_from([{}, {"k": "v"}]),
    mtime=st.sampled_from([0.0, 1.0]),  # identity-equal variants
)
maps = st.dictionaries(keys, entries, max_size=40)
deltas = st.dictionaries(keys, st.none() | entries, max_size=30)
fanouts = st.sampled_from([(2, 2), (4, 2), (2, 4), (8, 8)])


def applied(m: dict[str, Entry], delta: dict[str, Entry | None]) -> dict[str, Entry]:
    out = dict(m)
    for k, v in delta.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = v
    return out


def build(m: dict[str, Entry], store: DictNodeStore) -> bytes:
    return tree.build(sorted(m.items()), store, cache=NodeCache(0))


# -- tree ------------------------------------------------------------------------------------------


@PROFILE
@given(fanouts, maps, st.lists(deltas, min_size=1, max_size=4))
def test_history_independence(
    fanout: tuple[int, int], m: dict[str, Entry], batches: list[dict[str, Entry | None]]
) -> None:
    with override_fanout(*fanout):
        store = DictNodeStore()
        root = build(m, store)
        for delta in batches:
            m = applied(m, delta)
            root = tree.apply(root, sorted(delta.items()), store)
            assert root == build(m, DictNodeStore())
        assert list(tree.iterate(root, store)) == sorted(m.items())
        assert tree.count(root, store) == len(m)


@PROFILE
@given(fanouts, maps, keys, st.none() | keys)
def test_reads_match_the_model(
    fanout: tuple[int, int], m: dict[str, Entry], start: str, end: str | None
) -> None:
    with override_fanout(*fanout):
        store = DictNodeStore()
        root = build(m, store)
        assert tree.get(root, start, store) == m.get(start)
        expect = [(k, m[k]) for k in sorted(m) if k >= start and (end is None or k < end)]
        assert list(tree.iterate(root, store, start, end)) == expect


# -- diff ------------------------------------------------------------------------------------------


def model_diff(
    left: dict[str, Entry], right: dict[str, Entry], start: str, prefix: str
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


@PROFILE
@given(fanouts, maps, deltas, st.just("") | keys, st.just("") | keys)
def test_diff_matches_the_model(
    fanout: tuple[int, int],
    m: dict[str, Entry],
    delta: dict[str, Entry | None],
    start: str,
    prefix: str,
) -> None:
    with override_fanout(*fanout):
        store = DictNodeStore()
        left = build(m, store)
        m2 = applied(m, delta)
        right = tree.apply(left, sorted(delta.items()), store)
        assert list(diff(left, right, store, start=start, prefix=prefix)) == model_diff(
            m, m2, start, prefix
        )
        assert list(diff(right, left, store)) == model_diff(m2, m, "", "")


# -- merge -----------------------------------------------------------------------------------------


def model_merge(
    base: dict[str, Entry],
    source: dict[str, Entry],
    dest: dict[str, Entry],
    resolve: Callable[[PathConflict], Side | None],
) -> tuple[dict[str, Entry], list[PathConflict], int]:
    merged: dict[str, Entry] = {}
    conflicts: list[PathConflict] = []
    for p in sorted(set(base) | set(source) | set(dest)):
        b, s, d = base.get(p), source.get(p), dest.get(p)
        if same_entry(s, b) or same_entry(s, d):
            out = d
        elif same_entry(d, b):
            out = s
        else:
            if b is None:
                kind = ConflictKind.BOTH_ADDED
            elif d is None:
                kind = ConflictKind.CHANGED_DELETED
            elif s is None:
                kind = ConflictKind.DELETED_CHANGED
            else:
                kind = ConflictKind.BOTH_CHANGED
            conflict = PathConflict(p, kind, b, s, d)  # type: ignore[arg-type]
            side = resolve(conflict)
            if side is None:
                conflicts.append(conflict)
            out = s if side is Side.SOURCE else d
        if out is not None:
            merged[p] = out
    changed = sum(1 for p in set(merged) | set(dest) if not same_entry(merged.get(p), dest.get(p)))
    return merged, conflicts, changed


RESOLVERS: dict[str, Callable[[PathConflict], Side | None]] = {
    "fail": lambda c: None,
    "source-wins": lambda c: Side.SOURCE,
    "dest-wins": lambda c: Side.DEST,
    # per-path: decided by the path alone, some left unresolved
    "per-path": lambda c: [Side.SOURCE, Side.DEST, None][len(c.path.encode()) % 3],
}


@PROFILE
@given(fanouts, maps, deltas, deltas, st.sampled_from(sorted(RESOLVERS)))
def test_merge_matches_the_model(
    fanout: tuple[int, int],
    base_map: dict[str, Entry],
    to_source: dict[str, Entry | None],
    to_dest: dict[str, Entry | None],
    resolver: str,
) -> None:
    resolve = RESOLVERS[resolver]
    with override_fanout(*fanout):
        store = DictNodeStore()
        base = build(base_map, store)
        source_map = applied(base_map, to_source)
        dest_map = applied(base_map, to_dest)
        source = tree.apply(base, sorted(to_source.items()), store)
        dest = tree.apply(base, sorted(to_dest.items()), store)
        result = merge(base, source, dest, store, resolve=resolve)
        expect_map, expect_conflicts, expect_changes = model_merge(
            base_map, source_map, dest_map, resolve
        )
        assert result.conflicts == expect_conflicts
        if expect_conflicts:
            assert result.root is None
        else:
            assert result.root is not None
            assert list(tree.iterate(result.root, store)) == sorted(expect_map.items())
            assert result.root == build(expect_map, DictNodeStore())
            assert result.changes == expect_changes


@PROFILE
@given(fanouts, maps, deltas)
def test_merge_with_itself_and_fast_forward(
    fanout: tuple[int, int], base_map: dict[str, Entry], delta: dict[str, Entry | None]
) -> None:
    with override_fanout(*fanout):
        store = DictNodeStore()
        base = build(base_map, store)
        other = tree.apply(base, sorted(delta.items()), store)
        # Merging into an unchanged base fast-forwards to the other side's map.
        ff = merge(base, other, base, store)
        assert ff.conflicts == [] and ff.root is not None
        assert list(diff(ff.root, other, store)) == []
        assert merge(base, base, other, store) == MergeResult(other, [], 0)
        # Both sides made the same changes: nothing to do.
        assert merge(base, other, other, store) == MergeResult(other, [], 0)
        # Against an empty dest, base's paths are all "deleted on dest".
        r = merge(base, other, EMPTY_TREE, store)
        assert all(c.dest is None and c.base is not None for c in r.conflicts)
