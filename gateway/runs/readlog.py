"""The read log: every object a run reads, recorded in the metadata store in batches.

A read is recorded (``record``) before its answer is sent, into a per-process buffer keyed like
the store (``gateway.runs.store``), so re-reading an object costs nothing more. The buffer is
written in one transaction every ``interval`` seconds, or at once when ``max_pending`` reads are
waiting (the reader then waits for that write: memory stays bounded whatever the read rate).
Nothing per read outlives its batch.

Several processes (workers, gateways) may serve one run. Each process that records a read of a
run first registers as its *participant* (one write per run and process, before that first
answer). Finishing a run must see every read answered before it, without trusting clocks:

1. the finisher sets the run to ``finishing`` with a fresh token and revokes its credential, in
   one transaction;
2. every participant notices (its loop reads the status of the runs it serves each interval),
   writes what it buffered *and then* acknowledges the token, in one transaction — a read
   answered before step 1 was buffered before the participant saw the token, so it is in that
   write;
3. the finisher waits (bounded) until every participant acknowledged.

A participant that crashed never acknowledges: its unwritten buffer (at most ``interval``
seconds of reads) is lost, and the finisher fails the run instead of committing an incomplete
record. A crashed run is failed anyway.

Concurrency: one recorder per process, used from the event loop only; writes of batches and
acknowledgements are serialised by a lock so an acknowledgement never overtakes a batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging

from gateway.core import codec
from gateway.core.ports import KVReader, KVStore, KVWriter
from gateway.runs import store
from gateway.runs.model import RunStatus

log = logging.getLogger("weir.runs")

#: How many recently written read-log keys a process remembers to skip rewriting them.
WRITTEN_MEMORY = 65_536


class ReadRecorder:
    """Per-process buffer of run reads, written in batches; a participant in finishing runs.

    Args:
        kv: the metadata store.
        process_id: unique per process (and per start): names this participant.
        interval: seconds between batch writes (and between status checks of served runs).
        max_pending: buffered reads that trigger an immediate write with backpressure.
    """

    def __init__(
        self, kv: KVStore, *, process_id: str, interval: float = 0.2, max_pending: int = 20_000
    ) -> None:
        self._kv = kv
        self.process_id = process_id
        self._interval = interval
        self._max = max_pending
        self._pending: dict[str, dict[bytes, bytes]] = {}
        self._count = 0
        #: Keys written by earlier batches (bounded; cleared when full): a job that reads the
        #: same objects again and again writes each once, not once per batch.
        self._written: set[bytes] = set()
        self._joined: set[str] = set()
        self._refused: set[str] = set()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.batches = 0  # batch writes so far (tests, metrics)

    @property
    def pending(self) -> int:
        return self._count

    def try_record(self, run_id: str, key: bytes, value: bytes) -> bool:
        """The fast path of ``record``: buffer the read and return True, or return False when
        ``record`` must be awaited (first read of the run here, or the buffer is full)."""
        bucket = self._pending.get(run_id)
        if bucket is None or self._count >= self._max - 1:
            return False
        if key in self._written:
            return True
        if key not in bucket:
            self._count += 1
        bucket[key] = value
        return True

    async def record(self, run_id: str, key: bytes, value: bytes) -> None:
        """Buffer one read of ``run_id`` (a ``store.read_key`` and its value)."""
        if run_id not in self._joined and (run_id in self._refused or not await self._join(run_id)):
            return  # the run is finishing or over: this answer comes after its end
        if key in self._written:
            return
        bucket = self._pending.get(run_id)
        if bucket is None:
            bucket = self._pending[run_id] = {}
        if key not in bucket:
            self._count += 1
        bucket[key] = value
        if self._count >= self._max:
            await self.flush()
        elif self._task is None and not self._closed:
            # A fresh context: the loop outlives the request whose read started it and must not
            # carry that request's context variables (its audit scope) into later batches.
            self._task = asyncio.get_running_loop().create_task(
                self._loop(), context=contextvars.Context()
            )

    async def _join(self, run_id: str) -> bool:
        key = store.participant_key(run_id, self.process_id)

        def fn(w: KVWriter) -> bool:
            run = store.get_or_none(w, run_id)
            if run is None or run.status is not RunStatus.RUNNING:
                return False
            if w.get(key) is None:
                w.put(key, codec.pack(""))
            return True

        joined = await self._kv.write(fn)
        if joined:
            self._joined.add(run_id)
        else:
            self._refused.add(run_id)
        return joined

    def _take(self, run_ids: set[str] | None = None) -> list[tuple[bytes, bytes]]:
        out: list[tuple[bytes, bytes]] = []
        for run_id in list(self._pending) if run_ids is None else run_ids:
            bucket = self._pending.pop(run_id, None)
            if bucket:
                self._count -= len(bucket)
                out.extend(bucket.items())
        return out

    async def flush(self, *, acks: dict[str, str] | None = None) -> None:
        """Write everything buffered, and (same transaction) acknowledge ``acks``
        (run id -> finish token)."""
        async with self._lock:
            batch = self._take()
            acks = acks or {}
            if not batch and not acks:
                return

            def fn(w: KVWriter) -> None:
                for k, v in batch:
                    w.put(k, v)
                for run_id, token in acks.items():
                    w.put(store.participant_key(run_id, self.process_id), codec.pack(token))

            await self._kv.write(fn)
            self.batches += 1
            if len(self._written) + len(batch) > WRITTEN_MEMORY:
                self._written.clear()
            self._written.update(k for k, _ in batch)

    async def close_run(self, run_id: str, token: str) -> None:
        """The finisher's own acknowledgement: write this process's reads, then ack."""
        await self.flush(acks={run_id: token} if run_id in self._joined else None)
        self._leave(run_id)

    def _leave(self, run_id: str) -> None:
        self._joined.discard(run_id)
        bucket = self._pending.pop(run_id, None)
        if bucket:
            self._count -= len(bucket)

    async def _loop(self) -> None:
        try:
            while self._joined and not self._closed:
                await asyncio.sleep(self._interval)
                try:
                    await self._tick()
                except Exception:
                    log.exception("run read log: batch write failed; retrying")
        finally:
            self._task = None

    async def _tick(self) -> None:
        joined = set(self._joined)

        def statuses(r: KVReader) -> dict[str, tuple[RunStatus | None, str, str]]:
            out: dict[str, tuple[RunStatus | None, str, str]] = {}
            parts: dict[str, str] = {}
            for run_id in joined:
                run = store.get_or_none(r, run_id)
                raw = r.get(store.participant_key(run_id, self.process_id))
                parts[run_id] = "" if raw is None else codec.unpack(raw)
                out[run_id] = (
                    (run.status, run.finish_token, parts[run_id])
                    if run is not None
                    else (None, "", "")
                )
            return out

        seen = await self._kv.read(statuses)
        acks: dict[str, str] = {}
        for run_id, (status, token, acked) in seen.items():
            if status is RunStatus.FINISHING and token and acked != token:
                acks[run_id] = token
            elif status is None or not status.active:
                self._leave(run_id)  # over: whatever is buffered came after its end
        await self.flush(acks=acks)

    async def close(self) -> None:
        """Write what is buffered and stop (server shutdown)."""
        self._closed = True
        task = self._task
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.flush()
