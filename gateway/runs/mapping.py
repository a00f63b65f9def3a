"""How a run credential sees refs: the mapping applied to every ref a run's request names.

For a run of ``REPO`` from ``BRANCH`` (its private branch ``runs/<name>``):

* ``REPO/BRANCH`` (and ``REPO/runs/<name>`` itself) -> the run branch, for reads and writes: the
  job sees its own writes;
* a branch-level pin ``REPO2/B@REF`` -> the commit REF named at the start (reruns pin every
  branch the original read);
* any other branch of any repository -> the commit it pointed at when the run started
  (``gateway.core.heads``), or the commit of a repository-wide pin ``REPO2@REF``; a branch
  created after the start does not exist for the run;
* tags and commit ids are immutable and pass unchanged;
* writes anywhere but the run branch are refused: a run's effects stay on its branch until it
  succeeds (and ``--merge`` merges them).

Ref expressions keep their modifiers: ``main~2`` becomes ``<run branch>~2`` or ``<commit>~2``.
A snapshot lookup is one seek, made once per (repository, branch) and run in this process.
"""

from __future__ import annotations

from typing import Protocol

from gateway.core.access import Action, Authorizer, Principal
from gateway.core.errors import AccessDenied, RefNotFound
from gateway.core.ids import CommitId
from gateway.core.lake import Lake
from gateway.core.model import RefKind, ResolvedRef
from gateway.core.refexpr import parse_ref
from gateway.runs import store
from gateway.runs.model import Run

#: Snapshot lookups remembered per run (a job touching more branches just looks them up again).
MAX_CACHED_HEADS = 4096


class RunMapping:
    """The ref mapping of one run. Immutable run facts plus a cache of snapshot lookups.

    Shared by every request of the run in this process; used from the event loop only.
    """

    def __init__(self, run: Run, lake: Lake) -> None:
        self.run = run
        self._lake = lake
        self._pins = {(p.repository, p.branch): p.commit for p in run.pins}
        self._repo_pins = {p.repository for p in run.pins if not p.branch}
        self._heads: dict[tuple[str, str], str | None] = {}
        #: (repo, ref) -> mapped ref, for mappings fixed for the run's life (branch-derived).
        self._mapped: dict[tuple[str, str], str] = {}
        #: (repo, ref) -> the commit it reads, for refs mapped to a bare commit id (snapshots
        #: and pins): served without resolving the id again.
        self._commits: dict[tuple[str, str], ResolvedRef] = {}
        self.read_key_prefix = store.reads_of(run.id)

    def is_run_branch(self, repo: str, branch: str) -> bool:
        run = self.run
        return repo == run.repository and branch in (run.source_branch, run.run_branch)

    def mapped_now(self, repo: str, ref: str) -> str | None:
        """``read_ref`` without I/O when the answer is at hand (the common case), else None."""
        return self._mapped.get((repo, ref))

    async def read_ref(self, repo: str, ref: str) -> str:
        """The ref expression a read of ``repo/ref`` resolves instead.

        Raises InvalidName (malformed expression), RefNotFound (a branch created after the
        run started).
        """
        found = self._mapped.get((repo, ref))
        if found is not None:
            return found
        base = parse_ref(ref).base
        suffix = ref[len(base) :]
        if self.is_run_branch(repo, base):
            return self._fixed(repo, ref, self.run.run_branch + suffix)
        pinned = self._pins.get((repo, base))
        if pinned is not None:
            return self._fixed(repo, ref, pinned + suffix, commit=not suffix)
        head = await self._head(repo, base)
        if head is None:
            return ref  # not a branch when the run started, nor since: a tag or a commit id
        if not head:
            raise RefNotFound(
                f"branch {base!r} of {repo!r} did not exist when run {self.run.id} started"
            )
        if repo in self._repo_pins:
            return self._fixed(repo, ref, self._pins[(repo, "")] + suffix, commit=not suffix)
        return self._fixed(repo, ref, head + suffix, commit=not suffix)

    def _fixed(self, repo: str, ref: str, mapped: str, *, commit: bool = False) -> str:
        if len(self._mapped) >= MAX_CACHED_HEADS:
            self._mapped.clear()
            self._commits.clear()
        self._mapped[(repo, ref)] = mapped
        if commit:
            self._commits[(repo, ref)] = ResolvedRef(kind=RefKind.COMMIT, commit=CommitId(mapped))
        return mapped

    def commit_now(self, repo: str, ref: str) -> ResolvedRef | None:
        """The commit a read of ``repo/ref`` reads, when it is mapped to a bare commit id
        already looked up (a snapshot head or a pin), else None."""
        return self._commits.get((repo, ref))

    async def _head(self, repo: str, branch: str) -> str | None:
        """The branch's head as of the run's start; "" when it did not exist then but does
        now (or existed in between); None when the name was not a branch then nor since."""
        key = (repo, branch)
        cached = self._heads.get(key)
        if cached is not None:
            return cached
        at = await self._lake.head_at(repo, branch, self.run.snapshot)
        if at.head is not None:
            found: str | None = at.head
        elif at.exists_now:
            found = ""
        else:
            found = None
        if found is not None:  # "not a branch" is looked up again: one could be created later
            if len(self._heads) >= MAX_CACHED_HEADS:
                self._heads.clear()
            self._heads[key] = found
        return found

    def write_branch(self, repo: str, branch: str) -> str:
        """The branch a write to ``repo/branch`` goes to. Raises AccessDenied elsewhere."""
        if self.is_run_branch(repo, branch):
            return self.run.run_branch
        run = self.run
        raise AccessDenied(
            f"run {run.id} writes only to {run.repository}/{run.source_branch} (its branch "
            f"{run.run_branch}); {repo}/{branch} is read-only for the run"
        )


class RunAuthorizer:
    """The ``Authorizer`` both APIs use: unchanged for ordinary credentials; for a run
    credential, the user's own grants checked on the *mapped* scope (a run can do no more than
    the user who started it), and nothing but reads outside the run branch.

    Args:
        users: the ordinary authorizer (``UserStore``).
        runs: finds a run's mapping by run id.
    """

    def __init__(self, users: Authorizer, runs: RunMappings) -> None:
        self._users = users
        self._runs = runs

    async def check(
        self, principal: Principal, action: Action, repo: str | None, branch: str | None = None
    ) -> None:
        if not principal.run:
            await self._users.check(principal, action, repo, branch)
            return
        # The user's own grants decide (``principal`` carries the user and its admin flag).
        if repo is None or branch is None:
            if action is not Action.READ:
                raise AccessDenied(
                    "a run credential may not change repositories, tags, users or settings"
                )
            await self._users.check(principal, action, repo, branch)
            return
        if action is Action.READ and principal.is_admin:
            return  # an admin may read anything; the mapping decides what it reads
        mapping = self._runs.cached_mapping(principal.run) or await self._runs.mapping(
            principal.run
        )
        if action is Action.READ:
            target = mapping.run.run_branch if mapping.is_run_branch(repo, branch) else branch
        else:
            target = mapping.write_branch(repo, branch)
        await self._users.check(principal, action, repo, target)


class RunMappings(Protocol):
    """Where ``RunAuthorizer`` and the lake scope find a run's mapping (the run service)."""

    async def mapping(self, run_id: str) -> RunMapping:
        """The run's mapping. Raises AccessDenied when the run is not running."""
        ...

    def cached_mapping(self, run_id: str) -> RunMapping | None:
        """The run's mapping when this process has it at hand (no I/O), else None."""
        ...
