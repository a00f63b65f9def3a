"""Commit, log, diff, merge, revert, cherry-pick and reset: the history part of ``Lake``."""

from __future__ import annotations

from collections.abc import (
    Callable,
    Iterator,
    Mapping,
    Sequence,
)

from gateway.core import committing, gcrefs, heads, keys, listing, pathhistory, tree
from gateway.core.history import merge_base, walk
from gateway.core.ids import Path
from gateway.core.lake.base import (
    LakeBase,
    in_thread,
)
from gateway.core.lake.types import (
    DiffPage,
    LogPage,
    MergeOutcome,
    Resolution,
)
from gateway.core.model import (
    Branch,
    Change,
    ChangeKind,
    Commit,
    InputRef,
    MergeStrategy,
)
from gateway.core.ports import KVReader, KVWriter
from gateway.core.tree.diff import diff as tree_diff
from gateway.core.view import View, new_token


class HistoryOps(LakeBase):
    """History operations: compute in a snapshot, publish by compare-and-swap."""

    # -- commits ------------------------------------------------------------------------------
    async def commit(
        self,
        repo: str,
        branch: str,
        *,
        message: str,
        committer: str,
        metadata: Mapping[str, str] | None = None,
        paths: Sequence[str] | None = None,
        allow_empty: bool = False,
        creation_date: float | None = None,
        inputs: Sequence[InputRef] = (),
    ) -> Commit:
        """Commit staged changes (only those under ``paths`` — exact paths or prefixes ending in
        "/" — when given). ``inputs`` are resolved to commit ids in the same snapshot and become
        part of the commit (lineage). Raises NoChanges, ProtectedBranch, RefNotFound (an input),
        BranchMoved (after retries)."""

        prepared = await self._publish(
            lambda view: committing.prepare_commit(
                view,
                self.kv,
                repo,
                branch,
                message=message,
                committer=committer,
                metadata=metadata,
                paths=paths,
                allow_empty=allow_empty,
                creation_date=creation_date,
                inputs=inputs,
            )
        )
        self.events.published(repo, branch, prepared.commit, operation="commit")
        return prepared.commit

    async def _publish(self, prepare: Callable[[View], committing.Prepared]) -> committing.Prepared:
        """Prepare a change in a read snapshot, then publish it by compare-and-swap, again from
        a fresh snapshot when a concurrent change moved the branch (bounded). Runs in a worker
        thread. A staging area the publication retired is purged in the background."""

        def attempt() -> committing.Prepared:
            prepared = self.kv.read_sync(lambda r: prepare(View(r)))
            self.kv.write_sync(lambda w: committing.publish(w, prepared))
            return prepared

        prepared = await in_thread(lambda: committing.retry_on_move(attempt))
        if prepared.purge_token is not None:
            self._background(self._purge(keys.staging(prepared.repo, prepared.purge_token)))
            self._background(self._purge(keys.staging_seq(prepared.repo, prepared.purge_token)))
        return prepared

    async def get_commit(self, repo: str, ref: str) -> Commit:
        def fn(r: KVReader) -> Commit:
            view = View(r)
            return view.commit(repo, view.resolve(repo, ref).commit)

        return await self.kv.read(fn)

    async def log(
        self,
        repo: str,
        ref: str,
        *,
        paths: Sequence[str] = (),
        prefixes: Sequence[str] = (),
        after: str = "",
        limit: int = 100,
        first_parent: bool = False,
        since: float | None = None,
        stop_at: str | None = None,
    ) -> LogPage:
        """Commits reachable from ``ref``, newest first (generation, then date order). With
        ``paths``/``prefixes``: the history of those paths (``gateway.core.pathhistory``: the
        commits that changed them, merges passed through to the side the content came from;
        with ``first_parent`` the changes along the first-parent chain), answered from the path
        index, at a cost that follows the number of changes, not the length of history.
        ``since``: only commits created at or after this time. ``stop_at``: a ref whose commit is
        the last one shown."""

        def fn(r: KVReader) -> LogPage:
            view = View(r)
            start = view.commit(repo, view.resolve(repo, ref).commit)
            last = view.resolve(repo, stop_at).commit if stop_at else None
            last_gen = view.commit(repo, last).generation if last is not None else 0
            commits: Iterator[Commit]
            if paths or prefixes:
                spec = pathhistory.PathSpec.of(paths, prefixes)
                commits = (
                    pathhistory.first_parent_history(view, repo, start.id, spec)
                    if first_parent
                    else pathhistory.history(view, repo, start.id, spec)
                )
            else:
                commits = walk(start, lambda cid: view.commit(repo, cid), first_parent=first_parent)
            out: list[Commit] = []
            skipping = bool(after)
            for c in commits:
                if skipping:
                    skipping = c.id != after
                    continue
                if last is not None and c.id != last and c.generation < last_gen:
                    break  # walked past stop_at without meeting it
                if since is None or c.creation_date >= since:
                    if len(out) == limit:
                        return LogPage(out, True, out[-1].id)
                    out.append(c)
                if c.id == last:
                    break
            return LogPage(out, False, None)

        return await self.kv.read(fn)

    async def diff(
        self,
        repo: str,
        left: str,
        right: str,
        *,
        three_dot: bool = False,
        prefix: str = "",
        delimiter: str = "",
        after: str = "",
        limit: int = 1000,
    ) -> DiffPage:
        """Committed diff left -> right (two-dot), or merge-base(left, right) -> right."""

        def fn(r: KVReader) -> DiffPage:
            view = View(r)
            lc = view.commit(repo, view.resolve(repo, left).commit)
            rc = view.commit(repo, view.resolve(repo, right).commit)
            if three_dot:
                base = merge_base(lc, rc, lambda cid: view.commit(repo, cid))
                lroot = tree.EMPTY_TREE if base is None else base.tree
            else:
                lroot = lc.tree

            def changes(start: str) -> Iterator[Change]:
                return tree_diff(lroot, rc.tree, view.nodes, start=start, prefix=prefix)

            return _diff_page(changes, prefix, delimiter, after, limit)

        return await self.kv.read(fn)

    async def diff_uncommitted(
        self,
        repo: str,
        branch: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        after: str = "",
        limit: int = 1000,
    ) -> DiffPage:
        """Staged changes of ``branch`` against its head (identity-equal rewrites omitted)."""

        def fn(r: KVReader) -> DiffPage:
            view = View(r)
            b = view.branch(repo, branch)
            root = view.commit(repo, b.head).tree
            end = listing.str_prefix_end(prefix)

            def changes(start: str) -> Iterator[Change]:
                for path, entry, _ in view.iter_staged(repo, b.staging_token, start, end):
                    old = tree.get(root, path, view.nodes)
                    if old is None and entry is None:
                        continue
                    if old is None:
                        yield Change(Path(path), ChangeKind.ADDED, None, entry)
                    elif entry is None:
                        yield Change(Path(path), ChangeKind.REMOVED, old, None)
                    elif entry.identity() != old.identity():
                        yield Change(Path(path), ChangeKind.CHANGED, old, entry)

            return _diff_page(changes, prefix, delimiter, after, limit)

        return await self.kv.read(fn)

    async def merge(
        self,
        repo: str,
        source: str,
        dest: str,
        *,
        committer: str,
        message: str = "",
        metadata: Mapping[str, str] | None = None,
        strategy: MergeStrategy = MergeStrategy.FAIL,
        resolutions: Sequence[Resolution] = (),
        allow_empty: bool = False,
        squash: bool = False,
        inputs: Sequence[InputRef] = (),
    ) -> MergeOutcome:
        """Three-way merge of ``source`` (any ref) into branch ``dest``.

        Raises MergeConflict carrying every conflict not settled by ``strategy``/``resolutions``;
        DirtyBranch when dest has staged changes; NoChanges when source is already merged and not
        ``allow_empty``. The merge commit's parents are [dest head, source commit], or only
        [dest head] with ``squash`` (the source's history is not recorded).
        """
        resolve = committing.make_resolver(strategy, [(x.pattern, x.side) for x in resolutions])

        def prepare(view: View) -> committing.Prepared:
            return committing.prepare_merge(
                view,
                self.kv,
                repo,
                view.resolve(repo, source).commit,
                dest,
                committer=committer,
                message=message,
                metadata=metadata,
                resolve=resolve,
                allow_empty=allow_empty,
                source_name=source,
                squash=squash,
                inputs=inputs,
            )

        prepared = await self._publish(prepare)
        self.events.published(repo, dest, prepared.commit, operation="merge", source=source)
        return MergeOutcome(commit=prepared.commit, fast_forward=False, changes=prepared.changes)

    async def _pick(
        self,
        repo: str,
        branch: str,
        ref: str,
        *,
        revert: bool,
        committer: str,
        parent_number: int,
        message: str | None,
        metadata: Mapping[str, str] | None,
        allow_empty: bool,
    ) -> Commit:
        prepared = await self._publish(
            lambda view: committing.prepare_pick(
                view,
                self.kv,
                repo,
                branch,
                view.resolve(repo, ref).commit,
                revert=revert,
                committer=committer,
                parent_number=parent_number,
                message=message,
                metadata=metadata,
                allow_empty=allow_empty,
            )
        )
        operation = "revert" if revert else "cherry-pick"
        self.events.published(repo, branch, prepared.commit, operation=operation, source=ref)
        return prepared.commit

    async def revert(
        self,
        repo: str,
        branch: str,
        ref: str,
        *,
        committer: str,
        parent_number: int = 0,
        message: str | None = None,
        metadata: Mapping[str, str] | None = None,
        allow_empty: bool = False,
    ) -> Commit:
        """Commit the inverse of ``ref``'s change (relative to parent ``parent_number``, 1-based,
        required for merge commits). Raises DirtyBranch, MergeConflict, Conflict."""
        return await self._pick(
            repo,
            branch,
            ref,
            revert=True,
            committer=committer,
            parent_number=parent_number,
            message=message,
            metadata=metadata,
            allow_empty=allow_empty,
        )

    async def cherry_pick(
        self,
        repo: str,
        branch: str,
        ref: str,
        *,
        committer: str,
        parent_number: int = 0,
    ) -> Commit:
        """Apply ``ref``'s change (relative to parent ``parent_number``) as a new commit."""
        return await self._pick(
            repo,
            branch,
            ref,
            revert=False,
            committer=committer,
            parent_number=parent_number,
            message=None,
            metadata=None,
            allow_empty=False,
        )

    async def reset_branch(self, repo: str, branch: str) -> None:
        """Drop every staged change: O(1) (a new staging token), then purge the old records."""

        def fn(w: KVWriter) -> str:
            view = View(w)
            b = view.branch(repo, branch)
            committing.check_writable(view, repo, branch)
            nb = committing.fresh_branch(b, token=new_token())
            heads.put_branch(w, repo, nb, b.head)
            return b.staging_token

        old = await self.kv.write(fn)
        await self._purge(keys.staging(repo, old))

    async def reset_path(self, repo: str, branch: str, path: str, *, prefix: bool = False) -> None:
        """Drop staged changes of one path, or of every path under a prefix."""

        def fn(w: KVWriter) -> None:
            view = View(w)
            b = view.branch(repo, branch)
            committing.check_writable(view, repo, branch)
            base = keys.staging(repo, b.staging_token)
            view.bump_staging(repo, b.staging_token)
            if not prefix:
                w.delete(base + path.encode("utf-8"))
                return
            lo = base + path.encode("utf-8")
            for k, _ in list(w.scan(lo, keys.prefix_end(lo))):
                w.delete(k)

        await self.kv.write(fn)

    async def hard_reset(self, repo: str, branch: str, ref: str) -> Branch:
        """Point the branch at ``ref``'s commit and drop its staging (like git reset --hard)."""

        def fn(w: KVWriter) -> tuple[Branch, str]:
            view = View(w)
            b = view.branch(repo, branch)
            committing.check_writable(view, repo, branch)
            target = view.resolve(repo, ref)
            nb = committing.fresh_branch(b, head=target.commit, token=new_token())
            heads.put_branch(w, repo, nb, b.head)
            if target.commit != b.head:
                gcrefs.note_unreached(w, repo, "b", branch, b.head)
            return nb, b.staging_token

        nb, old = await self.kv.write(fn)
        await self._purge(keys.staging(repo, old))
        return nb


def _diff_page(
    changes: Callable[[str], Iterator[Change]], prefix: str, delimiter: str, after: str, limit: int
) -> DiffPage:
    out: list[Change] = []
    prefixes: list[str] = []
    start = listing.after_key(after) if after and after >= prefix else prefix
    rows = 0
    last: str | None = None
    while True:
        restart: str | None = None
        for c in changes(start):
            if delimiter:
                idx = c.path.find(delimiter, len(prefix))
                if idx >= 0:
                    cp = c.path[: idx + len(delimiter)]
                    if cp != after:
                        if rows == limit:
                            return DiffPage(out, prefixes, True, last)
                        prefixes.append(cp)
                        rows += 1
                        last = cp
                    restart = listing.str_prefix_end(cp)
                    break
            if rows == limit:
                return DiffPage(out, prefixes, True, last)
            out.append(c)
            rows += 1
            last = c.path
        if restart is None:
            return DiffPage(out, prefixes, False, None)
        start = restart
