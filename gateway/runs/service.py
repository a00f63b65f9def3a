"""Starting, finishing and finding runs; the lake scope and mappings for run credentials.

Start is one transaction: open a snapshot, create the run branch at the source branch's head
(or at a rerun's original start commit), resolve pins, create the run credential and write the
run record. Nothing half-started can exist.

Finish (``finish``) in three steps, each safe to crash in:

1. ``running`` -> ``finishing`` and the credential revoked, in one transaction (an expired run
   becomes ``expired`` there instead, and nothing else happens);
2. the read-log barrier (``gateway.runs.readlog``): every process that served the run wrote its
   reads and acknowledged;
3. exit status 0: the run branch is committed with the inputs built from the log, then merged
   into the source branch when asked; otherwise the run is ``failed`` (its branch deleted with
   ``discard_on_failure``). The final status, the snapshot release and the run's bookkeeping
   are one transaction.

A crash between 1 and 3 leaves ``finishing``: the sweeper settles it after ``FINISH_LEASE``
(``succeeded`` if the run branch already holds the run's commit, else ``failed``). A merge is
one atomic publication: a run is never half-merged. The sweeper also expires runs whose
credential lapsed (a crashed ``weir run``) and releases their snapshots.
"""

from __future__ import annotations

import time

from gateway.auth.grants import ref_base_name
from gateway.auth.users import NewCredentials
from gateway.core import heads
from gateway.core.access import Action, Principal
from gateway.core.errors import (
    AccessDenied,
    BranchExists,
    Conflict,
)
from gateway.core.ids import BranchName, CommitId
from gateway.core.lake import DiffPage, Lake
from gateway.core.model import Branch
from gateway.core.ports import KVReader, KVWriter
from gateway.core.view import View, new_token
from gateway.runs import compare, store
from gateway.runs.base import Finished, RunSettings, StartRequest
from gateway.runs.finishing import FinishOps
from gateway.runs.lake import RunLake
from gateway.runs.mapping import RunMapping
from gateway.runs.model import (
    Pin,
    Run,
    RunStatus,
    check_command,
    new_run_id,
    run_branch_name,
)

__all__ = ["Finished", "RunService", "RunSettings", "StartRequest"]

MAX_MAPPINGS = 1024


class RunService(FinishOps):
    """Runs over the lake, the user store and the metadata store. One per process.

    Implements ``LakeScope`` (``lake_for``) and ``RunMappings`` (``mapping``).
    """

    # -- the scope of run credentials ----------------------------------------------------------
    async def lake_for(self, principal: Principal, lake: Lake) -> Lake:
        if not principal.run:
            return lake
        view = self._views.get(principal.run)
        if view is None or lake is not self.lake:
            view = RunLake(lake, await self.mapping(principal.run), self.recorder)
            if lake is self.lake:
                self._views[principal.run] = view
        return view

    def cached_mapping(self, run_id: str) -> RunMapping | None:
        return self._mappings.get(run_id)

    async def mapping(self, run_id: str) -> RunMapping:
        found = self._mappings.get(run_id)
        if found is not None:
            return found
        run = await self.kv.read(lambda r: store.get_or_none(r, run_id))
        if run is None or run.status is not RunStatus.RUNNING:
            raise AccessDenied(f"run {run_id} is not running")
        if len(self._mappings) >= MAX_MAPPINGS:
            self._mappings.clear()
            self._views.clear()
        mapping = self._mappings[run_id] = RunMapping(run, self.lake)
        return mapping

    # -- start -----------------------------------------------------------------------------------
    async def start(
        self, principal: Principal, req: StartRequest, *, rerun_of: Run | None = None
    ) -> tuple[Run, NewCredentials]:
        """Create a run and its credential. Raises AccessDenied, NotFound, BranchExists,
        InvalidArgument."""
        if principal.run:
            raise AccessDenied("a run credential cannot start runs")
        command = check_command(req.command)
        repo = req.repository
        repository = await self.lake.get_repository(repo)
        source = req.source_branch or repository.default_branch
        run_id = new_run_id()
        name = req.name or run_id
        branch = run_branch_name(name)
        ttl = self._ttl(req.ttl)
        await self.authz.check(principal, Action.READ, repo, source)
        await self.authz.check(principal, Action.COMMIT, repo, branch)
        if req.merge:
            await self.authz.check(principal, Action.COMMIT, repo, source)
        for pin in req.pins:
            await self.authz.check(principal, Action.READ, pin.repository, pin.branch or None)
            await self.authz.check(principal, Action.READ, pin.repository, ref_base_name(pin.ref))
        now = time.time()
        expires = now + ttl

        def fn(w: KVWriter) -> tuple[Run, NewCredentials]:
            view = View(w)
            src = view.branch(repo, source)
            start_commit = src.head if rerun_of is None else CommitId(rerun_of.start_commit)
            view.commit(repo, start_commit)
            if view.branch_or_none(repo, branch) is not None:
                raise BranchExists(f"branch {branch!r} already exists: choose another run name")
            seq = heads.open_snapshot(w, run_id, expires)
            heads.put_branch(w, repo, Branch(BranchName(branch), start_commit, new_token()), None)
            pins = tuple(
                Pin(p.repository, p.branch, p.ref, view.resolve(p.repository, p.ref).commit)
                for p in req.pins
            )
            creds = self.users.create_run_credentials(
                w, user=principal.user, run=run_id, expires_at=expires
            )
            run = Run(
                id=run_id,
                name=name,
                repository=repo,
                source_branch=source,
                run_branch=branch,
                start_commit=start_commit,
                snapshot=seq,
                user=principal.user,
                access_key_id=creds.access_key_id,
                command=command,
                created=now,
                expires_at=expires,
                pins=pins,
                git=req.git,
                merge=req.merge,
                discard_on_failure=req.discard_on_failure,
                rerun_of="" if rerun_of is None else rerun_of.id,
                metadata=dict(req.metadata),
            )
            store.put(w, run)
            return run, creds

        run, creds = await self.kv.write(fn)
        self._emit("start", run)
        self._ensure_sweeper()
        return run, creds

    async def rerun(
        self, principal: Principal, original_id: str, req: StartRequest
    ) -> tuple[Run, NewCredentials]:
        """A new run of a succeeded run's command, from its start commit, with every read
        pinned to the commit the original read."""
        original = await self.get(principal, original_id)
        if original.status is not RunStatus.SUCCEEDED:
            raise Conflict(f"run {original.id} did not succeed: nothing to reproduce")
        pins: dict[tuple[str, str], Pin] = {(p.repository, p.branch): p for p in original.pins}
        for i in original.inputs:
            for ref in i.refs:
                if i.repository == original.repository and ref == original.source_branch:
                    continue  # the new run branch starts at the original start commit
                pins[(i.repository, ref)] = Pin(i.repository, ref, i.commit)
        meta = dict(req.metadata)
        start = StartRequest(
            repository=original.repository,
            command=req.command or original.command,
            source_branch=original.source_branch,
            name=req.name,
            pins=list(pins.values()),
            git=req.git,
            ttl=req.ttl,
            metadata=meta,
        )
        return await self.start(principal, start, rerun_of=original)

    # -- queries --------------------------------------------------------------------------------
    async def get(self, principal: Principal, run_id: str) -> Run:
        run = await self.kv.read(lambda r: store.get(r, run_id))
        await self._may_see(principal, run)
        return run

    async def _may_see(self, principal: Principal, run: Run) -> None:
        if principal.run:
            raise AccessDenied("a run credential cannot read run records")
        if run.user != principal.user:
            await self.authz.check(principal, Action.READ, run.repository, None)

    async def list_runs(
        self, principal: Principal, repo: str | None, *, before: str = "", limit: int = 100
    ) -> tuple[list[Run], bool]:
        """Runs newest first (those of ``repo``, or every run the caller may see)."""
        if principal.run:
            raise AccessDenied("a run credential cannot read run records")
        if repo is not None:
            await self.lake.get_repository(repo)
            await self.authz.check(principal, Action.READ, repo, None)

        def fn(r: KVReader) -> list[Run]:
            out: list[Run] = []
            for run in store.iter_runs(r, repo, before=before):
                out.append(run)
                if len(out) > limit * 4:
                    break
            return out

        candidates = await self.kv.read(fn)
        out: list[Run] = []
        for run in candidates:
            try:
                await self._may_see(principal, run)
            except AccessDenied:
                continue
            out.append(run)
            if len(out) > limit:
                break
        return out[:limit], len(out) > limit or len(candidates) > limit * 4

    async def outputs(
        self, principal: Principal, run_id: str, *, after: str = "", limit: int = 1000
    ) -> DiffPage:
        """What a succeeded run wrote: its commit's changes against its start commit."""
        run = await self.get(principal, run_id)
        if not run.result_commit:
            return DiffPage([], [], False, None)
        return await self.lake.diff(
            run.repository, run.start_commit, run.result_commit, after=after, limit=limit
        )

    async def comparison(
        self, principal: Principal, run_id: str, *, after: str = "", limit: int = 1000
    ) -> list[compare.Verdict]:
        run = await self.get(principal, run_id)
        if not run.rerun_of or run.status is not RunStatus.SUCCEEDED:
            raise Conflict(f"run {run_id} is not a succeeded rerun: nothing to compare")
        original = await self.kv.read(lambda r: store.get(r, run.rerun_of))
        return [
            v
            async for v in compare.compare(
                self.lake,
                run.repository,
                run.start_commit,
                original.result_commit,
                run.result_commit,
                after=after,
                limit=limit,
            )
        ]
