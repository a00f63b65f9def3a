"""Cache-invalidation generations on PostgreSQL: a counter row per topic, kept fresh locally by
LISTEN/NOTIFY, with a proven bound on staleness.

A write transaction that touches a topic bumps ``generations(topic, gen)`` and sends
``NOTIFY <channel>, '<gen>:<topic>'`` in the same transaction: PostgreSQL delivers it at commit,
to every listening connection, in commit order, and drops it with a rollback (also of a
savepoint). Every store keeps one listening connection in a thread, and ``generation(topic)``
answers from the local copy it maintains: a dictionary read, no round trip, nothing that could
block an event loop.

**Staleness bound.** Delivery is asynchronous: a notification committed on another gateway
reaches this one a moment later. To bound that moment, the listener sends a *heartbeat* to its
own private channel every ``HEARTBEAT_S``. Notifications arrive in commit order, so when
heartbeat *n* (committed at local time *t*) arrives, every notification committed before *t*
has arrived before it. The local copy is trusted only while the last heartbeat that came back
was sent less than ``STALE_AFTER_S`` ago; otherwise — the listener is slow, its connection broke,
the database restarted — ``generation`` returns a new value at every call, so every cache misses
and reads through, until a reconnected listener has re-read the whole table (after LISTEN, so
that nothing falls between the two) and a heartbeat came back. A write that returned is
therefore reflected by every gateway's ``generation`` at most ``STALE_AFTER_S`` later, and at
once in the gateway that made it (``note`` is called after its commit). Decision 0017.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
import uuid
from typing import Any

import psycopg
from psycopg import sql

log = logging.getLogger("weir.meta")

HEARTBEAT_S = 0.1
STALE_AFTER_S = 0.5


def channel_for(schema: str) -> str:
    """The NOTIFY channel of one schema's topics (schemas share a database, not channels)."""
    return f"weir_gen_{schema}"[:63].lower()


class GenerationListener:
    """The local copy of every topic's generation, fed by a listening connection."""

    def __init__(
        self,
        dsn: str,
        connect_kwargs: dict[str, Any],
        schema: str,
        *,
        heartbeat: float = HEARTBEAT_S,
        stale_after: float = STALE_AFTER_S,
    ) -> None:
        self._dsn = dsn
        self._kwargs = connect_kwargs
        self._table = sql.Identifier(schema, "generations")
        self._channel = channel_for(schema)
        self._heartbeat_channel = f"weir_hb_{uuid.uuid4().hex}"  # ours alone
        self._heartbeat = heartbeat
        self._stale_after = stale_after
        self._gens: dict[str, int] = {}
        self._lock = threading.Lock()
        self._fresh_until = 0.0  # monotonic time until which the local copy is trusted
        self._unique = itertools.count(-1, -1)  # stale answers: never seen before, never again
        self._stop = threading.Event()
        self._conn: psycopg.Connection[Any] | None = None
        self._thread = threading.Thread(target=self._run, name="weir-pg-listen", daemon=True)

    def start(self, wait: float) -> None:
        """Start listening; wait up to ``wait`` seconds for the copy to be fresh."""
        self._thread.start()
        deadline = time.monotonic() + wait
        while not self.fresh() and time.monotonic() < deadline and self._thread.is_alive():
            self._stop.wait(0.01)  # bounded start-up wait for the first heartbeat

    def fresh(self) -> bool:
        return time.monotonic() < self._fresh_until

    def generation(self, topic: str) -> int:
        """The topic's generation, or (copy not known fresh) a value no call returned before."""
        if time.monotonic() >= self._fresh_until:
            return next(self._unique)
        return self._gens.get(topic, 0)

    def note(self, topic: str, gen: int) -> None:
        """A generation this process committed itself (seen before its own notification)."""
        with self._lock:
            if gen > self._gens.get(topic, 0):
                self._gens[topic] = gen

    def close(self) -> None:
        self._stop.set()  # the thread notices within one heartbeat interval
        self._thread.join(timeout=10)

    # -- the listening thread ---------------------------------------------------------------

    def _run(self) -> None:
        delay = 0.05
        while not self._stop.is_set():
            try:
                self._listen()
                delay = 0.05
            except psycopg.Error as exc:
                self._fresh_until = 0.0
                if not self._stop.is_set():
                    log.warning("cache invalidation listener lost its connection: %s", exc)
            finally:
                self._fresh_until = 0.0
                conn, self._conn = self._conn, None
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
            self._stop.wait(delay)  # back-off before reconnecting (wakes at close)
            delay = min(delay * 2, 1.0)

    def _listen(self) -> None:
        conn = psycopg.connect(self._dsn, **self._kwargs)
        self._conn = conn
        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._heartbeat_channel)))
        # After LISTEN: every later change is notified, every earlier one is in the table.
        rows = conn.execute(sql.SQL("SELECT topic, gen FROM {}").format(self._table)).fetchall()
        for topic, gen in rows:
            self.note(str(topic), int(gen))
        sent_at: dict[int, float] = {}  # heartbeats in flight: sequence -> local send time
        for seq in itertools.count(1):
            if self._stop.is_set():
                return
            sent_at[seq] = time.monotonic()
            conn.execute("SELECT pg_notify(%s, %s)", (self._heartbeat_channel, str(seq)))
            wait = max(0.0, sent_at[seq] + self._heartbeat - time.monotonic())
            for n in conn.notifies(timeout=wait):
                if n.channel == self._heartbeat_channel:
                    # A late heartbeat still proves freshness as of the time it was sent.
                    sent = sent_at.pop(int(n.payload), None)
                    if sent is not None:
                        self._fresh_until = max(self._fresh_until, sent + self._stale_after)
                    continue
                gen, _, topic = n.payload.partition(":")
                with contextlib.suppress(ValueError):
                    self.note(topic, int(gen))
            for old in [s for s in sent_at if s < seq - 100]:
                del sent_at[old]
