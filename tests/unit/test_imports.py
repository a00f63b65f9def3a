"""The engine side of zero-copy imports: job records, leases, private areas, one commit.

On in-memory stores; the external reader is a fake here (the real one is exercised against
SeaweedFS in tests/functional/test_import.py).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from gateway.core import imports, keys
from gateway.core.errors import (
    BranchNotFound,
    Conflict,
    NoChanges,
    SourceChanged,
    StorageFault,
)
from gateway.core.imports import ImportJob, LeaseLost, Source, State
from gateway.core.lake import Lake
from gateway.core.model import Entry, external_address, parse_external
from tests.unit.lake_helpers import memory_lake, put, read

URL = "s3://bucket/events/a.bin"


def entry(path: str, import_id: str = "imp1", etag: str = "e1", size: int = 3) -> Entry:
    return Entry(address=external_address(import_id, f"s3://bucket/{path}"), size=size, etag=etag)


def job(**kw: object) -> ImportJob:
    base: dict[str, object] = {
        "id": "imp1",
        "repo": "repo",
        "branch": "main",
        "sources": (Source("common_prefix", "s3://bucket/events/", ""),),
        "message": "import",
        "metadata": {},
        "committer": "admin",
        "token": "import-t1",
        "created": time.time(),
        "updated": time.time(),
        "owner": "p1",
    }
    base.update(kw)
    return ImportJob(**base)  # type: ignore[arg-type]


@pytest.fixture
async def lake() -> AsyncIterator[Lake]:
    lk = memory_lake()
    await lk.create_repository("repo")
    await put(lk, "repo", "main", "readme", b"hello")
    await lk.commit("repo", "main", message="first", committer="t")
    yield lk
    await lk.close()


def test_external_addresses_and_identity() -> None:
    a = entry("x/a.bin", import_id="first")
    assert a.is_external and not a.is_multipart
    assert parse_external(a.address) == ("first", "s3://bucket/x/a.bin")
    # The same source object, brought in by another import: the same content identity.
    assert entry("x/a.bin", import_id="second").identity() == a.identity()
    # Another version of it (ETag or size): a change.
    assert entry("x/a.bin", etag="e2").identity() != a.identity()
    assert entry("x/a.bin", size=4).identity() != a.identity()
    assert entry("x/b.bin").identity() != a.identity()


async def test_an_area_is_committed_at_once_and_invisible_before(lake: Lake) -> None:
    j = job()
    await lake.kv.write(lambda w: imports.create(w, j))
    page = [(f"imported/{i:03d}", entry(f"events/{i:03d}")) for i in range(10)]
    await lake.kv.write(
        lambda w: imports.stage(
            w, "repo", "imp1", "p1", page, source_index=0, after="events/009", now=time.time()
        )
    )
    # Staged privately: neither the branch nor its uncommitted changes show it.
    listed = await lake.list_objects("repo", "main", prefix="imported/")
    assert listed.objects == []
    head = (await lake.get_branch("repo", "main")).head
    commit = await lake.commit_area(
        "repo",
        "main",
        j.token,
        message="import",
        committer="admin",
        on_publish=lambda w, c: imports.complete(w, "repo", "imp1", "p1", c.id, time.time()),
    )
    assert commit.parents == (head,)
    listed = await lake.list_objects("repo", "main", prefix="imported/")
    assert [p for p, _ in listed.objects] == [p for p, _ in page]
    done = await lake.kv.read(lambda r: imports.get(r, "repo", "imp1"))
    assert (done.state, done.commit, done.ingested) == (State.COMPLETED, commit.id, 10)
    assert await read(lake, "repo", "main", "readme") == b"hello"  # the rest is untouched
    # Committing the same entries again (another import of the same sources) changes nothing.
    again = [(p, entry(f"events/{i:03d}", import_id="imp2")) for i, (p, _) in enumerate(page)]
    base = keys.staging("repo", "import-t2")
    await lake.kv.write(lambda w: [w.put(base + p.encode(), _staged(e)) for p, e in again])
    with pytest.raises(NoChanges):
        await lake.commit_area("repo", "main", "import-t2", message="m", committer="a")


def _staged(e: Entry) -> bytes:
    from gateway.core import staging

    return staging.encode(e)


async def test_a_failed_publication_commits_nothing(lake: Lake) -> None:
    base = keys.staging("repo", "import-t3")
    await lake.kv.write(lambda w: w.put(base + b"new", _staged(entry("events/new"))))
    head = (await lake.get_branch("repo", "main")).head

    def refuse(w: object, c: object) -> None:
        raise LeaseLost("taken over")

    with pytest.raises(LeaseLost):
        await lake.commit_area(
            "repo", "main", "import-t3", message="m", committer="a", on_publish=refuse
        )
    assert (await lake.get_branch("repo", "main")).head == head


async def test_leases_cancel_and_take_over(lake: Lake) -> None:
    j = job(updated=time.time() - 100)
    await lake.kv.write(lambda w: imports.create(w, j))
    now = time.time()
    # A job whose lease is fresh is not taken over; an expired one is.
    assert (
        await lake.kv.write(lambda w: imports.take_over(w, "repo", "imp1", "p2", now, lease=1000))
        is None
    )
    taken = await lake.kv.write(lambda w: imports.take_over(w, "repo", "imp1", "p2", now, 30))
    assert taken is not None and taken.owner == "p2"
    # The old owner can no longer write pages.
    with pytest.raises(LeaseLost):
        await lake.kv.write(
            lambda w: imports.stage(w, "repo", "imp1", "p1", [], source_index=0, after="", now=now)
        )
    ended = await lake.kv.write(
        lambda w: imports.end(w, "repo", "imp1", State.CANCELLED, "cancelled", now)
    )
    assert ended.state is State.CANCELLED
    with pytest.raises(LeaseLost):  # a cancelled job stops at its next page
        await lake.kv.write(
            lambda w: imports.stage(w, "repo", "imp1", "p2", [], source_index=0, after="", now=now)
        )
    done = job(id="imp2", state=State.COMPLETED, commit="c" * 64)
    await lake.kv.write(lambda w: imports.create(w, done))
    with pytest.raises(Conflict):
        await lake.kv.write(lambda w: imports.end(w, "repo", "imp2", State.CANCELLED, "", now))
    with pytest.raises(BranchNotFound):
        await lake.kv.write(lambda w: imports.create(w, job(id="imp3", branch="nope")))
    running = await lake.kv.read(imports.running)
    assert running == []


class FakeSource:
    def __init__(self, data: bytes, etag: str, changed: bool = False) -> None:
        self.data, self.etag, self.changed = data, etag, changed

    async def read(
        self, url: str, *, etag: str, size: int, offset: int, length: int
    ) -> AsyncIterator[bytes]:
        if self.changed or etag != self.etag or size != len(self.data):
            raise SourceChanged(f"{url} has changed")
        yield self.data[offset : offset + length]


async def test_reads_of_imported_entries_go_to_their_source(lake: Lake) -> None:
    e = Entry(address=external_address("imp9", URL), size=5, etag="e1")
    await lake.put_object("repo", "main", "ext", e)
    with pytest.raises(StorageFault):  # no reader configured: a server fault, clearly named
        await read(lake, "repo", "main", "ext")
    lake.external = FakeSource(b"hello", "e1")
    assert await read(lake, "repo", "main", "ext") == b"hello"
    entry_ = await lake.stat_object("repo", "main", "ext")
    assert b"".join([c async for c in lake.read_entry(entry_, 1, 3)]) == b"ell"
    assert await lake.open_splice(entry_, 0, 5) is None
    assert lake.local_path(entry_) is None
    lake.external = FakeSource(b"hello", "e1", changed=True)
    with pytest.raises(SourceChanged, match="import imp9"):
        await read(lake, "repo", "main", "ext")


async def test_the_start_up_sweep_keeps_running_imports_areas(lake: Lake) -> None:
    j = job(token="import-live")
    await lake.kv.write(lambda w: imports.create(w, j))
    page = [("kept", entry("events/kept"))]
    await lake.kv.write(
        lambda w: imports.stage(
            w, "repo", "imp1", "p1", page, source_index=0, after="events/kept", now=time.time()
        )
    )
    base = keys.staging("repo", "import-live")

    def staged() -> list[bytes]:
        return [
            k for k, _ in lake.kv.read_sync(lambda r: list(r.scan(base, keys.prefix_end(base))))
        ]

    await lake.sweep()  # a server start: areas no branch names are purged, but not this one
    assert staged() == [base + b"kept"]
    await lake.kv.write(lambda w: imports.end(w, "repo", "imp1", State.FAILED, "x", time.time()))
    await lake.sweep()  # once the import has ended, its area is garbage
    assert staged() == []
