"""Background upkeep of a blob backend: sweep what interrupted writes left behind.

The server runs ``sweep_periodically`` for its whole life (started after start-up, cancelled at
shutdown). A sweep only removes leftovers older than the grace period (or, on the local backend,
temp files no live writer holds), so it is safe beside running writers and other processes.
Failures (the store is down) are logged and retried at the next round; they never stop serving.
"""

from __future__ import annotations

import asyncio
import logging

from gateway.core.errors import WeirError
from gateway.core.ports import BlobStore

log = logging.getLogger("weir.storage")

#: Rounds are this far apart at most, and at least a minute apart.
MAX_INTERVAL = 3600.0
MIN_INTERVAL = 60.0


def sweep_interval(grace: float) -> float:
    return max(MIN_INTERVAL, min(MAX_INTERVAL, grace / 4))


async def sweep_once(blobs: BlobStore, grace: float) -> int:
    """One sweep; returns what it removed (0 when the store failed: logged)."""
    try:
        removed = await blobs.sweep(grace=grace)
    except WeirError as exc:
        log.warning("blob sweep failed (retried at the next round): %s", exc.message)
        return 0
    if removed:
        log.info("blob sweep removed %d leftover(s) of interrupted writes", removed)
    return removed


async def sweep_periodically(blobs: BlobStore, grace: float) -> None:
    """Sweep now, then every ``sweep_interval(grace)`` seconds, until cancelled."""
    interval = sweep_interval(grace)
    while True:
        await sweep_once(blobs, grace)
        await asyncio.sleep(interval)  # a schedule, not a synchronisation
