"""First-parent chains with skew-binary jump pointers: "where is C on H's first-parent chain?"
in O(log n) point reads, whatever the length of history.

Every commit gets one ``Link`` record (``keys.chain``), written with the commit: its depth on
its first-parent chain, its generation, its first parent, and one *jump* pointer to an older
commit of the same chain. Jumps follow Myers' skew-binary scheme (as in "level ancestor
simplified"): a commit jumps two jumps further than its parent when the parent's jump and the
jump's jump span equal distances, else to its parent. Searching a chain for the last commit that
satisfies a monotone predicate (here: generation >= g; generations strictly decrease down a
first-parent chain) then takes O(log n) steps, each one point read of an immutable record.

Links are immutable (a commit's first-parent chain never changes), so they are cached freely.
Pure: the records are reached through a ``KVReader``/``KVWriter``.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.core import codec, keys
from gateway.core.errors import CommitNotFound
from gateway.core.ids import CommitId
from gateway.core.lru import LruCache
from gateway.core.model import Commit
from gateway.core.ports import KVReader, KVWriter


@dataclass(frozen=True, slots=True)
class Link:
    """A commit's place on its first-parent chain. ``parent``/``jump`` are "" at a root."""

    commit: str
    depth: int  # first parents between the commit and its root (a root has depth 0)
    generation: int
    parent: str
    parent_generation: int
    jump: str  # an older commit of the chain (itself at a root)
    jump_generation: int


_LINKS: LruCache[tuple[str, str], Link] = LruCache(1 << 17)


def _decode(cid: str, raw: bytes) -> Link:
    depth, gen, parent, pgen, jump, jgen = codec.unpack(raw)
    return Link(cid, depth, gen, parent, pgen, jump, jgen)


def get_link(r: KVReader, repo: str, cid: str) -> Link | None:
    cached = _LINKS.get((repo, cid))
    if cached is not None:
        return cached
    raw = r.get(keys.chain(repo, cid))
    if raw is None:
        return None
    link = _decode(cid, raw)
    _LINKS.put((repo, cid), link)
    return link


def link(r: KVReader, repo: str, cid: str) -> Link:
    """The link of commit ``cid``. Raises CommitNotFound when it has none (an unindexed commit
    of a store that predates the index and has not been migrated yet)."""
    found = get_link(r, repo, cid)
    if found is None:
        raise CommitNotFound(f"commit {cid[:12]} of {repo!r} has no chain index entry")
    return found


def make_link(w: KVWriter, repo: str, c: Commit) -> Link:
    """The link of a new commit, from its first parent's (indexed first if it is not)."""
    if not c.parents:
        return Link(c.id, 0, c.generation, "", 0, c.id, c.generation)
    p = ensure_link(w, repo, c.parents[0])
    j = link(w, repo, p.jump) if p.jump != p.commit else p
    jj_depth = link(w, repo, j.jump).depth if j.jump != j.commit else j.depth
    if p.jump != p.commit and p.depth - j.depth == j.depth - jj_depth:
        jump, jump_gen = j.jump, j.jump_generation
    else:
        jump, jump_gen = p.commit, p.generation
    return Link(c.id, p.depth + 1, c.generation, p.commit, p.generation, jump, jump_gen)


def ensure_link(w: KVWriter, repo: str, cid: str) -> Link:
    """The link of stored commit ``cid``, computing and storing the missing links of its
    first-parent chain first (a store written before the index existed). Iterative: no
    recursion limit, however long the unindexed chain."""
    found = get_link(w, repo, cid)
    if found is not None:
        return found
    pending: list[Commit] = []
    cur: str | None = cid
    while cur is not None and get_link(w, repo, cur) is None:
        raw = w.get(keys.commit(repo, cur))
        if raw is None:
            raise CommitNotFound(f"commit {cur!r} not found in repository {repo!r}")
        c = codec.decode_commit(CommitId(cur), raw)
        pending.append(c)
        cur = c.parents[0] if c.parents else None
    made: Link | None = None
    for c in reversed(pending):
        made = make_link(w, repo, c)
        put_link(w, repo, made)
    assert made is not None
    return made


def put_link(w: KVWriter, repo: str, lk: Link) -> None:
    w.put(
        keys.chain(repo, lk.commit),
        codec.pack(
            [lk.depth, lk.generation, lk.parent, lk.parent_generation, lk.jump, lk.jump_generation]
        ),
    )


def floor(r: KVReader, repo: str, start: str, generation: int) -> Link:
    """The last commit of ``start``'s first-parent chain (``start`` included) whose generation
    is at least ``generation``: ``start`` itself when even its parent is below. O(log n) reads.

    So commit C (generation g) is on the chain of H exactly when ``floor(H, g).commit == C``.

    Commits removed by garbage collection (retention) take their links with them: a jump into
    removed history falls back to the parent, and the chain ends where the parent is gone.
    """
    cur = link(r, repo, start)
    while True:
        nxt: Link | None = None
        if cur.jump != cur.commit and cur.jump_generation >= generation:
            nxt = get_link(r, repo, cur.jump)
        if nxt is None and cur.parent and cur.parent_generation >= generation:
            nxt = get_link(r, repo, cur.parent)
        if nxt is None:
            return cur
        cur = nxt
