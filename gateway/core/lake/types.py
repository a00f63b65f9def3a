"""Result and request types of the repository facade (re-exported by ``gateway.core.lake``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from gateway.core.ids import BranchName, CommitId, Path, RepoName
from gateway.core.model import BlobInfo, Change, Commit, Entry, Side


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
class PathVersion:
    """One change of a path: the commit that made it and the entry it left (None: deleted)."""

    commit: Commit
    entry: Entry | None


@dataclass(frozen=True, slots=True)
class PathHistoryPage:
    versions: list[PathVersion]
    truncated: bool
    next_after: CommitId | None  # the last version's commit id when truncated


@dataclass(frozen=True, slots=True)
class BlameLine:
    """A path present at the blamed ref, its entry there, and the commit that wrote it."""

    path: Path
    entry: Entry
    commit: Commit | None  # None only for content no indexed commit wrote (never on new stores)


@dataclass(frozen=True, slots=True)
class BlamePage:
    lines: list[BlameLine]
    truncated: bool
    next_after: str | None  # the last path when truncated


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
    tags: Mapping[str, str] = field(default_factory=dict)  # given at creation (x-amz-tagging)


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
