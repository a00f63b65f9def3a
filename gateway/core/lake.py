"""The repository facade: the one API that the S3 and admin layers call.

Every method is async and never blocks the event loop: metadata work runs in the KV store's
worker threads, hashing and tree work in worker threads too. Methods raise the domain errors of
``gateway.core.errors``; they never return error codes.

Atomicity: every mutating method is all-or-nothing and durable when it returns.
Concurrency: branch heads move by compare-and-swap; a commit racing with writes to the same
branch never loses an acknowledged write (it removes only the staged records it committed).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Coroutine,
    Iterator,
    Mapping,
    Sequence,
)
from pathlib import Path as FsPath
from typing import Any, TypeVar

from gateway.core import codec, committing, keys, listing, multipart, names, staging, tree
from gateway.core.errors import (
    BranchExists,
    BranchNotFound,
    DefaultBranch,
    NotEmpty,
    ObjectNotFound,
    PreconditionFailed,
    ReadOnlyRef,
    RefNotFound,
    RepositoryExists,
    TagExists,
)
from gateway.core.history import walk
from gateway.core.ids import BlobId, BranchName, Path, RepoName, TagName
from gateway.core.ingest import ingest as _ingest
from gateway.core.lake_types import (
    Conditions,
    DiffPage,
    Hasher,
    ListingPage,
    LogPage,
    MergeOutcome,
    Part,
    Resolution,
    Upload,
)
from gateway.core.model import (
    MANIFEST_PREFIX,
    BlobInfo,
    Branch,
    Change,
    ChangeKind,
    Commit,
    Entry,
    MergeStrategy,
    RefKind,
    Repository,
    ResolvedRef,
    Tag,
)
from gateway.core.ports import BlobStore, KVReader, KVStore, KVWriter
from gateway.core.treediff import diff as tree_diff
from gateway.core.view import View, new_token

__all__ = [
    "Conditions",
    "DiffPage",
    "Hasher",
    "Lake",
    "ListingPage",
    "LogPage",
    "MergeOutcome",
    "Part",
    "Resolution",
    "Upload",
]

#: Keys deleted per purge transaction: small enough that a purge of a million retired staging
#: records never holds the single LMDB writer for more than a few milliseconds at a time.
PURGE_BATCH = 2_000
#: Blobs of at most this many bytes live in the metadata store, not the blob backend: a small
#: PUT then costs one (group-committed) LMDB write instead of a file create, fsync and rename,
#: and a small GET one B-tree lookup. The rule depends on the size only, so a reader knows where
#: to look. See docs/decisions/0010-inline-small-blobs.md.
INLINE_LIMIT = 32 << 10
T = TypeVar("T")


def _page(items: list[T], limit: int) -> tuple[list[T], bool]:
    return items[:limit], len(items) > limit


class Lake:
    """Facade over the engine: repositories, refs, objects, commits, diff, merge, multipart.

    Args:
        kv: the metadata store (``gateway.core.ports.KVStore``).
        blobs: the blob backend (``gateway.core.ports.BlobStore``).
    """

    def __init__(self, kv: KVStore, blobs: BlobStore) -> None:
        self.kv = kv
        self.blobs = blobs
        self._tasks: set[asyncio.Future[None]] = set()

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
            w.put(keys.repo(name), codec.encode_repository(repo))
            View(w).put_commit(name, root)
            b = Branch(name=BranchName(default_branch), head=root.id, staging_token=new_token())
            w.put(keys.branch(name, default_branch), codec.encode_branch(b))
            return repo

        return await self.kv.write(fn)

    async def get_repository(self, name: str) -> Repository:
        """Raises RepositoryNotFound."""
        return self._quick(lambda r: View(r).repo(name))

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
            return _page(out, limit)

        return await self.kv.read(fn)

    async def delete_repository(self, name: str, *, require_empty: bool = False) -> None:
        """Delete a repository and its refs, staging and uploads (blobs are left to GC).

        The repository disappears atomically; its records are then purged in batches.
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

        await self.kv.write(fn)
        for table in keys.REPO_TABLES:
            await self._purge(table + name.encode() + keys.SEP)

    async def _purge(self, prefix: bytes) -> None:
        """Delete every key under ``prefix``, in bounded transactions."""
        end = keys.prefix_end(prefix)

        def batch(w: KVWriter) -> int:
            ks = [k for k, _ in _take(w.scan(prefix, end), PURGE_BATCH)]
            for k in ks:
                w.delete(k)
            return len(ks)

        while await self.kv.write(batch) == PURGE_BATCH:
            pass

    # -- refs ---------------------------------------------------------------------------------
    async def resolve_ref(self, repo: str, ref: str) -> ResolvedRef:
        """Resolve a ref expression: branch, tag, full or unique-prefix commit id, with
        ``~N``, ``^N`` and a trailing ``@`` (committed state only).

        Raises RepositoryNotFound, RefNotFound, AmbiguousRef, InvalidName.
        """
        return self._quick(lambda r: View(r).resolve(repo, ref))

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
            w.put(keys.branch(repo, name), codec.encode_branch(b))
            return b

        return await self.kv.write(fn)

    async def get_branch(self, repo: str, name: str) -> Branch:
        return self._quick(lambda r: View(r).branch(repo, name))

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
            w.delete(keys.branch(repo, name))
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
            return t

        return await self.kv.write(fn)

    async def get_tag(self, repo: str, name: str) -> Tag:
        return self._quick(lambda r: View(r).tag(repo, name))

    async def list_tags(
        self, repo: str, *, prefix: str = "", after: str = "", limit: int = 1000
    ) -> tuple[list[Tag], bool]:
        return await self.kv.read(
            lambda r: _named_page(View(r), repo, View.iter_tags, prefix, after, limit)
        )

    async def delete_tag(self, repo: str, name: str) -> None:
        def fn(w: KVWriter) -> None:
            View(w).tag(repo, name)
            w.delete(keys.tag(repo, name))

        await self.kv.write(fn)

    # -- blobs --------------------------------------------------------------------------------
    async def ingest(
        self,
        chunks: AsyncIterable[bytes],
        *,
        hashers: Mapping[str, Hasher] | None = None,
        check: Callable[[BlobInfo, Mapping[str, bytes]], None] | None = None,
        defer_inline: bool = False,
    ) -> BlobInfo:
        """Stream a body into a new blob, computing blake3 + MD5 (+ ``hashers``) in one pass off
        the event loop. ``check(info, digests)`` runs before the blob is published and may raise
        (BadDigest, IncompleteBody, ...) to abort it: nothing is stored then. If the iterator
        raises (client went away), the blob is aborted and the error propagates.
        Publishing is atomic and deduplicated. Returns the blob's info with ``checksums`` empty.
        """
        return await _ingest(
            self.blobs,
            chunks,
            hashers=hashers,
            check=check,
            inline_limit=INLINE_LIMIT,
            inline_sink=self._store_inline,
            defer_inline=defer_inline,
        )

    async def _store_inline(self, blob_id: BlobId, data: bytes) -> None:
        await self.kv.write(lambda w: _put_inline(w, blob_id, data))

    async def _read_blob(
        self, blob_id: BlobId, size: int, offset: int, length: int
    ) -> AsyncIterator[bytes]:
        if size <= INLINE_LIMIT:
            data = self._quick(lambda r: r.get(keys.inline_blob(blob_id)))
            if data is not None:
                yield data[offset : offset + length]
                return
        async for chunk in self.blobs.read(blob_id, offset, length):
            yield chunk

    async def read_entry(
        self, entry: Entry, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        """Stream an entry's bytes (single blob or multipart manifest), ``length`` bytes from
        ``offset``."""
        if length is None:
            length = max(0, entry.size - offset)
        if length <= 0:
            return
        if not entry.address.startswith(MANIFEST_PREFIX):
            async for chunk in self._read_blob(BlobId(entry.address), entry.size, offset, length):
                yield chunk
            return
        mid = entry.address[len(MANIFEST_PREFIX) :]
        raw = await self.kv.read(lambda r: r.get(keys.manifest(mid)))
        if raw is None:
            from gateway.core.errors import BlobNotFound

            raise BlobNotFound(f"multipart manifest {mid} is missing")
        pos = 0
        for part in codec.decode_manifest(raw):
            p_end = pos + part.size
            if p_end > offset and length > 0:
                start = max(0, offset - pos)
                n = min(part.size - start, length)
                async for chunk in self._read_blob(part.blob_id, part.size, start, n):
                    yield chunk
                offset += n
                length -= n
            pos = p_end
            if length <= 0:
                break

    def local_path(self, entry: Entry) -> FsPath | None:
        """A local file holding exactly the entry's bytes (sendfile), when the backend has one."""
        if (
            entry.address.startswith(MANIFEST_PREFIX)
            or entry.size <= INLINE_LIMIT
            or not self.blobs.capabilities.local_files
        ):
            return None
        return self.blobs.local_path(BlobId(entry.address))

    # -- objects ------------------------------------------------------------------------------
    async def stat_object(self, repo: str, ref: str | ResolvedRef, path: str) -> Entry:
        """The entry at ``path``: staging overlaid on the head for a branch.
        Raises ObjectNotFound (also for a tombstoned path), RefNotFound, RepositoryNotFound."""

        def fn(r: KVReader) -> Entry:
            view = View(r)
            resolved = _in_snapshot(view, repo, ref)
            return listing.stat(view, repo, resolved, path)

        return self._quick(fn)

    def _writable_branch(self, view: View, repo: str, branch: str) -> Branch:
        b = view.branch_or_none(repo, branch)
        if b is None:
            try:
                view.resolve(repo, branch)
            except RefNotFound:
                raise BranchNotFound(
                    f"branch {branch!r} not found in repository {repo!r}"
                ) from None
            raise ReadOnlyRef(f"{branch!r} is a tag or commit, not a branch: it is read-only")
        committing.check_writable(view, repo, branch)
        return b

    async def check_writable(self, repo: str, branch: str) -> None:
        """Raise what a write to ``branch`` would raise (RepositoryNotFound, BranchNotFound,
        ReadOnlyRef, ProtectedBranch) before a body is streamed. Advisory: the write itself
        checks again atomically."""
        self._quick(lambda r: self._writable_branch(View(r), repo, branch))

    async def put_object(
        self,
        repo: str,
        branch: str,
        path: str,
        entry: Entry,
        *,
        conditions: Conditions | None = None,
        blob: BlobInfo | None = None,
    ) -> Entry:
        """Stage ``entry`` at ``path``. ``blob``: the ``ingest`` result of a deferred small
        blob, stored in the same transaction. Raises ReadOnlyRef (tag/commit), ProtectedBranch,
        BranchNotFound, InvalidPath, PreconditionFailed."""
        names.check_path(path)
        value = staging.encode(entry)
        if blob is not None and blob.data is not None and blob.blob_id != entry.address:
            raise ValueError("put_object: the deferred blob is not the entry's blob")

        def fn(w: KVWriter) -> Entry:
            view = View(w)
            b = self._writable_branch(view, repo, branch)
            if conditions is not None:
                _check_conditions(view, repo, b, path, conditions)
            if blob is not None and blob.data is not None:
                _put_inline(w, blob.blob_id, blob.data)
            w.put(keys.staging(repo, b.staging_token) + path.encode("utf-8"), value)
            view.bump_staging(repo, b.staging_token)
            return entry

        return await self.kv.write(fn)

    async def put_objects(self, repo: str, branch: str, items: Sequence[tuple[str, Entry]]) -> int:
        """Stage many entries in one transaction (imports, bulk loads). All or nothing.

        Raises what ``put_object`` raises; an invalid path fails the whole batch.
        """
        encoded = [(names.check_path(p).encode("utf-8"), staging.encode(e)) for p, e in items]

        def fn(w: KVWriter) -> int:
            view = View(w)
            b = self._writable_branch(view, repo, branch)
            base = keys.staging(repo, b.staging_token)
            for path, value in encoded:
                w.put(base + path, value)
            view.bump_staging(repo, b.staging_token)
            return len(encoded)

        return await self.kv.write(fn)

    async def delete_object(self, repo: str, branch: str, path: str) -> bool:
        """Stage a tombstone. Returns whether the path existed (S3 ignores that; lakeFS 404s)."""
        result = await self.delete_objects(repo, branch, [path])
        err = result[0][1]
        if err is not None:
            raise err
        return result[0][0] == "existed"

    async def delete_objects(
        self, repo: str, branch: str, paths: Sequence[str]
    ) -> list[tuple[str, Exception | None]]:
        """Tombstone many paths in one transaction. Returns, in input order, for each path
        ("existed" | "missing", None) or (path, error) for a path that could not be deleted."""
        tomb = staging.encode(None)

        def fn(w: KVWriter) -> list[tuple[str, Exception | None]]:
            view = View(w)
            b = self._writable_branch(view, repo, branch)
            ref = ResolvedRef(
                kind=RefKind.BRANCH, commit=b.head, branch=b.name, staging_token=b.staging_token
            )
            root = view.commit(repo, b.head).tree
            base = keys.staging(repo, b.staging_token)
            out: list[tuple[str, Exception | None]] = []
            for p in paths:
                try:
                    names.check_path(p)
                    listing.stat(view, repo, ref, p)
                    existed = True
                except ObjectNotFound:
                    existed = False
                except Exception as exc:  # an invalid path: reported per key
                    out.append((p, exc))
                    continue
                key = base + p.encode("utf-8")
                if tree.get(root, p, view.nodes) is None:
                    # Nothing committed: dropping the staged write is the whole deletion.
                    w.delete(key)
                else:
                    w.put(key, tomb)
                out.append(("existed" if existed else "missing", None))
            view.bump_staging(repo, b.staging_token)
            return out

        return await self.kv.write(fn)

    async def list_objects(
        self,
        repo: str,
        ref: str | ResolvedRef,
        *,
        prefix: str = "",
        delimiter: str = "",
        after: str = "",
        limit: int = 1000,
    ) -> ListingPage:
        """Objects (and with ``delimiter``, common prefixes) under ``prefix``, keys ``> after``,
        in key order. Costs O(page + log n): staging and the tree are both seeked, and a
        delimiter listing jumps over each common prefix."""

        def fn(r: KVReader) -> ListingPage:
            view = View(r)
            resolved = _in_snapshot(view, repo, ref)
            objs, prefixes, truncated, nxt = listing.list_page(
                view,
                repo,
                resolved,
                prefix=prefix,
                delimiter=delimiter,
                after=after,
                limit=limit,
            )
            return ListingPage(objs, prefixes, truncated, nxt)

        return await self.kv.read(fn)

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
    ) -> Commit:
        """Commit staged changes (only those under ``paths`` — exact paths or prefixes ending in
        "/" — when given). Raises NoChanges, ProtectedBranch, BranchMoved (after retries)."""

        def attempt() -> Commit:
            prepared = self.kv.read_sync(
                lambda r: committing.prepare_commit(
                    View(r),
                    self.kv,
                    repo,
                    branch,
                    message=message,
                    committer=committer,
                    metadata=metadata,
                    paths=paths,
                    allow_empty=allow_empty,
                    creation_date=creation_date,
                )
            )
            commit = self.kv.write_sync(lambda w: committing.publish(w, prepared))
            retired.extend([prepared.purge_token] if prepared.purge_token else [])
            return commit

        retired: list[str] = []
        commit = await _in_thread(lambda: committing.retry_on_move(attempt))
        for token in retired:
            self._background(self._purge(keys.staging(repo, token)))
            self._background(self._purge(keys.staging_seq(repo, token)))
        return commit

    def _quick(self, fn: Callable[[KVReader], T]) -> T:
        """A bounded point read (a few B-tree descents, microseconds) run on the calling thread.

        Cheaper than the worker-thread hop of ``kv.read`` (see docs/decisions/0009); only for
        lookups whose cost does not grow with the data: resolve a ref, stat one path.
        """
        return self.kv.read_sync(fn)

    def _background(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run housekeeping after the caller's answer; ``close`` waits for it."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

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
        ``paths``/``prefixes``: only commits that changed one of them relative to their first
        parent (answered from a path index written at commit time, not by diffing history).
        ``since``: only commits created at or after this time. ``stop_at``: a ref whose commit is
        the last one shown."""

        def fn(r: KVReader) -> LogPage:
            view = View(r)
            start = view.commit(repo, view.resolve(repo, ref).commit)
            last = view.resolve(repo, stop_at).commit if stop_at else None
            wanted: set[str] | None = None
            if paths or prefixes:
                wanted = set()
                for p in paths:
                    base = keys.pathlog_prefix(repo, p) + keys.SEP
                    for k, _ in r.scan(base, keys.prefix_end(base)):
                        wanted.add(k[-64:].decode("ascii"))
                for p in prefixes:
                    base = keys.pathlog_prefix(repo, p)
                    for k, _ in r.scan(base, keys.prefix_end(base)):
                        wanted.add(k[-64:].decode("ascii"))
            out: list[Commit] = []
            skipping = bool(after)
            for c in walk(start, lambda cid: view.commit(repo, cid), first_parent=first_parent):
                if skipping:
                    skipping = c.id != after
                    continue
                if c.id == last:
                    stopping = True
                elif last is not None and c.generation < view.commit(repo, last).generation:
                    break  # walked past stop_at without meeting it
                else:
                    stopping = False
                if (wanted is None or c.id in wanted) and (
                    since is None or c.creation_date >= since
                ):
                    if len(out) == limit:
                        return LogPage(out, True, out[-1].id)
                    out.append(c)
                if stopping:
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
            from gateway.core.history import merge_base

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
    ) -> MergeOutcome:
        """Three-way merge of ``source`` (any ref) into branch ``dest``.

        Raises MergeConflict carrying every conflict not settled by ``strategy``/``resolutions``;
        DirtyBranch when dest has staged changes; NoChanges when source is already merged and not
        ``allow_empty``. The merge commit's parents are [dest head, source commit], or only
        [dest head] with ``squash`` (the source's history is not recorded).
        """
        resolve = committing.make_resolver(strategy, [(x.pattern, x.side) for x in resolutions])
        changed = 0

        def attempt() -> Commit:
            nonlocal changed

            def prep(r: KVReader) -> committing.Prepared:
                view = View(r)
                src = view.resolve(repo, source)
                prepared, n = committing.prepare_merge(
                    view,
                    self.kv,
                    repo,
                    src.commit,
                    dest,
                    committer=committer,
                    message=message,
                    metadata=metadata,
                    resolve=resolve,
                    allow_empty=allow_empty,
                    source_name=source,
                    squash=squash,
                )
                nonlocal changed
                changed = n
                return prepared

            prepared = self.kv.read_sync(prep)
            return self.kv.write_sync(lambda w: committing.publish(w, prepared))

        commit = await _in_thread(lambda: committing.retry_on_move(attempt))
        return MergeOutcome(commit=commit, fast_forward=False, changes=changed)

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
        def attempt() -> Commit:
            def prep(r: KVReader) -> committing.Prepared:
                view = View(r)
                target = view.resolve(repo, ref).commit
                return committing.prepare_pick(
                    view,
                    self.kv,
                    repo,
                    branch,
                    target,
                    revert=revert,
                    committer=committer,
                    parent_number=parent_number,
                    message=message,
                    metadata=metadata,
                    allow_empty=allow_empty,
                )

            prepared = self.kv.read_sync(prep)
            return self.kv.write_sync(lambda w: committing.publish(w, prepared))

        return await _in_thread(lambda: committing.retry_on_move(attempt))

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
            w.put(keys.branch(repo, branch), codec.encode_branch(nb))
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
            w.put(keys.branch(repo, branch), codec.encode_branch(nb))
            return nb, b.staging_token

        nb, old = await self.kv.write(fn)
        await self._purge(keys.staging(repo, old))
        return nb

    # -- multipart ----------------------------------------------------------------------------
    async def create_upload(
        self,
        repo: str,
        branch: str,
        path: str,
        *,
        content_type: str,
        metadata: Mapping[str, str] | None = None,
    ) -> Upload:
        names.check_path(path)
        up = Upload(
            upload_id=multipart.new_upload_id(),
            repo=RepoName(repo),
            branch=BranchName(branch),
            path=Path(path),
            initiated=time.time(),
            content_type=content_type,
            metadata=dict(metadata or {}),
        )

        def fn(w: KVWriter) -> Upload:
            self._writable_branch(View(w), repo, branch)
            w.put(keys.upload(repo, up.upload_id), multipart.encode_upload(up))
            return up

        return await self.kv.write(fn)

    async def get_upload(self, repo: str, upload_id: str) -> Upload:
        """Raises UploadNotFound."""

        def fn(r: KVReader) -> Upload:
            View(r).repo(repo)
            return multipart.get_upload(r, repo, upload_id)

        return await self.kv.read(fn)

    async def put_part(self, repo: str, upload_id: str, number: int, blob: BlobInfo) -> Part:
        """Record a part (replacing an earlier upload of the same number)."""
        from gateway.core.errors import InvalidArgument

        if not 1 <= number <= multipart.MAX_PARTS:
            raise InvalidArgument(f"part number must be 1..{multipart.MAX_PARTS}")
        part = Part(
            number=number, blob=dataclasses.replace(blob, data=None), last_modified=time.time()
        )

        def fn(w: KVWriter) -> Part:
            multipart.get_upload(w, repo, upload_id)
            if blob.data is not None:
                _put_inline(w, blob.blob_id, blob.data)
            w.put(keys.part(repo, upload_id, number), multipart.encode_part(part))
            return part

        return await self.kv.write(fn)

    async def list_parts(
        self, repo: str, upload_id: str, *, after: int = 0, limit: int = 1000
    ) -> tuple[list[Part], bool]:
        def fn(r: KVReader) -> tuple[list[Part], bool]:
            multipart.get_upload(r, repo, upload_id)
            return _page(multipart.iter_parts(r, repo, upload_id, after)[: limit + 1], limit)

        return await self.kv.read(fn)

    async def list_uploads(
        self, repo: str, *, prefix: str = "", after: str = "", limit: int = 1000
    ) -> tuple[list[Upload], bool]:
        """Uploads sorted by (full key "branch/path", initiated), key > ``after``."""

        def fn(r: KVReader) -> tuple[list[Upload], bool]:
            View(r).repo(repo)
            base = keys.uploads(repo)
            ups = [multipart.decode_upload(v) for _, v in r.scan(base, keys.prefix_end(base))]
            ups = [u for u in ups if f"{u.branch}/{u.path}".startswith(prefix)]
            ups = [u for u in ups if not after or f"{u.branch}/{u.path}" > after]
            ups.sort(key=lambda u: (f"{u.branch}/{u.path}", u.initiated))
            return _page(ups, limit)

        return await self.kv.read(fn)

    async def complete_upload(
        self,
        repo: str,
        upload_id: str,
        parts: Sequence[tuple[int, str]],
        *,
        conditions: Conditions | None = None,
    ) -> Entry:
        """Compose the listed (number, etag) parts, in ascending order, into one entry
        (zero-copy manifest) and stage it, atomically with removing the upload. ETag is
        md5-of-part-md5s-N. Raises InvalidPart, InvalidPartOrder, EntityTooSmall (part < 5 MiB
        except the last), UploadNotFound, ProtectedBranch, PreconditionFailed."""

        def fn(w: KVWriter) -> Entry:
            view = View(w)
            up = multipart.get_upload(w, repo, upload_id)
            b = self._writable_branch(view, repo, up.branch)
            entry = multipart.compose(w, up, parts)
            if conditions is not None:
                _check_conditions(view, repo, b, up.path, conditions)
            w.put(
                keys.staging(repo, b.staging_token) + up.path.encode("utf-8"),
                staging.encode(entry),
            )
            view.bump_staging(repo, b.staging_token)
            multipart.delete_upload(w, repo, upload_id)
            return entry

        return await self.kv.write(fn)

    async def abort_upload(self, repo: str, upload_id: str) -> None:
        def fn(w: KVWriter) -> None:
            multipart.get_upload(w, repo, upload_id)
            multipart.delete_upload(w, repo, upload_id)

        await self.kv.write(fn)

    async def drain(self) -> None:
        """Wait for background housekeeping (purges of retired staging areas) to finish."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        await self.drain()
        await self.blobs.close()
        self.kv.close()


# -- helpers ---------------------------------------------------------------------------------


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
    return _page(out, limit)


def _in_snapshot(view: View, repo: str, ref: str | ResolvedRef) -> ResolvedRef:
    """A ref resolved in this transaction: a branch resolved earlier is read again, so that its
    head and staging area come from one snapshot."""
    if isinstance(ref, str):
        return view.resolve(repo, ref)
    if ref.kind is not RefKind.BRANCH or ref.branch is None:
        return ref
    b = view.branch(repo, ref.branch)
    return dataclasses.replace(ref, commit=b.head, staging_token=b.staging_token)


def _put_inline(w: KVWriter, blob_id: str, data: bytes) -> None:
    key = keys.inline_blob(blob_id)
    if w.get(key) is None:  # stored once (dedup)
        w.put(key, data)


def _take(it: Iterator[tuple[bytes, bytes]], n: int) -> list[tuple[bytes, bytes]]:
    out: list[tuple[bytes, bytes]] = []
    for item in it:
        out.append(item)
        if len(out) >= n:
            break
    return out


def _check_conditions(view: View, repo: str, b: Branch, path: str, cond: Conditions) -> None:
    ref = ResolvedRef(
        kind=RefKind.BRANCH, commit=b.head, branch=b.name, staging_token=b.staging_token
    )
    try:
        current: Entry | None = listing.stat(view, repo, ref, path)
    except ObjectNotFound:
        current = None
    if cond.if_none_match_any and current is not None:
        raise PreconditionFailed(f"object {path!r} already exists")
    if cond.if_match is not None:
        want = cond.if_match.strip()
        if current is None:
            raise ObjectNotFound(f"object {path!r} not found")
        if want != "*" and want.strip('"') != current.etag:
            raise PreconditionFailed(f"object {path!r} has a different ETag")


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


async def _in_thread(fn: Callable[[], Commit]) -> Commit:
    return await asyncio.to_thread(fn)
