"""Object versions read from history: what S3's versioning API shows of a ref.

The versions of a path on a ref are the states its first-parent chain went through
(``pathhistory.first_parent_history``, decision 0013): each commit that changed the path is a
version whose id is that commit's id; a commit that deleted the path is a delete marker. On a
branch, an uncommitted (staged) change of the path is the newest version, with id ``null`` (S3's
id for a version written without a version id). Everything is answered from the path index
(``keys.HISTORY``) and the first-parent chain links (``keys.CHAIN``): never by walking commits.

A listing page costs O(rows + paths examined) index reads, each version O(log n) chain reads.
``scan_budget`` bounds the paths examined per page that turn out to have no version on the ref
(paths only other branches changed): the page then ends early with a marker, so a page's cost
is bounded whatever the repository holds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from gateway.core import chain, keys, listing, pathhistory, tree
from gateway.core.errors import InvalidArgument, ObjectNotFound, VersionNotFound
from gateway.core.ids import CommitId, Path
from gateway.core.lake.base import LakeBase
from gateway.core.model import Commit, Entry, ResolvedRef
from gateway.core.ports import KVReader
from gateway.core.tree.diff import same_entry
from gateway.core.view import View

#: The version id of a branch's uncommitted state of a path.
NULL_VERSION = "null"
_COMMIT_ID = re.compile(r"[0-9a-f]{64}")


def check_version_id(version_id: str) -> str:
    """A version id as a client may send it: ``null`` or a full commit id. Raises
    InvalidArgument otherwise (S3: "Invalid version id specified")."""
    if version_id != NULL_VERSION and not _COMMIT_ID.fullmatch(version_id):
        raise InvalidArgument("Invalid version id specified")
    return version_id


@dataclass(frozen=True, slots=True)
class ObjectVersion:
    """One version of a path. ``entry`` None is a delete marker."""

    path: Path
    version_id: str  # a commit id, or "null" for a branch's staged state
    entry: Entry | None
    is_latest: bool
    when: float  # the version's time: the write (entry.mtime), or the deleting commit's date


@dataclass(frozen=True, slots=True)
class VersionPage:
    """One page of a version listing, in key order, each key's versions newest first."""

    versions: list[ObjectVersion]
    prefixes: list[str]
    truncated: bool
    next_key: str | None  # continue after this path ...
    next_version: str | None  # ... and, when set, after this version of it


class VersionOps(LakeBase):
    """S3 object versions from the path index. Every method reads one consistent snapshot."""

    async def list_versions(
        self,
        repo: str,
        ref: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        key_after: str = "",
        version_after: str = "",
        limit: int = 1000,
        scan_budget: int = 10_000,
    ) -> VersionPage:
        """Versions of the paths under ``prefix`` on ``ref``, at most ``limit`` rows (versions
        and common prefixes), starting after ``key_after`` -- or, with ``version_after``, after
        that version of ``key_after``.

        Raises RepositoryNotFound, RefNotFound, InvalidArgument (a version marker that is not a
        version of ``key_after`` on ``ref``).
        """
        if limit < 1:
            raise InvalidArgument("limit must be at least 1")
        if version_after:
            check_version_id(version_after)

        def fn(r: KVReader) -> VersionPage:
            view = View(r)
            resolved = view.resolve(repo, ref)
            out = VersionPage([], [], False, None, None)
            rows = 0
            scanned = 0
            paths = _Paths(view, repo, resolved, prefix)
            if key_after and key_after >= prefix:
                paths.seek(key_after, inclusive=bool(version_after))
            while (path := paths.next()) is not None:
                cut = path.find(delimiter, len(prefix)) if delimiter else -1
                if cut >= 0:
                    common = path[: cut + len(delimiter)]
                    paths.seek_past_prefix(common)  # one seek, whatever the prefix holds
                    if key_after.startswith(common):
                        continue  # the previous page ended at this common prefix
                    if rows == limit:
                        return _stop(out)
                    out.prefixes.append(common)
                    rows += 1
                    continue
                after = version_after if path == key_after else ""
                found = False
                for version in _versions(view, repo, resolved, path, after):
                    found = True
                    if rows == limit:
                        return _stop(out)
                    out.versions.append(version)
                    rows += 1
                if not found:
                    scanned += 1
                    if scanned >= scan_budget:
                        return VersionPage(out.versions, out.prefixes, True, path, None)
            return out

        return await self.kv.read(fn)

    async def get_version(
        self, repo: str, ref: str, path: str, version_id: str
    ) -> tuple[Entry | None, Commit | None]:
        """The entry version ``version_id`` of ``path`` holds on ``ref`` (None: a delete
        marker), and its commit (None for ``null``, the ref's current state).

        A commit id is a version only when it is on ``ref``'s first-parent chain and changed
        ``path`` (two index lookups, O(log n)): any other commit is VersionNotFound, so a version
        id never reads outside the history of the ref the caller was allowed to read.

        Raises InvalidArgument (malformed id), VersionNotFound, RefNotFound, RepositoryNotFound.
        """
        check_version_id(version_id)

        def fn(r: KVReader) -> tuple[Entry | None, Commit | None]:
            view = View(r)
            resolved = view.resolve(repo, ref)
            if version_id == NULL_VERSION:
                try:
                    return listing.stat(view, repo, resolved, path), None
                except ObjectNotFound:
                    raise VersionNotFound(f"no current version of {path!r}") from None
            link = chain.get_link(r, repo, version_id)
            if link is None or not _changed(r, repo, path, link.generation, version_id):
                raise VersionNotFound(f"{version_id[:12]} is not a version of {path!r}")
            on_chain = chain.floor(r, repo, resolved.commit, link.generation).commit == version_id
            if not on_chain:
                raise VersionNotFound(f"{version_id[:12]} is not a version of {path!r}")
            c = view.commit(repo, version_id)
            return tree.get(c.tree, path, view.nodes), c

        return await self.kv.read(fn)


def _changed(r: KVReader, repo: str, path: str, generation: int, commit: str) -> bool:
    return r.get(keys.history(repo, path, generation, commit)) is not None


class _Paths:
    """Paths under a prefix that may have versions on the ref, in order: those the path index
    names (changed by some commit, on any branch) merged with those staged on the branch (new,
    uncommitted paths). Each step is one seek in each source; ``seek_past_prefix`` skips a
    whole common prefix with one seek."""

    def __init__(self, view: View, repo: str, resolved: ResolvedRef, prefix: str) -> None:
        self._view = view
        self._repo = repo
        self._base = len(keys.history_prefix(repo, ""))
        self._hi = keys.prefix_end(keys.history_prefix(repo, prefix))
        self._end = listing.str_prefix_end(prefix)
        staged = resolved.branch is not None and not resolved.committed_only
        self._token = resolved.staging_token if staged else None
        self._lo: str | None = prefix  # the next path is >= this (None: nothing is left)
        self._inclusive = True

    def seek(self, path: str, *, inclusive: bool) -> None:
        self._lo, self._inclusive = path, inclusive

    def seek_past_prefix(self, prefix: str) -> None:
        self._lo, self._inclusive = listing.str_prefix_end(prefix), True

    def next(self) -> str | None:
        lo, inclusive = self._lo, self._inclusive
        if lo is None:
            return None
        # Paths never contain NUL: lo + "\0" is the smallest path greater than lo; in the index
        # a path's own keys are "lo\0<generation><commit>", so greater paths start past them.
        start = lo if inclusive else lo + "\x00"
        if inclusive:
            low_key = keys.history_prefix(self._repo, lo)
        else:
            low_key = keys.history_of(self._repo, lo) + b"\xff"
        found: list[str] = []
        first = next(iter(self._view.kv.scan(low_key, self._hi)), None)
        if first is not None:
            found.append(first[0][self._base : -(8 + 64 + 1)].decode("utf-8"))
        if self._token:
            staged = next(self._view.iter_staged(self._repo, self._token, start, self._end), None)
            if staged is not None:
                found.append(staged[0])
        if not found:
            return None
        path = min(found)
        self._lo, self._inclusive = path, False
        return path


def _versions(
    view: View, repo: str, resolved: ResolvedRef, path: str, after: str
) -> Iterator[ObjectVersion]:
    """The versions of one path on the ref, newest first, after version ``after``."""
    head = view.commit(repo, resolved.commit)
    latest = True
    start: str | None = head.id
    if not after and resolved.branch is not None and not resolved.committed_only:
        token = resolved.staging_token or ""
        present, staged = view.staged(repo, token, path) if token else (False, None)
        committed = tree.get(head.tree, path, view.nodes)
        if present and not same_entry(staged, committed):
            when = staged.mtime if staged is not None else head.creation_date
            yield ObjectVersion(Path(path), NULL_VERSION, staged, True, when)
            latest = False
    elif after and after != NULL_VERSION:
        link = chain.get_link(view.kv, repo, after)
        on_chain = (
            link is not None
            and chain.floor(view.kv, repo, head.id, link.generation).commit == after
            and _changed(view.kv, repo, path, link.generation, after)
        )
        if not on_chain:
            raise InvalidArgument("Invalid version id specified")
        assert link is not None
        start = link.parent or None  # continue below the marker's commit
        latest = False
    elif after == NULL_VERSION:
        latest = False
    if start is None:
        return
    for c in pathhistory.first_parent_history(view, repo, start, pathhistory.PathSpec((path,))):
        entry = tree.get(c.tree, path, view.nodes)
        when = entry.mtime if entry is not None else c.creation_date
        yield ObjectVersion(Path(path), CommitId(c.id), entry, latest, when)
        latest = False


def _stop(out: VersionPage) -> VersionPage:
    """A full page: continue after its last row (a common prefix, or a version of a key)."""
    last_version = out.versions[-1] if out.versions else None
    last_prefix = out.prefixes[-1] if out.prefixes else None
    if last_version is not None and (last_prefix is None or last_version.path > last_prefix):
        return VersionPage(
            out.versions, out.prefixes, True, last_version.path, last_version.version_id
        )
    return VersionPage(out.versions, out.prefixes, True, last_prefix, None)


__all__ = [
    "NULL_VERSION",
    "ObjectVersion",
    "VersionOps",
    "VersionPage",
    "check_version_id",
]
