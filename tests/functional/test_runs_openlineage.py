"""Runs emit OpenLineage START and COMPLETE / FAIL through the lineage emitter (a real HTTP
endpoint started by the test; every event validated against the OpenLineage schema)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from gateway.client.api import AdminClient
from gateway.client.runs import RunsApi
from tests.functional.conftest import WeirServer
from tests.functional.test_openlineage_http import (  # noqa: F401 - fixtures
    Collector,
    collector,
    server,
)
from tests.support import openlineage_schema


def _run_events(sink: Collector, job: str, n: int) -> list[dict[str, Any]]:
    def mine() -> list[dict[str, Any]]:
        # The run's own events (its branch's commit also reports, as a COMMIT job).
        return [
            e
            for e in sink.events
            if e["job"]["name"] == job and e["job"]["facets"]["jobType"]["jobType"] == "RUN"
        ]

    with sink.changed:
        ok = sink.changed.wait_for(lambda: len(mine()) >= n, timeout=30)
        assert ok, f"{len(mine())} event(s) for {job}, expected {n}"
        # Worker processes deliver independently: the order of arrival is not the order of
        # the events, their time is.
        return sorted(mine(), key=lambda e: datetime.fromisoformat(str(e["eventTime"])))


def test_runs_emit_start_complete_and_fail(
    server: WeirServer,  # noqa: F811
    collector: Collector,  # noqa: F811
) -> None:
    api = AdminClient(server.endpoint, server.access_key, server.secret_key)
    tag = uuid.uuid4().hex[:6]
    data, models = f"olr-data-{tag}", f"olr-models-{tag}"
    s3 = server.boto3_client()
    for repo in (data, models):
        s3.create_bucket(Bucket=repo)
    s3.put_object(Bucket=data, Key="main/train.csv", Body=b"x\n")
    data_commit = api.commit(data, "main", "data")["id"]
    runs = RunsApi(api)

    started = runs.start(models, ["train"], name="ok", pins=[f"{data}@main"])
    done = runs.finish(started["id"], 0)
    assert done["status"] == "succeeded"
    events = _run_events(collector, f"{models}/runs/ok", 2)
    for event in events:
        openlineage_schema.validate(event)
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    assert {e["run"]["runId"] for e in events} == {events[0]["run"]["runId"]}
    assert events[1]["outputs"][0]["facets"]["version"]["datasetVersion"] == done["result_commit"]
    start_inputs = [i["facets"]["version"]["datasetVersion"] for i in events[0]["inputs"]]
    assert start_inputs == [data_commit]

    failed = runs.start(models, ["train"], name="bad")
    runs.finish(failed["id"], 2, "boom")
    events = _run_events(collector, f"{models}/runs/bad", 2)
    for event in events:
        openlineage_schema.validate(event)
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
