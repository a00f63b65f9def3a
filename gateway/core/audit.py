"""Who is changing the lake right now: the audit scope that write transactions consult.

The protocol layers open a ``Scope`` per request (API, operation, repository/ref, address,
request id) and name the authenticated caller in it (``identify``). The metadata store the
server hands to the engine (``gateway.audit.kv.AuditedKV``) appends one hash-chained audit
record *inside* every write transaction made while a scope is open, so no change is committed
without its record and no record without its change; handlers and facade methods do nothing.

Writes that are consequences of an audited change rather than changes of their own -- deleting
records an audited change already made unreachable (purges of retired staging or of a deleted
repository), content-addressed data nothing references yet (tree nodes, inline blob bytes) --
run under ``housekeeping()`` and get no record. Writes with no scope at all (start-up sweeps,
background flushers) are not API operations and get none either; a server-side change that
should be on the trail opens a ``system`` scope (e.g. the bootstrap admin).

Pure: context variables only. A scope follows the request into ``asyncio.to_thread`` and tasks
it creates (contextvars are copied), so writes made from worker threads are attributed too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass
class Scope:
    """One operation on the lake as the audit trail describes it. Mutable: the caller is
    named once authenticated; ``recorded`` counts the records its transactions committed."""

    api: str  # "s3" | "admin" | "system"
    operation: str  # e.g. "PutObject", "commit", "createRepository"
    address: str = ""  # the client's address
    request_id: str = ""
    repository: str = ""
    ref: str = ""
    path: str = ""
    mutating: bool = True
    user: str = ""  # "" until authenticated
    access_key_id: str = ""
    recorded: int = 0


_CURRENT: ContextVar[Scope | None] = ContextVar("weir_audit_scope", default=None)
_HOUSEKEEPING: ContextVar[bool] = ContextVar("weir_audit_housekeeping", default=False)


def current() -> Scope | None:
    """The open scope, or None (no API operation in progress)."""
    return _CURRENT.get()


@contextlib.contextmanager
def scope(s: Scope) -> Iterator[Scope]:
    """Open ``s`` for the duration of the block (nested scopes replace the outer one)."""
    token = _CURRENT.set(s)
    try:
        yield s
    finally:
        _CURRENT.reset(token)


def identify(user: str, access_key_id: str) -> None:
    """Name the authenticated caller of the open scope (no-op without one)."""
    s = _CURRENT.get()
    if s is not None:
        s.user, s.access_key_id = user, access_key_id


@contextlib.contextmanager
def system(operation: str, *, repository: str = "", ref: str = "") -> Iterator[Scope]:
    """A scope for a change the server makes on its own (recorded as user ``weir``)."""
    s = Scope(api="system", operation=operation, user="weir", repository=repository, ref=ref)
    with scope(s):
        yield s


@contextlib.contextmanager
def housekeeping() -> Iterator[None]:
    """Writes in this block are consequences of an audited change: no records for them."""
    token = _HOUSEKEEPING.set(True)
    try:
        yield
    finally:
        _HOUSEKEEPING.reset(token)


def is_housekeeping() -> bool:
    return _HOUSEKEEPING.get()
