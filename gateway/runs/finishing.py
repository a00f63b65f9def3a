"""Ending runs: renew, finish (the three steps of ``gateway.runs.service``'s docstring), merge,
rerun comparison, failure and discard, and the sweeper that expires runs whose credential lapsed
and settles runs a crash left ``finishing``."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import secrets
import time

from gateway.auth.users import UserStore
from gateway.core import heads
from gateway.core.access import Action, Principal
from gateway.core.errors import (
    Conflict,
    MergeConflict,
    WeirError,
)
from gateway.core.ids import RepoName
from gateway.core.model import InputRef, PathConflict
from gateway.core.ports import KVReader, KVWriter
from gateway.runs import compare, inputs, store
from gateway.runs.base import (
    FINISH_LEASE,
    META,
    Finished,
    RunServiceBase,
    _close,
    _message,
    _metadata,
    _settle_if,
)
from gateway.runs.model import (
    Run,
    RunStatus,
)

log = logging.getLogger("weir.runs")


class FinishOps(RunServiceBase):
    """Renewing and ending runs; housekeeping."""

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

    # -- housekeeping ---------------------------------------------------------------------------
    def watch(self) -> None:
        """Start the sweeper (from the event loop): it runs while runs are active, and again
        whenever this process starts one."""
        self._ensure_sweeper()

    def _ensure_sweeper(self) -> None:
        if self._sweeper is None or self._sweeper.done():
            # A fresh context: the sweeper outlives the request that started it and must not
            # carry that request's context variables (its audit scope) into its writes.
            self._sweeper = asyncio.get_running_loop().create_task(
                self._sweep_loop(), context=contextvars.Context()
            )

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
