"""Grants and the rule that decides whether a set of grants allows an action.

A grant gives one user one ``Action`` on the repositories matching a glob and the branches
matching a glob. Actions are ordered (READ < WRITE < COMMIT < ADMIN): a grant implies every
weaker action. Patterns are ``fnmatch.fnmatchcase`` globs (``*``, ``?``, ``[...]``), matched
case-sensitively against the whole name.

How a check's scope meets a grant (the same rule for the S3 and the admin API):

* ``repo is None`` (global: list repositories, manage users): READ is allowed to anyone holding
  at least one grant; anything stronger only to admins.
* ``branch is None`` (repository-wide: list branches or tags, create a tag, delete the
  repository, set protection): READ needs a grant on the repository (any branch pattern);
  stronger actions need a grant whose branch pattern is exactly ``*``.
* ``branch`` given: the grant's repository and branch patterns must both match. Reads of a ref
  expression are checked against its base name (``main~2`` and ``main@`` check ``main``; a tag
  or commit id is checked as it is written).
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from gateway.core.access import Action

ACTION_NAMES: dict[str, Action] = {a.name.lower(): a for a in Action}
_REF_MODIFIERS = re.compile(r"(@|[~^][0-9]*)+$")


def parse_action(name: str) -> Action:
    """``"read"`` -> Action.READ (case-insensitive). Raises ValueError for an unknown name."""
    try:
        return ACTION_NAMES[name.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown action {name!r}: one of {', '.join(ACTION_NAMES)}") from None


@dataclass(frozen=True, slots=True)
class Grant:
    """One permission: ``action`` (and weaker) on ``repository``/``branch`` glob matches."""

    repository: str
    branch: str
    action: Action

    @property
    def id(self) -> str:
        """Stable id derived from the content: granting the same thing twice is one grant."""
        raw = f"{self.repository}\x00{self.branch}\x00{self.action.name}".encode()
        return hashlib.sha256(raw).hexdigest()[:16]


def ref_base_name(ref: str) -> str:
    """The branch/tag name a ref expression starts from: ``main~1`` -> ``main``."""
    return _REF_MODIFIERS.sub("", ref) or ref


def allows(grants: Iterable[Grant], action: Action, repo: str | None, branch: str | None) -> bool:
    """Whether ``grants`` allow ``action`` in the scope (see the module docstring)."""
    for g in grants:
        if g.action.value < action.value:
            continue
        if repo is None:
            if action is Action.READ:
                return True
            continue
        if not fnmatch.fnmatchcase(repo, g.repository):
            continue
        if branch is None:
            if action is Action.READ or g.branch == "*":
                return True
            continue
        if fnmatch.fnmatchcase(branch, g.branch):
            return True
    return False
