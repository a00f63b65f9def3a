"""``AuditedKV``: the metadata store the engine, users and runs are given, with the audit trail
built into its write transactions.

Every ``write``/``write_sync`` made while an audit scope is open (``gateway.core.audit``) and
not under ``housekeeping()`` runs the caller's function and then appends the scope's record to
the chain **in the same transaction**: both commit or neither does. The record describes the
operation (who, which credential, what, where, from which address, when) and what the
transaction returned (a commit id, a branch head...). Reads and everything else pass through.

The composition root wraps the store once; code that writes through it needs nothing else. The
blob backends get the unwrapped store: their index writes are physical bookkeeping.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from gateway.audit import log
from gateway.core import audit
from gateway.core.model import Branch, Commit, Entry, Repository, Tag
from gateway.core.ports import KVReader, KVStore, KVWriter

T = TypeVar("T")


def describe(value: object) -> str:
    """What a transaction produced, in a few words (never a secret: the user store's writes
    return nothing that is shown)."""
    if isinstance(value, Commit):
        return f"commit {value.id}"
    if isinstance(value, Branch):
        return f"branch {value.name} at {value.head}"
    if isinstance(value, Tag):
        return f"tag {value.name} at {value.commit}"
    if isinstance(value, Entry):
        return f"object {value.address} ({value.size} bytes, etag {value.etag})"
    if isinstance(value, Repository):
        return f"repository {value.name}"
    if isinstance(value, list) and value:
        return f"{len(value)} item(s)"
    return ""


def fields_of(scope: audit.Scope, *, result: str, detail: str = "") -> dict[str, Any]:
    return {
        "api": scope.api,
        "operation": scope.operation,
        "user": scope.user or "(unauthenticated)",
        "access_key_id": scope.access_key_id,
        "address": scope.address,
        "request_id": scope.request_id,
        "repository": scope.repository,
        "ref": scope.ref,
        "path": scope.path,
        "result": result,
        "detail": detail,
    }


class AuditedKV:
    """A ``KVStore`` that appends the open audit scope's record to every write transaction.

    Args:
        inner: the real store.
        reads: also record non-mutating requests (``audit.reads``); see ``record_outcome``.
    """

    def __init__(self, inner: KVStore, *, reads: bool = False) -> None:
        self.inner = inner
        self.reads = reads

    # -- the KVStore protocol ----------------------------------------------------------------
    async def read(self, fn: Callable[[KVReader], T]) -> T:
        return await self.inner.read(fn)

    def read_sync(self, fn: Callable[[KVReader], T]) -> T:
        return self.inner.read_sync(fn)

    async def write(self, fn: Callable[[KVWriter], T]) -> T:
        scope = self._scope()
        if scope is None:
            return await self.inner.write(fn)
        value = await self.inner.write(self._audited(fn, scope))
        scope.recorded += 1
        return value

    def write_sync(self, fn: Callable[[KVWriter], T]) -> T:
        scope = self._scope()
        if scope is None:
            return self.inner.write_sync(fn)
        value = self.inner.write_sync(self._audited(fn, scope))
        scope.recorded += 1
        return value

    def generation(self, topic: str) -> int:
        return self.inner.generation(topic)

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        # Backend extras (e.g. LMDB's commit_count) stay reachable through the wrapper.
        return getattr(self.inner, name)

    # -- recording -----------------------------------------------------------------------------
    @staticmethod
    def _scope() -> audit.Scope | None:
        if audit.is_housekeeping():
            return None
        return audit.current()

    @staticmethod
    def _audited(fn: Callable[[KVWriter], T], scope: audit.Scope) -> Callable[[KVWriter], T]:
        # The scope's fields are read when the transaction runs: the caller is named by then.
        def run(w: KVWriter) -> T:
            value = fn(w)
            fields = fields_of(scope, result="ok", detail=describe(value))
            # Names that came in a request body (a new repository, branch or tag) are known
            # from what the transaction made.
            if isinstance(value, Repository) and not fields["repository"]:
                fields["repository"] = value.name
            if isinstance(value, Branch | Tag) and not fields["ref"]:
                fields["ref"] = value.name
            log.append(w, fields)
            return value

        return run

    async def record(self, fields: Mapping[str, Any]) -> log.Record:
        """Append a record in a transaction of its own (a failed or read-only request)."""
        return await self.inner.write(lambda w: log.append(w, fields))
