"""A collection's progress and final report: what it marked, scanned and freed."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

from gateway.gc.mark import MarkStats
from gateway.gc.sweep import SweepStats

RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"


@dataclass
class GcRun:
    """One collection. Updated by the collection's thread while it runs (plain counters, read
    by API handlers for progress), then stored as JSON."""

    id: str
    repository: str | None  # None: every repository
    dry_run: bool
    grace_seconds: int
    trigger: str  # "api" | "schedule"
    started_at: float = field(default_factory=time.time)
    state: str = RUNNING
    phase: str = "starting"
    finished_at: float | None = None
    error: str | None = None
    uploads_aborted: int = 0
    #: Who started it (from the request's audit scope); "weir" for a scheduled run.
    started_by: str = ""
    access_key_id: str = ""
    address: str = ""
    request_id: str = ""
    mark: MarkStats = field(default_factory=MarkStats)
    sweep: SweepStats = field(default_factory=SweepStats)

    @property
    def done(self) -> bool:
        return self.state != RUNNING

    def to_json(self) -> dict[str, Any]:
        freed = {k: {"count": f.count, "bytes": f.bytes} for k, f in self.sweep.freed.items()}
        marked = dataclasses.asdict(self.mark)
        marked.pop("extra", None)
        return {
            "id": self.id,
            "repository": self.repository,
            "dry_run": self.dry_run,
            "grace_seconds": self.grace_seconds,
            "trigger": self.trigger,
            "state": self.state,
            "phase": self.phase,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "error": self.error,
            "uploads_aborted": self.uploads_aborted,
            "started_by": self.started_by,
            "marked": marked,
            "scanned": dict(self.sweep.scanned),
            "freed": freed,
            "freed_bytes": sum(f.bytes for f in self.sweep.freed.values()),
            "remarks": self.sweep.remarks,
        }
