"""Retention rules of a repository: how long commits that no branch or tag reaches are kept.

The shape is lakeFS's ``GarbageCollectionRules`` (``default_retention_days`` and per-branch
``retention_days``), so lakeFS clients can read and set them; branch ids may be globs.

Semantics (see docs/decisions, "Garbage collection"):

* every commit reachable from a branch head or a tag is kept, with its whole history;
* a commit that a branch or tag stopped reaching (branch deleted, hard reset, tag deleted) is
  kept for the retention days of that ref (the first branch glob that matches its name, else
  the repository default; tags use the default), counted from the moment it stopped;
* any commit created within the default retention days is kept;
* what a kept commit references (ancestors, tree, inputs, their trees) is kept.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.core import codec
from gateway.core.errors import InvalidArgument

DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class BranchRule:
    pattern: str  # a branch name or an fnmatch glob ("feature/*")
    retention_days: int


@dataclass(frozen=True, slots=True)
class RetentionRules:
    default_retention_days: int
    branches: tuple[BranchRule, ...] = ()

    def days_for(self, branch: str) -> int:
        """Retention days of commits a branch of this name stopped reaching."""
        for rule in self.branches:
            if branch == rule.pattern or fnmatch.fnmatchcase(branch, rule.pattern):
                return rule.retention_days
        return self.default_retention_days


def _days(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidArgument(f"{what} must be a non-negative integer number of days")
    return value


def from_json(body: Mapping[str, Any]) -> RetentionRules:
    """Parse lakeFS's ``GarbageCollectionRules`` JSON. Raises InvalidArgument."""
    if not isinstance(body, Mapping) or "default_retention_days" not in body:
        raise InvalidArgument("gc rules need default_retention_days")
    default = _days(body["default_retention_days"], "default_retention_days")
    branches_raw = body.get("branches") or []
    if not isinstance(branches_raw, list):
        raise InvalidArgument("branches must be a list of {branch_id, retention_days}")
    branches: list[BranchRule] = []
    for item in branches_raw:
        if not isinstance(item, Mapping) or not isinstance(item.get("branch_id"), str):
            raise InvalidArgument("each branch rule needs a branch_id (a name or a glob)")
        if not item["branch_id"]:
            raise InvalidArgument("branch_id must not be empty")
        branches.append(
            BranchRule(item["branch_id"], _days(item.get("retention_days"), "retention_days"))
        )
    return RetentionRules(default, tuple(branches))


def to_json(rules: RetentionRules) -> dict[str, Any]:
    return {
        "default_retention_days": rules.default_retention_days,
        "branches": [
            {"branch_id": b.pattern, "retention_days": b.retention_days} for b in rules.branches
        ],
    }


def encode(rules: RetentionRules) -> bytes:
    return codec.pack(
        [rules.default_retention_days, [[b.pattern, b.retention_days] for b in rules.branches]]
    )


def decode(raw: bytes) -> RetentionRules:
    v = codec.unpack(raw)
    return RetentionRules(int(v[0]), tuple(BranchRule(p, int(d)) for p, d in v[1]))
