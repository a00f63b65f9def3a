"""Path history and blame from the generation-ordered path index, not from a walk of history.

Definitions (docs/decisions/0012-path-history.md; tests check them against a brute-force model):

* A *pathspec* S is a set of exact paths and path prefixes; the *state* of S at commit C is C's
  tree restricted to S (entries compared by content identity, ``Entry.identity``).
* C *changed* S when its state of S differs from its first parent's (a root: from the empty
  tree). Exactly these (path, commit) pairs are indexed at publish time (``keys.HISTORY``), by
  generation.
* **First-parent history** of S from H: the commits of H's first-parent chain that changed S,
  newest first. These are the states a branch went through: a merge that brought a change in is
  one of them (S3 object versions are this).
* **History** (the default): walk back from H along first parents; every commit C met that
  changed S is shown, and the walk continues from each of C's parents (a merge that changed S
  brought something of S in: its other side is searched too). A merge that did not change S
  brought nothing of S in, so its other side is not followed (as git's history simplification).
  The merge that brought a change into a branch is shown, as are the source-side commits that
  made it (lakeFS shows the merge too).
* **Blame** of a path at H: the newest change of H's first-parent chain; when that is a merge
  whose other parent Q has the same content, the blame of Q instead (the commit that wrote the
  content, not the merge that carried it). Always a commit of the history.

Cost: each step finds "the newest indexed change of S on X's first-parent chain" by reading the
index newest-first and placing each candidate on the chain with ``gateway.core.chain.floor``
(O(log n) point reads). The cost follows the number of commits that changed S (plus those of
other branches that changed S), never the length of history.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from gateway.core import chain, keys, tree
from gateway.core.errors import CommitNotFound
from gateway.core.model import Commit
from gateway.core.ports import KVReader
from gateway.core.tree.diff import diff as tree_diff
from gateway.core.tree.diff import same_entry
from gateway.core.view import View

_GEN = 8
_HEX = 64


@dataclass(frozen=True, slots=True)
class PathSpec:
    """Exact paths and prefixes (a prefix matches every path starting with it)."""

    paths: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()

    @classmethod
    def of(cls, paths: Iterable[str] = (), prefixes: Iterable[str] = ()) -> PathSpec:
        return cls(tuple(sorted(set(paths))), tuple(sorted(set(prefixes))))

    def same_state(self, view: View, a: bytes, b: bytes) -> bool:
        """Whether trees ``a`` and ``b`` agree on every path of the spec."""
        if a == b:
            return True
        for p in self.paths:
            if not same_entry(tree.get(a, p, view.nodes), tree.get(b, p, view.nodes)):
                return False
        return all(next(tree_diff(a, b, view.nodes, prefix=q), None) is None for q in self.prefixes)


def _parse(key: bytes) -> tuple[int, str]:
    return int.from_bytes(key[-_HEX - _GEN : -_HEX], "big"), key[-_HEX:].decode("ascii")


def _path_changes(r: KVReader, repo: str, path: str, max_gen: int) -> Iterator[tuple[int, str]]:
    """(generation, commit) of the changes of one exact path, newest first, gen <= max_gen."""
    base = keys.history_of(repo, path)
    end = base + (max_gen + 1).to_bytes(_GEN, "big")
    for k, _ in r.scan(base, end, reverse=True):
        yield _parse(k)


class Candidates:
    """The indexed changes of a pathspec, newest first, from any generation down.

    Exact paths are read lazily (a reverse seek per path). Prefixes are read once and sorted:
    their keys are ordered by path, not by generation; the list holds one item per commit that
    changed something under the prefix (at most the length of history), not one per path.
    """

    def __init__(self, r: KVReader, repo: str, spec: PathSpec) -> None:
        self._r = r
        self._repo = repo
        self._spec = spec
        self._sorted: list[tuple[int, str]] | None = None
        if spec.prefixes:
            gens: dict[str, int] = {}
            for q in spec.prefixes:
                base = keys.history_prefix(repo, q)
                for k, _ in r.scan(base, keys.prefix_end(base)):
                    g, c = _parse(k)
                    gens[c] = g
            self._sorted = sorted(((g, c) for c, g in gens.items()), reverse=True)

    def below(self, max_gen: int) -> Iterator[tuple[int, str]]:
        """Candidates with generation <= ``max_gen``, newest first, each commit once."""
        streams: list[Iterator[tuple[int, str]]] = [
            _path_changes(self._r, self._repo, p, max_gen) for p in self._spec.paths
        ]
        if self._sorted is not None:
            items = self._sorted
            lo, hi = 0, len(items)  # first index with generation <= max_gen (list descending)
            while lo < hi:
                mid = (lo + hi) // 2
                if items[mid][0] > max_gen:
                    lo = mid + 1
                else:
                    hi = mid
            streams.append(iter(items[lo:]))
        last: tuple[int, str] | None = None
        merged = streams[0] if len(streams) == 1 else heapq.merge(*streams, reverse=True)
        for item in merged:
            if item != last:
                yield item
            last = item


def newest_on_chain(r: KVReader, repo: str, cands: Candidates, start: str) -> str | None:
    """The newest commit of ``start``'s first-parent chain (``start`` included) that changed
    the pathspec, or None."""
    cur = chain.link(r, repo, start)
    for g, c in cands.below(cur.generation):
        cur = chain.floor(r, repo, cur.commit, g)
        if cur.commit == c:
            return c
    return None


def first_parent_history(view: View, repo: str, head: str, spec: PathSpec) -> Iterator[Commit]:
    """The commits of ``head``'s first-parent chain that changed ``spec``, newest first."""
    r = view.kv
    cands = Candidates(r, repo, spec)
    cur = chain.link(r, repo, head)
    for g, c in cands.below(cur.generation):
        cur = chain.floor(r, repo, cur.commit, g)
        found = _commit(view, repo, c) if cur.commit == c else None
        if found is not None:
            yield found


def _commit(view: View, repo: str, cid: str) -> Commit | None:
    """The commit, or None when garbage collection removed it (history ends there)."""
    try:
        return view.commit(repo, cid)
    except CommitNotFound:
        return None


def _key(c: Commit) -> tuple[int, float, str]:
    return (-c.generation, -c.creation_date, c.id)


def history(view: View, repo: str, head: str, spec: PathSpec) -> Iterator[Commit]:
    """The history of ``spec`` from ``head`` (see the module docstring), newest first
    (generation, then creation date, then id, as ``gateway.core.history.walk``), each once."""
    r = view.kv
    cands = Candidates(r, repo, spec)
    # Heap items: (sort key, is_found, commit). A "head" is a chain still to search; a "found"
    # commit changed the spec and is decided when popped, so output stays in key order.
    start = view.commit(repo, head)
    heap: list[tuple[tuple[int, float, str], bool, Commit]] = [(_key(start), False, start)]
    searched: set[str] = set()
    decided: set[str] = set()
    while heap:
        _, found, c = heapq.heappop(heap)
        if not found:
            if c.id in searched:
                continue
            searched.add(c.id)
            hit = newest_on_chain(r, repo, cands, c.id)
            hc = None if hit is None or hit in decided else _commit(view, repo, hit)
            if hc is not None:
                heapq.heappush(heap, (_key(hc), True, hc))
            continue
        if c.id in decided:
            continue
        decided.add(c.id)
        yield c
        for pid in c.parents:
            p = None if pid in searched else _commit(view, repo, pid)
            if p is not None:
                heapq.heappush(heap, (_key(p), False, p))


def blame(view: View, repo: str, head: str, path: str) -> Commit | None:
    """The commit that wrote the content ``path`` has at ``head``: the newest change on the
    first-parent chain, passed through merges to the parent the content came from. None when
    no indexed commit changed the path (it is absent, or its store predates the index)."""
    r = view.kv
    spec = PathSpec((path,))
    cands = Candidates(r, repo, spec)
    cur = head
    while True:
        hit = newest_on_chain(r, repo, cands, cur)
        c = None if hit is None else _commit(view, repo, hit)
        if c is None:
            return None
        parents = [p for p in (_commit(view, repo, q) for q in c.parents[1:]) if p is not None]
        source = next((q.id for q in parents if spec.same_state(view, q.tree, c.tree)), None)
        if source is None:
            return c
        cur = source
