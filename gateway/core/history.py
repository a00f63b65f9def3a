"""Walks over the commit graph: ancestry, merge base, log. Pure functions over a commit lookup."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator

from gateway.core.ids import CommitId
from gateway.core.model import Commit

CommitLookup = Callable[[CommitId], Commit]


def walk(start: Commit, lookup: CommitLookup, *, first_parent: bool = False) -> Iterator[Commit]:
    """Commits reachable from ``start`` (itself included), newest first: by generation, then
    creation date, then id, each once. Cost: O(k log k) for the k commits yielded."""
    heap: list[tuple[int, float, str, Commit]] = [
        (-start.generation, -start.creation_date, start.id, start)
    ]
    seen = {start.id}
    while heap:
        _, _, _, c = heapq.heappop(heap)
        yield c
        parents = c.parents[:1] if first_parent else c.parents
        for pid in parents:
            if pid not in seen:
                seen.add(pid)
                p = lookup(pid)
                heapq.heappush(heap, (-p.generation, -p.creation_date, p.id, p))


def merge_base(a: Commit, b: Commit, lookup: CommitLookup) -> Commit | None:
    """A best common ancestor of ``a`` and ``b`` (None for unrelated histories).

    Walks both histories together in generation order (highest first) and returns the first
    commit reached from both sides. Generation numbers bound the walk: it never goes below the
    answer's generation, so cost grows with the commits since the fork, not with history length.
    """
    if a.id == b.id:
        return a
    flags: dict[str, int] = {a.id: 1, b.id: 2}
    heap: list[tuple[int, float, str, Commit]] = [
        (-a.generation, -a.creation_date, a.id, a),
        (-b.generation, -b.creation_date, b.id, b),
    ]
    queued = {a.id, b.id}
    while heap:
        _, _, cid, c = heapq.heappop(heap)
        queued.discard(cid)
        f = flags[cid]
        if f == 3:
            return c
        for pid in c.parents:
            old = flags.get(pid, 0)
            new = old | f
            if new != old:
                flags[pid] = new
                if pid not in queued:
                    p = lookup(pid)
                    queued.add(pid)
                    heapq.heappush(heap, (-p.generation, -p.creation_date, p.id, p))
    return None


def is_ancestor(a: Commit, b: Commit, lookup: CommitLookup) -> bool:
    """Whether ``a`` is ``b`` or one of its ancestors.

    Walks back from ``b`` in generation order and never below ``a``'s generation, so the cost
    follows the commits between them, not the length of history.
    """
    if a.id == b.id:
        return True
    if a.generation >= b.generation:
        return False
    heap: list[tuple[int, str, Commit]] = [(-b.generation, b.id, b)]
    seen = {b.id}
    while heap:
        _, _, c = heapq.heappop(heap)
        for pid in c.parents:
            if pid == a.id:
                return True
            if pid in seen:
                continue
            seen.add(pid)
            p = lookup(pid)
            if p.generation > a.generation:
                heapq.heappush(heap, (-p.generation, p.id, p))
    return False
