"""References to stored content as garbage collection names them, and the write barrier.

Garbage collection (``gateway.gc``) marks what retained roots reach and deletes the rest while
writers keep writing. Two kinds of records, written by the engine at the few places where a
reference to stored content is created, make that safe:

* **Fresh references** (:func:`note_fresh`): while a collection runs (``E/s`` present), every
  transaction that creates a reference (a staged entry, a part, a commit, a branch or tag on a
  commit) also records what it references under ``E/f/<seq>`` and bumps the counter ``E/q``, in
  that same transaction. The collector marks from them before each of its deletion transactions
  and commits a deletion only if ``E/q`` did not move since: a new reference and a deletion of
  what it references can never both commit unseen by the other.
* **Young content** (:func:`note_young`): content written in one transaction and referenced in a
  later one (a small blob ``ingest`` stores before ``put_object`` records it; tree nodes a large
  commit flushes before it publishes; trees other packages build before a commit names them) is
  recorded with its write time under ``E/y/<ref>``. The collector keeps young content for the
  grace period and forgets the record after it.

A *ref* is a short byte string naming one piece of content; its first byte is its kind:
``b`` blob (32 raw bytes of the blake3 follow), ``m`` multipart manifest (32 raw bytes),
``n`` tree node (32 raw bytes), ``c`` commit (repository UTF-8, NUL, commit hex). An entry
address that is neither a blob id nor a manifest (an imported object's external address) has
no ref: nothing of Weir's stores it, and garbage collection never deletes it.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterable

from gateway.core import codec, keys
from gateway.core.ids import is_hex_id
from gateway.core.model import MANIFEST_PREFIX
from gateway.core.ports import KVReader, KVWriter

#: Present while a collection runs: ``pack([run id, started at])``.
STATE = keys.GC + b"s"
#: The write barrier's counter (8 bytes big-endian); never reset, only grows.
SEQ = keys.GC + b"q"
#: ``E/f/<seq 8 bytes>`` -> packed list of refs created by one transaction during a collection.
FRESH = keys.GC + b"f/"
#: ``E/y/<ref>`` -> write time (8-byte float): content written before its reference.
YOUNG = keys.GC + b"y/"
#: ``E/r/<run id>`` -> a collection's report (``gateway.gc``).
RUNS = keys.GC + b"r/"
#: ``E/x/<run id>`` -> b"": a cancel request for a running collection (from any process).
CANCELS = keys.GC + b"x/"

BLOB = b"b"
MANIFEST = b"m"
NODE = b"n"
COMMIT = b"c"

_TIME = struct.Struct(">d")


def blob_ref(blob_hex: str) -> bytes:
    return BLOB + bytes.fromhex(blob_hex)


def manifest_ref(manifest_hex: str) -> bytes:
    return MANIFEST + bytes.fromhex(manifest_hex)


def node_ref(node_id: bytes) -> bytes:
    return NODE + node_id


def commit_ref(repo: str, commit_hex: str) -> bytes:
    return COMMIT + repo.encode("utf-8") + keys.SEP + commit_hex.encode("ascii")


def split_commit_ref(ref: bytes) -> tuple[str, str]:
    """(repository, commit hex) of a commit ref."""
    repo, _, cid = ref[1:].partition(keys.SEP)
    return repo.decode("utf-8"), cid.decode("ascii")


def address_ref(address: str) -> bytes | None:
    """The ref of an entry address: a blob, a manifest, or None for an external address."""
    if len(address) == 64 and is_hex_id(address):
        return blob_ref(address)
    if address.startswith(MANIFEST_PREFIX):
        mid = address[len(MANIFEST_PREFIX) :]
        if len(mid) == 64 and is_hex_id(mid):
            return manifest_ref(mid)
    return None


def active(r: KVReader) -> bool:
    """Whether a collection is running (its mark phase has started) in this snapshot."""
    return r.get(STATE) is not None


def seq(r: KVReader) -> int:
    raw = r.get(SEQ)
    return 0 if raw is None else int.from_bytes(raw, "big")


def note_fresh(w: KVWriter, refs: Iterable[bytes | None]) -> None:
    """Record references this transaction creates, if a collection is running (else nothing:
    the next collection's mark phase starts after this transaction and sees them). Costs one
    point read when no collection runs."""
    if w.get(STATE) is None:
        return
    found = [r for r in refs if r is not None]
    if not found:
        return
    n = seq(w) + 1
    w.put(SEQ, n.to_bytes(8, "big"))
    w.put(FRESH + n.to_bytes(8, "big"), codec.pack(found))


def note_young(w: KVWriter, refs: Iterable[bytes], now: float | None = None) -> None:
    """Record content written ahead of the transaction that will reference it (always, not only
    during a collection: one may start between the two transactions). Also a fresh reference."""
    stamp = _TIME.pack(time.time() if now is None else now)
    listed = list(refs)
    for r in listed:
        w.put(YOUNG + r, stamp)
    note_fresh(w, listed)


def note_unreached(w: KVWriter, repo: str, kind: str, name: str, commit: str) -> None:
    """Record that branch (``kind`` "b") or tag ("t") ``name`` stopped pointing at ``commit``
    (deleted, or hard-reset elsewhere): retention keeps the commit for that ref's retention
    period, so a deleted branch can be recreated from its last commit id until then."""
    w.put(keys.reflog(repo, kind, name, commit), codec.pack(time.time()))


def young_time(value: bytes) -> float:
    return float(_TIME.unpack(value)[0])
