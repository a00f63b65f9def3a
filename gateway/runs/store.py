"""Run records, their indexes, read log and participants in the metadata store.

Key layout (this package owns the ``r/`` prefix and nothing else):

* ``r/r/<run id>``                                 -> the run record (msgpack map)
* ``r/i/<repo>\\0<run id>``                         -> b"" (a repository's runs, oldest first)
* ``r/a/<run id>``                                 -> b"" (runs still running or finishing)
* ``r/l/<run id>\\0<repo>\\0<commit>\\0<path>``       -> [etag, size, ref] (the read log)
* ``r/p/<run id>\\0<process id>``                   -> acknowledged finish token ("" = none yet)

Run ids are time-ordered, so an index scan is chronological. The read log is keyed so that one
run's reads of one commit are contiguous and sorted by path: exactly the sorted stream a
manifest tree is built from, and re-reading an object overwrites its key instead of growing the
log. Pure functions over a ``KVReader``/``KVWriter``: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gateway.core import codec
from gateway.core.errors import NotFound
from gateway.core.ports import KVReader, KVWriter
from gateway.runs.model import GitInfo, InputSummary, Pin, Run, RunStatus

SEP = b"\x00"
RUN = b"r/r/"
BY_REPO = b"r/i/"
ACTIVE = b"r/a/"
READS = b"r/l/"
PARTICIPANT = b"r/p/"


class RunNotFound(NotFound):
    pass


def prefix_end(prefix: bytes) -> bytes:
    return prefix[:-1] + bytes([prefix[-1] + 1])


def run_key(run_id: str) -> bytes:
    return RUN + run_id.encode()


def reads_of(run_id: str) -> bytes:
    return READS + run_id.encode() + SEP


def read_key(run_id: str, repo: str, commit: str, path: str) -> bytes:
    return reads_of(run_id) + repo.encode() + SEP + commit.encode() + SEP + path.encode()


def split_read_key(run_id: str, key: bytes) -> tuple[str, str, str]:
    """(repo, commit, path) of a read-log key of ``run_id``."""
    repo, commit, path = key[len(reads_of(run_id)) :].split(SEP, 2)
    return repo.decode(), commit.decode(), path.decode()


def participants_of(run_id: str) -> bytes:
    return PARTICIPANT + run_id.encode() + SEP


def participant_key(run_id: str, process: str) -> bytes:
    return participants_of(run_id) + process.encode()


# -- records ----------------------------------------------------------------------------------


def encode(run: Run) -> bytes:
    return codec.pack(
        {
            "v": 1,
            "id": run.id,
            "name": run.name,
            "repo": run.repository,
            "source": run.source_branch,
            "branch": run.run_branch,
            "start": run.start_commit,
            "snap": run.snapshot,
            "user": run.user,
            "key": run.access_key_id,
            "cmd": list(run.command),
            "created": run.created,
            "expires": run.expires_at,
            "status": run.status.value,
            "pins": [[p.repository, p.branch, p.ref, p.commit] for p in run.pins],
            "git": None if run.git is None else [run.git.commit, run.git.dirty],
            "merge": run.merge,
            "discard": run.discard_on_failure,
            "rerun_of": run.rerun_of,
            "meta": dict(run.metadata),
            "ended": run.ended,
            "exit": run.exit_status,
            "token": run.finish_token,
            "result": run.result_commit,
            "merged": run.merge_commit,
            "conflicts": run.merge_conflicts,
            "error": run.error,
            "cmp": dict(run.comparison),
            "inputs": [
                [i.repository, i.commit, list(i.refs), i.paths, i.manifest] for i in run.inputs
            ],
        }
    )


def decode(raw: bytes) -> Run:
    d: dict[str, Any] = codec.unpack(raw)
    git = d.get("git")
    return Run(
        id=d["id"],
        name=d["name"],
        repository=d["repo"],
        source_branch=d["source"],
        run_branch=d["branch"],
        start_commit=d["start"],
        snapshot=int(d["snap"]),
        user=d["user"],
        access_key_id=d["key"],
        command=tuple(d["cmd"]),
        created=float(d["created"]),
        expires_at=float(d["expires"]),
        status=RunStatus(d["status"]),
        pins=tuple(Pin(*p) for p in d.get("pins", [])),
        git=None if git is None else GitInfo(git[0], bool(git[1])),
        merge=bool(d.get("merge", False)),
        discard_on_failure=bool(d.get("discard", False)),
        rerun_of=d.get("rerun_of", ""),
        metadata=dict(d.get("meta", {})),
        ended=d.get("ended"),
        exit_status=d.get("exit"),
        finish_token=d.get("token", ""),
        result_commit=d.get("result", ""),
        merge_commit=d.get("merged", ""),
        merge_conflicts=int(d.get("conflicts", 0)),
        error=d.get("error", ""),
        comparison={k: int(v) for k, v in d.get("cmp", {}).items()},
        inputs=tuple(
            InputSummary(i[0], i[1], tuple(i[2]), int(i[3]), i[4]) for i in d.get("inputs", [])
        ),
    )


def get(r: KVReader, run_id: str) -> Run:
    raw = r.get(run_key(run_id)) if run_id else None
    if raw is None:
        raise RunNotFound(f"run {run_id!r} not found")
    return decode(raw)


def get_or_none(r: KVReader, run_id: str) -> Run | None:
    raw = r.get(run_key(run_id))
    return None if raw is None else decode(raw)


def put(w: KVWriter, run: Run) -> None:
    """Write a run record and keep the indexes in step with its status."""
    w.put(run_key(run.id), encode(run))
    w.put(BY_REPO + run.repository.encode() + SEP + run.id.encode(), b"")
    if run.status.active:
        w.put(ACTIVE + run.id.encode(), b"")
    else:
        w.delete(ACTIVE + run.id.encode())


def delete(w: KVWriter, run: Run) -> None:
    w.delete(run_key(run.id))
    w.delete(BY_REPO + run.repository.encode() + SEP + run.id.encode())
    w.delete(ACTIVE + run.id.encode())
    for prefix in (participants_of(run.id),):
        for k, _ in list(w.scan(prefix, prefix_end(prefix))):
            w.delete(k)


def active_ids(r: KVReader) -> list[str]:
    return [k[len(ACTIVE) :].decode() for k, _ in r.scan(ACTIVE, prefix_end(ACTIVE))]


def iter_runs(r: KVReader, repo: str | None, *, before: str = "") -> Iterator[Run]:
    """Runs newest first (of one repository, or all), with ids below ``before`` when given."""
    if repo is None:
        lo, hi, cut = RUN, prefix_end(RUN), len(RUN)
    else:
        lo = BY_REPO + repo.encode() + SEP
        hi, cut = prefix_end(lo), len(lo)
    if before:
        hi = lo + before.encode()
    for k, v in r.scan(lo, hi, reverse=True):
        if repo is None:
            yield decode(v)
        else:
            found = get_or_none(r, k[cut:].decode())
            if found is not None:
                yield found


def participants(r: KVReader, run_id: str) -> dict[str, str]:
    """process id -> the finish token it acknowledged ("" when none yet)."""
    prefix = participants_of(run_id)
    return {
        k[len(prefix) :].decode(): codec.unpack(v) for k, v in r.scan(prefix, prefix_end(prefix))
    }
