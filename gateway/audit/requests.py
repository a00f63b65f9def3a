"""Around one API request: open the audit scope, and record what no transaction recorded.

A mutating request whose transactions committed already has its records (``AuditedKV``). One
that failed after authentication -- refused, invalid, conflicting -- changed nothing, and gets
one record saying so, in a transaction of its own. With ``audit.reads`` a successful read gets
one too. A successful mutating request none of whose writes carried the scope (a thread pool
that does not copy context variables) is recorded afterwards with ``UNSCOPED`` as its detail:
never silently missing. A failure to write such a record is logged and never changes the
request's answer.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from gateway.audit.kv import AuditedKV, fields_of
from gateway.core import audit
from gateway.core.errors import WeirError
from gateway.core.ports import KVStore

log = logging.getLogger("weir.audit")

#: Detail of the record of a successful mutating request whose writes were not audited in
#: their own transactions; finding one means a writer lost the scope (decision 0015).
UNSCOPED = "recorded after the request: its writes ran outside the audit scope"


class RequestAudit:
    """The scope of one request; ``failed(status)`` marks an error answer given without an
    exception (the request then ends as if it had raised)."""

    def __init__(self, scope: audit.Scope) -> None:
        self.scope = scope
        self.failure = ""

    def failed(self, status: int) -> None:
        self.failure = f"HTTP {status}"


async def _record(kv: AuditedKV, scope: audit.Scope, result: str, detail: str) -> None:
    try:
        await kv.record(fields_of(scope, result=result, detail=detail))
    except Exception:
        log.exception("audit: could not record %s %s", scope.api, scope.operation)


@contextlib.asynccontextmanager
async def request_scope(kv: KVStore, scope: audit.Scope) -> AsyncIterator[RequestAudit]:
    """Open ``scope`` for the request's duration; record a failure or a read at the end."""
    ra = RequestAudit(scope)
    audited = kv if isinstance(kv, AuditedKV) else None
    with audit.scope(scope):
        try:
            yield ra
        except Exception as exc:
            wanted = scope.mutating or (audited is not None and audited.reads)
            if audited is not None and wanted and not scope.recorded and scope.user:
                message = exc.message if isinstance(exc, WeirError) else str(exc)
                await _record(audited, scope, "error", f"{type(exc).__name__}: {message}")
            raise
    if audited is None or scope.recorded or not scope.user:
        return
    if ra.failure and scope.mutating:
        await _record(audited, scope, "error", ra.failure)
    elif scope.mutating:
        # A successful change none of whose transactions carried the scope (work handed to a
        # thread pool that does not copy context variables): recorded now, and saying so.
        await _record(audited, scope, "ok", UNSCOPED)
    elif audited.reads and not scope.mutating:
        await _record(audited, scope, "ok" if not ra.failure else "error", ra.failure)
