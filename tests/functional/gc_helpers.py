"""Helpers for garbage-collection tests against a real server: run a collection through the
admin API and wait for it (bounded)."""

from __future__ import annotations

import time
from typing import Any

from gateway.client.api import AdminClient
from tests.functional.conftest import WeirServer

#: A collection of a test-sized lake takes well under a second; this bounds a hang, it is not
#: a timing assertion.
GC_DEADLINE_S = 120.0
POLL_S = 0.05


def admin(server: WeirServer) -> AdminClient:
    return AdminClient(server.endpoint, server.access_key, server.secret_key)


def run_gc(client: AdminClient, **kwargs: Any) -> dict[str, Any]:
    """Start a collection and wait until it is no longer running; return its report."""
    run: dict[str, Any] = client.start_gc(**kwargs)
    deadline = time.monotonic() + GC_DEADLINE_S
    while run["state"] == "running":
        assert time.monotonic() < deadline, f"collection {run['id']} still running: {run}"
        time.sleep(POLL_S)
        run = client.get_gc_run(run["id"])
    return run
