"""One ``/_metrics`` answer for all the workers of a ``weir serve --workers N``.

A Prometheus scrape reaches one worker, chosen by the kernel. So that it is not that worker's view
alone, every worker serves a JSON snapshot of its figures on a Unix socket in the supervisor's
run directory (``worker-<slot>.sock``, a 0700 temporary directory), and the scraped worker asks
each sibling for its snapshot (bounded by ``PEER_TIMEOUT``) and renders every worker's series
with a ``worker="<slot>"`` label. Labels, not sums: a restarted worker's counters start again at
zero, which Prometheus reads as the counter reset it is on that one series, where a sum would
show a drop of the whole server's total.

Per worker it also reports ``weir_worker_up`` (1 when it answered) and ``weir_worker_starts``
(how many processes the supervisor has started for that slot: 1 + restarts).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from gateway.observability import METRICS, Metrics, Snapshot, render_snapshots

PEER_TIMEOUT = 1.0
MAX_SNAPSHOT = 16 << 20  # a snapshot is a few KB; refuse anything absurd


@dataclass(frozen=True)
class WorkerIdentity:
    """Who this worker is among its siblings."""

    slot: int
    workers: int
    starts: int  # processes started for this slot so far, this one included
    run_dir: Path

    def socket_path(self, slot: int) -> Path:
        return self.run_dir / f"worker-{slot}.sock"


WORKER: web.AppKey[WorkerIdentity] = web.AppKey("weir.worker", WorkerIdentity)


def _own_snapshot(identity: WorkerIdentity, metrics: Metrics) -> Snapshot:
    snap = metrics.snapshot()
    snap["starts"] = identity.starts
    return snap


async def serve_snapshots(identity: WorkerIdentity, metrics: Metrics) -> asyncio.AbstractServer:
    """Answer every connection on this worker's socket with its snapshot, then close it."""
    path = identity.socket_path(identity.slot)
    path.unlink(missing_ok=True)  # left by the process this one replaces

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(json.dumps(_own_snapshot(identity, metrics)).encode())
            await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    return await asyncio.start_unix_server(answer, path=str(path))


async def _ask(path: Path) -> Snapshot | None:
    try:
        async with asyncio.timeout(PEER_TIMEOUT):
            reader, writer = await asyncio.open_unix_connection(str(path))
            try:
                data = await reader.read(MAX_SNAPSHOT)
            finally:
                writer.close()
                with contextlib.suppress(ConnectionError, OSError):
                    await writer.wait_closed()
        snap = json.loads(data)
        return snap if isinstance(snap, dict) else None
    except (OSError, TimeoutError, ValueError):
        return None  # that worker is restarting or stuck: reported as down


async def gather(identity: WorkerIdentity, metrics: Metrics) -> list[Snapshot | None]:
    """Every worker's snapshot by slot (None: it did not answer in time)."""

    async def one(slot: int) -> Snapshot | None:
        if slot == identity.slot:
            return _own_snapshot(identity, metrics)
        return await _ask(identity.socket_path(slot))

    return list(await asyncio.gather(*(one(s) for s in range(identity.workers))))


def render_workers(snapshots: list[Snapshot | None]) -> str:
    parts = [(f'worker="{i}"', s) for i, s in enumerate(snapshots) if s is not None]
    extra = [
        "# HELP weir_worker_up Whether the worker answered this scrape.",
        "# TYPE weir_worker_up gauge",
    ]
    extra += [
        f'weir_worker_up{{worker="{i}"}} {int(s is not None)}' for i, s in enumerate(snapshots)
    ]
    extra += [
        "# HELP weir_worker_starts Processes started for the worker slot (1 + restarts).",
        "# TYPE weir_worker_starts gauge",
    ]
    extra += [
        f'weir_worker_starts{{worker="{i}"}} {int(s.get("starts", 1))}'
        for i, s in enumerate(snapshots)
        if s is not None
    ]
    return render_snapshots(parts, tuple(extra))


async def metrics_handler(request: web.Request) -> web.Response:
    """``GET /_metrics`` on a worker: the figures of every worker, labelled by slot."""
    identity = request.app[WORKER]
    snapshots = await gather(identity, request.app[METRICS])
    return web.Response(
        text=render_workers(snapshots),
        content_type="text/plain",
        headers={"Cache-Control": "no-store"},
    )
