"""Lineage events: the port through which the engine (and isolated runs) report what happened.

The facade calls ``published`` after every commit, merge, revert and cherry-pick is durable;
the runs package (issue 8) calls ``run_started`` and ``run_finished`` around a job. The
composition root plugs in an implementation (``gateway.lineage.openlineage.OpenLineageEmitter``
when configured, else ``NO_EVENTS``).

Contract for implementations: every method returns at once, never raises and never blocks
(delivery happens elsewhere); an event that cannot be delivered is dropped, logged and counted,
and never fails or slows the operation that reported it.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Protocol

from gateway.core.model import Commit, CommitInput


class RunOutcome(enum.Enum):
    COMPLETE = "COMPLETE"
    FAIL = "FAIL"
    ABORT = "ABORT"


class LakeEvents(Protocol):
    def published(
        self, repo: str, branch: str, commit: Commit, *, operation: str, source: str = ""
    ) -> None:
        """``commit`` is now the head of ``branch``. ``operation``: commit, merge, revert or
        cherry-pick; ``source``: the merged ref expression (merges)."""
        ...

    def run_started(
        self,
        *,
        run_id: str,
        repo: str,
        branch: str,
        name: str,
        started_at: float,
        inputs: Sequence[CommitInput] = (),
    ) -> None:
        """A run began on ``branch`` (its run branch); ``inputs``: what it was pinned to."""
        ...

    def run_finished(
        self,
        *,
        run_id: str,
        repo: str,
        branch: str,
        name: str,
        ended_at: float,
        outcome: RunOutcome,
        commit: Commit | None = None,
        error: str = "",
    ) -> None:
        """The run ended: ``commit`` is what it committed (its inputs recorded), if anything;
        ``error`` says why it failed."""
        ...


class NoEvents:
    """Reports nothing (OpenLineage not configured)."""

    def published(
        self, repo: str, branch: str, commit: Commit, *, operation: str, source: str = ""
    ) -> None:
        return None

    def run_started(
        self,
        *,
        run_id: str,
        repo: str,
        branch: str,
        name: str,
        started_at: float,
        inputs: Sequence[CommitInput] = (),
    ) -> None:
        return None

    def run_finished(
        self,
        *,
        run_id: str,
        repo: str,
        branch: str,
        name: str,
        ended_at: float,
        outcome: RunOutcome,
        commit: Commit | None = None,
        error: str = "",
    ) -> None:
        return None


NO_EVENTS: LakeEvents = NoEvents()
