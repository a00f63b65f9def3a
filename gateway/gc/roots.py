"""Where marking starts: every record that keeps content or commits alive.

Each root source is one function ``(reader, context) -> refs`` (``gateway.core.gcrefs`` refs),
run together in one read snapshot at the start of a collection. What a root reaches (a commit's
ancestors, tree and inputs; a manifest's parts) is followed by ``gateway.gc.mark``.

**Adding a new kind of reference** (a package that stores records naming blobs, manifests,
trees or commits) is one function appended to ``ROOT_SOURCES``, plus ``gcrefs.note_fresh`` in
the transaction that writes such a record (and ``gcrefs.note_young`` for content written ahead
of its record). Nothing else in the collector changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from gateway.core import codec, gcrefs, heads, keys, multipart, staging
from gateway.core.ids import CommitId
from gateway.core.ports import KVReader
from gateway.gc.rules import DAY, RetentionRules, decode


@dataclass(frozen=True, slots=True)
class RootContext:
    now: float
    #: Content written or claimed at or after this time is young: kept whatever marks say.
    young_since: float
    #: Rules for repositories that have none of their own.
    default_rules: RetentionRules
    #: Repositories whose commits this collection may remove (None: every repository). Content
    #: (blobs, nodes, manifests) is shared by every repository, so every repository's roots
    #: are marked in any case; out of scope, every commit is a root.
    scope: frozenset[str] | None = None

    def in_scope(self, repo: str) -> bool:
        return self.scope is None or repo in self.scope


RootSource = Callable[[KVReader, RootContext], Iterable[bytes]]


def repositories(r: KVReader) -> Iterator[str]:
    for k, _ in r.scan(keys.REPO, keys.prefix_end(keys.REPO)):
        yield k[len(keys.REPO) :].decode("utf-8")


def rules_of(r: KVReader, repo: str, default: RetentionRules) -> RetentionRules:
    raw = r.get(keys.gc_rules(repo))
    return default if raw is None else decode(raw)


def _branch_heads_and_tags(r: KVReader, repo: str) -> Iterator[bytes]:
    base = keys.branches(repo)
    for _, v in r.scan(base, keys.prefix_end(base)):
        yield gcrefs.commit_ref(repo, codec.decode_branch(v).head)
    base = keys.tags(repo)
    for _, v in r.scan(base, keys.prefix_end(base)):
        yield gcrefs.commit_ref(repo, codec.decode_tag(v).commit)


def reflog_entries(r: KVReader, repo: str) -> Iterator[tuple[bytes, str, str, str, float]]:
    """(key, kind "b"|"t", ref name, commit hex, when it stopped pointing there)."""
    base = keys.reflogs(repo)
    for k, v in r.scan(base, keys.prefix_end(base)):
        rest = k[len(base) :]
        name_b, _, cid = rest.rpartition(keys.SEP)
        kind, name = chr(name_b[0]), name_b[1:].decode("utf-8")
        yield k, kind, name, cid.decode("ascii"), float(codec.unpack(v))


def reflog_expiry(kind: str, name: str, when: float, rules: RetentionRules) -> float:
    days = rules.days_for(name) if kind == "b" else rules.default_retention_days
    return when + days * DAY


def commit_roots(r: KVReader, ctx: RootContext) -> Iterator[bytes]:
    """Branch heads and tags of every repository; in scope, also commits a ref stopped reaching
    within its retention period and commits created within the default retention period; out of
    scope, every commit."""
    for repo in repositories(r):
        yield from _branch_heads_and_tags(r, repo)
        base = keys.commits(repo)
        if not ctx.in_scope(repo):
            for k, _ in r.scan(base, keys.prefix_end(base)):
                yield gcrefs.commit_ref(repo, k[len(base) :].decode("ascii"))
            continue
        rules = rules_of(r, repo, ctx.default_rules)
        for _, kind, name, cid, when in reflog_entries(r, repo):
            if reflog_expiry(kind, name, when, rules) > ctx.now:
                yield gcrefs.commit_ref(repo, cid)
        newer_than = ctx.now - rules.default_retention_days * DAY
        for k, v in r.scan(base, keys.prefix_end(base)):
            cid = k[len(base) :].decode("ascii")
            if codec.decode_commit(CommitId(cid), v).creation_date > newer_than:
                yield gcrefs.commit_ref(repo, cid)


def staging_roots(r: KVReader, ctx: RootContext) -> Iterator[bytes]:
    """Entries staged on every live branch (retired staging areas are not roots: what they
    held was committed, or reset away)."""
    for repo in repositories(r):
        for _, v in r.scan(keys.branches(repo), keys.prefix_end(keys.branches(repo))):
            base = keys.staging(repo, codec.decode_branch(v).staging_token)
            for _, raw in r.scan(base, keys.prefix_end(base)):
                entry = staging.decode(raw)
                if entry is not None:
                    ref = gcrefs.address_ref(entry.address)
                    if ref is not None:
                        yield ref


def upload_roots(r: KVReader, ctx: RootContext) -> Iterator[bytes]:
    """Parts of multipart uploads in progress (abandoned ones are aborted before marking)."""
    for _, v in r.scan(keys.PART, keys.prefix_end(keys.PART)):
        yield gcrefs.blob_ref(multipart.decode_part(v).blob.blob_id)


def young_roots(r: KVReader, ctx: RootContext) -> Iterator[bytes]:
    """Content written ahead of the transaction that will reference it, within the grace."""
    for k, v in r.scan(gcrefs.YOUNG, keys.prefix_end(gcrefs.YOUNG)):
        if gcrefs.young_time(v) >= ctx.young_since:
            yield k[len(gcrefs.YOUNG) :]


def snapshot_roots(r: KVReader, ctx: RootContext) -> Iterator[bytes]:
    """Heads that open snapshots (isolated runs) may still read: a run reads every branch as it
    was when it started, even after the branch moved or was deleted (``gateway.core.heads``)."""
    if heads.oldest_snapshot(r) is None:
        return  # the head log is never read again
    for k, v in r.scan(keys.HEADLOG, keys.prefix_end(keys.HEADLOG)):
        repo = k[len(keys.HEADLOG) :].split(keys.SEP, 1)[0].decode("utf-8")
        for cid in codec.unpack(v):
            if cid:
                yield gcrefs.commit_ref(repo, cid)


def run_roots(r: KVReader, ctx: RootContext) -> Iterator[bytes]:
    """Commits active isolated runs started from, pinned, or read (their read log becomes the
    inputs of the run's commit when it finishes). One seek per (run, repository, commit)."""
    from gateway.runs import store  # the runs package owns its record format

    for run_id in store.active_ids(r):
        run = store.get_or_none(r, run_id)
        if run is None:
            continue
        yield gcrefs.commit_ref(run.repository, run.start_commit)
        for pin in run.pins:
            if pin.commit:
                yield gcrefs.commit_ref(pin.repository, pin.commit)
        base = store.reads_of(run_id)
        start, end = base, keys.prefix_end(base)
        while True:
            first = next(iter(r.scan(start, end)), None)
            if first is None:
                break
            repo, commit, _ = store.split_read_key(run_id, first[0])
            yield gcrefs.commit_ref(repo, commit)
            group = base + repo.encode() + keys.SEP + commit.encode() + keys.SEP
            start = keys.prefix_end(group)


#: Every root source, in the order they are read (all in one snapshot).
ROOT_SOURCES: list[RootSource] = [
    commit_roots,
    staging_roots,
    upload_roots,
    young_roots,
    snapshot_roots,
    run_roots,
]
