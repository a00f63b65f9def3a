"""Import jobs: start, follow, cancel, and the background work that lists sources and commits.

One ``ImportService`` per server process. A job runs as a task of the process that started it
(or took it over): it lists each source page by page -- every page written to the job's private
staging area in one transaction with the job's cursor -- then commits the area onto the branch
in one compare-and-swap, in the transaction that marks the job completed
(``gateway.core.imports``). A process that dies leaves its jobs running with an expiring lease;
``take_over`` in any process (every ``lease / 2`` seconds, and at start) resumes them from their
cursor. Cancelling (from any process) ends the job in the metadata store; the task notices at
its next page and drops the private area. See docs/decisions/0022-zero-copy-import.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
import time
from collections.abc import Sequence

from gateway.core import imports
from gateway.core.errors import InvalidArgument, NoChanges, WeirError
from gateway.core.imports import ImportJob, LeaseLost, Source, State
from gateway.core.lake import Lake
from gateway.core.model import Entry, external_address
from gateway.core.names import check_path
from gateway.importer.model import ExternalObject, Lister, parse_url

log = logging.getLogger("weir.importer")

KINDS = ("common_prefix", "object")
DEFAULT_MESSAGE = "Import objects"


class ImportService:
    """See the module docstring.

    Args:
        lake: the facade (the commit, the purge of private areas).
        source: where external objects are listed and read.
        lease: seconds after which a job whose process stopped renewing it is taken over.
    """

    def __init__(self, lake: Lake, source: Lister, *, lease: float = 30.0) -> None:
        self.lake = lake
        self.kv = lake.kv
        self.source = source
        self.lease = lease
        self.owner = secrets.token_hex(8)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._watcher: asyncio.Task[None] | None = None

    # -- the API ----------------------------------------------------------------------------------

    async def start(
        self,
        repo: str,
        branch: str,
        sources: Sequence[Source],
        *,
        committer: str,
        message: str = "",
        metadata: dict[str, str] | None = None,
    ) -> ImportJob:
        """Record a job and start it. Raises InvalidArgument (a bad source), RepositoryNotFound,
        BranchNotFound, ProtectedBranch."""
        if not sources:
            raise InvalidArgument("an import needs at least one source")
        checked = [_checked(s) for s in sources]
        now = time.time()
        job = ImportJob(
            id=imports.new_id(),
            repo=repo,
            branch=branch,
            sources=tuple(checked),
            message=message or DEFAULT_MESSAGE,
            metadata=dict(metadata or {}),
            committer=committer,
            token="import-" + secrets.token_hex(12),
            created=now,
            updated=now,
            owner=self.owner,
        )
        await self.kv.write(lambda w: imports.create(w, job))
        self._spawn(job)
        return job

    async def status(self, repo: str, import_id: str) -> ImportJob:
        return await self.kv.read(lambda r: imports.get(r, repo, import_id))

    async def jobs(self, repo: str) -> list[ImportJob]:
        return await self.kv.read(lambda r: imports.listing(r, repo))

    async def cancel(self, repo: str, import_id: str) -> ImportJob:
        """End a running job (from any process); its private area is dropped. Raises Conflict
        when it has completed, ImportNotFound."""
        job = await self.kv.write(
            lambda w: imports.end(w, repo, import_id, State.CANCELLED, "cancelled", time.time())
        )
        task = self._tasks.get(import_id)
        if task is None:  # not ours (or not running): drop the area here
            await self.lake.discard_area(repo, job.token)
        return job

    # -- background -------------------------------------------------------------------------------

    def start_background(self) -> None:
        """Resume the jobs of processes that stopped (now, and every ``lease / 2`` seconds)."""
        if self._watcher is None:
            self._watcher = asyncio.ensure_future(self._take_over_forever())

    async def close(self) -> None:
        """Stop this process's tasks; their jobs stay running and resume elsewhere or at the
        next start."""
        tasks = [t for t in [self._watcher, *self._tasks.values()] if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(BaseException):
                await t
        self._tasks.clear()
        self._watcher = None
        await self.source.close()

    async def take_over(self) -> int:
        """Resume every running job whose lease expired; how many were taken."""
        now = time.time()
        taken = 0
        for job in await self.kv.read(imports.running):
            if job.id in self._tasks or now - job.updated < self.lease:
                continue
            claimed = await self.kv.write(
                functools.partial(
                    imports.take_over,
                    repo=job.repo,
                    import_id=job.id,
                    owner=self.owner,
                    now=now,
                    lease=self.lease,
                )
            )
            if claimed is not None:
                log.info("resuming import %s of %s/%s", job.id, job.repo, job.branch)
                self._spawn(claimed)
                taken += 1
        return taken

    async def _take_over_forever(self) -> None:
        while True:
            try:
                await self.take_over()
            except WeirError as exc:
                log.warning("import take-over failed (retried): %s", exc.message)
            await asyncio.sleep(self.lease / 2)  # a schedule, not a synchronisation

    def _spawn(self, job: ImportJob) -> None:
        task = asyncio.ensure_future(self._run(job))
        self._tasks[job.id] = task
        task.add_done_callback(functools.partial(self._forget, job.id))

    def _forget(self, import_id: str, _task: object) -> None:
        self._tasks.pop(import_id, None)

    # -- one job ----------------------------------------------------------------------------------

    async def _run(self, job: ImportJob) -> None:
        renewer = asyncio.ensure_future(self._renew(job))
        try:
            job = await self._list(job)
            await self._commit(job)
        except LeaseLost:
            ended = await self.status(job.repo, job.id)
            if ended.state in (State.CANCELLED, State.FAILED):
                await self.lake.discard_area(job.repo, job.token)
        except WeirError as exc:
            log.warning("import %s failed: %s", job.id, exc.message)
            await self._fail(job, exc.message)
        finally:
            renewer.cancel()
            with contextlib.suppress(BaseException):
                await renewer

    async def _fail(self, job: ImportJob, error: str) -> None:
        with contextlib.suppress(WeirError):
            await self.kv.write(
                lambda w: imports.end(w, job.repo, job.id, State.FAILED, error, time.time())
            )
            await self.lake.discard_area(job.repo, job.token)

    async def _renew(self, job: ImportJob) -> None:
        """Keep the lease while the job runs (pages renew it too; a long commit does not)."""
        while True:
            await asyncio.sleep(self.lease / 3)  # a schedule, not a synchronisation
            with contextlib.suppress(WeirError):
                await self.kv.write(
                    lambda w: imports.renew(w, job.repo, job.id, self.owner, time.time())
                )

    async def _stage(
        self, job: ImportJob, items: list[tuple[str, Entry]], index: int, after: str
    ) -> ImportJob:
        return await self.kv.write(
            functools.partial(
                imports.stage,
                repo=job.repo,
                import_id=job.id,
                owner=self.owner,
                items=items,
                source_index=index,
                after=after,
                now=time.time(),
            )
        )

    async def _list(self, job: ImportJob) -> ImportJob:
        while not job.listed and job.source_index < len(job.sources):
            index = job.source_index
            src = job.sources[index]
            if src.kind == "object":
                obj = await self.source.head(src.url)
                bucket, _ = parse_url(src.url)
                items = _entries(job.id, bucket, [(src.destination, obj)])
                job = await self._stage(job, items, index + 1, "")
                continue
            bucket, prefix = parse_url(src.url)
            dest = _dest_prefix(src.destination)
            async for page in self.source.pages(src.url, after=job.after):
                pairs = [(_path(dest, prefix, o.key), o) for o in page]
                items = _entries(job.id, bucket, [(p, o) for p, o in pairs if p is not None])
                job = await self._stage(job, items, index, page[-1].key)
            job = await self._stage(job, [], index + 1, "")
        if not job.listed:
            job = await self.kv.write(
                lambda w: imports.listed(w, job.repo, job.id, self.owner, time.time())
            )
        return job

    async def _commit(self, job: ImportJob) -> None:
        metadata = dict(job.metadata)
        metadata.setdefault("import_id", job.id)
        metadata.setdefault("import_sources", " ".join(s.url for s in job.sources))
        try:
            commit = await self.lake.commit_area(
                job.repo,
                job.branch,
                job.token,
                message=job.message,
                committer=job.committer,
                metadata=metadata,
                on_publish=lambda w, c: imports.complete(
                    w, job.repo, job.id, self.owner, c.id, time.time()
                ),
            )
        except NoChanges:
            if job.ingested == 0:
                where = ", ".join(s.url for s in job.sources)
                raise NoChanges(f"no objects found under {where}") from None
            await self.kv.write(
                lambda w: imports.complete(w, job.repo, job.id, self.owner, "", time.time())
            )
            await self.lake.discard_area(job.repo, job.token)
            return
        log.info("import %s committed %s (%d objects)", job.id, commit.id[:12], job.ingested)
        await self.lake.discard_area(job.repo, job.token)


def _checked(s: Source) -> Source:
    if s.kind not in KINDS:
        raise InvalidArgument(f"import source type must be one of {', '.join(KINDS)}")
    _, key = parse_url(s.url)
    if s.kind == "object":
        if not key or key.endswith("/"):
            raise InvalidArgument(f"{s.url!r} names no object")
        check_path(s.destination or key.rsplit("/", 1)[-1])
        return Source(s.kind, s.url, s.destination or key.rsplit("/", 1)[-1])
    if s.destination:
        check_path(s.destination)
    return s


def _dest_prefix(destination: str) -> str:
    d = destination.lstrip("/")
    return d if not d or d.endswith("/") else d + "/"


def _path(dest: str, prefix: str, key: str) -> str | None:
    """The branch path of ``key`` (listed under ``prefix``) below ``dest``; None when it has
    none (the object named exactly like the prefix, or a key no path can hold: skipped)."""
    rel = key[len(prefix) :].lstrip("/")
    if not rel:
        return None
    try:
        return check_path(dest + rel)
    except WeirError:
        return None


def _entries(
    import_id: str, bucket: str, objects: Sequence[tuple[str, ExternalObject]]
) -> list[tuple[str, Entry]]:
    return [
        (
            path,
            Entry(
                address=external_address(import_id, f"s3://{bucket}/{o.key}"),
                size=o.size,
                etag=o.etag,
                mtime=o.last_modified,
            ),
        )
        for path, o in objects
    ]
