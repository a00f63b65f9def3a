"""The start-up sweep (``Lake.sweep``) drops staging areas no branch uses, but not the private
area of a running import: the import resumes from its cursor after a restart (decision 0022).
Found while landing GC: ``tests/functional/test_import.py::test_a_killed_server_resumes_its_import``
lost its ingested entries whenever the restarted server swept first."""

from __future__ import annotations

import time

from gateway.core import imports, keys
from gateway.core.model import Entry, external_address
from gateway.core.ports import KVReader
from tests.unit.lake_helpers import memory_lake


async def test_sweep_keeps_a_running_imports_area_and_drops_a_finished_ones() -> None:
    lake = memory_lake()
    await lake.create_repository("repo")
    now = time.time()
    job = imports.ImportJob(
        id="imp1",
        repo="repo",
        branch="main",
        sources=(imports.Source("common_prefix", "s3://b/p/", ""),),
        message="m",
        metadata={},
        committer="t",
        token="f" * 32,
        created=now,
        updated=now,
        owner="process-1",
    )
    await lake.kv.write(lambda w: imports.create(w, job))
    entry = Entry(address=external_address("imp1", "s3://b/p/x"), size=1, etag="e")
    await lake.kv.write(
        lambda w: imports.stage(
            w, "repo", "imp1", "process-1", [("x", entry)], source_index=0, after="p/x", now=now
        )
    )
    area = keys.staging("repo", job.token)

    def staged(r: KVReader) -> int:
        return len(list(r.scan(area, keys.prefix_end(area))))

    await lake.sweep()
    assert await lake.kv.read(staged) == 1
    await lake.kv.write(
        lambda w: imports.end(w, "repo", "imp1", imports.State.FAILED, "gone", time.time())
    )
    await lake.sweep()
    assert await lake.kv.read(staged) == 0
