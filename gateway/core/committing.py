"""Commit, merge, revert and cherry-pick: compute in a snapshot, publish by compare-and-swap.

Each operation has two phases:

1. ``prepare_*`` runs in a read snapshot (a worker thread, no lock held): it folds the changes into
   the head tree, writing new immutable nodes through a ``BufferedNodeStore``.
2. ``publish`` runs in one write transaction: it checks that the branch head (and staging token)
   did not move, writes the remaining nodes, the commit and the path index, moves the head, and
   removes exactly the staged records it committed — a staged write that landed after the snapshot
   is a different record and stays staged. A lost race raises ``BranchMoved``; the facade retries.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from gateway.core import codec, heads, keys, staging, tree
from gateway.core.errors import (
    BranchMoved,
    Conflict,
    DirtyBranch,
    InvalidArgument,
    MergeConflict,
    NoChanges,
    ProtectedBranch,
)
from gateway.core.history import merge_base
from gateway.core.ids import CommitId
from gateway.core.model import (
    Branch,
    Commit,
    CommitInput,
    InputRef,
    MergeStrategy,
    PathConflict,
    Side,
)
from gateway.core.nodebuf import BufferedNodeStore, write_nodes
from gateway.core.ports import KVStore, KVWriter
from gateway.core.tree.diff import diff as tree_diff
from gateway.core.tree.folding import apply_raw
from gateway.core.tree.merge import merge as tree_merge
from gateway.core.tree.node import DEFAULT_CACHE
from gateway.core.view import View, new_token

T = TypeVar("T")
#: Value of a path-history key whose commit deleted the path (b"" when it set it).
DELETED = b"d"


@dataclass
class Prepared:
    """A computed, not yet published, change to a branch."""

    repo: str
    branch: Branch  # as seen in the snapshot (head and token are CAS-checked at publish)
    commit: Commit
    nodes: BufferedNodeStore
    #: (path, deleted): the paths whose content differs from the first parent's (path index).
    changed_paths: list[tuple[str, bool]]
    staged_raw: list[tuple[bytes, bytes]] = field(default_factory=list)  # (key, value) to remove
    require_clean: bool = False  # merge/revert/cherry-pick: the branch must have nothing staged
    #: Set for a commit of the whole staging area: the write count seen in the snapshot.
    staging_seq: int | None = None
    #: Set by ``publish`` when it retired the staging token wholesale: purge its records.
    purge_token: str | None = None
    #: Merge: paths that differ between the destination and the merged tree.
    changes: int = 0
    #: Commits (repository, id) besides the head whose trees or ancestry the computation read
    #: (merge source, picked commit and its parent, inputs): publication checks they were not
    #: garbage-collected meanwhile, since the new commit may reuse their nodes.
    sources: list[tuple[str, CommitId]] = field(default_factory=list)


def is_protected(view: View, repo: str, branch: str) -> bool:
    return any(fnmatch.fnmatchcase(branch, p) for p in view.protection_rules(repo))


def check_writable(view: View, repo: str, branch: str) -> None:
    if is_protected(view, repo, branch):
        raise ProtectedBranch(f"branch {branch!r} is protected: only merges may change it")


def _matches(path: str, paths: Sequence[str]) -> bool:
    for p in paths:
        if p.endswith("/") or p == "":
            if path.startswith(p):
                return True
        elif path == p:
            return True
    return False


def _new_commit(
    view: View,
    repo: str,
    *,
    root: bytes,
    parents: Sequence[CommitId],
    committer: str,
    message: str,
    metadata: Mapping[str, str] | None,
    creation_date: float | None,
    inputs: Sequence[InputRef] = (),
) -> Commit:
    gen = 1 + max((view.commit(repo, p).generation for p in parents), default=0)
    return codec.make_commit(
        tree=root,
        parents=tuple(parents),
        committer=committer,
        message=message,
        metadata=dict(metadata or {}),
        creation_date=time.time() if creation_date is None else creation_date,
        generation=gen,
        inputs=resolve_inputs(view, inputs),
    )


def resolve_inputs(view: View, inputs: Sequence[InputRef]) -> tuple[CommitInput, ...]:
    """Resolve each input's ref to a commit id in this snapshot (a moving branch is pinned to
    its head; its uncommitted changes are not part of any commit). Raises RepositoryNotFound,
    RefNotFound, or InvalidArgument for a malformed or unknown manifest id."""
    out: list[CommitInput] = []
    for i in inputs:
        resolved = view.resolve(i.repository, i.ref)
        if i.manifest:
            try:
                root = bytes.fromhex(i.manifest)
            except ValueError:
                root = b""
            if len(root) != 32 or view.kv.get(keys.node(root)) is None:
                raise InvalidArgument(f"input manifest {i.manifest!r} is not a stored tree")
        out.append(CommitInput(i.repository, resolved.commit, i.ref, i.path, i.manifest))
    return tuple(out)


def _changed(old_root: bytes, new_root: bytes, nodes: BufferedNodeStore) -> list[tuple[str, bool]]:
    return [(c.path, c.right is None) for c in tree_diff(old_root, new_root, nodes)]


def prepare_commit(
    view: View,
    kv: KVStore,
    repo: str,
    branch_name: str,
    *,
    message: str,
    committer: str,
    metadata: Mapping[str, str] | None,
    paths: Sequence[str] | None,
    allow_empty: bool,
    creation_date: float | None,
    inputs: Sequence[InputRef] = (),
) -> Prepared:
    b = view.branch(repo, branch_name)
    check_writable(view, repo, branch_name)
    head = view.commit(repo, b.head)
    changes: list[tuple[str, Any]] = []
    staged_raw: list[tuple[bytes, bytes]] = []
    base_key = keys.staging(repo, b.staging_token)
    n = len(base_key)
    decode = staging.leaf_value
    for key, raw in view.kv.scan(base_key, keys.prefix_end(base_key)):
        path = key[n:].decode("utf-8")
        if paths is not None and not _matches(path, paths):
            continue
        changes.append((path, decode(raw)))
        staged_raw.append((key, raw))
    if not changes and not allow_empty:
        raise NoChanges(f"no changes to commit on branch {branch_name!r}")
    nodes = BufferedNodeStore(view.nodes, kv)
    root = apply_raw(head.tree, changes, nodes, DEFAULT_CACHE) if changes else head.tree
    if head.tree == tree.EMPTY_TREE:
        # Everything is new: the changed paths are the staged ones (no diff needed).
        changed = [(p, False) for p, v in changes if v is not None]
    else:
        changed = _changed(head.tree, root, nodes)
    commit = _new_commit(
        view,
        repo,
        root=root,
        parents=[head.id],
        committer=committer,
        message=message,
        metadata=metadata,
        creation_date=creation_date,
        inputs=inputs,
    )
    return Prepared(
        repo=repo,
        branch=b,
        commit=commit,
        nodes=nodes,
        changed_paths=changed,
        staged_raw=staged_raw,
        staging_seq=view.staging_seq(repo, b.staging_token) if paths is None else None,
        sources=_input_sources(commit),
    )


#: Changes of an area folded into the tree per pass: bounds memory whatever the area's size.
AREA_BATCH = 50_000


def prepare_area(
    view: View,
    kv: KVStore,
    repo: str,
    branch_name: str,
    token: str,
    *,
    message: str,
    committer: str,
    metadata: Mapping[str, str] | None,
) -> Prepared:
    """A commit onto ``branch_name`` of the entries staged under ``token`` -- a private staging
    area no branch has (a zero-copy import's) -- leaving the branch's own staging area as it is.
    Folds the area in passes of ``AREA_BATCH`` changes (memory stays bounded; the tree nodes
    go to the metadata store in batches, ``BufferedNodeStore``). Raises NoChanges,
    ProtectedBranch, BranchNotFound."""
    b = view.branch(repo, branch_name)
    check_writable(view, repo, branch_name)
    head = view.commit(repo, b.head)
    base_key = keys.staging(repo, token)
    n = len(base_key)
    decode = staging.leaf_value
    nodes = BufferedNodeStore(view.nodes, kv)
    root = head.tree
    batch: list[tuple[str, Any]] = []
    for key, raw in view.kv.scan(base_key, keys.prefix_end(base_key)):
        batch.append((key[n:].decode("utf-8"), decode(raw)))
        if len(batch) >= AREA_BATCH:
            root = apply_raw(root, batch, nodes, DEFAULT_CACHE)
            batch = []
    if batch:
        root = apply_raw(root, batch, nodes, DEFAULT_CACHE)
    changed = _changed(head.tree, root, nodes) if root != head.tree else []
    if not changed:  # by identity: entries that only point elsewhere for the same bytes
        raise NoChanges(f"nothing to commit on branch {branch_name!r}")
    commit = _new_commit(
        view,
        repo,
        root=root,
        parents=[head.id],
        committer=committer,
        message=message,
        metadata=metadata,
        creation_date=None,
    )
    return Prepared(
        repo=repo,
        branch=b,
        commit=commit,
        nodes=nodes,
        changed_paths=_changed(head.tree, root, nodes),
    )


def publish(w: KVWriter, p: Prepared) -> Commit:
    """Compare-and-swap the branch to the prepared commit. Raises BranchMoved on a lost race.

    Safe to re-run (a networked store re-runs a transaction that lost a serialisation
    conflict): ``p.purge_token`` is decided afresh by every run, so only the run that committed
    names the token to purge.
    """
    p.purge_token = None
    view = View(w)
    cur = view.branch(p.repo, p.branch.name)
    if cur.head != p.branch.head or cur.staging_token != p.branch.staging_token:
        raise BranchMoved(f"branch {p.branch.name!r} moved during the operation; retry")
    if p.require_clean and view.has_staged(p.repo, cur.staging_token):
        raise DirtyBranch(f"branch {p.branch.name!r} has uncommitted changes")
    whole = (
        p.staging_seq is not None and view.staging_seq(p.repo, cur.staging_token) == p.staging_seq
    )
    if not whole and any(w.get(key) is None for key, _ in p.staged_raw):
        # A staged write this commit folded in was withdrawn since the snapshot (a delete of a
        # path never committed drops its staged record, and so does a reset): publishing would
        # bring back what was deleted after it was acknowledged. Prepare again.
        raise BranchMoved(f"staged changes of {p.branch.name!r} were withdrawn meanwhile; retry")
    for repo, cid in p.sources:
        view.require_commit(repo, cid)
    for i in p.commit.inputs:
        if i.manifest and w.get(keys.node(bytes.fromhex(i.manifest))) is None:
            raise InvalidArgument(f"input manifest {i.manifest!r} is not a stored tree")
    write_nodes(w, p.nodes.pending())
    view.put_commit(p.repo, p.commit)
    gen = p.commit.generation
    for path, deleted in p.changed_paths:
        w.put(keys.history(p.repo, path, gen, p.commit.id), DELETED if deleted else b"")
    for i in p.commit.inputs:
        w.put(keys.downstream(i.repository, i.commit, p.repo, p.commit.id), b"")
    token = cur.staging_token
    if whole:
        # Nothing was staged since the snapshot: the commit took the whole staging area, so
        # retire its token in O(1); the caller purges the old records outside this transaction.
        p.purge_token, token = token, new_token()
    else:
        # Writes raced the commit (or it took a subset): remove exactly the records it took. A
        # record rewritten since the snapshot stays staged (it overlays the commit). A record
        # *removed* since the snapshot (a DELETE of a never-committed path drops its staged write,
        # a reset drops it) must not be published by this commit, or the removal would be lost:
        # the commit is computed again from a fresh snapshot.
        for key, raw in p.staged_raw:
            now = w.get(key)
            if now is None:
                raise BranchMoved(f"a staged change of {p.branch.name!r} was removed; retry")
            if now == raw:
                w.delete(key)
    heads.put_branch(w, p.repo, fresh_branch(cur, head=p.commit.id, token=token), cur.head)
    return p.commit


Resolver = Callable[[PathConflict], Side | None]


def make_resolver(strategy: MergeStrategy, resolutions: Sequence[tuple[str, Side]]) -> Resolver:
    def resolve(c: PathConflict) -> Side | None:
        for pattern, side in resolutions:
            if c.path == pattern or fnmatch.fnmatchcase(c.path, pattern):
                return side
        if strategy is MergeStrategy.SOURCE_WINS:
            return Side.SOURCE
        if strategy is MergeStrategy.DEST_WINS:
            return Side.DEST
        return None

    return resolve


def _three_way(
    view: View,
    kv: KVStore,
    repo: str,
    b: Branch,
    *,
    base_root: bytes,
    source_root: bytes,
    resolve: Resolver,
    what: str,
) -> tuple[bytes, BufferedNodeStore, int]:
    head = view.commit(repo, b.head)
    nodes = BufferedNodeStore(view.nodes, kv)
    result = tree_merge(base_root, source_root, head.tree, nodes, resolve=resolve)
    if result.root is None:
        n = len(result.conflicts)
        raise MergeConflict(
            f"{what}: {n} conflicting path{'s' if n != 1 else ''}", result.conflicts
        )
    return result.root, nodes, result.changes


def prepare_merge(
    view: View,
    kv: KVStore,
    repo: str,
    source_commit: CommitId,
    dest: str,
    *,
    committer: str,
    message: str,
    metadata: Mapping[str, str] | None,
    resolve: Resolver,
    allow_empty: bool,
    source_name: str,
    squash: bool = False,
    inputs: Sequence[InputRef] = (),
) -> Prepared:
    b = view.branch(repo, dest)
    if view.has_staged(repo, b.staging_token):
        raise DirtyBranch(f"destination branch {dest!r} has uncommitted changes")
    src = view.commit(repo, source_commit)
    head = view.commit(repo, b.head)
    base = merge_base(src, head, lambda cid: view.commit(repo, cid))
    if base is not None and base.id == src.id and not allow_empty:
        raise NoChanges(f"{source_name!r} is already merged into {dest!r}")
    base_root = tree.EMPTY_TREE if base is None else base.tree
    root, nodes, changes = _three_way(
        view,
        kv,
        repo,
        b,
        base_root=base_root,
        source_root=src.tree,
        resolve=resolve,
        what=f"merge of {source_name!r} into {dest!r}",
    )
    commit = _new_commit(
        view,
        repo,
        root=root,
        parents=[head.id] if squash else [head.id, src.id],
        committer=committer,
        message=message or f"Merge {source_name!r} into {dest!r}",
        metadata=metadata,
        creation_date=None,
        inputs=inputs,
    )
    prepared = Prepared(
        repo=repo,
        branch=b,
        commit=commit,
        nodes=nodes,
        changed_paths=_changed(head.tree, root, nodes),
        require_clean=True,
        sources=[(repo, src.id), *_input_sources(commit)],
    )
    prepared.changes = changes
    return prepared


def _parent_for(view: View, repo: str, c: Commit, parent_number: int, what: str) -> bytes:
    if len(c.parents) > 1 and parent_number == 0:
        raise Conflict(f"{what}: {c.id[:12]} is a merge commit; give parent_number")
    if parent_number < 0 or parent_number > max(1, len(c.parents)):
        raise InvalidArgument(f"{what}: commit {c.id[:12]} has no parent {parent_number}")
    if not c.parents:
        return tree.EMPTY_TREE
    return view.commit(repo, c.parents[max(parent_number, 1) - 1]).tree


def prepare_pick(
    view: View,
    kv: KVStore,
    repo: str,
    branch: str,
    target: CommitId,
    *,
    revert: bool,
    committer: str,
    parent_number: int,
    message: str | None,
    metadata: Mapping[str, str] | None,
    allow_empty: bool,
) -> Prepared:
    """Revert (apply the inverse of) or cherry-pick (apply) ``target``'s change onto ``branch``."""
    b = view.branch(repo, branch)
    check_writable(view, repo, branch)
    what = "revert" if revert else "cherry-pick"
    if view.has_staged(repo, b.staging_token):
        raise DirtyBranch(f"{what}: branch {branch!r} has uncommitted changes")
    c = view.commit(repo, target)
    parent_root = _parent_for(view, repo, c, parent_number, what)
    base_root, source_root = (c.tree, parent_root) if revert else (parent_root, c.tree)
    root, nodes, _ = _three_way(
        view,
        kv,
        repo,
        b,
        base_root=base_root,
        source_root=source_root,
        resolve=lambda _c: None,
        what=f"{what} of {c.id[:12]} onto {branch!r}",
    )
    head = view.commit(repo, b.head)
    if root == head.tree and not allow_empty:
        raise NoChanges(f"{what} of {c.id[:12]} changes nothing on {branch!r}")
    if revert:
        msg = message or f"Revert {c.id[:12]}: {c.message}"
        meta = dict(metadata or {})
    else:
        msg = message or c.message
        meta = dict(c.metadata) | dict(metadata or {})
    commit = _new_commit(
        view,
        repo,
        root=root,
        parents=[head.id],
        committer=committer,
        message=msg,
        metadata=meta,
        creation_date=None,
    )
    return Prepared(
        repo=repo,
        branch=b,
        commit=commit,
        nodes=nodes,
        changed_paths=_changed(head.tree, root, nodes),
        require_clean=True,
        sources=[(repo, c.id), *((repo, p) for p in c.parents)],
    )


def _input_sources(c: Commit) -> list[tuple[str, CommitId]]:
    return [(i.repository, i.commit) for i in c.inputs]


def fresh_branch(b: Branch, *, head: CommitId | None = None, token: str | None = None) -> Branch:
    return Branch(
        name=b.name,
        head=b.head if head is None else head,
        staging_token=b.staging_token if token is None else token,
        hidden=b.hidden,
    )


def retry_on_move(fn: Callable[[], T], attempts: int = 8) -> T:
    """Run ``fn`` again when it lost a compare-and-swap race (bounded)."""
    for i in range(attempts):
        try:
            return fn()
        except BranchMoved:
            if i == attempts - 1:
                raise
    raise AssertionError("unreachable")
