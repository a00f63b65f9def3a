"""The ``Lake`` a run credential's requests work on: every ref mapped, every read recorded.

``RunLake`` stands in for the real facade right after authentication (``RunScope.lake_for``),
so the S3 and admin handlers run unchanged and answer with the names the job used
(``main/out/x``, not ``runs/<name>/out/x``). Each method maps its refs (``RunMapping``) and
delegates; reads of objects (GET, HEAD, copy sources, admin stat/get) are recorded as
(repository, resolved commit, path, ETag) unless they saw the run's own uncommitted writes.

Fail closed: every public method of ``Lake`` is overridden here — refs mapped, results
presented under the job's names, or refused — and ``tests/unit/test_run_lake.py`` fails when
the facade gains a method this class does not decide about.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Generator, Sequence
from pathlib import Path as FsPath
from typing import Any

from gateway.core import codec
from gateway.core.errors import AccessDenied, BranchNotFound, RefNotFound, UploadNotFound
from gateway.core.heads import HeadAt
from gateway.core.ids import BranchName, CommitId
from gateway.core.lake import DiffPage, Lake, ListingPage, MergeOutcome, Upload
from gateway.core.model import Branch, Commit, Entry, RefKind, Repository, ResolvedRef, Tag
from gateway.runs.mapping import RunMapping
from gateway.runs.readlog import ReadRecorder


class _Done:
    """An awaitable that is already done (the buffered fast path of recording)."""

    def __await__(self) -> Generator[None, None, None]:
        return
        yield


_DONE = _Done()


def _refused(what: str) -> AccessDenied:
    return AccessDenied(f"a run credential may not {what}")


class RunLake(Lake):
    """``Lake`` as seen by one run's requests. Cheap to create (one per request)."""

    def __init__(self, lake: Lake, mapping: RunMapping, recorder: ReadRecorder) -> None:
        # Deliberately not Lake.__init__: this object owns nothing; it delegates.
        self.kv = lake.kv
        self.blobs = lake.blobs
        self._lake = lake
        self._map = mapping
        self._recorder = recorder
        self._tasks = set()

    # -- reads that are recorded --------------------------------------------------------------
    async def stat_read(self, repo: str, ref: str, path: str) -> tuple[ResolvedRef, Entry, bool]:
        mapped = await self._map.read_ref(repo, ref)
        resolved, entry, staged = await self._lake.stat_read(repo, mapped, path)
        if not staged:
            await self._record(repo, ref, resolved, path, entry)
        return resolved, entry, staged

    async def stat_object(self, repo: str, ref: str | ResolvedRef, path: str) -> Entry:
        if isinstance(ref, ResolvedRef):  # only ever obtained from this object: mapped already
            return await self._lake.stat_object(repo, ref, path)
        # The hot path of every GET and HEAD: kept flat (the mapping and the recording without
        # an await in the common case).
        at = self._map.commit_now(repo, ref)
        if at is not None:  # a snapshot head or a pin: a commit, nothing staged to overlay
            entry = await self._lake.stat_object(repo, at, path)
            await self._record(repo, ref, at, path, entry)
            return entry
        mapped = self._map.mapped_now(repo, ref) or await self._map.read_ref(repo, ref)
        resolved, entry, staged = await self._lake.stat_read(repo, mapped, path)
        if not staged:
            await self._record(repo, ref, resolved, path, entry)
        return entry

    def _record(
        self, repo: str, ref: str, resolved: ResolvedRef, path: str, entry: Entry
    ) -> Awaitable[None]:
        """Record a read as (repository, resolved commit, path) -> [ETag, size, name used]."""
        key = b"%s%s\x00%s\x00%s" % (
            self._map.read_key_prefix,
            repo.encode(),
            resolved.commit.encode(),
            path.encode(),
        )
        name = ref if resolved.branch is None else self._shown(repo, resolved.branch)
        value = codec.pack([entry.etag, entry.size, name])
        run_id = self._map.run.id
        if self._recorder.try_record(run_id, key, value):
            return _DONE
        return self._recorder.record(run_id, key, value)

    def _shown(self, repo: str, branch: str) -> str:
        return self._map.run.source_branch if self._map.is_run_branch(repo, branch) else branch

    # -- reads that are mapped ----------------------------------------------------------------
    async def resolve_ref(self, repo: str, ref: str) -> ResolvedRef:
        return await self._lake.resolve_ref(repo, await self._map.read_ref(repo, ref))

    async def list_objects(
        self, repo: str, ref: str | ResolvedRef, *a: Any, **k: Any
    ) -> ListingPage:
        if isinstance(ref, str):
            ref = await self._map.read_ref(repo, ref)
        return await self._lake.list_objects(repo, ref, *a, **k)

    async def get_commit(self, repo: str, ref: str) -> Commit:
        return await self._lake.get_commit(repo, await self._map.read_ref(repo, ref))

    async def log(self, repo: str, ref: str, *a: Any, **k: Any) -> Any:
        stop_at = k.get("stop_at")
        if stop_at:
            k["stop_at"] = await self._map.read_ref(repo, stop_at)
        return await self._lake.log(repo, await self._map.read_ref(repo, ref), *a, **k)

    async def diff(self, repo: str, left: str, right: str, *a: Any, **k: Any) -> Any:
        left = await self._map.read_ref(repo, left)
        right = await self._map.read_ref(repo, right)
        return await self._lake.diff(repo, left, right, *a, **k)

    async def diff_uncommitted(self, repo: str, branch: str, *a: Any, **k: Any) -> Any:
        if not self._map.is_run_branch(repo, branch):
            # Another branch as of the run's start is a commit: nothing uncommitted.
            await self._map.read_ref(repo, branch)
            return DiffPage([], [], False, None)
        return await self._lake.diff_uncommitted(repo, self._map.run.run_branch, *a, **k)

    async def path_history(self, repo: str, ref: str, path: str, *a: Any, **k: Any) -> Any:
        return await self._lake.path_history(
            repo, await self._map.read_ref(repo, ref), path, *a, **k
        )

    async def blame(self, repo: str, ref: str, *a: Any, **k: Any) -> Any:
        return await self._lake.blame(repo, await self._map.read_ref(repo, ref), *a, **k)

    async def history_paths(self, repo: str, *a: Any, **k: Any) -> Any:
        # Repository-wide (paths any commit changed): names only, no contents.
        return await self._lake.history_paths(repo, *a, **k)

    async def head_at(self, repo: str, name: str, seq: int) -> HeadAt:
        return await self._lake.head_at(repo, name, seq)

    async def get_branch(self, repo: str, name: str) -> Branch:
        if self._map.is_run_branch(repo, name):
            b = await self._lake.get_branch(repo, self._map.run.run_branch)
            return dataclasses.replace(b, name=BranchName(name))
        mapped = await self._map.read_ref(repo, name)
        if mapped == name:
            raise BranchNotFound(f"branch {name!r} not found in repository {repo!r}")
        b = await self._lake.get_branch(repo, name)
        return dataclasses.replace(b, head=CommitId(mapped))

    async def list_branches(self, repo: str, *a: Any, **k: Any) -> tuple[list[Branch], bool]:
        """The branches as the job expects them: its source branch (holding the run branch's
        state), every other branch at its snapshot head; the run branch itself is not shown
        under its own name, and branches created after the start are not shown."""
        page, more = await self._lake.list_branches(repo, *a, **k)
        run = self._map.run
        out: list[Branch] = []
        for b in page:
            if repo == run.repository and b.name == run.run_branch:
                continue
            if self._map.is_run_branch(repo, b.name):
                rb = await self._lake.get_branch(repo, run.run_branch)
                out.append(dataclasses.replace(rb, name=b.name))
                continue
            try:
                mapped = await self._map.read_ref(repo, b.name)
            except RefNotFound:
                continue  # created after the run started
            out.append(dataclasses.replace(b, head=CommitId(mapped)))
        return out, more

    # -- passed through (no refs, or repository-level reads) -------------------------------------
    async def get_repository(self, name: str) -> Repository:
        return await self._lake.get_repository(name)

    async def list_repositories(self, *a: Any, **k: Any) -> tuple[list[Repository], bool]:
        return await self._lake.list_repositories(*a, **k)

    async def get_protection_rules(self, repo: str) -> list[str]:
        return await self._lake.get_protection_rules(repo)

    async def get_tag(self, repo: str, name: str) -> Tag:
        return await self._lake.get_tag(repo, name)

    async def list_tags(self, repo: str, *a: Any, **k: Any) -> tuple[list[Tag], bool]:
        return await self._lake.list_tags(repo, *a, **k)

    async def ingest(self, *a: Any, **k: Any) -> Any:
        return await self._lake.ingest(*a, **k)

    async def read_entry(
        self, entry: Entry, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        async for chunk in self._lake.read_entry(entry, offset, length):
            yield chunk

    def local_path(self, entry: Entry) -> FsPath | None:
        return self._lake.local_path(entry)

    async def open_splice(self, entry: Entry, offset: int, length: int) -> Any:
        return await self._lake.open_splice(entry, offset, length)  # an entry read already

    # -- writes: the run branch only ------------------------------------------------------------
    def _w(self, repo: str, branch: str) -> str:
        return self._map.write_branch(repo, branch)

    async def check_writable(self, repo: str, branch: str) -> None:
        await self._lake.check_writable(repo, self._w(repo, branch))

    async def put_object(self, repo: str, branch: str, *a: Any, **k: Any) -> Entry:
        return await self._lake.put_object(repo, self._w(repo, branch), *a, **k)

    async def put_objects(self, repo: str, branch: str, *a: Any, **k: Any) -> int:
        return await self._lake.put_objects(repo, self._w(repo, branch), *a, **k)

    async def delete_object(self, repo: str, branch: str, path: str) -> bool:
        return await self._lake.delete_object(repo, self._w(repo, branch), path)

    async def delete_objects(self, repo: str, branch: str, *a: Any, **k: Any) -> Any:
        return await self._lake.delete_objects(repo, self._w(repo, branch), *a, **k)

    async def commit(self, repo: str, branch: str, *a: Any, **k: Any) -> Commit:
        return await self._lake.commit(repo, self._w(repo, branch), *a, **k)

    async def merge(self, repo: str, source: str, dest: str, *a: Any, **k: Any) -> MergeOutcome:
        dest = self._w(repo, dest)
        return await self._lake.merge(repo, await self._map.read_ref(repo, source), dest, *a, **k)

    async def revert(self, repo: str, branch: str, ref: str, *a: Any, **k: Any) -> Commit:
        branch = self._w(repo, branch)
        return await self._lake.revert(repo, branch, await self._map.read_ref(repo, ref), *a, **k)

    async def cherry_pick(self, repo: str, branch: str, ref: str, *a: Any, **k: Any) -> Commit:
        branch = self._w(repo, branch)
        ref = await self._map.read_ref(repo, ref)
        return await self._lake.cherry_pick(repo, branch, ref, *a, **k)

    async def reset_branch(self, repo: str, branch: str) -> None:
        await self._lake.reset_branch(repo, self._w(repo, branch))

    async def reset_path(self, repo: str, branch: str, *a: Any, **k: Any) -> None:
        await self._lake.reset_path(repo, self._w(repo, branch), *a, **k)

    async def hard_reset(self, repo: str, branch: str, ref: str) -> Branch:
        branch = self._w(repo, branch)
        return await self._lake.hard_reset(repo, branch, await self._map.read_ref(repo, ref))

    # -- multipart: uploads of the run branch only, shown under the job's branch name -------------
    def _present(self, upload: Upload) -> Upload:
        if not self._map.is_run_branch(upload.repo, upload.branch):
            raise UploadNotFound(f"upload {upload.upload_id!r} not found")
        return dataclasses.replace(upload, branch=BranchName(self._map.run.source_branch))

    async def create_upload(self, repo: str, branch: str, *a: Any, **k: Any) -> Upload:
        return self._present(await self._lake.create_upload(repo, self._w(repo, branch), *a, **k))

    async def get_upload(self, repo: str, upload_id: str) -> Upload:
        return self._present(await self._lake.get_upload(repo, upload_id))

    async def list_uploads(self, repo: str, *a: Any, **k: Any) -> tuple[list[Upload], bool]:
        page, more = await self._lake.list_uploads(repo, *a, **k)
        mine = [u for u in page if self._map.is_run_branch(u.repo, u.branch)]
        return [self._present(u) for u in mine], more

    async def put_part(self, repo: str, upload_id: str, *a: Any, **k: Any) -> Any:
        await self.get_upload(repo, upload_id)
        return await self._lake.put_part(repo, upload_id, *a, **k)

    async def list_parts(self, repo: str, upload_id: str, *a: Any, **k: Any) -> Any:
        await self.get_upload(repo, upload_id)
        return await self._lake.list_parts(repo, upload_id, *a, **k)

    async def complete_upload(self, repo: str, upload_id: str, *a: Any, **k: Any) -> Entry:
        branch = k.get("branch")
        if branch is None:
            await self.get_upload(repo, upload_id)
        else:
            # The engine checks the upload belongs to this (run) branch, and answers a
            # completion repeated after success from its record of it.
            k["branch"] = self._w(repo, branch)
        return await self._lake.complete_upload(repo, upload_id, *a, **k)

    async def abort_upload(self, repo: str, upload_id: str) -> None:
        await self.get_upload(repo, upload_id)
        await self._lake.abort_upload(repo, upload_id)

    # -- object tags and versions (S3) ---------------------------------------------------------
    async def set_object_tags(self, repo: str, branch: str, *a: Any, **k: Any) -> Entry:
        return await self._lake.set_object_tags(repo, self._w(repo, branch), *a, **k)

    async def part_sizes(self, entry: Entry) -> list[int]:
        return await self._lake.part_sizes(entry)  # an entry already read through this object

    async def list_versions(self, repo: str, ref: str, *a: Any, **k: Any) -> Any:
        return await self._lake.list_versions(repo, await self._map.read_ref(repo, ref), *a, **k)

    async def get_version(
        self, repo: str, ref: str, path: str, version_id: str
    ) -> tuple[Entry | None, Commit | None]:
        """A version of the run's view of ``ref``; reading one is recorded like any read."""
        if version_id == "null":
            entry = await self.stat_object(repo, ref, path)  # recorded there
            return entry, None
        mapped = await self._map.read_ref(repo, ref)
        found, at = await self._lake.get_version(repo, mapped, path, version_id)
        if found is not None and at is not None:
            await self._record(repo, ref, ResolvedRef(RefKind.COMMIT, at.id), path, found)
        return found, at

    # -- refused ----------------------------------------------------------------------------------
    async def create_repository(self, name: str, *a: Any, **k: Any) -> Repository:
        raise _refused("create repositories")

    async def commit_area(self, repo: str, *a: Any, **k: Any) -> Commit:
        raise _refused("import objects")

    async def discard_area(self, repo: str, token: str) -> None:
        raise _refused("import objects")

    async def delete_repository(self, name: str, *a: Any, **k: Any) -> None:
        raise _refused("delete repositories")

    async def create_branch(self, repo: str, name: str, source: str, *a: Any, **k: Any) -> Branch:
        raise _refused("create branches (its writes go to its own branch)")

    async def delete_branch(self, repo: str, name: str) -> None:
        raise _refused("delete branches")

    async def set_protection_rules(self, repo: str, patterns: Sequence[str]) -> None:
        raise _refused("change branch protection")

    async def create_tag(self, repo: str, name: str, ref: str) -> Tag:
        raise _refused("create tags")

    async def delete_tag(self, repo: str, name: str) -> None:
        raise _refused("delete tags")

    async def sweep(self) -> int:
        raise _refused("run housekeeping")

    async def drain(self) -> None:
        return None  # owns no background work

    async def close(self) -> None:
        return None  # owns nothing
