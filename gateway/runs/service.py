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

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from gateway.auth.grants import ref_base_name
from gateway.auth.users import NewCredentials, UserStore
from gateway.core import heads
from gateway.core.access import Action, Authorizer, Principal
from gateway.core.errors import (
    AccessDenied,
    BranchExists,
    Conflict,
    InvalidArgument,
    MergeConflict,
    WeirError,
)
from gateway.core.events import RunOutcome
from gateway.core.ids import BranchName, CommitId, RepoName
from gateway.core.lake import Lake
from gateway.core.model import Branch, Commit, CommitInput, InputRef, PathConflict
from gateway.core.ports import KVReader, KVWriter
from gateway.core.view import View, new_token
from gateway.runs import compare, inputs, store
from gateway.runs.lake import RunLake
from gateway.runs.mapping import RunMapping
from gateway.runs.model import (
    GitInfo,
    Pin,
    Run,
    RunStatus,
    check_command,
    new_run_id,
    run_branch_name,
)
from gateway.runs.readlog import ReadRecorder

log = logging.getLogger("weir.runs")

#: A run left ``finishing`` this long (a crash mid-finish) is settled by the sweeper.
FINISH_LEASE = 600.0
MAX_MAPPINGS = 1024
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


class RunService:
    """Runs over the lake, the user store and the metadata store. One per process.

    Implements ``LakeScope`` (``lake_for``) and ``RunMappings`` (``mapping``).
    """

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

    def _ttl(self, requested: float | None) -> float:
        s = self.settings
        if requested is None:
            return s.credential_ttl
        if not 1 <= requested <= s.max_credential_ttl:
            raise InvalidArgument(f"ttl_seconds must be between 1 and {int(s.max_credential_ttl)}")
        return float(requested)

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

    # -- renew and finish ----------------------------------------------------------------------
    async def _owned(self, principal: Principal, run_id: str) -> Run:
        if principal.run:
            raise AccessDenied("a run credential cannot manage runs")
        run = await self.kv.read(lambda r: store.get(r, run_id))
        if run.user != principal.user and not principal.is_admin:
            raise AccessDenied(f"run {run_id} belongs to user {run.user!r}")
        return run

    async def renew(self, principal: Principal, run_id: str, ttl: float | None = None) -> Run:
        """Extend a running run's credential by ``ttl`` from now. Raises Conflict when the run
        is over or its credential already lapsed."""
        await self._owned(principal, run_id)
        expires = time.time() + self._ttl(ttl)

        def fn(w: KVWriter) -> Run:
            run = store.get(w, run_id)
            if run.shown_status() is not RunStatus.RUNNING:
                raise Conflict(f"run {run_id} is {run.shown_status().value}")
            if not UserStore.renew_run_credentials(w, run.access_key_id, expires):
                raise Conflict(f"run {run_id}'s credential is no longer valid")
            run = run.with_(expires_at=expires)
            store.put(w, run)
            return run

        run = await self.kv.write(fn)
        return run

    async def finish(
        self, principal: Principal, run_id: str, *, exit_status: int, error: str = ""
    ) -> Finished:
        """End a run with its command's exit status (see the module docstring)."""
        await self._owned(principal, run_id)
        token = secrets.token_hex(8)

        def begin(w: KVWriter) -> Run:
            run = store.get(w, run_id)
            if run.status is not RunStatus.RUNNING:
                raise Conflict(f"run {run_id} is {run.status.value}, not running")
            now = time.time()
            UserStore.revoke_run_credentials(w, run.access_key_id)
            if now >= run.expires_at:
                run = run.with_(
                    status=RunStatus.EXPIRED,
                    ended=now,
                    exit_status=exit_status,
                    error="the run credential expired before the run finished",
                )
                _close(w, run)
                return run
            run = run.with_(
                status=RunStatus.FINISHING,
                finish_token=token,
                ended=now,
                exit_status=exit_status,
                error=error[:4096],
            )
            store.put(w, run)
            return run

        run = await self.kv.write(begin)
        self._mappings.pop(run_id, None)
        self._views.pop(run_id, None)
        if run.status is RunStatus.EXPIRED:
            await asyncio.to_thread(inputs.delete_log, self.kv, run.id)
            self._emit("fail", run)
            return Finished(run)
        self._finishing.add(run_id)
        try:
            return await self._settle(run, token)
        finally:
            self._finishing.discard(run_id)

    async def _settle(self, run: Run, token: str) -> Finished:
        await self.recorder.close_run(run.id, token)
        if not await self._all_acknowledged(run.id, token):
            return await self._fail(
                run,
                "a gateway process that served this run stopped before its reads were written: "
                "the run's inputs cannot be shown complete",
            )
        if run.exit_status != 0:
            reason = run.error or f"the command exited with status {run.exit_status}"
            return await self._fail(run, reason)
        try:
            summaries = await asyncio.to_thread(inputs.build_inputs, self.kv, run.id)
            commit = await self.lake.commit(
                run.repository,
                run.run_branch,
                message=_message(run),
                committer=run.user,
                metadata=_metadata(run),
                allow_empty=True,
                inputs=[
                    InputRef(RepoName(i.repository), i.commit, manifest=i.manifest)
                    for i in summaries
                ],
            )
        except WeirError as exc:
            return await self._fail(run, f"committing the run branch failed: {exc.message}")
        run = run.with_(
            status=RunStatus.SUCCEEDED, result_commit=commit.id, inputs=tuple(summaries)
        )
        conflicts: list[PathConflict] = []
        if run.merge:
            run, conflicts = await self._merge(run)
        if run.rerun_of:
            run = await self._compare(run)
        await self.kv.write(lambda w: _close(w, run))
        await asyncio.to_thread(inputs.delete_log, self.kv, run.id)
        self._emit("complete", run, commit)
        return Finished(run, conflicts)

    async def _merge(self, run: Run) -> tuple[Run, list[PathConflict]]:
        try:
            account = await self.users.get_user(run.user)
            user = Principal(run.user, run.access_key_id, account.admin)
            await self.authz.check(user, Action.COMMIT, run.repository, run.source_branch)
            outcome = await self.lake.merge(
                run.repository,
                run.run_branch,
                run.source_branch,
                committer=run.user,
                message=f"Merge run {run.name} ({run.id})",
                metadata={META + "id": run.id},
            )
        except MergeConflict as exc:
            return run.with_(
                merge_conflicts=len(exc.conflicts),
                error=f"merge into {run.source_branch} conflicts in {len(exc.conflicts)} path(s)",
            ), exc.conflicts
        except WeirError as exc:
            return run.with_(error=f"merge into {run.source_branch} failed: {exc.message}"), []
        return run.with_(merge_commit=outcome.commit.id), []

    async def _compare(self, run: Run) -> Run:
        original = await self.kv.read(lambda r: store.get_or_none(r, run.rerun_of))
        if original is None or not original.result_commit:
            return run
        counts = await compare.summary(
            self.lake,
            run.repository,
            run.start_commit,
            original.result_commit,
            run.result_commit,
        )
        return run.with_(comparison=counts)

    async def _fail(self, run: Run, reason: str) -> Finished:
        run = run.with_(status=RunStatus.FAILED, error=reason)
        if run.discard_on_failure:
            with contextlib.suppress(WeirError):
                await self.lake.delete_branch(run.repository, run.run_branch)

            def drop(w: KVWriter) -> None:
                heads.release_snapshot(w, run.snapshot, run.id)
                store.delete(w, run)

            await self.kv.write(drop)
        else:
            await self.kv.write(lambda w: _close(w, run))
        await asyncio.to_thread(inputs.delete_log, self.kv, run.id)
        self._emit("fail", run)
        return Finished(run, discarded=run.discard_on_failure)

    async def _all_acknowledged(self, run_id: str, token: str) -> bool:
        deadline = time.monotonic() + self.settings.finish_timeout
        while True:
            acks = await self.kv.read(lambda r: store.participants(r, run_id))
            if all(t == token for t in acks.values()):
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(min(0.02, self.settings.flush_interval))

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

    # -- housekeeping ---------------------------------------------------------------------------
    def watch(self) -> None:
        """Start the sweeper (from the event loop): it runs while runs are active, and again
        whenever this process starts one."""
        self._ensure_sweeper()

    def _ensure_sweeper(self) -> None:
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.ensure_future(self._sweep_loop())

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.sweep_interval)
            try:
                if not await self.sweep():
                    active = await self.kv.read(store.active_ids)
                    if not active:
                        return  # nothing left to watch; the next start wakes the sweeper
            except Exception:
                log.exception("run sweeper failed; retrying")

    async def sweep(self) -> int:
        """Expire runs whose credential lapsed, settle runs a crash left ``finishing``, and
        release snapshots no active run holds. Returns how many runs changed."""
        now = time.time()

        def scan(r: KVReader) -> tuple[list[Run], list[heads.Snapshot]]:
            runs = [run for i in store.active_ids(r) if (run := store.get_or_none(r, i))]
            return runs, heads.snapshots(r)

        runs, snaps = await self.kv.read(scan)
        changed = 0
        for run in runs:
            if run.status is RunStatus.RUNNING and now >= run.expires_at:
                expired = run.with_(
                    status=RunStatus.EXPIRED,
                    ended=run.ended or now,
                    error="the run credential expired before the run finished",
                )
                if await self._settle_if(expired, RunStatus.RUNNING):
                    await asyncio.to_thread(inputs.delete_log, self.kv, run.id)
                    self._emit("fail", expired)
                    changed += 1
            elif (
                run.status is RunStatus.FINISHING
                and run.id not in self._finishing
                and now - (run.ended or now) >= FINISH_LEASE
            ):
                settled = await self._settle_interrupted(run)
                if await self._settle_if(settled, RunStatus.FINISHING):
                    changed += 1
        live = {run.id for run in runs}
        stale = [s for s in snaps if s.holder not in live]
        if stale:

            def release(w: KVWriter) -> None:
                for s in stale:
                    if (
                        store.get_or_none(w, s.holder) is None
                        or not store.get(w, s.holder).status.active
                    ):
                        heads.release_snapshot(w, s.seq, s.holder)

            await self.kv.write(release)
        return changed

    async def _settle_if(self, run: Run, expected: RunStatus) -> bool:
        return await self.kv.write(lambda w: _settle_if(w, run, expected))

    async def _settle_interrupted(self, run: Run) -> Run:
        """A run a crash left ``finishing``: succeeded if its commit made it, else failed."""
        with contextlib.suppress(WeirError):
            head = await self.lake.get_commit(run.repository, run.run_branch)
            if head.metadata.get(META + "id") == run.id:
                return run.with_(status=RunStatus.SUCCEEDED, result_commit=head.id)
        return run.with_(status=RunStatus.FAILED, error="interrupted while finishing")

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
