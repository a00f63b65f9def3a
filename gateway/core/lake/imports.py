"""Commits of private staging areas: the engine side of zero-copy imports (``gateway.importer``).

An import stages its entries in an area no branch has (``gateway.core.imports``), then commits
it onto the branch in one compare-and-swap, in the same transaction that marks the import done.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from gateway.core import committing, keys
from gateway.core.lake.base import LakeBase, in_thread
from gateway.core.model import Commit
from gateway.core.ports import KVWriter
from gateway.core.view import View


class ImportOps(LakeBase):
    """Commit and discard private staging areas."""

    async def commit_area(
        self,
        repo: str,
        branch: str,
        token: str,
        *,
        message: str,
        committer: str,
        metadata: Mapping[str, str] | None = None,
        on_publish: Callable[[KVWriter, Commit], None] | None = None,
    ) -> Commit:
        """Commit the entries staged under ``token`` onto ``branch`` as one commit (its parent
        the branch head; the branch's own staging untouched). ``on_publish(w, commit)`` runs in
        the publishing transaction (a raise there publishes nothing). Recomputed from a fresh
        snapshot when the branch moved meanwhile (bounded). Raises NoChanges, ProtectedBranch,
        BranchNotFound, BranchMoved."""

        def attempt() -> Commit:
            prepared = self.kv.read_sync(
                lambda r: committing.prepare_area(
                    View(r),
                    self.kv,
                    repo,
                    branch,
                    token,
                    message=message,
                    committer=committer,
                    metadata=metadata,
                )
            )

            def publish(w: KVWriter) -> Commit:
                commit = committing.publish(w, prepared)
                if on_publish is not None:
                    on_publish(w, commit)
                return commit

            return self.kv.write_sync(publish)

        commit = await in_thread(lambda: committing.retry_on_move(attempt))
        self.events.published(repo, branch, commit, operation="import")
        return commit

    async def discard_area(self, repo: str, token: str) -> None:
        """Delete every entry staged under ``token`` (in bounded transactions)."""
        await self._purge(keys.staging(repo, token))
