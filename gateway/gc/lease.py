"""The collection lease (``gcrefs.STATE``): at most one collection at a time, also across
processes sharing the metadata store, and the switch that turns the write barrier on.

The record holds the run id, its start and a heartbeat the collector refreshes in its deletion
transactions and at least every ``HEARTBEAT`` seconds. A record whose heartbeat is older than
``STALE_AFTER`` belongs to a collector that died: the next collection (or the start-up
recovery) takes it over. While the record exists, writers record fresh references.
"""

from __future__ import annotations

import time

from gateway.core import codec, gcrefs
from gateway.core.errors import Conflict
from gateway.core.ports import KVReader, KVStore, KVWriter

HEARTBEAT = 30.0
STALE_AFTER = 300.0
#: Fresh-reference records deleted per transaction when a collection ends.
PURGE_BATCH = 2_000


def holder(r: KVReader) -> tuple[str, float, float] | None:
    """(run id, started at, heartbeat) of the lease, or None."""
    raw = r.get(gcrefs.STATE)
    if raw is None:
        return None
    run_id, started, beat = codec.unpack(raw)
    return str(run_id), float(started), float(beat)


def acquire(w: KVWriter, run_id: str, now: float) -> None:
    """Take the lease. Raises Conflict when a live collection holds it."""
    current = holder(w)
    if current is not None and current[0] != run_id and now - current[2] < STALE_AFTER:
        raise Conflict(f"a garbage collection is already running (run {current[0]})")
    w.put(gcrefs.STATE, codec.pack([run_id, now, now]))


def beat(w: KVWriter, run_id: str) -> None:
    current = holder(w)
    if current is not None and current[0] == run_id:
        w.put(gcrefs.STATE, codec.pack([run_id, current[1], time.time()]))


def release(kv: KVStore, run_id: str) -> None:
    """Give the lease up (writers stop recording), then drop the fresh references recorded up
    to then; a collection that starts meanwhile keeps its own (later) records."""

    def fn(w: KVWriter) -> int:
        current = holder(w)
        if current is not None and current[0] == run_id:
            w.delete(gcrefs.STATE)
        return gcrefs.seq(w)

    last = kv.write_sync(fn)
    purge_fresh(kv, last)


def purge_fresh(kv: KVStore, up_to: int) -> None:
    end = gcrefs.FRESH + (up_to + 1).to_bytes(8, "big")

    def batch(w: KVWriter) -> int:
        n = 0
        for k, _ in list(w.scan(gcrefs.FRESH, end)):
            w.delete(k)
            n += 1
            if n >= PURGE_BATCH:
                break
        return n

    while kv.write_sync(batch) >= PURGE_BATCH:
        pass


def recover(kv: KVStore, now: float) -> str | None:
    """Clear a lease left by a collector that died (stale heartbeat) and its fresh references.
    Returns the dead run's id."""
    current = kv.read_sync(holder)
    if current is None or now - current[2] < STALE_AFTER:
        return None

    def fn(w: KVWriter) -> int:
        again = holder(w)
        if again is not None and again[0] == current[0]:
            w.delete(gcrefs.STATE)
        return gcrefs.seq(w)

    purge_fresh(kv, kv.write_sync(fn))
    return current[0]
