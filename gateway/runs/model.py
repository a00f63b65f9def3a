"""Run records: what a run is, as stored and as the APIs show it.

A run is one execution of a job under a run credential: it has a private branch
(``runs/<name>``) made from a source branch at a start commit, a snapshot number (every other
branch is read as of the start, ``gateway.core.heads``), optional pins, and a life cycle:

``running`` -> ``finishing`` -> ``succeeded`` | ``failed``; ``running`` -> ``expired`` when its
credential lapsed before it finished (a crashed ``weir run``). ``finishing`` is transient: the
credential is revoked and the read log is being closed; a server crash there leaves it for the
sweeper, which fails it.
"""

from __future__ import annotations

import enum
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from gateway.core.errors import InvalidArgument
from gateway.core.names import check_ref_name, check_repo

RUN_BRANCH_PREFIX = "runs/"


class RunStatus(enum.Enum):
    RUNNING = "running"
    FINISHING = "finishing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    EXPIRED = "expired"

    @property
    def active(self) -> bool:
        return self in (RunStatus.RUNNING, RunStatus.FINISHING)


@dataclass(frozen=True, slots=True)
class Pin:
    """``--pin REPO@REF`` (every branch of REPO) or ``--pin REPO/BRANCH@REF`` (one branch),
    resolved to a commit id when the run starts."""

    repository: str
    branch: str  # "" = every branch of the repository
    ref: str
    commit: str = ""

    def spec(self) -> str:
        where = self.repository + (f"/{self.branch}" if self.branch else "")
        return f"{where}@{self.ref}"


def parse_pin(text: str) -> Pin:
    """``REPO@REF`` or ``REPO/BRANCH@REF``. Raises InvalidArgument/InvalidName."""
    where, sep, ref = text.partition("@")
    if not sep or not where or not ref:
        raise InvalidArgument(f"invalid pin {text!r}: expected REPO@REF or REPO/BRANCH@REF")
    repo, _, branch = where.partition("/")
    check_repo(repo)
    if branch:
        check_ref_name(branch)
    return Pin(repo, branch, ref)


@dataclass(frozen=True, slots=True)
class GitInfo:
    commit: str = ""
    dirty: bool = False


@dataclass(frozen=True, slots=True)
class InputSummary:
    """One input of a finished run: a commit read, how many paths, and their manifest."""

    repository: str
    commit: str
    refs: tuple[str, ...]  # the branch (or other ref) names the job used to reach it
    paths: int
    manifest: str


@dataclass(frozen=True, slots=True)
class Run:
    id: str
    name: str
    repository: str
    source_branch: str
    run_branch: str
    start_commit: str
    snapshot: int
    user: str
    access_key_id: str
    command: tuple[str, ...]
    created: float
    expires_at: float
    status: RunStatus = RunStatus.RUNNING
    pins: tuple[Pin, ...] = ()
    git: GitInfo | None = None
    merge: bool = False
    discard_on_failure: bool = False
    rerun_of: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)
    ended: float | None = None
    exit_status: int | None = None
    finish_token: str = ""
    result_commit: str = ""
    merge_commit: str = ""
    merge_conflicts: int = 0
    error: str = ""
    inputs: tuple[InputSummary, ...] = ()
    #: A rerun's outputs against the original's: counts of same / differs / missing / new.
    comparison: Mapping[str, int] = field(default_factory=dict)

    def shown_status(self, now: float | None = None) -> RunStatus:
        """The status as users see it: a running run whose credential lapsed is expired."""
        if self.status is RunStatus.RUNNING and (now or time.time()) >= self.expires_at:
            return RunStatus.EXPIRED
        return self.status

    def with_(self, **changes: Any) -> Run:
        return replace(self, **changes)


def new_run_id(now: float | None = None) -> str:
    """Time-ordered, unique: 12 hex digits of milliseconds + 6 random hex digits."""
    ms = int((time.time() if now is None else now) * 1000)
    return f"{ms:012x}{secrets.token_hex(3)}"


def run_branch_name(name: str) -> str:
    return check_ref_name(RUN_BRANCH_PREFIX + name)


def check_command(command: Sequence[str]) -> tuple[str, ...]:
    if not command or not all(isinstance(a, str) for a in command):
        raise InvalidArgument("command must be a non-empty list of strings")
    if sum(len(a) for a in command) > 64 << 10:
        raise InvalidArgument("command line too long (64 KiB at most)")
    return tuple(command)
