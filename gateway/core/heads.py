"""Branch records and their head history: what a branch pointed at as of an earlier moment.

Isolated runs read every branch as it was when the run started (snapshot isolation), including
branches nobody named in advance. Recording every head at the start would cost O(branches of
the whole lake) per run; instead the engine keeps a *head history* while someone needs it:

* A snapshot is a number ``S``: the value of a global head sequence when it was opened
  (``open_snapshot``), held under ``O/<S><holder>`` until released.
* While at least one snapshot is open, every change of a branch head (create, commit, merge,
  reset, delete) is logged in the same transaction as ``H/<repo>\\0<branch>\\0<n>`` ->
  ``[old head, new head]`` under the next number ``n`` of the sequence.
* The head of branch B as of S is the *old* head of B's first logged change after S, or B's
  current head when B has not changed since S: one seek (``head_at``).
* Entries no open snapshot can need (numbered at or below the oldest open snapshot) are deleted
  when the branch next changes; with no snapshot open nothing is logged and the sequence does
  not move, so the only cost to a lake without runs is one seek per head change.

Every write of a ``B/`` record goes through ``put_branch``/``delete_branch`` so that no head
change escapes the log (``tests/unit/test_heads.py`` checks that no other module writes one).
Pure: records are reached through a ``KVReader``/``KVWriter`` inside the caller's transaction.
See docs/decisions/0023-isolated-runs.md for the alternatives and measurements.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.core import codec, gcrefs, keys
from gateway.core.ids import CommitId
from gateway.core.model import Branch
from gateway.core.ports import KVReader, KVWriter


@dataclass(frozen=True, slots=True)
class HeadAt:
    """A branch as of a snapshot.

    Attributes:
        head: the commit the branch pointed at, or None when it did not exist then.
        exists_now: whether a branch of that name exists now (None + True: created later).
    """

    head: CommitId | None
    exists_now: bool


@dataclass(frozen=True, slots=True)
class Snapshot:
    seq: int
    holder: str
    expires_at: float


def _seq_bytes(n: int) -> bytes:
    return n.to_bytes(8, "big")


def current_seq(r: KVReader) -> int:
    raw = r.get(keys.HEADSEQ)
    return 0 if raw is None else int.from_bytes(raw, "big")


def oldest_snapshot(r: KVReader) -> int | None:
    """The sequence number of the oldest open snapshot, or None when none is open."""
    for k, _ in r.scan(keys.SNAPSHOT, keys.prefix_end(keys.SNAPSHOT)):
        return int.from_bytes(k[len(keys.SNAPSHOT) : len(keys.SNAPSHOT) + 8], "big")
    return None


def put_branch(w: KVWriter, repo: str, b: Branch, old_head: str | None) -> None:
    """Write a branch record; log the head change when it moved (``old_head`` None: new).
    The head is a reference garbage collection must see if it is running (``gcrefs``)."""
    w.put(keys.branch(repo, b.name), codec.encode_branch(b))
    gcrefs.note_fresh(w, [gcrefs.commit_ref(repo, b.head)])
    if old_head != b.head:
        _log(w, repo, b.name, old_head, b.head)


def delete_branch(w: KVWriter, repo: str, name: str, old_head: str) -> None:
    w.delete(keys.branch(repo, name))
    _log(w, repo, name, old_head, None)


def _log(w: KVWriter, repo: str, name: str, old: str | None, new: str | None) -> None:
    oldest = oldest_snapshot(w)
    if oldest is None:
        return  # nobody needs the history
    seq = current_seq(w) + 1
    w.put(keys.HEADSEQ, _seq_bytes(seq))
    prefix = keys.headlog_of(repo, name)
    for k, _ in list(w.scan(prefix, prefix + _seq_bytes(oldest + 1))):
        w.delete(k)  # numbered at or below every open snapshot: never read again
    w.put(prefix + _seq_bytes(seq), codec.pack([old or "", new or ""]))


def open_snapshot(w: KVWriter, holder: str, expires_at: float) -> int:
    """Open a snapshot of every branch head as of now; returns its number. ``holder`` names
    who releases it (a run id); ``expires_at`` is advisory, for the holder's sweeper."""
    seq = current_seq(w)
    w.put(keys.snapshot(seq, holder), codec.pack([expires_at]))
    return seq


def release_snapshot(w: KVWriter, seq: int, holder: str) -> bool:
    return w.delete(keys.snapshot(seq, holder))


def snapshots(r: KVReader) -> list[Snapshot]:
    """Every open snapshot, oldest first."""
    out: list[Snapshot] = []
    n = len(keys.SNAPSHOT)
    for k, v in r.scan(keys.SNAPSHOT, keys.prefix_end(keys.SNAPSHOT)):
        (expires,) = codec.unpack(v)
        out.append(
            Snapshot(int.from_bytes(k[n : n + 8], "big"), k[n + 8 :].decode(), float(expires))
        )
    return out


def head_at(r: KVReader, repo: str, name: str, seq: int) -> HeadAt:
    """Branch ``name``'s head as of snapshot ``seq`` (which must still be open: entries older
    than every open snapshot are pruned). One seek, plus one point read when it has not
    changed since."""
    prefix = keys.headlog_of(repo, name)
    current = r.get(keys.branch(repo, name))
    for _, v in r.scan(prefix + _seq_bytes(seq + 1), keys.prefix_end(prefix)):
        old, _new = codec.unpack(v)
        return HeadAt(CommitId(old) if old else None, current is not None)
    if current is None:
        return HeadAt(None, False)
    return HeadAt(codec.decode_branch(current).head, True)
