"""Path history, first-parent history and blame against a brute-force model of their definitions
(docs/decisions/0012-path-history.md), on random histories with branches and merges."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.core import chain, codec, errors, keys, pathhistory, tree
from gateway.core.lake import Lake
from gateway.core.model import Commit, MergeStrategy
from gateway.core.ports import KVReader, KVWriter
from gateway.core.view import View
from tests.unit.lake_helpers import memory_lake, put

PATHS = ("a", "b", "d/x", "d/y")
SPECS = (
    pathhistory.PathSpec(("a",)),
    pathhistory.PathSpec(("d/x",)),
    pathhistory.PathSpec((), ("d/",)),
    pathhistory.PathSpec(("a", "b"), ()),
    pathhistory.PathSpec(("b",), ("d/",)),
)

op = st.one_of(
    st.tuples(st.just("put"), st.integers(0, 3), st.sampled_from(PATHS), st.integers(0, 2)),
    st.tuples(st.just("rm"), st.integers(0, 3), st.sampled_from(PATHS), st.just(0)),
    st.tuples(st.just("commit"), st.integers(0, 3), st.just(""), st.just(0)),
    st.tuples(st.just("branch"), st.integers(0, 3), st.just(""), st.integers(0, 3)),
    st.tuples(st.just("merge"), st.integers(0, 3), st.just(""), st.integers(0, 7)),
)


async def build(lake: Lake, ops: list[tuple[str, int, str, int]]) -> list[str]:
    branches = ["main"]
    for kind, b, path, x in ops:
        name = branches[b % len(branches)]
        try:
            if kind == "put":
                await put(lake, "rep", name, path, f"v{x}".encode())
            elif kind == "rm":
                await lake.delete_object("rep", name, path)
            elif kind == "commit":
                await lake.commit("rep", name, message="c", committer="t")
            elif kind == "branch" and len(branches) < 4:
                new = f"b{len(branches)}"
                await lake.create_branch("rep", new, branches[x % len(branches)])
                branches.append(new)
            elif kind == "merge":
                source = branches[x % len(branches)]
                strategy = MergeStrategy.SOURCE_WINS if x >= 4 else MergeStrategy.DEST_WINS
                await lake.commit("rep", name, message="pre", committer="t", allow_empty=True)
                await lake.merge("rep", source, name, committer="t", strategy=strategy)
        except (errors.NoChanges, errors.DirtyBranch, errors.ObjectNotFound):
            pass
    for name in branches:
        with contextlib.suppress(errors.NoChanges):
            await lake.commit("rep", name, message="final", committer="t")
    return branches


class Model:
    """The definitions, computed naively: full tree states, chains walked commit by commit."""

    def __init__(self, view: View) -> None:
        self.view = view
        self._states: dict[tuple[str, pathhistory.PathSpec], dict[str, bytes]] = {}

    def commit(self, cid: str) -> Commit:
        return self.view.commit("rep", cid)

    def state(self, cid: str | None, spec: pathhistory.PathSpec) -> dict[str, bytes]:
        if cid is None:
            return {}
        key = (cid, spec)
        if key not in self._states:
            out = {}
            for p, e in tree.iterate(self.commit(cid).tree, self.view.nodes):
                if p in spec.paths or any(p.startswith(q) for q in spec.prefixes):
                    out[p] = e.identity()
            self._states[key] = out
        return self._states[key]

    def changed(self, cid: str, spec: pathhistory.PathSpec) -> bool:
        c = self.commit(cid)
        return self.state(cid, spec) != self.state(c.parents[0] if c.parents else None, spec)

    def blame(self, head: str, path: str) -> str | None:
        spec = pathhistory.PathSpec((path,))
        x: str | None = head
        while True:
            while x is not None and not self.changed(x, spec):
                parents = self.commit(x).parents
                x = parents[0] if parents else None
            if x is None:
                return None
            c = self.commit(x)
            same = [q for q in c.parents[1:] if self.state(q, spec) == self.state(x, spec)]
            if not same:
                return x
            x = same[0]

    def first_parent(self, head: str, spec: pathhistory.PathSpec) -> list[str]:
        out: list[str] = []
        cur: str | None = head
        while cur is not None:
            if self.changed(cur, spec):
                out.append(cur)
            parents = self.commit(cur).parents
            cur = parents[0] if parents else None
        return out

    def history(self, head: str, spec: pathhistory.PathSpec) -> list[str]:
        shown: list[Commit] = []
        todo, searched, decided = [head], set(), set()
        while todo:
            x: str | None = todo.pop()
            if x in searched:
                continue
            searched.add(x)
            while x is not None and not self.changed(x, spec):
                parents = self.commit(x).parents
                x = parents[0] if parents else None
            if x is None or x in decided:
                continue
            decided.add(x)
            c = self.commit(x)
            shown.append(c)
            todo.extend(c.parents)
        shown.sort(key=lambda c: (-c.generation, -c.creation_date, c.id))
        return [c.id for c in shown]


def check(lake: Lake, heads: list[str]) -> None:
    def fn(r: KVReader) -> None:
        view = View(r)
        model = Model(view)
        for head in heads:
            for spec in SPECS:
                fp = [c.id for c in pathhistory.first_parent_history(view, "rep", head, spec)]
                assert fp == model.first_parent(head, spec)
                full = [c.id for c in pathhistory.history(view, "rep", head, spec)]
                assert full == model.history(head, spec)
            for p in PATHS:
                found = pathhistory.blame(view, "rep", head, p)
                assert (found.id if found else None) == model.blame(head, p)
                spec = pathhistory.PathSpec((p,))
                assert found is None or found.id in model.history(head, spec)
                here = tree.get(model.commit(head).tree, p, view.nodes)
                if found is None:
                    assert here is None and not model.first_parent(head, pathhistory.PathSpec((p,)))
                    continue
                there = tree.get(found.tree, p, view.nodes)
                # The blamed commit wrote exactly the content (or the deletion) the head has.
                assert (here is None) == (there is None)
                assert here is None or there is None or here.identity() == there.identity()

    lake.kv.read_sync(fn)


def run(coro_fn: Callable[[], object]) -> None:
    asyncio.run(coro_fn())  # type: ignore[arg-type]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
@given(st.lists(op, min_size=5, max_size=40))
def test_history_matches_the_brute_force_model(ops: list[tuple[str, int, str, int]]) -> None:
    async def scenario() -> None:
        lake = memory_lake()
        await lake.create_repository("rep")
        names = await build(lake, ops)
        heads = [(await lake.get_branch("rep", n)).head for n in names]
        check(lake, heads)

    run(scenario)


async def test_chain_floor_places_every_commit_of_a_long_chain() -> None:
    lake = memory_lake()
    await lake.create_repository("rep")
    ids = [(await lake.get_branch("rep", "main")).head]
    for i in range(300):
        await put(lake, "rep", "main", "p", str(i).encode())
        ids.append((await lake.commit("rep", "main", message=str(i), committer="t")).id)

    def fn(r: KVReader) -> None:
        for g, cid in enumerate(ids, start=1):
            assert chain.floor(r, "rep", ids[-1], g).commit == cid
            assert chain.link(r, "rep", cid).depth == g - 1

    lake.kv.read_sync(fn)


async def test_facade_pages_history_and_blames_a_prefix() -> None:
    lake = memory_lake()
    await lake.create_repository("rep")
    made: dict[str, list[str]] = {"x/1": [], "x/2": []}
    for i in range(5):
        for p in made:
            if i % 2 == 0 or p == "x/1":
                await put(lake, "rep", "main", p, f"{p}{i}".encode())
                await put(lake, "rep", "main", "other", f"{i}{p}".encode())
                made[p].append((await lake.commit("rep", "main", message=p, committer="t")).id)
    page = await lake.path_history("rep", "main", "x/1", limit=2)
    assert [v.commit.id for v in page.versions] == made["x/1"][::-1][:2] and page.truncated
    rest = await lake.path_history("rep", "main", "x/1", after=page.next_after or "", limit=10)
    assert [v.commit.id for v in rest.versions] == made["x/1"][::-1][2:]
    await lake.delete_object("rep", "main", "x/2")
    gone = await lake.commit("rep", "main", message="rm", committer="t")
    versions = (await lake.path_history("rep", "main", "x/2", first_parent=True)).versions
    assert versions[0].commit.id == gone.id and versions[0].entry is None
    assert versions[1].entry is not None
    blame = await lake.blame("rep", "main", "x/", prefix=True)
    assert [(b.path, b.commit.id if b.commit else None) for b in blame.lines] == [
        ("x/1", made["x/1"][-1])
    ]
    one = await lake.blame("rep", "main", "other")
    assert one.lines[0].commit is not None and one.lines[0].commit.message == "x/2"
    with pytest.raises(errors.ObjectNotFound):
        await lake.blame("rep", "main", "x/2")
    assert await lake.history_paths("rep") == (["other", "x/1", "x/2"], False)
    assert await lake.history_paths("rep", "x/", after="x/1", limit=1) == (["x/2"], False)
    log = await lake.log("rep", "main", paths=["x/2"])
    assert [c.id for c in log.commits] == [gone.id, *made["x/2"][::-1]]


async def test_a_store_from_before_the_index_is_migrated_at_sweep() -> None:
    lake = memory_lake()
    await lake.create_repository("rep")
    await lake.create_branch("rep", "dev", "main")
    for i in range(4):
        await put(lake, "rep", "dev" if i % 2 else "main", f"p{i % 2}", str(i).encode())
        await lake.commit("rep", "dev" if i % 2 else "main", message=str(i), committer="t")
    await lake.merge("rep", "dev", "main", committer="t")
    head = (await lake.get_branch("rep", "main")).head
    spec = pathhistory.PathSpec(("p1",), ("p",))

    def snapshot(r: KVReader) -> tuple[list[str], list[str]]:
        view = View(r)
        return (
            [c.id for c in pathhistory.history(view, "rep", head, spec)],
            [c.id for c in pathhistory.first_parent_history(view, "rep", head, spec)],
        )

    before = lake.kv.read_sync(snapshot)

    def make_old(w: KVWriter) -> None:
        # What a store written before decision 0012 holds: L/ keys, no V/ keys, no chain links.
        for k, _ in list(w.scan(keys.HISTORY, keys.prefix_end(keys.HISTORY))):
            body = k[len(keys.HISTORY) :]
            repo, _, rest = body.partition(keys.SEP)
            path, cid = rest[: -(8 + 64 + 1)].decode(), rest[-64:].decode()
            w.put(keys.PATHLOG + repo + keys.SEP + path.encode() + keys.SEP + cid.encode(), b"")
            w.delete(k)
        for k, _ in list(w.scan(keys.CHAIN, keys.prefix_end(keys.CHAIN))):
            w.delete(k)

    await lake.kv.write(make_old)
    chain._LINKS._data.clear()
    await lake.sweep()
    assert lake.kv.read_sync(snapshot) == before
    assert lake.kv.read_sync(lambda r: next(iter(r.scan(keys.PATHLOG, b"L0")), None)) is None
    raw = lake.kv.read_sync(lambda r: r.get(keys.commit("rep", head)))
    assert raw is not None and codec.decode_commit(head, raw).id == head  # type: ignore[arg-type]


async def test_history_ends_where_garbage_collection_removed_commits() -> None:
    lake = memory_lake()
    await lake.create_repository("rep")
    ids = []
    for i in range(40):
        await put(lake, "rep", "main", "p", str(i).encode())
        ids.append((await lake.commit("rep", "main", message=str(i), committer="t")).id)
    gone = set(ids[5:25])  # what retention removes: commit, chain link and history keys

    def collect(w: KVWriter) -> None:
        for cid in gone:
            w.delete(keys.commit("rep", cid))
            w.delete(keys.chain("rep", cid))
        base = keys.history_of("rep", "p")
        for k, _ in list(w.scan(base, keys.prefix_end(base))):
            if k[-64:].decode() in gone:
                w.delete(k)

    await lake.kv.write(collect)
    view_cache = chain._LINKS._data
    view_cache.clear()
    from gateway.core import view as view_module

    view_module._COMMITS._data.clear()
    kept = ids[25:][::-1]
    full = await lake.path_history("rep", "main", "p", limit=100)
    assert [v.commit.id for v in full.versions] == kept
    fp = await lake.path_history("rep", "main", "p", first_parent=True, limit=100)
    assert [v.commit.id for v in fp.versions] == kept
    blamed = await lake.blame("rep", "main", "p")
    assert blamed.lines[0].commit is not None and blamed.lines[0].commit.id == ids[-1]
