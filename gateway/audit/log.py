"""The audit trail: a hash-chained, append-only log of records in the metadata store.

Layout (``gateway.core.keys``): ``A/r<seq, 8 bytes BE>`` -> the record, ``A/h`` -> the head
``[seq, hash]``. A stored record is the msgpack array ``[VERSION, seq, prev, time, fields]``
where ``prev`` is the 32-byte blake3 of the previous record's stored bytes (32 zero bytes for
record 1), ``time`` never decreases along the chain, and ``fields`` is a map with sorted keys.
A record's hash is the blake3 of its stored bytes; the head holds the last one.

So altering a record breaks the next record's ``prev`` (or, for the last record, the head);
deleting one leaves a gap in the sequence; reordering puts a record under another's key. The
verifier walks the chain once and reports the first broken link with its position. A chain
rewritten from the altered record on, head included, verifies: the trail is tamper-evident
against edits of the store, not against someone who rewrites all of it -- record the head hash
``weir audit verify`` prints elsewhere to pin it (decision 0015).

``append`` runs inside a write transaction and reads the head it extends in that transaction,
so it is safe to re-run (a database that retries a transaction on a serialisation failure) and
serialises writers through the head: one at a time on LMDB anyway.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import blake3
import msgpack

from gateway.core import keys
from gateway.core.ports import KVReader, KVStore, KVWriter

VERSION = 1
GENESIS = bytes(32)
#: Records read per snapshot when verifying or scanning (bounded memory, short snapshots).
BATCH = 5_000


@dataclass(frozen=True, slots=True)
class Record:
    seq: int
    time: float
    fields: Mapping[str, Any]  # user, key, api, address, request, operation, repository, ...
    hash: bytes
    prev: bytes


@dataclass(frozen=True, slots=True)
class Verdict:
    """The result of a chain check. ``broken_at``: position (seq) of the first record whose
    link does not hold, with ``reason``; None when the whole chain holds."""

    records: int
    head: bytes
    broken_at: int | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def _pack(obj: Any) -> bytes:
    out: bytes = msgpack.packb(obj, use_bin_type=True)
    return out


def head(r: KVReader) -> tuple[int, bytes, float]:
    """(last seq, its hash, its time); (0, GENESIS, 0.0) for an empty trail."""
    raw = r.get(keys.AUDIT_HEAD)
    if raw is None:
        return 0, GENESIS, 0.0
    seq, digest, when = msgpack.unpackb(raw)
    return int(seq), bytes(digest), float(when)


def append(w: KVWriter, fields: Mapping[str, Any], *, now: float | None = None) -> Record:
    """Append one record in this transaction (after the caller's changes, same commit)."""
    seq, prev, last_time = head(w)
    when = max(time.time() if now is None else now, last_time)  # never decreases
    body = {k: fields[k] for k in sorted(fields) if fields[k] not in (None, "")}
    raw = _pack([VERSION, seq + 1, prev, when, body])
    digest = blake3.blake3(raw).digest()
    w.put(keys.audit_record(seq + 1), raw)
    w.put(keys.AUDIT_HEAD, _pack([seq + 1, digest, when]))
    return Record(seq + 1, when, body, digest, prev)


def decode(key: bytes, raw: bytes) -> Record:
    """A stored record (raises ValueError when it does not decode as one)."""
    try:
        version, seq, prev, when, body = msgpack.unpackb(raw, strict_map_key=False)
    except Exception as exc:
        raise ValueError(f"undecodable record: {exc}") from None
    if version != VERSION or not isinstance(body, dict) or not isinstance(prev, bytes):
        raise ValueError("not an audit record of a known format")
    return Record(int(seq), float(when), body, blake3.blake3(raw).digest(), prev)


def _seq_of(key: bytes) -> int:
    return int.from_bytes(key[len(keys.AUDIT_RECORDS) :], "big")


def _batches(kv: KVStore, first: int, last: int) -> Iterator[list[tuple[bytes, bytes]]]:
    start = first
    while start <= last:
        end = min(last, start + BATCH - 1)
        lo, hi = keys.audit_record(start), keys.audit_record(end + 1)

        def page(r: KVReader, lo: bytes = lo, hi: bytes = hi) -> list[tuple[bytes, bytes]]:
            return list(r.scan(lo, hi))

        yield kv.read_sync(page)
        start = end + 1


def verify(kv: KVStore) -> Verdict:
    """Walk the whole chain (records 1..head, in snapshots of ``BATCH``) and report the first
    broken link. Blocking: run it in a thread. Records appended meanwhile are not checked."""
    last, head_hash, _ = kv.read_sync(head)
    expected_seq, prev, prev_time = 1, GENESIS, 0.0
    for batch in _batches(kv, 1, last):
        for key, raw in batch:
            position = _seq_of(key)
            if position != expected_seq:
                return Verdict(last, head_hash, expected_seq, f"record {expected_seq} is missing")
            try:
                rec = decode(key, raw)
            except ValueError as exc:
                return Verdict(last, head_hash, position, f"record {position}: {exc}")
            if rec.seq != position:
                return Verdict(
                    last,
                    head_hash,
                    position,
                    f"record {position} holds record {rec.seq}: records were moved or reordered",
                )
            if rec.prev != prev:
                return Verdict(
                    last,
                    head_hash,
                    position,
                    f"record {position} does not chain to record {position - 1}: one of them "
                    "was altered, or records were removed or inserted between them",
                )
            if rec.time < prev_time:
                return Verdict(last, head_hash, position, f"record {position} goes back in time")
            expected_seq, prev, prev_time = position + 1, rec.hash, rec.time
    if expected_seq != last + 1:
        return Verdict(last, head_hash, expected_seq, f"record {expected_seq} is missing")
    if prev != head_hash:
        return Verdict(
            last,
            head_hash,
            last,
            f"record {last} does not match the head: the last record was altered or removed",
        )
    return Verdict(last, head_hash)


def _first_at_or_after(r: KVReader, last: int, when: float) -> int:
    """The smallest seq whose time is >= ``when`` (times never decrease): binary search."""
    lo, hi = 1, last + 1
    while lo < hi:
        mid = (lo + hi) // 2
        raw = r.get(keys.audit_record(mid))
        t = decode(keys.audit_record(mid), raw).time if raw is not None else float("inf")
        if t < when:
            lo = mid + 1
        else:
            hi = mid
    return lo


@dataclass(frozen=True, slots=True)
class Page:
    records: list[Record]
    next_before: int | None  # pass as ``before`` to continue (older records), None at the end


def query(
    r: KVReader,
    *,
    repository: str = "",
    user: str = "",
    since: float | None = None,
    until: float | None = None,
    before: int | None = None,
    limit: int = 100,
    budget: int = 100_000,
) -> Page:
    """Records newest first, filtered; at most ``limit``, scanning at most ``budget`` records
    (then the page ends early with a cursor). ``since``/``until`` find their bounds by binary
    search (times never decrease), so a time window costs its own size, not the trail's."""
    last, _, _ = head(r)
    top = last if before is None else min(last, before - 1)
    if until is not None:
        top = min(top, _first_at_or_after(r, last, until + 1e-9) - 1) if last else 0
    bottom = 1 if since is None else _first_at_or_after(r, last, since)
    out: list[Record] = []
    scanned = 0
    lo, hi = keys.audit_record(bottom), keys.audit_record(top + 1)
    for key, raw in r.scan(lo, hi, reverse=True):
        scanned += 1
        try:
            rec = decode(key, raw)
        except ValueError:
            continue  # verify reports it; a listing shows what can be read
        if (not repository or rec.fields.get("repository") == repository) and (
            not user or rec.fields.get("user") == user
        ):
            out.append(rec)
        position = _seq_of(key)
        if len(out) == limit or scanned >= budget:
            return Page(out, position if position > bottom else None)
    return Page(out, None)
