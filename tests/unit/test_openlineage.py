"""The OpenLineage emitter: events valid against the schema, never blocking, bounded, retried,
dropped with a count."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from gateway.core.events import RunOutcome
from gateway.core.ids import RepoName
from gateway.core.model import InputRef
from gateway.lineage.openlineage import (
    EmitterConfig,
    OpenLineageEmitter,
    commit_run_id,
    metric_series,
    run_uuid,
)
from tests.functional.conftest import free_port
from tests.support import openlineage_schema
from tests.unit.lake_helpers import memory_lake, put


async def test_commit_merge_and_run_events_to_a_json_lines_file(tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    emitter = OpenLineageEmitter(EmitterConfig(file=str(out), namespace="lake"))
    lake = memory_lake()
    lake.events = emitter
    for r in ("data", "models"):
        await lake.create_repository(r)
    await put(lake, "data", "main", "a", b"1")
    data = await lake.commit("data", "main", message="d", committer="ann")
    await lake.create_branch("models", "dev", "main")
    await put(lake, "models", "dev", "m", b"w")
    model = await lake.commit(
        "models",
        "dev",
        message="train",
        committer="bob",
        metadata={"lr": "0.1", "git": "3f2a9c1"},
        inputs=[InputRef(RepoName("data"), "main", "a")],
    )
    merge = await lake.merge("models", "dev", "main", committer="bob")
    emitter.run_started(
        run_id="r-1", repo="models", branch="runs/r-1", name="train", started_at=1.7e9
    )
    emitter.run_finished(
        run_id="r-1",
        repo="models",
        branch="runs/r-1",
        name="train",
        ended_at=1.7e9 + 5,
        outcome=RunOutcome.FAIL,
        error="exit status 3",
    )
    assert emitter.close() == 0
    events = [json.loads(line) for line in out.read_text().splitlines()]
    for e in events:
        openlineage_schema.validate(e)
    assert [(e["eventType"], e["job"]["name"]) for e in events] == [
        ("COMPLETE", "data/main"),
        ("COMPLETE", "models/dev"),
        ("COMPLETE", "models/main"),
        ("START", "models/runs/train"),
        ("FAIL", "models/runs/train"),
    ]
    trained = events[1]
    assert trained["run"]["runId"] == commit_run_id(model.id)
    assert trained["job"]["facets"]["jobType"]["jobType"] == "COMMIT"
    (given,) = trained["inputs"]
    assert (given["namespace"], given["name"]) == ("lake", "data/main/a")
    assert given["facets"]["version"]["datasetVersion"] == data.id
    assert trained["outputs"][0]["name"] == "models/dev"
    assert trained["outputs"][0]["facets"]["version"]["datasetVersion"] == model.id
    params = {
        p["key"]: p.get("value")
        for p in trained["run"]["facets"]["executionParameters"]["parameters"]
    }
    assert (
        params["lr"] == "0.1" and params["git"] == "3f2a9c1" and params["weir.committer"] == "bob"
    )
    merged = events[2]
    assert merged["job"]["facets"]["jobType"]["jobType"] == "MERGE"
    assert {(i["name"], i["facets"]["version"]["datasetVersion"]) for i in merged["inputs"]} == {
        ("models/main", merge.commit.parents[0]),
        ("models/dev", model.id),
    }
    assert events[4]["run"]["runId"] == run_uuid("r-1") == events[3]["run"]["runId"]
    assert events[4]["run"]["facets"]["errorMessage"]["message"] == "exit status 3"
    with pytest.raises(jsonschema.ValidationError):
        openlineage_schema.validate({**trained, "run": {"runId": "not-a-uuid"}})


class GatedTransport:
    """Blocks every delivery until released; records what it delivered."""

    def __init__(self, fail_first: int = 0) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.delivered: list[Any] = []
        self.attempts = 0
        self.fail_first = fail_first

    def emit(self, event: Any) -> None:
        self.entered.set()
        assert self.gate.wait(30), "test never released the transport"
        self.attempts += 1
        if self.attempts <= self.fail_first:
            raise ConnectionError("backend down")
        self.delivered.append(event)


async def test_a_stuck_backend_never_blocks_the_caller_and_overflow_is_counted() -> None:
    transport = GatedTransport()
    emitter = OpenLineageEmitter(EmitterConfig(queue_size=2), transport=transport)
    lake = memory_lake()
    lake.events = emitter
    await lake.create_repository("data")
    await put(lake, "data", "main", "a", b"0")
    await lake.commit("data", "main", message="0", committer="t")
    assert transport.entered.wait(30)  # the first event is being delivered, and is stuck
    for i in range(1, 8):
        await put(lake, "data", "main", "a", str(i).encode())
        await lake.commit("data", "main", message=str(i), committer="t")  # returns: not blocked
    assert emitter.stats["dropped_queue_full"] == 5  # 2 wait in the queue, 5 did not fit
    transport.gate.set()
    assert emitter.close() == 0
    assert emitter.stats["sent"] == 3 and len(transport.delivered) == 3
    series = {labels: value for name, _, _, labels, value in metric_series(emitter) if labels}
    assert series == {
        'outcome="dropped_delivery_failed"': 0.0,
        'outcome="dropped_queue_full"': 5.0,
        'outcome="sent"': 3.0,
    }


async def test_failed_deliveries_are_retried_then_dropped_with_a_count() -> None:
    transport = GatedTransport(fail_first=2)
    transport.gate.set()
    emitter = OpenLineageEmitter(EmitterConfig(retries=2, backoff=0.001), transport=transport)
    lake = memory_lake()
    lake.events = emitter
    await lake.create_repository("data")
    await lake.commit("data", "main", message="x", committer="t", allow_empty=True)
    emitter.close()
    assert transport.attempts == 3 and emitter.stats["sent"] == 1  # third attempt got through

    always = GatedTransport(fail_first=1000)
    always.gate.set()
    failing = OpenLineageEmitter(EmitterConfig(retries=2, backoff=0.001), transport=always)
    lake.events = failing
    await lake.commit("data", "main", message="y", committer="t", allow_empty=True)
    failing.close()
    assert always.attempts == 3
    assert failing.stats == {"sent": 0, "dropped_queue_full": 0, "dropped_delivery_failed": 1}


async def test_an_unreachable_endpoint_fails_nothing_and_the_drop_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there: the real HTTP transport
    emitter = OpenLineageEmitter(EmitterConfig(url=dead, retries=1, backoff=0.001, timeout=1.0))
    lake = memory_lake()
    lake.events = emitter
    await lake.create_repository("data")
    made = await lake.commit("data", "main", message="x", committer="t", allow_empty=True)
    assert (await lake.get_commit("data", "main")).id == made.id
    with caplog.at_level("WARNING", logger="weir.openlineage"):
        emitter.close()
    assert emitter.stats == {"sent": 0, "dropped_queue_full": 0, "dropped_delivery_failed": 1}
    assert "dropped COMPLETE event of job data/main after 2 attempt(s)" in caplog.text


def test_needs_exactly_one_destination() -> None:
    with pytest.raises(ValueError):
        OpenLineageEmitter(EmitterConfig())
    with pytest.raises(ValueError):
        OpenLineageEmitter(EmitterConfig(url="http://x", file="/tmp/y"))
