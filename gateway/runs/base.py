"""State and plumbing shared by the parts of ``RunService`` (``gateway.runs.service``): settings,
the stores, the lineage events a run emits, ownership checks, and the helpers that write a
run's final state."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from gateway.auth.users import UserStore
from gateway.core import heads
from gateway.core.access import Authorizer, Principal
from gateway.core.errors import (
    AccessDenied,
    InvalidArgument,
)
from gateway.core.events import RunOutcome
from gateway.core.ids import CommitId, RepoName
from gateway.core.lake import Lake
from gateway.core.model import Commit, CommitInput, PathConflict
from gateway.core.ports import KVWriter
from gateway.runs import store
from gateway.runs.lake import RunLake
from gateway.runs.mapping import RunMapping
from gateway.runs.model import (
    GitInfo,
    Pin,
    Run,
    RunStatus,
)
from gateway.runs.readlog import ReadRecorder

log = logging.getLogger("weir.runs")

#: A run left ``finishing`` this long (a crash mid-finish) is settled by the sweeper.
FINISH_LEASE = 600.0
META = "weir.run."


@dataclass(frozen=True, slots=True)
class RunSettings:
    credential_ttl: float = 900.0  # seconds; renewed by ``weir run`` while the job runs
    max_credential_ttl: float = 7 * 86400.0
    flush_interval: float = 0.2  # read-log batch interval (seconds)
    finish_timeout: float = 10.0  # how long finishing waits for other processes' reads
    sweep_interval: float = 30.0


@dataclass(frozen=True, slots=True)
class StartRequest:
    repository: str
    command: Sequence[str]
    source_branch: str = ""
    name: str = ""
    pins: Sequence[Pin] = ()
    git: GitInfo | None = None
    merge: bool = False
    discard_on_failure: bool = False
    ttl: float | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Finished:
    run: Run
    conflicts: list[PathConflict] = field(default_factory=list)
    discarded: bool = False


RunEvent = Callable[[str, Run], None]  # ("start" | "complete" | "fail", run)


class RunServiceBase:
    """The stores and per-process state every part of the run service uses."""

    def __init__(
        self,
        lake: Lake,
        users: UserStore,
        authz: Authorizer,
        *,
        settings: RunSettings | None = None,
        process_id: str | None = None,
    ) -> None:
        self.lake = lake
        self.kv = lake.kv
        self.users = users
        self.authz = authz  # the ordinary authorizer: checks the starting user's own grants
        self.settings = settings or RunSettings()
        self.recorder = ReadRecorder(
            self.kv,
            process_id=process_id or secrets.token_hex(8),
            interval=self.settings.flush_interval,
        )
        self._mappings: dict[str, RunMapping] = {}
        self._views: dict[str, RunLake] = {}
        self._finishing: set[str] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self.listeners: list[RunEvent] = []

    async def _owned(self, principal: Principal, run_id: str) -> Run:
        if principal.run:
            raise AccessDenied("a run credential cannot manage runs")
        run = await self.kv.read(lambda r: store.get(r, run_id))
        if run.user != principal.user and not principal.is_admin:
            raise AccessDenied(f"run {run_id} belongs to user {run.user!r}")
        return run

    def _ttl(self, requested: float | None) -> float:
        s = self.settings
        if requested is None:
            return s.credential_ttl
        if not 1 <= requested <= s.max_credential_ttl:
            raise InvalidArgument(f"ttl_seconds must be between 1 and {int(s.max_credential_ttl)}")
        return float(requested)

    def _emit(self, event: str, run: Run, commit: Commit | None = None) -> None:
        """Tell the lineage events port (OpenLineage START / COMPLETE / FAIL) and listeners.
        Neither may fail or slow the run: the port only enqueues."""
        try:
            events = self.lake.events
            if event == "start":
                events.run_started(
                    run_id=run.id,
                    repo=run.repository,
                    branch=run.run_branch,
                    name=run.name,
                    started_at=run.created,
                    inputs=[
                        CommitInput(RepoName(p.repository), CommitId(p.commit), p.spec())
                        for p in run.pins
                    ],
                )
            else:
                events.run_finished(
                    run_id=run.id,
                    repo=run.repository,
                    branch=run.run_branch,
                    name=run.name,
                    ended_at=run.ended or time.time(),
                    outcome=RunOutcome.COMPLETE if event == "complete" else RunOutcome.FAIL,
                    commit=commit,
                    error=run.error,
                )
        except Exception:
            log.exception("run lineage event failed")
        for listener in self.listeners:
            try:
                listener(event, run)
            except Exception:
                log.exception("run event listener failed")

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self.recorder.close()


def _close(w: KVWriter, run: Run) -> None:
    """Store a run's final state, release its snapshot and drop its participants."""
    store.put(w, run)
    heads.release_snapshot(w, run.snapshot, run.id)
    prefix = store.participants_of(run.id)
    for k, _ in list(w.scan(prefix, store.prefix_end(prefix))):
        w.delete(k)


def _settle_if(w: KVWriter, run: Run, expected: RunStatus) -> bool:
    current = store.get_or_none(w, run.id)
    if current is None or current.status is not expected:
        return False
    UserStore.revoke_run_credentials(w, run.access_key_id)
    _close(w, run)
    return True


def _message(run: Run) -> str:
    line = " ".join(run.command)
    if len(line) > 200:
        line = line[:197] + "..."
    return f"Run {run.name}: {line}"


def _metadata(run: Run) -> dict[str, str]:
    meta = dict(run.metadata)  # the job's own first: the recorded facts below win
    meta |= {
        META + "id": run.id,
        META + "command": json.dumps(list(run.command)),
        META + "exit_status": str(run.exit_status),
        META + "user": run.user,
        META + "source_branch": run.source_branch,
        META + "start_commit": run.start_commit,
        META + "started": _iso(run.created),
        META + "ended": _iso(run.ended or time.time()),
    }
    if run.git is not None:
        meta[META + "git_commit"] = run.git.commit
        meta[META + "git_dirty"] = "true" if run.git.dirty else "false"
    if run.rerun_of:
        meta[META + "rerun_of"] = run.rerun_of
    for pin in run.pins:
        meta[META + "pin." + pin.repository + ("/" + pin.branch if pin.branch else "")] = pin.commit
    return meta


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"
