"""Repositories, branches, tags and protection rules: the ref part of the ``Lake`` facade."""

from __future__ import annotations

import time
from collections.abc import (
    Callable,
    Iterator,
    Mapping,
    Sequence,
)
from typing import TypeVar

from gateway.core import (
    audit,
    codec,
    committing,
    gcrefs,
    heads,
    imports,
    keys,
    listing,
    names,
    pathindex,
    tree,
)
from gateway.core.errors import (
    BranchExists,
    Conflict,
    DefaultBranch,
    NotEmpty,
    RepositoryExists,
    TagExists,
)
from gateway.core.ids import BranchName, RepoName, TagName
from gateway.core.lake.base import (
    LakeBase,
    page_of,
)
from gateway.core.model import (
    Branch,
    Repository,
    ResolvedRef,
    Tag,
)
from gateway.core.ports import KVReader, KVWriter
from gateway.core.view import View, new_token


class RefOps(LakeBase):
    """Repositories and refs. Creating a branch or tag writes one record: O(1)."""

    # -- repositories -----------------------------------------------------------------------
    async def create_repository(
        self,
        name: str,
        *,
        default_branch: str = "main",
        storage_namespace: str = "",
        metadata: Mapping[str, str] | None = None,
    ) -> Repository:
        """Create a repository with its default branch at an empty root commit.

        Raises InvalidName, RepositoryExists.
        """
        names.check_repo(name)
        names.check_ref_name(default_branch)
        now = time.time()
        repo = Repository(
            name=RepoName(name),
            default_branch=BranchName(default_branch),
            storage_namespace=storage_namespace or f"local://{name}",
            creation_date=now,
            metadata=dict(metadata or {}),
        )
        root = codec.make_commit(
            tree=tree.EMPTY_TREE,
            parents=(),
            committer="weir",
            message="Repository created",
            metadata={},
            creation_date=now,
            generation=1,
        )

        def fn(w: KVWriter) -> Repository:
            if w.get(keys.repo(name)) is not None:
                raise RepositoryExists(f"repository {name!r} already exists")
            if w.get(keys.deleting(name)) is not None:
                raise Conflict(f"repository {name!r} is still being deleted; retry shortly")
            w.put(keys.repo(name), codec.encode_repository(repo))
            View(w).put_commit(name, root)
            b = Branch(name=BranchName(default_branch), head=root.id, staging_token=new_token())
            heads.put_branch(w, name, b, None)
            return repo

        return await self.kv.write(fn)

    async def get_repository(self, name: str) -> Repository:
        """Raises RepositoryNotFound."""
        return await self._quick(lambda r: View(r).repo(name))

    async def list_repositories(
        self, *, prefix: str = "", after: str = "", limit: int = 1000
    ) -> tuple[list[Repository], bool]:
        """Repositories sorted by name, ``name > after``; returns (page, has_more)."""

        def fn(r: KVReader) -> tuple[list[Repository], bool]:
            base = keys.REPO + prefix.encode()
            start = keys.repo(after) + b"\x00" if after and after >= prefix else base
            out: list[Repository] = []
            for _, v in r.scan(start, keys.prefix_end(base)):
                out.append(codec.decode_repository(v))
                if len(out) > limit:
                    break
            return page_of(out, limit)

        return await self.kv.read(fn)

    async def delete_repository(self, name: str, *, require_empty: bool = False) -> None:
        """Delete a repository and its refs, staging and uploads (blobs are left to GC).

        The repository disappears atomically; its records are then purged in batches. Until the
        purge is done the name stays reserved (a marker record), so a crash mid-purge can never
        let a new repository of the same name see old branches; ``sweep`` resumes the purge.
        ``require_empty``: raise NotEmpty when any branch (committed or staged) or tag holds an
        object (S3 DeleteBucket semantics).
        """

        def fn(w: KVWriter) -> None:
            view = View(w)
            view.repo(name)
            if require_empty:
                for b in view.iter_branches(name):
                    if view.commit(name, b.head).tree != tree.EMPTY_TREE or any(
                        e is not None for _, e, _ in view.iter_staged(name, b.staging_token)
                    ):
                        raise NotEmpty(f"repository {name!r} is not empty (branch {b.name!r})")
                for t in view.iter_tags(name):
                    if view.commit(name, t.commit).tree != tree.EMPTY_TREE:
                        raise NotEmpty(f"repository {name!r} is not empty (tag {t.name!r})")
            w.delete(keys.repo(name))
            w.delete(keys.protect(name))
            w.delete(keys.gc_rules(name))
            w.put(keys.deleting(name), b"")

        await self.kv.write(fn)
        await self._purge_repository(name)

    async def _purge_repository(self, name: str) -> None:
        for table in keys.REPO_TABLES:
            await self._purge(table + name.encode() + keys.SEP)
        with audit.housekeeping():
            await self.kv.write(lambda w: w.delete(keys.deleting(name)))

    async def sweep(self) -> int:
        """Finish housekeeping a crash interrupted; returns how many areas were purged.

        Resumes the purge of deleted repositories, and purges staging areas no branch names
        (a token retired by a commit, reset or branch deletion whose purge did not finish).
        Migrates a path index written before decision 0012 (``gateway.core.pathindex``).
        Runs at server start; safe to run at any time.
        """
        await pathindex.migrate(self.kv)
        deleting = await self.kv.read(
            lambda r: [
                k[len(keys.DELETING) :].decode()
                for k, _ in r.scan(keys.DELETING, keys.prefix_end(keys.DELETING))
            ]
        )
        for name in deleting:
            await self._purge_repository(name)
        orphans = await self.kv.read(_orphan_staging)
        for prefix in orphans:
            await self._purge(prefix)
        return len(deleting) + len(orphans)

    # -- refs ---------------------------------------------------------------------------------
    async def resolve_ref(self, repo: str, ref: str) -> ResolvedRef:
        """Resolve a ref expression: branch, tag, full or unique-prefix commit id, with
        ``~N``, ``^N`` and a trailing ``@`` (committed state only).

        Raises RepositoryNotFound, RefNotFound, AmbiguousRef, InvalidName.
        """
        return await self._quick(lambda r: View(r).resolve(repo, ref))

    async def head_at(self, repo: str, name: str, seq: int) -> heads.HeadAt:
        """Branch ``name``'s head as of the open snapshot ``seq`` (``gateway.core.heads``)."""
        return await self._quick(lambda r: heads.head_at(r, repo, name, seq))

    async def create_branch(
        self, repo: str, name: str, source: str, *, hidden: bool = False
    ) -> Branch:
        """O(1): one record, no data copied. ``hidden`` branches are left out of listings unless
        asked for. Raises BranchExists, RefNotFound, InvalidName."""
        names.check_ref_name(name)

        def fn(w: KVWriter) -> Branch:
            view = View(w)
            src = view.resolve(repo, source)
            if view.branch_or_none(repo, name) is not None:
                raise BranchExists(f"branch {name!r} already exists")
            b = Branch(
                name=BranchName(name), head=src.commit, staging_token=new_token(), hidden=hidden
            )
            heads.put_branch(w, repo, b, None)
            return b

        return await self.kv.write(fn)

    async def get_branch(self, repo: str, name: str) -> Branch:
        return await self._quick(lambda r: View(r).branch(repo, name))

    async def list_branches(
        self,
        repo: str,
        *,
        prefix: str = "",
        after: str = "",
        limit: int = 1000,
        show_hidden: bool = False,
    ) -> tuple[list[Branch], bool]:
        def visible(view: View, repo: str, start: str) -> Iterator[Branch]:
            return (b for b in view.iter_branches(repo, start) if show_hidden or not b.hidden)

        return await self.kv.read(
            lambda r: _named_page(View(r), repo, visible, prefix, after, limit)
        )

    async def delete_branch(self, repo: str, name: str) -> None:
        """Raises BranchNotFound, DefaultBranch, ProtectedBranch."""

        def fn(w: KVWriter) -> str:
            view = View(w)
            b = view.branch(repo, name)
            if view.repo(repo).default_branch == name:
                raise DefaultBranch(f"cannot delete the default branch {name!r}")
            committing.check_writable(view, repo, name)
            heads.delete_branch(w, repo, name, b.head)
            gcrefs.note_unreached(w, repo, "b", name, b.head)
            return b.staging_token

        token = await self.kv.write(fn)
        await self._purge(keys.staging(repo, token))

    async def get_protection_rules(self, repo: str) -> list[str]:
        """Glob patterns (fnmatch) of protected branches: they accept only merges."""

        def fn(r: KVReader) -> list[str]:
            view = View(r)
            view.repo(repo)
            return view.protection_rules(repo)

        return await self.kv.read(fn)

    async def set_protection_rules(self, repo: str, patterns: Sequence[str]) -> None:
        """Replace the repository's branch-protection globs. Direct PUT, DELETE, commit and
        reset on a matching branch then raise ProtectedBranch; merge into it is allowed."""
        rules = [str(p) for p in patterns]

        def fn(w: KVWriter) -> None:
            View(w).repo(repo)
            if rules:
                w.put(keys.protect(repo), codec.pack(rules))
            else:
                w.delete(keys.protect(repo))

        await self.kv.write(fn)

    async def create_tag(self, repo: str, name: str, ref: str) -> Tag:
        """Raises TagExists, RefNotFound, InvalidName."""
        names.check_ref_name(name, "tag")

        def fn(w: KVWriter) -> Tag:
            view = View(w)
            target = view.resolve(repo, ref)
            if view.tag_or_none(repo, name) is not None:
                raise TagExists(f"tag {name!r} already exists")
            t = Tag(name=TagName(name), commit=target.commit)
            w.put(keys.tag(repo, name), codec.encode_tag(t))
            gcrefs.note_fresh(w, [gcrefs.commit_ref(repo, target.commit)])
            return t

        return await self.kv.write(fn)

    async def get_tag(self, repo: str, name: str) -> Tag:
        return await self._quick(lambda r: View(r).tag(repo, name))

    async def list_tags(
        self, repo: str, *, prefix: str = "", after: str = "", limit: int = 1000
    ) -> tuple[list[Tag], bool]:
        return await self.kv.read(
            lambda r: _named_page(View(r), repo, View.iter_tags, prefix, after, limit)
        )

    async def delete_tag(self, repo: str, name: str) -> None:
        def fn(w: KVWriter) -> None:
            t = View(w).tag(repo, name)
            w.delete(keys.tag(repo, name))
            gcrefs.note_unreached(w, repo, "t", name, t.commit)

        await self.kv.write(fn)


def _orphan_staging(r: KVReader) -> list[bytes]:
    """Prefixes of staging areas (and their write counters) that no live branch uses.

    Seeks from one (repository, token) group to the next: O(groups x log n), not O(records).
    """
    out: list[bytes] = []
    view = View(r)
    # A running import's private area has no branch either (gateway.core.imports): it is live.
    importing = {(j.repo, j.token.encode()) for j in imports.running(r)}
    for table in (keys.STAGING, keys.STAGESEQ):
        start = table
        end = keys.prefix_end(table)
        while True:
            first = next(iter(r.scan(start, end)), None)
            if first is None:
                break
            rest = first[0][len(table) :]
            repo_b, _, tail = rest.partition(keys.SEP)
            token = tail.split(keys.SEP, 1)[0]
            group = table + repo_b + keys.SEP + token
            repo = repo_b.decode()
            live = view.repo_exists(repo) and (
                (repo, token) in importing
                or any(b.staging_token.encode() == token for b in view.iter_branches(repo))
            )
            if not live:
                out.append(group + (keys.SEP if table == keys.STAGING else b""))
            start = keys.prefix_end(group)
    return out


N = TypeVar("N", Branch, Tag)


def _named_page(
    view: View,
    repo: str,
    iterate: Callable[[View, str, str], Iterator[N]],
    prefix: str,
    after: str,
    limit: int,
) -> tuple[list[N], bool]:
    """One page of branches or tags: names starting with ``prefix``, ``> after``, in order."""
    view.repo(repo)
    start = listing.after_key(after) if after and after >= prefix else prefix
    out: list[N] = []
    for item in iterate(view, repo, start):
        if not item.name.startswith(prefix) or len(out) > limit:
            break
        out.append(item)
    return page_of(out, limit)
