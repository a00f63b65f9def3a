"""Runs in-process: the ref mapping, the read log, inputs, finishing, expiry, sweeping."""

from __future__ import annotations

import asyncio
import inspect
import time

import pytest

from gateway.auth.grants import Grant
from gateway.auth.users import UserStore
from gateway.core import codec, errors, heads, tree
from gateway.core.access import Action, Principal
from gateway.core.lake import Lake
from gateway.core.ports import KVWriter
from gateway.core.view import KVNodeStore
from gateway.runs import inputs, store
from gateway.runs.lake import RunLake
from gateway.runs.mapping import RunAuthorizer
from gateway.runs.model import RunStatus, parse_pin
from gateway.runs.service import RunService, RunSettings, StartRequest
from tests.unit.lake_helpers import memory_lake, put, read

ADMIN = Principal("admin", "AKIAADMIN", is_admin=True)


class World:
    def __init__(self) -> None:
        self.lake = memory_lake()
        self.users = UserStore(self.lake.kv, bytes(32))
        self.runs = RunService(
            self.lake,
            self.users,
            self.users,
            settings=RunSettings(flush_interval=0.01, finish_timeout=1.0),
        )
        self.authz = RunAuthorizer(self.users, self.runs)

    async def as_run(self, key_id: str) -> tuple[Principal, Lake]:
        found = await self.users.lookup(key_id)
        assert found is not None
        principal = found[0]
        return principal, await self.runs.lake_for(principal, self.lake)


@pytest.fixture
async def world() -> World:
    w = World()
    await w.users.ensure_admin("AKIAADMIN", "secret")
    for repo in ("data", "models"):
        await w.lake.create_repository(repo)
    await put(w.lake, "data", "main", "raw/a", b"A1")
    await put(w.lake, "data", "main", "raw/b", b"B1")
    await w.lake.commit("data", "main", message="raw", committer="t")
    await put(w.lake, "models", "main", "cfg", b"c")
    await w.lake.commit("models", "main", message="cfg", committer="t")
    return w


def test_every_lake_method_is_decided_by_run_lake() -> None:
    """A facade method RunLake does not override would bypass the ref mapping."""
    public = {
        name
        for name, member in inspect.getmembers(Lake)
        if not name.startswith("_") and callable(member)
    }
    undecided = {name for name in public if name not in RunLake.__dict__}
    assert undecided == set(), f"RunLake must map, present or refuse: {sorted(undecided)}"


async def test_mapping_isolation_and_recording(world: World) -> None:
    lake = world.lake
    run, creds = await world.runs.start(ADMIN, StartRequest("models", ["train"]))
    assert run.run_branch == f"runs/{run.id}" and run.status is RunStatus.RUNNING
    data_head = (await lake.get_branch("data", "main")).head
    principal, view = await world.as_run(creds.access_key_id)
    assert principal.run == run.id and isinstance(view, RunLake)

    # main moves after the start: the run still reads the start's state.
    await put(lake, "data", "main", "raw/a", b"A2")
    await lake.commit("data", "main", message="moved", committer="t")
    assert await read(view, "data", "main", "raw/a") == b"A1"
    assert await read(lake, "data", "main", "raw/a") == b"A2"
    # Own repository: reads and writes of main go to the run branch.
    await put(view, "models", "main", "model.bin", b"weights")
    assert await read(view, "models", "main", "model.bin") == b"weights"
    with pytest.raises(errors.ObjectNotFound):
        await lake.stat_object("models", "main", "model.bin")
    assert await read(lake, "models", run.run_branch, "model.bin") == b"weights"
    # Writes anywhere else are refused.
    with pytest.raises(errors.AccessDenied):
        await put(view, "data", "main", "x", b"x")
    with pytest.raises(errors.AccessDenied):
        await view.create_branch("models", "other", "main")
    # Listing shows the job's names.
    page = await view.list_objects("models", "main")
    assert [p for p, _ in page.objects] == ["cfg", "model.bin"]
    names = [b.name for b in (await view.list_branches("models"))[0]]
    assert names == ["main"]
    data_branches = (await view.list_branches("data"))[0]
    assert [(b.name, b.head) for b in data_branches] == [("main", data_head)]

    # Reads are recorded (not the run's own write), then flushed by the loop or by finish.
    done = await world.runs.finish(ADMIN, run.id, exit_status=0)
    assert done.run.status is RunStatus.SUCCEEDED
    by_repo = {(i.repository, i.commit): i for i in done.run.inputs}
    start = run.start_commit
    assert set(by_repo) == {("data", data_head)}
    assert by_repo[("data", data_head)].paths == 1 and by_repo[("data", data_head)].refs == (
        "main",
    )
    commit = await lake.get_commit("models", run.run_branch)
    assert commit.parents == (start,)
    assert [(i.repository, i.commit) for i in commit.inputs] == [("data", data_head)]
    manifest = bytes.fromhex(commit.inputs[0].manifest)
    rows = await lake.kv.read(lambda r: list(tree.iterate(manifest, KVNodeStore(r))))
    assert [(p, e.etag) for p, e in rows] == [("raw/a", rows[0][1].etag)]
    assert rows[0][1].size == 2
    # The credential is gone, the log too, and main is untouched.
    assert await world.users.lookup(creds.access_key_id) is None
    assert (
        await lake.kv.read(lambda r: list(r.scan(store.READS, store.prefix_end(store.READS)))) == []
    )
    with pytest.raises(errors.ObjectNotFound):
        await lake.stat_object("models", "main", "model.bin")
    assert await lake.kv.read(heads.snapshots) == []


async def test_reading_own_committed_inputs_and_merge(world: World) -> None:
    run, creds = await world.runs.start(ADMIN, StartRequest("models", ["t"], merge=True))
    _, view = await world.as_run(creds.access_key_id)
    assert await read(view, "models", "main", "cfg") == b"c"  # an input from the start commit
    await put(view, "models", "main", "out", b"o")
    assert await read(view, "models", "main", "out") == b"o"  # its own write: not an input
    done = await world.runs.finish(ADMIN, run.id, exit_status=0)
    assert [(i.repository, i.commit, i.paths) for i in done.run.inputs] == [
        ("models", run.start_commit, 1)
    ]
    assert done.run.merge_commit
    assert await read(world.lake, "models", "main", "out") == b"o"


async def test_pins_snapshot_of_new_branches_and_authorization(world: World) -> None:
    lake = world.lake
    await lake.create_branch("data", "v1-branch", "main")
    tag_commit = (await lake.get_branch("data", "main")).head
    await lake.create_tag("data", "v1", "main")
    await put(lake, "data", "main", "raw/a", b"A2")
    await lake.commit("data", "main", message="moved", committer="t")
    await world.users.create_user("bob")
    await world.users.add_grant("bob", Grant("models", "*", Action.COMMIT))
    await world.users.add_grant("bob", Grant("data", "*", Action.READ))
    bob = Principal("bob", "AKIABOB")
    run, creds = await world.runs.start(
        bob, StartRequest("models", ["t"], pins=[parse_pin("data@v1")])
    )
    principal, view = await world.as_run(creds.access_key_id)
    assert await read(view, "data", "main", "raw/a") == b"A1"  # pinned to v1
    assert (await view.resolve_ref("data", "main~0")).commit == tag_commit
    await lake.create_branch("data", "later", "main")
    with pytest.raises(errors.RefNotFound):
        await view.stat_object("data", "later", "raw/a")
    # Authorization: the user's grants on the mapped scope, reads only outside the run branch.
    await world.authz.check(principal, Action.WRITE, "models", "main")
    with pytest.raises(errors.AccessDenied):
        await world.authz.check(principal, Action.WRITE, "data", "main")
    with pytest.raises(errors.AccessDenied):
        await world.authz.check(principal, Action.READ, "secret", "main")
    with pytest.raises(errors.AccessDenied):
        await world.authz.check(principal, Action.ADMIN, None)
    await world.lake.create_repository("secret")
    with pytest.raises(errors.AccessDenied):
        await world.runs.start(bob, StartRequest("secret", ["t"]))
    # Finishing: only its user or an admin.
    await world.users.create_user("eve")
    with pytest.raises(errors.AccessDenied):
        await world.runs.finish(Principal("eve", "AKIAEVE"), run.id, exit_status=0)
    with pytest.raises(errors.AccessDenied):
        await world.runs.finish(principal, run.id, exit_status=0)  # not with its own key
    done = await world.runs.finish(bob, run.id, exit_status=3)
    assert done.run.status is RunStatus.FAILED and "status 3" in done.run.error
    assert await lake.get_branch("models", run.run_branch)


async def test_failure_discard_and_expiry(world: World) -> None:
    run, creds = await world.runs.start(
        ADMIN, StartRequest("models", ["t"], discard_on_failure=True)
    )
    _, view = await world.as_run(creds.access_key_id)
    await put(view, "models", "main", "half", b"h")
    done = await world.runs.finish(ADMIN, run.id, exit_status=1)
    assert done.discarded
    with pytest.raises(errors.BranchNotFound):
        await world.lake.get_branch("models", run.run_branch)
    with pytest.raises(store.RunNotFound):
        await world.runs.get(ADMIN, run.id)

    run, creds = await world.runs.start(ADMIN, StartRequest("models", ["t"], ttl=1))
    deadline = time.monotonic() + 10
    while await world.users.lookup(creds.access_key_id) is not None:
        assert time.monotonic() < deadline, "the credential did not expire"
        await asyncio.sleep(0.02)
    assert (await world.runs.get(ADMIN, run.id)).shown_status() is RunStatus.EXPIRED
    assert await world.runs.sweep() == 1
    assert (await world.runs.get(ADMIN, run.id)).status is RunStatus.EXPIRED
    assert await world.lake.kv.read(heads.snapshots) == []
    with pytest.raises(errors.Conflict):
        await world.runs.finish(ADMIN, run.id, exit_status=0)


async def test_a_participant_that_never_acknowledges_fails_the_run(world: World) -> None:
    run, _ = await world.runs.start(ADMIN, StartRequest("models", ["t"]))
    # Another process registered for this run and then died before writing its reads.
    await world.lake.kv.write(
        lambda w: w.put(store.participant_key(run.id, "dead-process"), codec.pack(""))
    )
    done = await world.runs.finish(ADMIN, run.id, exit_status=0)
    assert done.run.status is RunStatus.FAILED
    assert "stopped before its reads" in done.run.error


async def test_many_reads_become_one_manifest_per_commit(world: World) -> None:
    """The manifest build streams the log page by page into the tree builder."""
    run, _ = await world.runs.start(ADMIN, StartRequest("models", ["t"]))
    commit = (await world.lake.get_branch("data", "main")).head
    n = 3 * inputs.PAGE + 7

    def fill(w: KVWriter) -> None:
        for i in range(n):
            key = store.read_key(run.id, "data", commit, f"p/{i:06d}")
            w.put(key, codec.pack(["e" * 32, i, "main"]))

    await world.lake.kv.write(fill)
    summaries = await asyncio.to_thread(inputs.build_inputs, world.lake.kv, run.id)
    assert [(s.repository, s.commit, s.paths, s.refs) for s in summaries] == [
        ("data", commit, n, ("main",))
    ]
    rows = list(inputs.manifest_rows(world.lake.kv, summaries[0].manifest, limit=3))
    assert [(p, e.size) for p, e in rows] == [("p/000000", 0), ("p/000001", 1), ("p/000002", 2)]
    # Content-addressed: the same reads give the same manifest.
    again = await asyncio.to_thread(inputs.build_inputs, world.lake.kv, run.id)
    assert again[0].manifest == summaries[0].manifest
