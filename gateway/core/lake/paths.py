"""Path history, blame and the paths that have a history: the per-path part of ``Lake``.

Answered from the generation-ordered path index and the first-parent chain links
(``gateway.core.pathhistory``, docs/decisions/0012-path-history.md): the cost follows the number
of commits that changed the path, not the length of history.
"""

from __future__ import annotations

from gateway.core import keys, listing, pathhistory, tree
from gateway.core.errors import InvalidArgument, ObjectNotFound
from gateway.core.ids import Path
from gateway.core.lake.base import LakeBase
from gateway.core.lake.types import BlameLine, BlamePage, PathHistoryPage, PathVersion
from gateway.core.ports import KVReader
from gateway.core.view import View


class PathOps(LakeBase):
    """Per-path history queries. All read one consistent snapshot and never write."""

    async def path_history(
        self,
        repo: str,
        ref: str,
        path: str,
        *,
        first_parent: bool = False,
        after: str = "",
        limit: int = 100,
    ) -> PathHistoryPage:
        """The commits in ``ref``'s committed history that changed ``path``, newest first, each
        with the entry it left (None: the commit deleted the path).

        ``first_parent``: only the states ``ref``'s first-parent chain went through (a merge
        that brought a change in is one of them) -- what S3 object versions of a branch are.
        Otherwise the simplified history (the content's own lineage: a merge that took the
        path from its source is passed through to the source's commits). ``after``: a commit
        id from ``next_after`` of the previous page.

        Raises RepositoryNotFound, RefNotFound, InvalidArgument (limit).
        """
        if limit < 1:
            raise InvalidArgument("limit must be at least 1")

        def fn(r: KVReader) -> PathHistoryPage:
            view = View(r)
            head = view.resolve(repo, ref).commit
            spec = pathhistory.PathSpec((path,))
            walk = (
                pathhistory.first_parent_history(view, repo, head, spec)
                if first_parent
                else pathhistory.history(view, repo, head, spec)
            )
            out: list[PathVersion] = []
            skipping = bool(after)
            for c in walk:
                if skipping:
                    skipping = c.id != after
                    continue
                if len(out) == limit:
                    return PathHistoryPage(out, True, out[-1].commit.id)
                out.append(PathVersion(c, tree.get(c.tree, path, view.nodes)))
            return PathHistoryPage(out, False, None)

        return await self.kv.read(fn)

    async def blame(
        self,
        repo: str,
        ref: str,
        path: str = "",
        *,
        prefix: bool = False,
        after: str = "",
        limit: int = 1000,
    ) -> BlamePage:
        """For each path of ``ref``'s committed state -- ``path`` itself, or with ``prefix``
        every path starting with it, in order, ``> after`` -- the commit that wrote its content
        (the first commit of its history). Raises ObjectNotFound (an exact path that is not
        there), RepositoryNotFound, RefNotFound."""
        if limit < 1:
            raise InvalidArgument("limit must be at least 1")

        def fn(r: KVReader) -> BlamePage:
            view = View(r)
            head = view.commit(repo, view.resolve(repo, ref).commit)
            if not prefix:
                entry = tree.get(head.tree, path, view.nodes)
                if entry is None:
                    raise ObjectNotFound(f"object {path!r} not found at {ref!r}")
                found = pathhistory.blame(view, repo, head.id, path)
                return BlamePage([BlameLine(Path(path), entry, found)], False, None)
            start = listing.after_key(after) if after and after >= path else path
            end = listing.str_prefix_end(path)
            lines: list[BlameLine] = []
            for p, entry in tree.iterate(head.tree, view.nodes, start, end):
                if len(lines) == limit:
                    return BlamePage(lines, True, lines[-1].path)
                lines.append(BlameLine(Path(p), entry, pathhistory.blame(view, repo, head.id, p)))
            return BlamePage(lines, False, None)

        return await self.kv.read(fn)

    async def history_paths(
        self, repo: str, prefix: str = "", *, after: str = "", limit: int = 1000
    ) -> tuple[list[str], bool]:
        """Paths starting with ``prefix`` that some commit of the repository changed (deleted
        ones included, on any branch), in order, ``> after``: the keys an S3 version listing
        walks. Seeks from one path to the next: O(paths x log n), not O(changes)."""

        def fn(r: KVReader) -> tuple[list[str], bool]:
            View(r).repo(repo)
            base = keys.history_prefix(repo, "")
            lo = keys.history_prefix(repo, prefix)
            if after and after >= prefix:
                lo = keys.history_of(repo, after) + b"\xff"
            hi = keys.prefix_end(keys.history_prefix(repo, prefix))
            out: list[str] = []
            while True:
                first = next(iter(r.scan(lo, hi)), None)
                if first is None:
                    return out, False
                p = first[0][len(base) : -(8 + 64 + 1)].decode("utf-8")
                if len(out) == limit:
                    return out, True
                out.append(p)
                lo = keys.history_of(repo, p) + b"\xff"

        return await self.kv.read(fn)
