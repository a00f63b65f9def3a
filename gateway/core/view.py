"""Typed access to the engine's records inside one KV transaction.

A ``View`` wraps a ``KVReader`` (or ``KVWriter``) for the duration of one transaction callback and
offers record-level reads and writes: repositories, branches, tags, commits, staging, tree nodes.
Immutable records (commits, tree nodes) are cached across transactions: their keys are hashes.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

from gateway.core import chain, codec, keys, staging
from gateway.core.errors import (
    AmbiguousRef,
    BranchNotFound,
    CommitCollected,
    CommitNotFound,
    CorruptCommit,
    RefNotFound,
    RepositoryNotFound,
    TagNotFound,
)
from gateway.core.ids import BranchName, CommitId
from gateway.core.lru import LruCache
from gateway.core.model import Branch, Commit, Entry, RefKind, Repository, ResolvedRef, Tag
from gateway.core.ports import KVReader, KVWriter
from gateway.core.refexpr import parse_ref

_COMMITS: LruCache[tuple[str, str], Commit] = LruCache(65536)
MIN_PREFIX = 4  # shortest commit-id prefix accepted as a ref


def new_token() -> str:
    return uuid.uuid4().hex


def _collected_error(repo: str, cid: str, raw: bytes) -> CommitCollected:
    when = ""
    try:
        at = float(codec.unpack(raw)[0])
        when = " on " + time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))
    except (ValueError, TypeError, IndexError, KeyError):
        pass
    return CommitCollected(
        f"commit {cid} of repository {repo!r} was removed by retention (garbage collection"
        f"{when}): no branch or tag reached it and it was older than the retention period"
    )


class KVNodeStore:
    """Tree nodes in the KV store (``NodeStore`` for ``gateway.core.tree``)."""

    __slots__ = ("_r",)

    def __init__(self, reader: KVReader) -> None:
        self._r = reader

    def get_node(self, node_id: bytes) -> bytes | None:
        return self._r.get(keys.node(node_id))

    def put_node(self, node_id: bytes, data: bytes) -> None:
        w: KVWriter = self._r  # type: ignore[assignment]
        w.put(keys.node(node_id), data)


class View:
    """Record-level access within one transaction. Not thread-safe; one per callback."""

    def __init__(self, kv: KVReader) -> None:
        self.kv = kv
        self.nodes = KVNodeStore(kv)

    # -- repositories -----------------------------------------------------------------------
    def repo(self, name: str) -> Repository:
        raw = self.kv.get(keys.repo(name))
        if raw is None:
            raise RepositoryNotFound(f"repository {name!r} not found")
        return codec.decode_repository(raw)

    def repo_exists(self, name: str) -> bool:
        return self.kv.get(keys.repo(name)) is not None

    def protection_rules(self, repo: str) -> list[str]:
        raw = self.kv.get(keys.protect(repo))
        return [] if raw is None else list(codec.unpack(raw))

    # -- branches and tags ----------------------------------------------------------------------
    def branch_or_none(self, repo: str, name: str) -> Branch | None:
        raw = self.kv.get(keys.branch(repo, name))
        return None if raw is None else codec.decode_branch(raw)

    def branch(self, repo: str, name: str) -> Branch:
        b = self.branch_or_none(repo, name)
        if b is None:
            self.repo(repo)  # RepositoryNotFound first
            raise BranchNotFound(f"branch {name!r} not found in repository {repo!r}")
        return b

    def tag_or_none(self, repo: str, name: str) -> Tag | None:
        raw = self.kv.get(keys.tag(repo, name))
        return None if raw is None else codec.decode_tag(raw)

    def tag(self, repo: str, name: str) -> Tag:
        t = self.tag_or_none(repo, name)
        if t is None:
            self.repo(repo)
            raise TagNotFound(f"tag {name!r} not found in repository {repo!r}")
        return t

    def iter_branches(self, repo: str, start: str = "") -> Iterator[Branch]:
        base = keys.branches(repo)
        for _, v in self.kv.scan(base + start.encode(), keys.prefix_end(base)):
            yield codec.decode_branch(v)

    def iter_tags(self, repo: str, start: str = "") -> Iterator[Tag]:
        base = keys.tags(repo)
        for _, v in self.kv.scan(base + start.encode(), keys.prefix_end(base)):
            yield codec.decode_tag(v)

    # -- commits ----------------------------------------------------------------------------------
    def commit(self, repo: str, cid: str) -> Commit:
        cached = _COMMITS.get((repo, cid))
        if cached is not None:
            return cached
        raw = self.kv.get(keys.commit(repo, cid))
        if raw is None:
            raise self._commit_missing(repo, cid)
        c = codec.decode_commit(CommitId(cid), raw)
        if not codec.verify_commit(c, raw):
            raise CorruptCommit(f"commit {cid} does not match its id: history was altered")
        _COMMITS.put((repo, cid), c)
        return c

    def require_commit(self, repo: str, cid: str) -> None:
        """Raise CommitCollected or CommitNotFound unless the commit's record is stored now.

        Reads the store, not the cache: garbage collection may have removed a cached commit.
        """
        if self.kv.get(keys.commit(repo, cid)) is None:
            raise self._commit_missing(repo, cid)

    def _commit_missing(self, repo: str, cid: str) -> CommitNotFound:
        raw = self.kv.get(keys.collected(repo, cid))
        if raw is not None:
            return _collected_error(repo, cid, raw)
        return CommitNotFound(f"commit {cid!r} not found in repository {repo!r}")

    def commit_by_prefix(self, repo: str, prefix: str) -> Commit | None:
        """The unique commit whose id starts with ``prefix``; None when there is none.

        Raises AmbiguousRef when several match; CommitCollected when none is stored but a
        commit with that prefix was removed by retention (garbage collection).
        """
        if len(prefix) < MIN_PREFIX or any(c not in "0123456789abcdef" for c in prefix):
            return None
        if len(prefix) == 64:
            raw = self.kv.get(keys.commit(repo, prefix))
            if raw is None:
                gone = self.kv.get(keys.collected(repo, prefix))
                if gone is not None:
                    raise _collected_error(repo, prefix, gone)
                return None
            return self.commit(repo, prefix)
        base = keys.commit(repo, prefix)
        found: list[str] = []
        for k, _ in self.kv.scan(base, keys.prefix_end(base)):
            found.append(k[len(keys.commits(repo)) :].decode("ascii"))
            if len(found) > 1:
                raise AmbiguousRef(f"commit prefix {prefix!r} is ambiguous")
        if found:
            return self.commit(repo, found[0])
        zbase = keys.collected_prefix(repo, prefix)
        for k, v in self.kv.scan(zbase, keys.prefix_end(zbase)):
            raise _collected_error(repo, k[len(keys.collected_prefix(repo)) :].decode(), v)
        return None

    def put_commit(self, repo: str, c: Commit) -> None:
        """Store a commit with its first-parent chain link (``gateway.core.chain``); its first
        parent must be stored already."""
        w: KVWriter = self.kv  # type: ignore[assignment]
        w.put(keys.commit(repo, c.id), codec.encode_commit(c))
        chain.put_link(w, repo, chain.make_link(w, repo, c))

    # -- refs -------------------------------------------------------------------------------------
    def resolve(self, repo: str, expr: str) -> ResolvedRef:
        """Resolve a ref expression (see ``gateway.core.refexpr``).

        Lookup order for the base name: branch, tag, commit id (full or unique prefix).
        """
        if not self.repo_exists(repo):
            raise RepositoryNotFound(f"repository {repo!r} not found")
        e = parse_ref(expr)
        kind: RefKind
        branch_name: BranchName | None = None
        token: str | None = None
        b = self.branch_or_none(repo, e.base)
        if b is not None:
            kind, cid, branch_name, token = RefKind.BRANCH, b.head, b.name, b.staging_token
        else:
            t = self.tag_or_none(repo, e.base)
            if t is not None:
                kind, cid = RefKind.TAG, t.commit
            else:
                c = self.commit_by_prefix(repo, e.base)
                if c is None:
                    raise RefNotFound(f"ref {expr!r} not found in repository {repo!r}")
                kind, cid = RefKind.COMMIT, c.id
        for op, n in e.modifiers:
            c = self.commit(repo, cid)
            if op == "~":
                for _ in range(n):
                    if not c.parents:
                        raise RefNotFound(f"ref {expr!r}: no such ancestor")
                    c = self.commit(repo, c.parents[0])
            elif n > 0:
                if n > len(c.parents):
                    raise RefNotFound(f"ref {expr!r}: commit has no parent {n}")
                c = self.commit(repo, c.parents[n - 1])
            cid = c.id
        if e.modifiers:
            return ResolvedRef(kind=RefKind.COMMIT, commit=cid)
        return ResolvedRef(
            kind=kind,
            commit=cid,
            branch=branch_name,
            committed_only=e.committed_only,
            staging_token=token,
        )

    # -- staging ----------------------------------------------------------------------------------
    def staged(self, repo: str, token: str, path: str) -> tuple[bool, Entry | None]:
        """(is staged, entry or None for a tombstone)."""
        raw = self.kv.get(keys.staging(repo, token) + path.encode("utf-8"))
        if raw is None:
            return False, None
        return True, staging.decode(raw)

    def iter_staged(
        self, repo: str, token: str, start: str = "", end: str | None = None
    ) -> Iterator[tuple[str, Entry | None, bytes]]:
        """Staged (path, entry-or-tombstone, raw value) with ``start <= path < end``."""
        base = keys.staging(repo, token)
        lo = base + start.encode("utf-8")
        hi = keys.prefix_end(base) if end is None else base + end.encode("utf-8")
        n = len(base)
        for k, v in self.kv.scan(lo, hi):
            yield k[n:].decode("utf-8"), staging.decode(v), v

    def staging_seq(self, repo: str, token: str) -> int:
        raw = self.kv.get(keys.staging_seq(repo, token))
        return 0 if raw is None else int.from_bytes(raw, "big")

    def bump_staging(self, repo: str, token: str) -> None:
        """Count a write to a staging area: commit uses the count to detect racing writes."""
        w: KVWriter = self.kv  # type: ignore[assignment]
        w.put(keys.staging_seq(repo, token), (self.staging_seq(repo, token) + 1).to_bytes(8, "big"))

    def has_staged(self, repo: str, token: str) -> bool:
        base = keys.staging(repo, token)
        return next(iter(self.kv.scan(base, keys.prefix_end(base))), None) is not None
