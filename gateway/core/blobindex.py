"""Where a blob's bytes live in an object store: the blake3 -> physical-object index.

A backend that streams a body to the store *before* its hash is known (see
docs/decisions/0020-s3-streaming-layout.md) writes every upload to a fresh, unique physical key
and records, once the hash is known, which physical object holds which blob. Two records, both in
the metadata store, make that crash-safe and race-free:

* ``b/<blob hex>`` -> :class:`BlobLocation`: the blob is stored, in the physical object named by
  ``token``. At most one per blob id: a later upload of the same bytes finds it and drops its own
  copy (dedup). ``touched`` is the last time the blob was stored or deduplicated against; garbage
  collection deletes a blob only when it was not touched since its mark phase began
  (``claim_delete``), so an upload that deduplicates against a blob at the moment GC deletes it
  either keeps the blob alive or stores its own copy -- never a staged entry without bytes.
* ``p/<token>`` -> :class:`PendingUpload`: an upload to that physical key may be in progress,
  or its object is being deleted. Written (durably) before the first byte is sent; removed in
  the same transaction that records the blob, or once the physical object is deleted. A crash
  leaves the record behind, and ``claim_orphans`` marks those older than a grace period as
  *claimed*; recording a blob requires an unclaimed record, so a slow writer and the sweeper
  cannot both win. A claimed record stays until its object is gone, so a crash of the sweeper
  itself leaks nothing either.

Every function takes a ``KVReader``/``KVWriter`` and is safe to re-run (a database transaction
may be retried). Pure: no I/O besides the given transaction.
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass

from gateway.core import codec, keys
from gateway.core.ids import BlobId
from gateway.core.ports import KVReader, KVWriter

#: Physical tokens are 32 lower-case hex digits (128 random bits).
TOKEN_BYTES = 16


def new_token() -> str:
    """A fresh physical-object token (random, never reused)."""
    return secrets.token_hex(TOKEN_BYTES)


def is_token(value: str) -> bool:
    return len(value) == 2 * TOKEN_BYTES and all(c in "0123456789abcdef" for c in value)


@dataclass(frozen=True, slots=True)
class BlobLocation:
    """A stored blob: its physical object, size, and when it was stored and last touched."""

    token: str
    size: int
    created: float
    touched: float


@dataclass(frozen=True, slots=True)
class PendingUpload:
    """An upload to ``token`` that may be in progress (or was interrupted by a crash).
    ``claimed``: its object is to be deleted (orphaned, duplicate or garbage-collected)."""

    token: str
    created: float
    claimed: bool = False


def _encode_location(loc: BlobLocation) -> bytes:
    return codec.pack([loc.token, loc.size, loc.created, loc.touched])


def _decode_location(raw: bytes) -> BlobLocation:
    token, size, created, touched = codec.unpack(raw)
    return BlobLocation(token, size, created, touched)


def lookup(r: KVReader, blob_id: BlobId) -> BlobLocation | None:
    """The blob's location, or None when the index does not know it."""
    raw = r.get(keys.blob_location(blob_id))
    return None if raw is None else _decode_location(raw)


def scan(
    r: KVReader, hex_prefix: str = "", *, after: str = "", limit: int | None = None
) -> list[tuple[BlobId, BlobLocation]]:
    """Indexed blobs whose ids start with ``hex_prefix`` and sort after ``after``, in id order,
    at most ``limit``."""
    base = keys.blob_location(hex_prefix)
    start = keys.blob_location(after) + b"\x00" if after else base
    n = len(keys.BLOBLOC)
    out: list[tuple[BlobId, BlobLocation]] = []
    for k, v in r.scan(max(start, base), keys.prefix_end(base)):
        out.append((BlobId(k[n:].decode("ascii")), _decode_location(v)))
        if limit is not None and len(out) >= limit:
            break
    return out


def touch(w: KVWriter, blob_id: BlobId, now: float) -> BlobLocation | None:
    """Mark the blob as just used (a dedup hit). Returns its location, None when not indexed."""
    loc = lookup(w, blob_id)
    if loc is None:
        return None
    if loc.touched < now:
        loc = BlobLocation(loc.token, loc.size, loc.created, now)
        w.put(keys.blob_location(blob_id), _encode_location(loc))
    return loc


def _pending(raw: bytes, token: str) -> PendingUpload:
    created, claimed = codec.unpack(raw)
    return PendingUpload(token, created, claimed)


def begin_upload(w: KVWriter, token: str, now: float) -> None:
    """Record that an upload to ``token`` is starting (before its first byte is sent)."""
    w.put(keys.pending_upload(token), codec.pack([now, False]))


def claim(w: KVWriter, token: str) -> None:
    """Mark ``token``'s object for deletion: no writer may record it any more."""
    raw = w.get(keys.pending_upload(token))
    created = 0.0 if raw is None else _pending(raw, token).created
    w.put(keys.pending_upload(token), codec.pack([created, True]))


def end_upload(w: KVWriter, token: str) -> None:
    """Forget an upload whose physical object is recorded, deleted, or was never created."""
    w.delete(keys.pending_upload(token))


class Recorded(enum.Enum):
    STORED = "stored"  # the upload now holds the blob
    DUPLICATE = "duplicate"  # another upload recorded the blob first: delete this one's copy


def record(w: KVWriter, blob_id: BlobId, token: str, size: int, now: float) -> Recorded:
    """Publish a finished upload as ``blob_id``, atomically.

    Returns DUPLICATE (and touches the existing blob) when the blob is already recorded; the
    pending record is then claimed, and the caller deletes its physical object and calls
    ``end_upload``.

    Raises:
        LookupError: the pending record is gone or claimed -- the sweeper took this upload for
            an orphan (it was older than the grace period) and deletes its object.
    """
    raw = w.get(keys.pending_upload(token))
    if raw is None or _pending(raw, token).claimed:
        raise LookupError(f"upload {token} was reclaimed as orphaned")
    if touch(w, blob_id, now) is not None:
        claim(w, token)
        return Recorded.DUPLICATE
    loc = BlobLocation(token, size, now, now)
    w.put(keys.blob_location(blob_id), _encode_location(loc))
    end_upload(w, token)
    return Recorded.STORED


def claim_delete(w: KVWriter, blob_id: BlobId, unused_since: float | None) -> BlobLocation | None:
    """Remove the blob from the index so that its physical object can be deleted.

    With ``unused_since``, a blob touched at or after that time is kept (returns None). The
    physical object gets a claimed pending record, so that a crash between this transaction and
    the object's deletion leaves it for the next sweep instead of leaking it; the caller deletes
    the object, then calls ``end_upload``. Returns the removed location, or None.
    """
    loc = lookup(w, blob_id)
    if loc is None or (unused_since is not None and loc.touched >= unused_since):
        return None
    w.delete(keys.blob_location(blob_id))
    claim(w, loc.token)
    return loc


def pending(r: KVReader, after: str = "", limit: int = 1000) -> list[PendingUpload]:
    """Pending uploads with tokens greater than ``after``, at most ``limit``, in token order."""
    start = keys.pending_upload(after + "\x00") if after else keys.PENDING
    n = len(keys.PENDING)
    out: list[PendingUpload] = []
    for k, v in r.scan(start, keys.prefix_end(keys.PENDING)):
        out.append(_pending(v, k[n:].decode("ascii")))
        if len(out) >= limit:
            break
    return out


def claim_orphans(w: KVWriter, tokens: list[str], older_than: float) -> list[str]:
    """Of ``tokens``, claim and return those already claimed or created before ``older_than``
    (interrupted uploads, or deletions a crash interrupted): the caller deletes their physical
    objects, then calls ``end_upload`` for each."""
    out: list[str] = []
    for token in tokens:
        raw = w.get(keys.pending_upload(token))
        if raw is None:
            continue
        p = _pending(raw, token)
        if p.claimed or p.created < older_than:
            if not p.claimed:
                claim(w, token)
            out.append(token)
    return out
