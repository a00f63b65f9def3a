"""Zero-copy imports: the job record and the transactions that move an import forward.

An import brings objects of an external bucket under version control as *one* commit on a branch
without copying their bytes (docs/decisions/0022-zero-copy-import.md). Its entries point at the
external object (``model.external_address``) and carry its size, ETag and last-modified time.

While the source is listed, entries are written to a private staging area (``token``): a staging
token no branch has, so nothing of a running import is visible. Every page of entries is written
in the same transaction as the job's cursor (the last key listed), so a process that dies
resumes exactly where it stopped. When the listing is done, the area is committed onto the
branch in one compare-and-swap (``committing.prepare_area``), in the same transaction that marks
the job completed: an import is all there or not at all.

Jobs are shared by every process on the metadata store: a job is run by the process holding its
lease (``owner``, renewed by every transaction of the job); a job whose lease is older than the
lease period belongs to a process that died, and any process may take it over.

Record: ``j/<repo>\\0<import id>`` -> the job (``codec.pack``). Pure: every function takes a
transaction and is safe to re-run.
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from gateway.core import codec, committing, keys, names, staging
from gateway.core.errors import Conflict, NotFound
from gateway.core.model import Entry
from gateway.core.ports import KVReader, KVWriter
from gateway.core.view import View


class ImportNotFound(NotFound):
    pass


class State(enum.Enum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Source:
    """What to import: ``kind`` "common_prefix" (every object under ``url``) or "object"."""

    kind: str
    url: str  # s3://bucket/prefix
    destination: str  # a path prefix on the branch ("" = the branch root), or the object's path


@dataclass(frozen=True, slots=True)
class ImportJob:
    id: str
    repo: str
    branch: str
    sources: tuple[Source, ...]
    message: str
    metadata: Mapping[str, str]
    committer: str
    token: str  # the private staging area
    created: float
    updated: float  # the lease: renewed by every transaction of the job
    owner: str  # the process running it
    state: State = State.RUNNING
    ingested: int = 0
    source_index: int = 0  # the source being listed
    after: str = ""  # its last key listed
    listed: bool = False  # every source listed: only the commit is left
    commit: str = ""
    error: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.state is not State.RUNNING


def new_id() -> str:
    return secrets.token_hex(8)


def _encode(j: ImportJob) -> bytes:
    return codec.pack(
        [
            j.id,
            j.repo,
            j.branch,
            [[s.kind, s.url, s.destination] for s in j.sources],
            j.message,
            [[k, j.metadata[k]] for k in sorted(j.metadata)],
            j.committer,
            j.token,
            j.created,
            j.updated,
            j.owner,
            j.state.value,
            j.ingested,
            j.source_index,
            j.after,
            j.listed,
            j.commit,
            j.error,
        ]
    )


def _decode(raw: bytes) -> ImportJob:
    v = codec.unpack(raw)
    return ImportJob(
        id=v[0],
        repo=v[1],
        branch=v[2],
        sources=tuple(Source(*s) for s in v[3]),
        message=v[4],
        metadata=dict(v[5]),
        committer=v[6],
        token=v[7],
        created=v[8],
        updated=v[9],
        owner=v[10],
        state=State(v[11]),
        ingested=v[12],
        source_index=v[13],
        after=v[14],
        listed=v[15],
        commit=v[16],
        error=v[17],
    )


def get(r: KVReader, repo: str, import_id: str) -> ImportJob:
    raw = r.get(keys.import_job(repo, import_id))
    if raw is None:
        raise ImportNotFound(f"import {import_id!r} not found in repository {repo!r}")
    return _decode(raw)


def _put(w: KVWriter, job: ImportJob) -> None:
    w.put(keys.import_job(job.repo, job.id), _encode(job))


def create(w: KVWriter, job: ImportJob) -> ImportJob:
    """Record a new job. Raises what a write to the branch would (RepositoryNotFound,
    BranchNotFound, ProtectedBranch)."""
    view = View(w)
    view.branch(job.repo, job.branch)
    committing.check_writable(view, job.repo, job.branch)
    for s in job.sources:
        if s.destination:
            names.check_path(s.destination.rstrip("/") or "x")
    _put(w, job)
    return job


def running(r: KVReader) -> list[ImportJob]:
    """Every job still running, in every repository."""
    out = []
    for _, v in r.scan(keys.IMPORTS, keys.prefix_end(keys.IMPORTS)):
        job = _decode(v)
        if job.state is State.RUNNING:
            out.append(job)
    return out


def listing(r: KVReader, repo: str, limit: int = 100) -> list[ImportJob]:
    base = keys.import_jobs(repo)
    jobs = [_decode(v) for _, v in r.scan(base, keys.prefix_end(base))]
    jobs.sort(key=lambda j: j.created, reverse=True)
    return jobs[:limit]


class LeaseLost(Conflict):
    """Another process took the job over (this one was presumed dead), or it was cancelled."""


def _owned(w: KVWriter, repo: str, import_id: str, owner: str) -> ImportJob:
    job = get(w, repo, import_id)
    if job.state is not State.RUNNING:
        raise LeaseLost(f"import {import_id} is {job.state.value}")
    if job.owner != owner:
        raise LeaseLost(f"import {import_id} is run by another process now")
    return job


def stage(
    w: KVWriter,
    repo: str,
    import_id: str,
    owner: str,
    items: Sequence[tuple[str, Entry]],
    *,
    source_index: int,
    after: str,
    now: float,
) -> ImportJob:
    """Write a page of entries into the job's private area and advance its cursor, atomically.
    Raises LeaseLost when the job is no longer this process's to run."""
    job = _owned(w, repo, import_id, owner)
    base = keys.staging(repo, job.token)
    for path, entry in items:
        w.put(base + path.encode("utf-8"), staging.encode(entry))
    job = replace(
        job,
        ingested=job.ingested + len(items),
        source_index=source_index,
        after=after,
        updated=now,
    )
    _put(w, job)
    return job


def listed(w: KVWriter, repo: str, import_id: str, owner: str, now: float) -> ImportJob:
    job = replace(_owned(w, repo, import_id, owner), listed=True, updated=now)
    _put(w, job)
    return job


def renew(w: KVWriter, repo: str, import_id: str, owner: str, now: float) -> ImportJob:
    job = replace(_owned(w, repo, import_id, owner), updated=now)
    _put(w, job)
    return job


def complete(w: KVWriter, repo: str, import_id: str, owner: str, commit: str, now: float) -> None:
    """Mark the job completed; called in the transaction that publishes its commit."""
    job = _owned(w, repo, import_id, owner)
    _put(w, replace(job, state=State.COMPLETED, commit=commit, updated=now))


def end(w: KVWriter, repo: str, import_id: str, state: State, error: str, now: float) -> ImportJob:
    """Fail or cancel a running job. Raises Conflict when it has completed already."""
    job = get(w, repo, import_id)
    if job.state is State.COMPLETED:
        raise Conflict(f"import {import_id} has completed already (commit {job.commit[:12]})")
    if job.state is State.RUNNING:
        job = replace(job, state=state, error=error, updated=now)
        _put(w, job)
    return job


def take_over(
    w: KVWriter, repo: str, import_id: str, owner: str, now: float, lease: float
) -> ImportJob | None:
    """Take a running job whose lease expired (its process died); None if it is not stale."""
    job = get(w, repo, import_id)
    if job.state is not State.RUNNING or (job.owner != owner and now - job.updated < lease):
        return None
    job = replace(job, owner=owner, updated=now)
    _put(w, job)
    return job
