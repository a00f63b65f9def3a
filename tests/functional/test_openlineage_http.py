"""OpenLineage events from the real server to a real HTTP endpoint started by the test; every
event validated against the OpenLineage JSON schema. (A dead endpoint: tests/unit.)"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.cli.weir_e2e import api
from tests.functional.conftest import WeirServer, run_weir
from tests.support import openlineage_schema

DEADLINE = 30.0


class Collector:
    """A lineage backend: accepts POST /api/v1/lineage and keeps the JSON bodies."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.changed = threading.Condition()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with collector.changed:
                    collector.paths.append(self.path)
                    collector.events.append(json.loads(body))
                    collector.changed.notify_all()
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def wait_for(self, n: int) -> list[dict[str, Any]]:
        with self.changed:
            ok = self.changed.wait_for(lambda: len(self.events) >= n, timeout=DEADLINE)
            assert ok, f"got {len(self.events)} event(s), expected {n}"
            return list(self.events)


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    c = Collector()
    c.thread.start()
    yield c
    c.server.shutdown()
    c.server.server_close()


@pytest.fixture(scope="module")
def server(collector: Collector, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WeirServer]:
    root = tmp_path_factory.mktemp("weir-openlineage")
    config = root / "weir.toml"
    config.write_text(f'[openlineage]\nurl = "{collector.url}"\nnamespace = "test-lake"\n')
    with run_weir(root / "data", root / "server.log", ["--config", str(config)]) as srv:
        yield srv


def metrics(server: WeirServer) -> str:
    with urllib.request.urlopen(server.endpoint + "/_metrics") as resp:
        return resp.read().decode()


def sent_count(text: str, outcome: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("weir_openlineage_events_total") and f'outcome="{outcome}"' in line
    )


def put(server: WeirServer, repo: str, branch: str, path: str, data: bytes) -> None:
    server.boto3_client().put_object(Bucket=repo, Key=f"{branch}/{path}", Body=data)


def test_commits_and_merges_reach_the_endpoint_as_valid_events(
    server: WeirServer, collector: Collector
) -> None:
    tag = uuid.uuid4().hex[:6]
    data, models = f"ol-data-{tag}", f"ol-models-{tag}"
    for repo in (data, models):
        assert (
            api(server, "POST", "/repositories", {"name": repo, "storage_namespace": ""})[0] == 201
        )
    put(server, data, "main", "train.csv", b"x,y\n")
    status, d = api(server, "POST", f"/repositories/{data}/branches/main/commits", {"message": "d"})
    assert status == 201
    assert (
        api(server, "POST", f"/repositories/{models}/branches", {"name": "dev", "source": "main"})[
            0
        ]
        == 201
    )
    put(server, models, "dev", "model.pt", b"weights")
    body = {"message": "train", "metadata": {"lr": "0.1"}, "inputs": [f"{data}@main:train.csv"]}
    status, m = api(server, "POST", f"/repositories/{models}/branches/dev/commits", body)
    assert status == 201
    status, merged = api(server, "POST", f"/repositories/{models}/refs/dev/merge/main", {})
    assert status == 200

    events = collector.wait_for(3)
    ours = [e for e in events if e["job"]["name"].startswith((data, models))]
    assert len(ours) == 3
    for e in ours:
        openlineage_schema.validate(e)
        assert e["eventType"] == "COMPLETE" and e["job"]["namespace"] == "test-lake"
    assert set(collector.paths) == {"/api/v1/lineage"}
    by_job = {e["job"]["name"]: e for e in ours}
    train = by_job[f"{models}/dev"]
    assert [(i["name"], i["facets"]["version"]["datasetVersion"]) for i in train["inputs"]] == [
        (f"{data}/main/train.csv", d["id"])
    ]
    assert train["outputs"][0]["facets"]["version"]["datasetVersion"] == m["id"]
    merge = by_job[f"{models}/main"]
    assert merge["job"]["facets"]["jobType"]["jobType"] == "MERGE"
    assert merge["outputs"][0]["facets"]["version"]["datasetVersion"] == merged["reference"]

    deadline = time.monotonic() + DEADLINE
    while sent_count(metrics(server), "sent") < 3:
        assert time.monotonic() < deadline, "the sent counter never reached 3"
        time.sleep(0.05)
