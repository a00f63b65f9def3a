"""Copy every record of one metadata store into another, and verify the copy.

Used by ``weir db copy`` to move an embedded (LMDB) installation onto PostgreSQL (or back).
The source is read in one snapshot, so the copy is of one consistent moment; the destination
must be empty (a copy never merges two lakes). Records are written in batches of bounded size,
each one transaction, and the copy is then verified by reading both stores again and comparing
a digest of every key and value in order.

Run it with the gateways stopped: writes that reach the source after its snapshot are not in
the copy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from gateway.core.errors import Conflict, StorageError
from gateway.core.ports import KVReader, KVStore, KVWriter

BATCH_KEYS = 2_000
BATCH_BYTES = 16 << 20


@dataclass(frozen=True, slots=True)
class CopyReport:
    keys: int
    bytes: int
    digest: str  # blake2b of every (key, value) in key order, identical in both stores


def _digest(r: KVReader) -> tuple[int, int, str]:
    h = hashlib.blake2b(digest_size=32)
    keys = size = 0
    for k, v in r.scan(b""):
        h.update(len(k).to_bytes(4, "big") + k + len(v).to_bytes(8, "big") + v)
        keys += 1
        size += len(k) + len(v)
    return keys, size, h.hexdigest()


def copy_store(
    source: KVStore,
    dest: KVStore,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> CopyReport:
    """Copy ``source`` into the empty ``dest`` and verify it; blocking (call it in a thread).

    Args:
        progress: called with (keys, bytes) copied so far after each batch.

    Raises:
        Conflict: ``dest`` is not empty.
        StorageError: a store failed, or the copy does not match its source.
    """
    if dest.read_sync(lambda r: next(iter(r.scan(b"")), None)) is not None:
        raise Conflict("the destination metadata store is not empty: refusing to merge into it")

    def stream(r: KVReader) -> tuple[int, int]:
        batch: list[tuple[bytes, bytes]] = []
        batch_bytes = keys = size = 0
        for k, v in r.scan(b""):
            batch.append((k, v))
            batch_bytes += len(k) + len(v)
            if len(batch) >= BATCH_KEYS or batch_bytes >= BATCH_BYTES:
                dest.write_sync(_put_all(batch))
                keys, size = keys + len(batch), size + batch_bytes
                if progress is not None:
                    progress(keys, size)
                batch, batch_bytes = [], 0
        if batch:
            dest.write_sync(_put_all(batch))
            keys, size = keys + len(batch), size + batch_bytes
            if progress is not None:
                progress(keys, size)
        return keys, size

    source.read_sync(stream)
    want = source.read_sync(_digest)
    got = dest.read_sync(_digest)
    if want != got:
        raise StorageError(
            f"the copy does not match its source: {got[0]} keys / {got[1]} bytes copied, "
            f"{want[0]} keys / {want[1]} bytes in the source"
        )
    return CopyReport(keys=want[0], bytes=want[1], digest=want[2])


def _put_all(items: list[tuple[bytes, bytes]]) -> Callable[[KVWriter], None]:
    def fn(w: KVWriter) -> None:
        for k, v in items:
            w.put(k, v)

    return fn
