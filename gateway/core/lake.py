"""The repository facade: the one API that the S3 and admin layers call.

Every method is async and never blocks the event loop: metadata work runs in the KV store's
worker threads, hashing and tree work in worker threads too. Methods raise the domain errors of
``gateway.core.errors``; they never return error codes.

Atomicity: every mutating method is all-or-nothing and durable when it returns.
Concurrency: branch heads move by compare-and-swap; a commit racing with writes to the same
branch never loses an acknowledged write (staging tokens are sealed, not cleared).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Protocol

from gateway.core.ids import BranchName, CommitId, Path, RepoName, TagName
from gateway.core.model import (
    BlobInfo,
    Branch,
    ByteRange,
    Change,
    Commit,
    Entry,
    MergeStrategy,
    PathConflict,
    Repository,
    ResolvedRef,
    Side,
    Tag,
)


class Hasher(Protocol):
    """hashlib-like incremental digest (hashlib objects, blake3, crc wrappers)."""

    def update(self, data: bytes, /) -> object: ...

    def digest(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class ListingPage:
    """One page of a listing. ``objects`` and ``prefixes`` together are at most ``limit`` rows.

    ``next_after`` is the last row's key (path or common prefix) when ``truncated``; pass it as
    ``after`` to continue.
    """

    objects: list[tuple[Path, Entry]]
    prefixes: list[str]
    truncated: bool
    next_after: str | None


@dataclass(frozen=True, slots=True)
class DiffPage:
    changes: list[Change]
    prefixes: list[str]  # with a delimiter: common prefixes under which something changed
    truncated: bool
    next_after: str | None


@dataclass(frozen=True, slots=True)
class LogPage:
    commits: list[Commit]
    truncated: bool
    next_after: CommitId | None


@dataclass(frozen=True, slots=True)
class MergeOutcome:
    """A successful merge. ``commit`` is the new merge commit (or the fast-forwarded head)."""

    commit: Commit
    fast_forward: bool
    changes: int  # paths changed on the destination


@dataclass(frozen=True, slots=True)
class Resolution:
    """A per-path or glob resolution of merge conflicts (``fnmatch`` patterns, first match wins)."""

    pattern: str
    side: Side


@dataclass(frozen=True, slots=True)
class Upload:
    """A multipart upload in progress."""

    upload_id: str
    repo: RepoName
    branch: BranchName
    path: Path
    initiated: float
    content_type: str
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Part:
    number: int
    blob: BlobInfo
    last_modified: float

    @property
    def etag(self) -> str:
        return self.blob.md5_hex


@dataclass(frozen=True, slots=True)
class Conditions:
    """Conditional-write preconditions (S3 PutObject If-Match / If-None-Match: *)."""

    if_match: str | None = None  # ETag the current object must have
    if_none_match_any: bool = False  # the path must not exist



class Lake:
    """Facade over the engine: repositories, refs, objects, commits, diff, merge, multipart.

    Construct with a metadata ``KVStore`` and a ``BlobStore`` (see ``gateway.core.ports``).
    """

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
        raise NotImplementedError

    async def get_repository(self, name: str) -> Repository:
        """Raises RepositoryNotFound."""
        raise NotImplementedError

    async def list_repositories(
        self, *, prefix: str = "", after: str = "", limit: int = 1000
    ) -> tuple[list[Repository], bool]:
        """Repositories sorted by name, ``name > after``; returns (page, has_more)."""
        raise NotImplementedError

    async def delete_repository(self, name: str, *, require_empty: bool = False) -> None:
        """Delete a repository and its refs, staging and uploads (blobs are left to GC).

        ``require_empty``: raise NotEmpty when any branch (committed or staged) or tag holds an
        object (S3 DeleteBucket semantics).
        """
        raise NotImplementedError

    # -- refs ---------------------------------------------------------------------------------
    async def resolve_ref(self, repo: str, ref: str) -> ResolvedRef:
        """Resolve a ref expression: branch, tag, full or unique-prefix commit id, with
        ``~N``, ``^N`` and a trailing ``@`` (committed state only).

        Raises RepositoryNotFound, RefNotFound, AmbiguousRef, InvalidName.
        """
        raise NotImplementedError

    async def create_branch(self, repo: str, name: str, source: str) -> Branch:
        """O(1): one record, no data copied. Raises BranchExists, RefNotFound, InvalidName."""
        raise NotImplementedError

    async def get_branch(self, repo: str, name: str) -> Branch:
        raise NotImplementedError

    async def list_branches(
        self, repo: str, *, prefix: str = "", after: str = "", limit: int = 1000
    ) -> tuple[list[Branch], bool]:
        raise NotImplementedError

    async def delete_branch(self, repo: str, name: str) -> None:
        """Raises BranchNotFound, DefaultBranch."""
        raise NotImplementedError

    async def get_protection_rules(self, repo: str) -> list[str]:
        """Glob patterns (fnmatch) of protected branches: they accept only merges."""
        raise NotImplementedError

    async def set_protection_rules(self, repo: str, patterns: Sequence[str]) -> None:
        """Replace the repository's branch-protection globs. Direct PUT, DELETE, commit and
        reset on a matching branch then raise ProtectedBranch; merge into it is allowed."""
        raise NotImplementedError

    async def create_tag(self, repo: str, name: str, ref: str) -> Tag:
        """Raises TagExists, RefNotFound, InvalidName."""
        raise NotImplementedError

    async def get_tag(self, repo: str, name: str) -> Tag:
        raise NotImplementedError

    async def list_tags(
        self, repo: str, *, prefix: str = "", after: str = "", limit: int = 1000
    ) -> tuple[list[Tag], bool]:
        raise NotImplementedError

    async def delete_tag(self, repo: str, name: str) -> None:
        raise NotImplementedError

    # -- blobs --------------------------------------------------------------------------------
    async def ingest(
        self,
        chunks: AsyncIterable[bytes],
        *,
        hashers: Mapping[str, Hasher] | None = None,
        check: Callable[[BlobInfo, Mapping[str, bytes]], None] | None = None,
    ) -> BlobInfo:
        """Stream a body into a new blob, computing blake3 + MD5 (+ ``hashers``) in one pass off
        the event loop. ``check(info, digests)`` runs before the blob is published and may raise
        (BadDigest, IncompleteBody, ...) to abort it: nothing is stored then. If the iterator
        raises (client went away), the blob is aborted and the error propagates.
        Publishing is atomic and deduplicated. Returns the blob's info with ``checksums`` empty.
        """
        raise NotImplementedError

    def read_entry(
        self, entry: Entry, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        """Stream an entry's bytes (single blob or multipart manifest), ``length`` bytes from
        ``offset``."""
        raise NotImplementedError

    def local_path(self, entry: Entry) -> FsPath | None:
        """A local file holding exactly the entry's bytes (sendfile), when the backend has one."""
        raise NotImplementedError

    # -- objects ------------------------------------------------------------------------------
    async def stat_object(self, repo: str, ref: str | ResolvedRef, path: str) -> Entry:
        """The entry at ``path``: staging overlaid on the head for a branch.
        Raises ObjectNotFound (also for a tombstoned path), RefNotFound, RepositoryNotFound."""
        raise NotImplementedError

    async def put_object(
        self,
        repo: str,
        branch: str,
        path: str,
        entry: Entry,
        *,
        conditions: Conditions | None = None,
    ) -> Entry:
        """Stage ``entry`` at ``path``. Raises ReadOnlyRef (tag/commit), ProtectedBranch,
        BranchNotFound, InvalidPath, PreconditionFailed."""
        raise NotImplementedError

    async def delete_object(self, repo: str, branch: str, path: str) -> bool:
        """Stage a tombstone. Returns whether the path existed (S3 ignores that; lakeFS 404s)."""
        raise NotImplementedError

    async def delete_objects(
        self, repo: str, branch: str, paths: Sequence[str]
    ) -> list[tuple[str, Exception | None]]:
        """Tombstone many paths in one transaction; per-path error or None, in input order."""
        raise NotImplementedError

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
        raise NotImplementedError

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
        "/" — when given). Raises NoChanges, ProtectedBranch, BranchMoved."""
        raise NotImplementedError

    async def get_commit(self, repo: str, ref: str) -> Commit:
        raise NotImplementedError

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
    ) -> LogPage:
        """Commits reachable from ``ref``, newest first (generation, then date order). With
        ``paths``/``prefixes``: only commits that changed one of them relative to their first
        parent."""
        raise NotImplementedError

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
        raise NotImplementedError

    async def diff_uncommitted(
        self, repo: str, branch: str, *, prefix: str = "", after: str = "", limit: int = 1000
    ) -> DiffPage:
        """Staged changes of ``branch`` against its head."""
        raise NotImplementedError

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
    ) -> MergeOutcome:
        """Three-way merge of ``source`` (any ref) into branch ``dest``.

        Raises MergeConflict carrying every conflict not settled by ``strategy``/``resolutions``;
        DirtyBranch when dest has staged changes; NoChanges when source is already merged and not
        ``allow_empty``. The merge commit's parents are [dest head, source commit].
        """
        raise NotImplementedError

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
        required for merge commits). Raises DirtyBranch, MergeConflict, InvalidArgument."""
        raise NotImplementedError

    async def cherry_pick(
        self,
        repo: str,
        branch: str,
        ref: str,
        *,
        committer: str,
        parent_number: int = 0,
    ) -> Commit:
        raise NotImplementedError

    async def reset_branch(self, repo: str, branch: str) -> None:
        """Drop every staged change."""
        raise NotImplementedError

    async def reset_path(self, repo: str, branch: str, path: str, *, prefix: bool = False) -> None:
        """Drop staged changes of one path, or of every path under a prefix."""
        raise NotImplementedError

    async def hard_reset(self, repo: str, branch: str, ref: str) -> Branch:
        """Point the branch at ``ref``'s commit and drop its staging (like git reset --hard)."""
        raise NotImplementedError

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
        raise NotImplementedError

    async def get_upload(self, repo: str, upload_id: str) -> Upload:
        """Raises UploadNotFound."""
        raise NotImplementedError

    async def put_part(self, repo: str, upload_id: str, number: int, blob: BlobInfo) -> Part:
        """Record a part (replacing an earlier upload of the same number)."""
        raise NotImplementedError

    async def list_parts(
        self, repo: str, upload_id: str, *, after: int = 0, limit: int = 1000
    ) -> tuple[list[Part], bool]:
        raise NotImplementedError

    async def list_uploads(
        self, repo: str, *, prefix: str = "", after: str = "", limit: int = 1000
    ) -> tuple[list[Upload], bool]:
        """Uploads sorted by (full key "branch/path", initiated)."""
        raise NotImplementedError

    async def complete_upload(
        self,
        repo: str,
        upload_id: str,
        parts: Sequence[tuple[int, str]],
        *,
        conditions: Conditions | None = None,
    ) -> Entry:
        """Compose the listed (number, etag) parts, in ascending order, into one entry
        (zero-copy manifest) and stage it. ETag is md5-of-part-md5s-N. Raises InvalidPart,
        InvalidPartOrder, EntityTooSmall (part < 5 MiB except the last), UploadNotFound."""
        raise NotImplementedError

    async def abort_upload(self, repo: str, upload_id: str) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError
