"""Isolated runs from Python: the run API, and ``run(...)`` for jobs that want no CLI.

``with run("models") as r:`` starts a run of repository ``models`` from its default branch:
``r`` holds a temporary credential and the S3 endpoint, and any S3 client configured with
them (``r.env()``, ``r.boto3_kwargs()``, ``r.storage_options()``) reads and writes
``s3://models/main/...`` on the run's private branch, and every other branch as it was when
the run started. On normal exit the run branch is committed with the inputs the job read (and
merged with ``merge=True``); on an exception the run is marked failed and the exception goes on.
The credential is renewed in the background while the block runs.

Standard library only, like the rest of ``gateway.client``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlsplit

from gateway.client.api import AdminClient, ApiError, ConnectionFailed, Json

#: Environment variables an S3 client must not inherit next to the run credential.
CLEARED_ENV = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE")


def _seg(value: str) -> str:
    return quote(value, safe="")


class RunsApi:
    """The ``/runs`` routes of the admin API over an :class:`AdminClient`."""

    def __init__(self, client: AdminClient) -> None:
        self.client = client

    def start(
        self,
        repo: str,
        command: Sequence[str],
        *,
        source_branch: str = "",
        name: str = "",
        pins: Sequence[str] = (),
        merge: bool = False,
        discard_on_failure: bool = False,
        ttl_seconds: int | None = None,
        git: Mapping[str, Any] | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> Json:
        body: dict[str, Any] = {
            "command": list(command),
            "source_branch": source_branch,
            "name": name,
            "pins": list(pins),
            "merge": merge,
            "discard_on_failure": discard_on_failure,
            "metadata": dict(metadata or {}),
        }
        if ttl_seconds is not None:
            body["ttl_seconds"] = ttl_seconds
        if git is not None:
            body["git"] = dict(git)
        return self.client.request("POST", f"/repositories/{_seg(repo)}/runs", json_body=body)

    def rerun(
        self,
        run_id: str,
        *,
        name: str = "",
        ttl_seconds: int | None = None,
        git: Mapping[str, Any] | None = None,
    ) -> Json:
        body: dict[str, Any] = {"name": name}
        if ttl_seconds is not None:
            body["ttl_seconds"] = ttl_seconds
        if git is not None:
            body["git"] = dict(git)
        return self.client.request("POST", f"/runs/{_seg(run_id)}/rerun", json_body=body)

    def get(self, run_id: str) -> Json:
        return self.client.request("GET", f"/runs/{_seg(run_id)}")

    def list(self, repo: str = "", limit: int | None = None) -> Iterator[Json]:
        if repo:
            return self.client.paginate(f"/repositories/{_seg(repo)}/runs", limit=limit)
        return self.client.paginate("/runs", limit=limit)

    def renew(self, run_id: str, ttl_seconds: int | None = None) -> Json:
        body = {} if ttl_seconds is None else {"ttl_seconds": ttl_seconds}
        return self.client.request("POST", f"/runs/{_seg(run_id)}/renew", json_body=body)

    def finish(self, run_id: str, exit_status: int, error: str = "") -> Json:
        body = {"exit_status": exit_status, "error": error}
        return self.client.request("POST", f"/runs/{_seg(run_id)}/finish", json_body=body)

    def outputs(self, run_id: str) -> Iterator[Json]:
        return self.client.paginate(f"/runs/{_seg(run_id)}/outputs")

    def comparison(self, run_id: str) -> Iterator[Json]:
        return self.client.paginate(f"/runs/{_seg(run_id)}/comparison")


def git_info(path: str = ".") -> dict[str, Any] | None:
    """The git commit and dirty flag of the checkout containing ``path``; None outside one
    (or without git)."""
    try:
        head = subprocess.run(
            ["git", "-C", path, "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if head.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "-C", path, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}


def s3_endpoint(admin_endpoint: str) -> str:
    """The S3 endpoint of a Weir server from its admin API base URL (same port, path /)."""
    parts = urlsplit(admin_endpoint)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass
class RunHandle:
    """A started run: what a job needs to point its S3 clients at it."""

    id: str
    name: str
    repository: str
    branch: str  # the branch name the job uses (the run's source branch)
    run_branch: str  # where its writes land: runs/<name>
    endpoint: str  # the S3 endpoint
    access_key_id: str
    secret_access_key: str = field(repr=False)
    region: str = "us-east-1"
    expires_at: float = 0.0
    started: Json = field(default=None, repr=False)
    result: Json = field(default=None, repr=False)  # the finished run, after the block

    @classmethod
    def from_started(cls, body: Json, endpoint: str, region: str = "us-east-1") -> RunHandle:
        creds = body["credentials"]
        return cls(
            id=body["id"],
            name=body["name"],
            repository=body["repository"],
            branch=body["source_branch"],
            run_branch=body["run_branch"],
            endpoint=endpoint,
            access_key_id=creds["access_key_id"],
            secret_access_key=creds["secret_access_key"],
            region=region,
            expires_at=float(creds["expires_at"]),
            started=body,
        )

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """``base`` (default: this process's environment) with the standard S3 variables set
        to the run credential, plus ``WEIR_RUN_ID``, ``WEIR_REPO``, ``WEIR_BRANCH`` and the
        ``WEIR_*`` connection settings (a ``weir`` command in the job acts as the run)."""
        env = {k: v for k, v in (os.environ if base is None else base).items()}
        for name in CLEARED_ENV:
            env.pop(name, None)
        env.update(
            AWS_ACCESS_KEY_ID=self.access_key_id,
            AWS_SECRET_ACCESS_KEY=self.secret_access_key,
            AWS_ENDPOINT_URL=self.endpoint,
            AWS_ENDPOINT_URL_S3=self.endpoint,
            AWS_REGION=self.region,
            AWS_DEFAULT_REGION=self.region,
            WEIR_RUN_ID=self.id,
            WEIR_REPO=self.repository,
            WEIR_BRANCH=self.branch,
            WEIR_RUN_BRANCH=self.run_branch,
            WEIR_ENDPOINT=self.endpoint,
            WEIR_ACCESS_KEY_ID=self.access_key_id,
            WEIR_SECRET_ACCESS_KEY=self.secret_access_key,
        )
        return env

    def boto3_kwargs(self) -> dict[str, str]:
        """``boto3.client("s3", **r.boto3_kwargs())``."""
        return {
            "endpoint_url": self.endpoint,
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
            "region_name": self.region,
        }

    def storage_options(self) -> dict[str, Any]:
        """For s3fs-based readers (pandas, Polars, Dask): ``storage_options=...``."""
        return {
            "key": self.access_key_id,
            "secret": self.secret_access_key,
            "client_kwargs": {"endpoint_url": self.endpoint, "region_name": self.region},
        }


class Heartbeat:
    """Renews a run's credential every ``interval`` seconds until stopped (a daemon thread).

    A failed renewal is retried at the next beat; when the run is over (409) it stops.
    """

    def __init__(self, api: RunsApi, run_id: str, interval: float) -> None:
        self._api = api
        self._run = run_id
        self._interval = max(interval, 0.5)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"weir-run-{run_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _beat(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._api.renew(self._run)
            except ApiError as exc:
                if exc.status in (403, 404, 409):
                    return
            except ConnectionFailed:
                continue


def renew_interval(started: Json, now: float) -> float:
    """A third of the credential's lifetime: two renewals may fail before it lapses."""
    return max((float(started["credentials"]["expires_at"]) - now) / 3, 0.5)


class RunFailed(Exception):
    """The run could not be completed (commit failed, merge conflict, credential expired).

    Attributes:
        run: the run as the server reported it at the end.
        conflicts: the complete conflict list of a failed merge (else empty).
    """

    def __init__(self, message: str, run: Json) -> None:
        super().__init__(message)
        self.run = run
        self.conflicts: list[Json] = list(run.get("conflicts") or []) if run else []


@contextmanager
def run(
    repo: str,
    *,
    source_branch: str = "",
    name: str = "",
    pins: Sequence[str] = (),
    merge: bool = False,
    discard_on_failure: bool = False,
    ttl_seconds: int | None = None,
    command: Sequence[str] | None = None,
    metadata: Mapping[str, str] | None = None,
    endpoint: str | None = None,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    region: str = "us-east-1",
) -> Iterator[RunHandle]:
    """Run the block as an isolated, recorded run of ``repo`` (see the module docstring).

    Connection settings default to ``WEIR_ENDPOINT``, ``WEIR_ACCESS_KEY_ID`` and
    ``WEIR_SECRET_ACCESS_KEY``. ``command`` (recorded, for ``weir rerun``) defaults to this
    process's command line.

    Raises:
        RunFailed: after the block, when the run could not be committed or merged.
        ApiError, ConnectionFailed: the run could not be started or finished.
    """
    client = AdminClient(
        endpoint or os.environ.get("WEIR_ENDPOINT", "http://127.0.0.1:8000"),
        access_key_id or os.environ.get("WEIR_ACCESS_KEY_ID", ""),
        secret_access_key or os.environ.get("WEIR_SECRET_ACCESS_KEY", ""),
    )
    api = RunsApi(client)
    argv = list(command) if command is not None else [sys.executable, *sys.argv]
    started = api.start(
        repo,
        argv,
        source_branch=source_branch,
        name=name,
        pins=pins,
        merge=merge,
        discard_on_failure=discard_on_failure,
        ttl_seconds=ttl_seconds,
        git=git_info(),
        metadata=metadata,
    )
    handle = RunHandle.from_started(started, s3_endpoint(client.endpoint), region)
    try:
        with Heartbeat(api, handle.id, renew_interval(started, time.time())):
            yield handle
    except BaseException as exc:
        status = 130 if isinstance(exc, KeyboardInterrupt) else 1
        handle.result = api.finish(handle.id, status, f"{type(exc).__name__}: {exc}"[:4000])
        raise
    handle.result = api.finish(handle.id, 0)
    result = handle.result
    if result.get("status") != "succeeded":
        raise RunFailed(f"run {handle.id} {result.get('status')}: {result.get('error')}", result)
    if result.get("conflicts"):
        raise RunFailed(f"run {handle.id}: {result.get('error')}", result)
