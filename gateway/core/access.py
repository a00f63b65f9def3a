"""Who is calling and what they may do: the ports both protocol layers use for auth.

The S3 layer authenticates with SigV4 and the admin API with HTTP Basic, but both look the same
access key up through ``Authenticator`` and ask the same ``Authorizer`` before every operation,
so a grant means the same thing on both APIs.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from gateway.core.lake import Lake


class Action(enum.Enum):
    """Ordered from weakest to strongest: a grant of one action implies the ones before it."""

    READ = 1  # read objects, list, diff, log, stat refs
    WRITE = 2  # put/delete/copy objects, multipart, reset staging
    COMMIT = 3  # commit, merge into, revert, cherry-pick, create/delete branches and tags
    ADMIN = 4  # repository create/delete, branch protection, grants


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller. ``run`` is set for a run credential (``weir run``): its
    requests see refs through the run's mapping and it may do no more than ``user``."""

    user: str
    access_key_id: str
    is_admin: bool = False
    run: str = ""


class Authenticator(Protocol):
    async def lookup(self, access_key_id: str) -> tuple[Principal, str] | None:
        """The principal and plaintext secret for an access key, or None if unknown/revoked."""
        ...


class Authorizer(Protocol):
    async def check(
        self, principal: Principal, action: Action, repo: str | None, branch: str | None = None
    ) -> None:
        """Raise AccessDenied unless ``principal`` may do ``action`` on ``repo``/``branch``.

        ``repo=None`` is a global action (list repositories, create a repository, manage users).
        """
        ...


class LakeScope(Protocol):
    """Chooses the ``Lake`` a request works on, right after authentication, before any handler.

    Both APIs call it for every authenticated request, so a mapping (run credentials: refs seen
    through a private branch and a snapshot) applies to both identically. For every other
    principal it returns ``lake`` itself.
    """

    async def lake_for(self, principal: Principal, lake: Lake) -> Lake: ...
