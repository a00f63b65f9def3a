"""Records of the versioning engine: frozen, slotted dataclasses with no behaviour beyond identity.

Encoding to bytes lives in ``gateway.core.codec`` (one versioned codec module).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

import blake3
import msgpack

from gateway.core.ids import BlobId, BranchName, CommitId, Path, RepoName, TagName

#: Prefix of an entry address that names a multipart manifest instead of a single blob.
MANIFEST_PREFIX = "m:"
#: Prefix of an entry address that names an object outside Weir, brought in by a zero-copy
#: import: ``x:<import id>:<url>`` (``s3://bucket/key``). Its bytes are read from there, checked
#: against the entry's ETag and size (docs/decisions/0022-zero-copy-import.md).
EXTERNAL_PREFIX = "x:"


def external_address(import_id: str, url: str) -> str:
    return f"{EXTERNAL_PREFIX}{import_id}:{url}"


def parse_external(address: str) -> tuple[str, str]:
    """(import id, url) of an external address."""
    import_id, _, url = address[len(EXTERNAL_PREFIX) :].partition(":")
    return import_id, url


#: Entry metadata keys starting with this hold standard HTTP object headers (Cache-Control, ...),
#: not user metadata: ":" cannot occur in an HTTP header name, so the two never collide.
HEADER_KEY_PREFIX = ":"


def user_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """The user-visible metadata of an entry (without the stored standard headers)."""
    return {k: v for k, v in metadata.items() if not k.startswith(HEADER_KEY_PREFIX)}


@dataclass(frozen=True, slots=True)
class Entry:
    """What a path points to.

    ``address`` is either a blob id (blake3 hex of the bytes) or ``"m:" + <hex>`` for a multipart
    object, whose manifest (ordered part blob ids and sizes) is stored in the metadata store under
    that hex id. Copying an object copies the entry, never the bytes.
    """

    address: str
    size: int
    etag: str  # MD5 hex for a single PUT; "<md5-of-md5s>-N" for multipart (no quotes)
    content_type: str = "application/octet-stream"
    metadata: Mapping[str, str] = field(default_factory=dict)  # user metadata (x-amz-meta-*)
    mtime: float = 0.0  # unix seconds of the write
    checksums: Mapping[str, str] = field(default_factory=dict)  # e.g. {"crc32": "base64..."}
    tags: Mapping[str, str] = field(default_factory=dict)  # S3 object tags (x-amz-tagging)

    def identity(self) -> bytes:
        """Content identity for diff and merge: same bytes, type, metadata and tags = same
        object. Re-uploading identical bytes is not a change (mtime and ETag are not part of
        it); changing a tag is. An external object (an import) is identified by its source,
        ETag and size, not by the import that brought it in: importing an unchanged source
        again is not a change either. An entry without tags has the identity it had before tags
        existed.
        """
        address: object = self.address
        if self.address.startswith(EXTERNAL_PREFIX):
            address = [parse_external(self.address)[1], self.etag, self.size]
        fields: list[object] = [address, self.content_type, sorted(self.metadata.items())]
        if self.tags:
            fields.append(sorted(self.tags.items()))
        return blake3.blake3(msgpack.packb(fields, use_bin_type=True)).digest()

    @property
    def is_multipart(self) -> bool:
        return self.address.startswith(MANIFEST_PREFIX)

    @property
    def is_external(self) -> bool:
        return self.address.startswith(EXTERNAL_PREFIX)


@dataclass(frozen=True, slots=True)
class ManifestPart:
    blob_id: BlobId
    size: int


@dataclass(frozen=True, slots=True)
class InputRef:
    """An input named by the user, before resolution: ``REPO@REF[:PATH]``.

    ``manifest`` (optional) is the hex root id of a content-addressed tree whose paths are the
    exact paths read from that commit and whose entries are the entries read (ETags included):
    a run that read ten million objects stores them as shared, deduplicated tree nodes.
    """

    repository: RepoName
    ref: str
    path: str = ""
    manifest: str = ""


@dataclass(frozen=True, slots=True)
class CommitInput:
    """One input a commit was built from, resolved to an immutable commit id at commit time.

    Part of the commit's encoding, so covered by its id: lineage is as tamper-evident as
    history. ``ref`` keeps the expression the user gave (``main``, ``v1``), for reading only.
    """

    repository: RepoName
    commit: CommitId
    ref: str = ""
    path: str = ""  # a path or prefix within the input ("" = the whole commit)
    manifest: str = ""  # see InputRef.manifest; "" = not recorded


@dataclass(frozen=True, slots=True)
class Commit:
    """A commit. Its id is the blake3 of its canonical encoding (see codec.make_commit)."""

    id: CommitId
    tree: bytes  # root NodeId of the committed tree (32 raw bytes; b"" for the empty tree)
    parents: tuple[CommitId, ...]
    committer: str
    message: str
    metadata: Mapping[str, str]
    creation_date: float  # unix seconds
    generation: int  # 1 + max(parent generations); the root commit has generation 1
    inputs: tuple[CommitInput, ...] = ()  # what it was built from (lineage), in the given order


@dataclass(frozen=True, slots=True)
class Repository:
    name: RepoName
    default_branch: BranchName
    storage_namespace: str
    creation_date: float
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Branch:
    name: BranchName
    head: CommitId
    staging_token: str  # staged writes land under this token (a reset swaps in a new one)
    hidden: bool = False  # left out of listings unless asked for (ephemeral branches)


@dataclass(frozen=True, slots=True)
class Tag:
    name: TagName
    commit: CommitId


class RefKind(enum.Enum):
    BRANCH = "branch"
    TAG = "tag"
    COMMIT = "commit"


@dataclass(frozen=True, slots=True)
class ResolvedRef:
    """A ref expression after resolution.

    ``branch`` is set only when the expression names a branch with no modifier (``main``); then
    reads overlay the branch's staging area unless ``committed_only`` (``main@``).
    """

    kind: RefKind
    commit: CommitId
    branch: BranchName | None = None
    committed_only: bool = False
    staging_token: str | None = None  # the branch's, as read with the head (one snapshot)


class ChangeKind(enum.Enum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


@dataclass(frozen=True, slots=True)
class Change:
    """One difference between two states of a tree. ``left``/``right`` is None where absent."""

    path: Path
    kind: ChangeKind
    left: Entry | None
    right: Entry | None


class ConflictKind(enum.Enum):
    BOTH_CHANGED = "both-changed"  # both sides changed the path to different contents
    BOTH_ADDED = "both-added"  # absent in base, added differently on both sides
    CHANGED_DELETED = "changed-deleted"  # source changed, destination deleted
    DELETED_CHANGED = "deleted-changed"  # source deleted, destination changed


@dataclass(frozen=True, slots=True)
class PathConflict:
    path: Path
    kind: ConflictKind
    base: Entry | None
    source: Entry | None
    dest: Entry | None


class MergeStrategy(enum.Enum):
    FAIL = "fail"
    SOURCE_WINS = "source-wins"
    DEST_WINS = "dest-wins"


class Side(enum.Enum):
    SOURCE = "source"
    DEST = "dest"


@dataclass(frozen=True, slots=True)
class ByteRange:
    """One HTTP byte range, mapping 1:1 to ``bytes=a-b``, ``bytes=a-`` and ``bytes=-n``.

    Exactly one form: (start, end) inclusive, (start, None) open-ended, or (None, suffix).
    """

    start: int | None
    end: int | None = None
    suffix: int | None = None

    def resolve(self, size: int) -> tuple[int, int]:
        """Return (offset, length) for an object of ``size`` bytes.

        Raises:
            InvalidRange: the range does not overlap the object.
        """
        from gateway.core.errors import InvalidRange

        if self.suffix is not None:
            if self.suffix <= 0 or size == 0:
                raise InvalidRange("range not satisfiable", size)
            length = min(self.suffix, size)
            return size - length, length
        assert self.start is not None
        if self.start >= size:
            raise InvalidRange("range not satisfiable", size)
        end = size - 1 if self.end is None else min(self.end, size - 1)
        if end < self.start:
            raise InvalidRange("range not satisfiable", size)
        return self.start, end - self.start + 1


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """The result of ingesting a body: the stored blob and the digests computed on the way."""

    blob_id: BlobId
    size: int
    md5_hex: str
    checksums: Mapping[str, str] = field(default_factory=dict)
    #: The bytes of a small blob whose storage was deferred to the write that records it
    #: (``Lake.ingest(defer_inline=True)``); None once stored.
    data: bytes | None = field(default=None, compare=False, repr=False)


__all__ = [
    "EXTERNAL_PREFIX",
    "MANIFEST_PREFIX",
    "BlobInfo",
    "Branch",
    "BranchName",
    "ByteRange",
    "Change",
    "ChangeKind",
    "Commit",
    "ConflictKind",
    "Entry",
    "ManifestPart",
    "MergeStrategy",
    "PathConflict",
    "RefKind",
    "RepoName",
    "Repository",
    "ResolvedRef",
    "Side",
    "Tag",
]
