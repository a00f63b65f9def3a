"""Upstream and downstream lineage graphs, across repositories, from recorded commit inputs.

Nodes are commits (repository, commit id). Edges point the way data flowed, producer to
consumer, and are of two kinds:

* ``input``: the consumer commit recorded the producer as an input (``Commit.inputs``), with
  the input's path and the ref expression given;
* ``contains``: the consumer commit holds, at ``path``, the content the producer commit wrote
  (the producer is the blame of that path). This is how a model trained on ``data@main`` is
  traced to the job that wrote ``data``'s features, however many commits later ``main`` was
  used.

**Upstream** of a commit C (with a PATH: of the commit that last changed PATH): C's inputs; for
an input naming a path, the commits that wrote that path's content at the input commit
(``contains``), then their inputs, recursively across repositories. **Downstream** of X: the
commits that recorded as an input X itself, or a later commit of the same repository that still
holds what X wrote (with a PATH: whose blame of PATH is X; without: a descendant of X), then
theirs, recursively. Both are answered from the commits' records and the ``K/`` downstream index
(uses of a repository as an input): never a scan of all commits.

``depth`` counts ``input`` edges. Nodes of repositories the caller may not read are shown
(upstream: the reading commit records them) but not expanded; downstream consumers the caller
may not read are left out and counted in ``hidden``.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

from gateway.core import keys, pathhistory, tree
from gateway.core.errors import InvalidArgument, NotFound, ObjectNotFound
from gateway.core.history import is_ancestor
from gateway.core.lake import Lake
from gateway.core.listing import str_prefix_end
from gateway.core.model import Commit, CommitInput
from gateway.core.ports import KVReader
from gateway.core.view import View

#: Deepest graph served (``input`` edges from the root).
MAX_DEPTH = 32
#: Paths of a prefix examined to find the commits that wrote it, and writers kept per prefix.
MAX_PREFIX_PATHS = 10_000
MAX_WRITERS = 32
#: Nodes in one graph (a lineage graph is for reading; a bigger one is cut and marked).
MAX_NODES = 2_000

MayRead = Callable[[str], Awaitable[bool]]


class Direction(enum.Enum):
    UPSTREAM = "upstream"
    DOWNSTREAM = "downstream"


@dataclass(frozen=True, slots=True)
class Node:
    repository: str
    commit_id: str
    commit: Commit | None  # None when the caller may not read the repository (or it is gone)
    readable: bool = True

    @property
    def id(self) -> str:
        return node_id(self.repository, self.commit_id)


@dataclass(frozen=True, slots=True)
class Edge:
    source: str  # producer node id
    target: str  # consumer node id
    kind: str  # "input" | "contains"
    path: str = ""
    ref: str = ""


@dataclass
class Graph:
    direction: Direction
    root: str
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    truncated: bool = False  # the depth or size limit cut the graph
    hidden: int = 0  # downstream consumers left out (not readable by the caller)


def node_id(repo: str, commit_id: str) -> str:
    return f"{repo}@{commit_id}"


def _writers(view: View, repo: str, c: Commit, path: str) -> tuple[list[Commit], bool]:
    """The commits that wrote the content of ``path`` (a prefix when it ends in "/" or is
    "") at ``c``, newest first, and whether the limits cut the list."""
    if path and not path.endswith("/"):
        found = pathhistory.blame(view, repo, c.id, path)
        return ([found] if found is not None else []), False
    seen: dict[str, Commit] = {}
    cut = False
    end = _prefix_end(path)
    for n, (p, _) in enumerate(tree.iterate(c.tree, view.nodes, path, end)):
        if n >= MAX_PREFIX_PATHS or len(seen) >= MAX_WRITERS:
            cut = True
            break
        w = pathhistory.blame(view, repo, c.id, p)
        if w is not None:
            seen.setdefault(w.id, w)
    order = sorted(seen.values(), key=lambda x: (-x.generation, -x.creation_date, x.id))
    return order, cut


def _prefix_end(prefix: str) -> str | None:
    return str_prefix_end(prefix) if prefix else None


def _uses(r: KVReader, repo: str) -> Iterator[tuple[str, str, str]]:
    """(used commit, consumer repository, consumer commit) for every use of ``repo``."""
    base = keys.DOWNSTREAM + repo.encode() + keys.SEP
    for k, _ in r.scan(base, keys.prefix_end(base)):
        used, consumer_repo, consumer = k[len(base) :].decode().split("\x00")
        yield used, consumer_repo, consumer


def _overlaps(a: str, b: str) -> bool:
    """Whether two paths-or-prefixes can name a common object ("" names everything)."""
    return not a or not b or a.startswith(b) or b.startswith(a)


class _Builder:
    def __init__(self, lake: Lake, may_read: MayRead, graph: Graph) -> None:
        self.lake = lake
        self.may_read = may_read
        self.g = graph
        self._readable: dict[str, bool] = {}
        self._done: set[tuple[str, str, str | None]] = set()

    async def readable(self, repo: str) -> bool:
        if repo not in self._readable:
            self._readable[repo] = await self.may_read(repo)
        return self._readable[repo]

    async def node(self, repo: str, cid: str) -> Node:
        nid = node_id(repo, cid)
        existing = self.g.nodes.get(nid)
        if existing is not None:
            return existing
        if len(self.g.nodes) >= MAX_NODES:
            self.g.truncated = True
        commit: Commit | None = None
        ok = await self.readable(repo)
        if ok:
            try:
                commit = await self.lake.get_commit(repo, cid)
            except NotFound:
                ok = False  # the repository or commit is gone (deleted since)
        n = Node(repo, cid, commit, ok)
        self.g.nodes[nid] = n
        return n

    def edge(self, e: Edge) -> None:
        if e not in self.g.edges:
            self.g.edges.append(e)

    # -- upstream ----------------------------------------------------------------------------
    async def up(self, n: Node, path: str | None, depth: int) -> None:
        """Expand ``n`` upstream: the writers of ``path`` in it (if given), and inputs."""
        key = (n.repository, n.commit_id, path)
        if key in self._done or n.commit is None or len(self.g.nodes) >= MAX_NODES:
            return
        self._done.add(key)
        c = n.commit
        if path is not None:
            writers, cut = await self.lake.kv.read(
                lambda r: _writers(View(r), n.repository, c, path)
            )
            self.g.truncated |= cut
            expand_self = False
            for w in writers:
                if w.id == c.id:
                    expand_self = True
                    continue
                wn = await self.node(n.repository, w.id)
                self.edge(Edge(wn.id, n.id, "contains", path))
                await self.up(wn, None, depth)
            if not expand_self:
                return
        await self.up_inputs(n, c, depth)

    async def up_inputs(self, n: Node, c: Commit, depth: int) -> None:
        if not c.inputs:
            return
        if depth <= 0:
            self.g.truncated = True
            return
        for i in c.inputs:
            src = await self.node(i.repository, i.commit)
            self.edge(Edge(src.id, n.id, "input", i.path, i.ref))
            await self.up(src, i.path or None, depth - 1)

    # -- downstream --------------------------------------------------------------------------
    async def down(self, n: Node, path: str | None, depth: int) -> None:
        key = (n.repository, n.commit_id, path)
        if key in self._done or n.commit is None or len(self.g.nodes) >= MAX_NODES:
            return
        self._done.add(key)
        x = n.commit
        repo = n.repository

        def users(r: KVReader) -> list[tuple[str, str, str, list[CommitInput]]]:
            view = View(r)
            out: list[tuple[str, str, str, list[CommitInput]]] = []
            cache: dict[str, bool] = {}
            for used, consumer_repo, consumer in _uses(r, repo):
                if used not in cache:
                    try:
                        u = view.commit(repo, used)
                    except NotFound:
                        cache[used] = False
                        continue
                    if used == x.id:
                        cache[used] = True
                    elif path is not None and not path.endswith("/"):
                        w = pathhistory.blame(view, repo, used, path)
                        cache[used] = w is not None and w.id == x.id
                    else:
                        try:
                            cache[used] = is_ancestor(x, u, lambda cid: view.commit(repo, cid))
                        except NotFound:  # history between them was garbage-collected
                            cache[used] = False
                if not cache[used]:
                    continue
                try:
                    built = view.commit(consumer_repo, consumer)
                except NotFound:
                    continue  # the consumer's repository was deleted
                via = [
                    i
                    for i in built.inputs
                    if i.repository == repo
                    and i.commit == used
                    and (path is None or _overlaps(i.path, path))
                ]
                if via:
                    out.append((used, consumer_repo, consumer, via))
            return out

        found = await self.lake.kv.read(users)
        if found and depth <= 0:
            self.g.truncated = True
            return
        for used, consumer_repo, consumer, via in found:
            if not await self.readable(consumer_repo):
                self.g.hidden += 1
                continue
            src = n
            if used != x.id:
                src = await self.node(repo, used)
                self.edge(Edge(n.id, src.id, "contains", path or ""))
            dst = await self.node(consumer_repo, consumer)
            for i in via:
                self.edge(Edge(src.id, dst.id, "input", i.path, i.ref))
            await self.down(dst, None, depth - 1)


async def build(
    lake: Lake,
    repo: str,
    ref: str,
    *,
    path: str = "",
    direction: Direction = Direction.UPSTREAM,
    depth: int = 8,
    may_read: MayRead,
) -> Graph:
    """The lineage graph of ``ref`` in ``repo`` (with ``path``: of the commit that last
    changed it). Raises RepositoryNotFound, RefNotFound, ObjectNotFound (``path`` is not there
    and never was), InvalidArgument (depth)."""
    if not 0 <= depth <= MAX_DEPTH:
        raise InvalidArgument(f"depth must be 0..{MAX_DEPTH}")
    start = await lake.get_commit(repo, ref)
    root_commit = start
    if path:
        page = await lake.path_history(repo, start.id, path, limit=1)
        if not page.versions:
            raise ObjectNotFound(f"no commit of {ref!r} changed {path!r}")
        if not path.endswith("/"):
            blamed = await lake.kv.read(lambda r: pathhistory.blame(View(r), repo, start.id, path))
            root_commit = blamed or page.versions[0].commit
    g = Graph(direction, node_id(repo, root_commit.id))
    b = _Builder(lake, may_read, g)
    root = await b.node(repo, root_commit.id)
    prefix_path = path if path.endswith("/") else None
    if direction is Direction.UPSTREAM:
        await b.up(root, prefix_path, depth)
    else:
        await b.down(root, path or None, depth)
    return g
