"""The one domain error hierarchy. No HTTP here: s3/errors.py and admin/errors.py map it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.core.model import PathConflict


class WeirError(Exception):
    """Base of every error Weir raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(WeirError):
    """A named thing does not exist."""


class RepositoryNotFound(NotFound):
    pass


class RefNotFound(NotFound):
    """A branch, tag or commit expression does not resolve."""


class BranchNotFound(RefNotFound):
    pass


class TagNotFound(RefNotFound):
    pass


class CommitNotFound(RefNotFound):
    pass


class ObjectNotFound(NotFound):
    pass


class Collected(NotFound):
    """What was asked for existed once and was removed by garbage collection under the
    repository's retention rules (``gateway.gc``): gone on purpose, not lost."""


class CommitCollected(Collected, CommitNotFound):
    """A commit (and the tree only it referenced) was removed by retention."""


class Corruption(WeirError):
    """Stored data is missing or unreadable: a bug or a damaged store, never the caller's fault."""


class BlobNotFound(Corruption, NotFound):
    """The metadata names a blob the backend does not have (corruption or GC bug)."""


class MissingNode(Corruption):
    """A tree names a node its store does not have (corruption or a GC bug)."""


class CorruptNode(Corruption):
    """Stored node bytes do not decode as a tree node of a known format version."""


class CorruptCommit(Corruption):
    """A stored commit does not hash to its id: the hash chain was broken (tampering, damage)."""


class VersionNotFound(NotFound):
    """A version id (a commit) that is not a version of the path on the ref's history."""


class UploadNotFound(NotFound):
    """A multipart upload id is unknown, completed or aborted."""


class UserNotFound(NotFound):
    pass


class AlreadyExists(WeirError):
    pass


class RepositoryExists(AlreadyExists):
    pass


class BranchExists(AlreadyExists):
    pass


class TagExists(AlreadyExists):
    pass


class InvalidArgument(WeirError):
    """Bad input from the caller (a name, a path, a parameter)."""


class InvalidName(InvalidArgument):
    pass


class InvalidPath(InvalidArgument):
    pass


class AmbiguousRef(InvalidArgument):
    """A commit-id prefix matches more than one commit."""


class InvalidRange(InvalidArgument):
    """A byte range cannot be satisfied for an object of the given size."""

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message)
        self.size = size


class BadDigest(InvalidArgument):
    """Body bytes do not match a digest or checksum the caller declared."""


class IncompleteBody(InvalidArgument):
    """The body ended before (or ran past) its declared length."""


class InvalidPart(InvalidArgument):
    """A multipart completion names a part that was not uploaded or whose ETag differs."""


class InvalidPartOrder(InvalidArgument):
    pass


class EntityTooSmall(InvalidArgument):
    pass


class PreconditionFailed(WeirError):
    """A conditional operation's condition (If-Match, expected head, ...) does not hold."""


class SourceChanged(PreconditionFailed):
    """An imported object changed or disappeared at its source since the import: its bytes are
    not served (they would not be the ones the commit recorded). The message names the import."""


class NotModified(WeirError):
    """A conditional read's If-None-Match / If-Modified-Since says the client's copy is current."""


class Conflict(WeirError):
    """The operation conflicts with the current state."""


class BranchMoved(Conflict):
    """A compare-and-swap on a branch head lost a race."""


class NoChanges(Conflict):
    """Commit or merge with nothing to do."""


class DirtyBranch(Conflict):
    """The branch has uncommitted changes and the operation needs a clean branch."""


class NotEmpty(Conflict):
    """A repository still holds objects."""


class MergeConflict(Conflict):
    """A three-way merge found conflicting changes. Carries every one of them."""

    def __init__(self, message: str, conflicts: Sequence[PathConflict]) -> None:
        super().__init__(message)
        self.conflicts = list(conflicts)


class ReadOnlyRef(WeirError):
    """A write addressed a tag or a commit, not a branch."""


class ProtectedBranch(WeirError):
    """The branch is protected: only merges may change it."""


class DefaultBranch(WeirError):
    """The default branch cannot be deleted."""


class AccessDenied(WeirError):
    """The caller is authenticated but lacks the grant."""


class Unauthenticated(WeirError):
    """Missing, unknown or wrong credentials."""


class NotImplementedFeature(WeirError):
    """A recognised request Weir does not implement."""


class StorageError(WeirError):
    """The blob backend failed (I/O, network, the object store down, slow or throttling) and
    the backend's own retries ran out. Retryable from the client's point of view."""


class StorageFault(StorageError):
    """The object store refused a request in a way retrying will not fix (credentials,
    permissions, a missing bucket, an unexpected answer): an operator must look."""
