"""OpenLineage run events for commits, merges and runs, through ``openlineage-python``.

``OpenLineageEmitter`` implements the engine's ``LakeEvents`` port. Every call only puts a
small record in a bounded queue and returns: it never blocks and never raises. One daemon
thread builds the events (``openlineage.client`` RunEvents with standard facets) and delivers
them through the library's HTTP or file transport, retrying a failed delivery with exponential
backoff; an event that still fails, or that finds the queue full, is dropped, logged and
counted (``stats``, exported on ``/_metrics``). So a slow or dead lineage backend never fails or
slows the operation that reported the event.

Naming (decision 0014): job namespace and dataset namespace are ``openlineage.namespace``;
a dataset is named ``<repo>/<ref>`` (``/<path>`` appended for an input that names one) and
versioned by commit id (``DatasetVersionDatasetFacet``); a commit's run id is the UUID formed
by the first 128 bits of its id (re-emitting a commit repeats its run id); the job of a commit
is ``<repo>/<branch>`` with a ``JobTypeJobFacet`` (integration ``WEIR``, jobType ``COMMIT``,
``MERGE``, ``REVERT``, ``CHERRY_PICK`` or ``RUN``). Commit metadata (code version,
hyperparameters, metrics) travels as ``ExecutionParametersRunFacet`` parameters.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gateway.config import OpenLineageSettings
from gateway.core.events import RunOutcome
from gateway.core.model import Commit, CommitInput

if TYPE_CHECKING:
    from openlineage.client.event_v2 import InputDataset, OutputDataset, RunEvent

log = logging.getLogger("weir.openlineage")

_SENTINEL = None
_OPERATION_JOB_TYPE = {
    "commit": "COMMIT",
    "merge": "MERGE",
    "revert": "REVERT",
    "cherry-pick": "CHERRY_PICK",
}


@dataclass(frozen=True)
class EmitterConfig:
    """Where and how to deliver (``[openlineage]`` settings). Exactly one of ``url`` (an HTTP
    endpoint, e.g. Marquez) and ``file`` (JSON lines, appended) is set."""

    url: str = ""
    endpoint: str = "api/v1/lineage"
    file: str = ""
    namespace: str = "weir"
    api_key: str = ""
    queue_size: int = 10_000
    retries: int = 3
    timeout: float = 5.0
    backoff: float = 0.2  # seconds before the first retry, doubled for each next one


def iso(ts: float) -> str:
    """RFC 3339 in UTC with a fixed width (microseconds always), so strings sort by time."""
    moment = datetime.datetime.fromtimestamp(ts, tz=datetime.UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def commit_run_id(commit_id: str) -> str:
    """The run id of a commit: its first 128 bits as a UUID (stable across re-emission)."""
    return str(uuid.UUID(hex=commit_id[:32]))


def run_uuid(run_id: str) -> str:
    """A run's id as a UUID: itself when it is one, else a name-based UUID of it."""
    try:
        return str(uuid.UUID(run_id))
    except ValueError:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"weir-run:{run_id}"))


class OpenLineageEmitter:
    """``LakeEvents`` that emits OpenLineage events off the caller's path (see module doc).

    Args:
        config: delivery settings.
        producer: the ``producer`` URI stamped on events.
        engine_version: Weir's version (``ProcessingEngineRunFacet``).
        transport: for tests, a ready ``openlineage`` transport instead of one from ``config``.
    """

    def __init__(
        self,
        config: EmitterConfig,
        *,
        producer: str = "urn:weir:gateway",
        engine_version: str = "0",
        transport: Any = None,
    ) -> None:
        if bool(config.url) == bool(config.file) and transport is None:
            raise ValueError("OpenLineage needs exactly one of a url and a file")
        self.config = config
        self.producer = producer
        self.engine_version = engine_version
        self._transport = transport
        self._queue: queue.Queue[Callable[[], RunEvent] | None] = queue.Queue(config.queue_size)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.stats = {"sent": 0, "dropped_queue_full": 0, "dropped_delivery_failed": 0}
        self._thread = threading.Thread(target=self._run, name="weir-openlineage", daemon=True)
        self._thread.start()

    # -- the LakeEvents port: enqueue only ----------------------------------------------------
    def published(
        self, repo: str, branch: str, commit: Commit, *, operation: str, source: str = ""
    ) -> None:
        self._offer(lambda: self._commit_event(repo, branch, commit, operation, source))

    def run_started(
        self,
        *,
        run_id: str,
        repo: str,
        branch: str,
        name: str,
        started_at: float,
        inputs: Sequence[CommitInput] = (),
    ) -> None:
        ins = tuple(inputs)
        self._offer(
            lambda: self._run_event("START", run_id, repo, branch, name, started_at, ins, None, "")
        )

    def run_finished(
        self,
        *,
        run_id: str,
        repo: str,
        branch: str,
        name: str,
        ended_at: float,
        outcome: RunOutcome,
        commit: Commit | None = None,
        error: str = "",
    ) -> None:
        ins = commit.inputs if commit is not None else ()
        self._offer(
            lambda: self._run_event(
                outcome.value, run_id, repo, branch, name, ended_at, ins, commit, error
            )
        )

    def _offer(self, build: Callable[[], RunEvent]) -> None:
        try:
            self._queue.put_nowait(build)
        except queue.Full:
            self._count("dropped_queue_full")
            log.warning(
                "openlineage: queue full (%d events), event dropped", self.config.queue_size
            )

    def _count(self, what: str) -> None:
        with self._lock:
            self.stats[what] += 1

    def queue_depth(self) -> int:
        return self._queue.qsize()

    # -- delivery thread -----------------------------------------------------------------------
    def _make_transport(self) -> Any:
        if self._transport is not None:
            return self._transport
        c = self.config
        if c.url:
            from openlineage.client.transport.http import (
                ApiKeyTokenProvider,
                HttpConfig,
                HttpTransport,
                TokenProvider,
            )

            auth = ApiKeyTokenProvider({"apiKey": c.api_key}) if c.api_key else TokenProvider({})
            # Retries are ours (with backoff, interruptible at shutdown): none inside urllib3.
            retry = {"total": 0, "read": 0, "connect": 0, "status_forcelist": []}
            cfg = HttpConfig(
                url=c.url, endpoint=c.endpoint, timeout=c.timeout, auth=auth, retry=retry
            )
            return HttpTransport(cfg)
        from openlineage.client.transport.file import FileConfig, FileTransport

        return FileTransport(FileConfig(log_file_path=c.file, append=True))

    def _run(self) -> None:
        try:
            transport = self._make_transport()
        except Exception:
            log.exception("openlineage: cannot set up the transport; events will be dropped")
            transport = None
        while True:
            build = self._queue.get()
            if build is _SENTINEL:
                return
            if self._stopping.is_set():
                self._count("dropped_delivery_failed")  # shutting down, out of time
                continue
            try:
                event = build()
            except Exception:
                log.exception("openlineage: could not build an event; dropped")
                self._count("dropped_delivery_failed")
                continue
            self._deliver(transport, event)

    def _deliver(self, transport: Any, event: RunEvent) -> None:
        delay = self.config.backoff
        error: BaseException | None = None
        for attempt in range(1 + max(0, self.config.retries)):
            if attempt and self._stopping.wait(delay):
                break  # shutting down: no more waiting
            delay *= 2
            if transport is None:
                break
            try:
                transport.emit(event)
            except Exception as exc:  # the backend is down, slow, or refused it
                error = exc
                continue
            self._count("sent")
            return
        self._count("dropped_delivery_failed")
        log.warning(
            "openlineage: dropped %s event of job %s after %d attempt(s): %s",
            event.eventType.value if event.eventType else "?",
            event.job.name,
            1 + max(0, self.config.retries),
            error,
        )

    def close(self, timeout: float = 5.0) -> int:
        """Deliver what is queued for at most ``timeout`` seconds, then stop; returns how many
        queued events were dropped unsent. Blocking: call it from a thread."""
        deadline = time.monotonic() + timeout
        with contextlib.suppress(queue.Full):
            self._queue.put(_SENTINEL, timeout=timeout)  # behind every queued event
        self._thread.join(max(0.0, deadline - time.monotonic()))
        self._stopping.set()  # out of time: stop waiting between retries, drop the rest
        before = self.stats["dropped_delivery_failed"]
        with contextlib.suppress(queue.Full):
            self._queue.put(_SENTINEL, timeout=1.0)
        self._thread.join(1.0)
        dropped = self.stats["dropped_delivery_failed"] - before
        if dropped:
            log.warning("openlineage: %d undelivered event(s) dropped at shutdown", dropped)
        return dropped

    # -- building events (on the delivery thread) --------------------------------------------
    def _dataset(
        self, cls: type[Any], repo: str, ref: str, commit_id: str | None, path: str = ""
    ) -> Any:
        from openlineage.client.facet_v2 import dataset_version_dataset

        name = f"{repo}/{ref}" + (f"/{path}" if path else "")
        facets: dict[str, Any] = {}
        if commit_id:
            facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
                datasetVersion=commit_id, producer=self.producer
            )
        return cls(namespace=self.config.namespace, name=name, facets=facets)

    def _inputs(self, inputs: Sequence[CommitInput]) -> list[InputDataset]:
        from openlineage.client.event_v2 import InputDataset

        return [
            self._dataset(InputDataset, i.repository, i.ref or i.commit, i.commit, i.path)
            for i in inputs
        ]

    def _job(self, name: str, job_type: str) -> Any:
        from openlineage.client.event_v2 import Job
        from openlineage.client.facet_v2 import job_type_job

        facet = job_type_job.JobTypeJobFacet(
            processingType="BATCH", integration="WEIR", jobType=job_type, producer=self.producer
        )
        return Job(namespace=self.config.namespace, name=name, facets={"jobType": facet})

    def _run_facets(self, commit: Commit | None, error: str) -> dict[str, Any]:
        from openlineage.client.facet_v2 import (
            error_message_run,
            execution_parameters_run,
            processing_engine_run,
        )

        facets: dict[str, Any] = {
            "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
                version=self.engine_version, name="weir", producer=self.producer
            )
        }
        if commit is not None:
            params = [
                execution_parameters_run.ExecutionParameter(key=k, value=v)
                for k, v in sorted(commit.metadata.items())
            ]
            params.append(
                execution_parameters_run.ExecutionParameter(
                    key="weir.commit", name="commit", value=commit.id
                )
            )
            params.append(
                execution_parameters_run.ExecutionParameter(
                    key="weir.committer", name="committer", value=commit.committer
                )
            )
            facets["executionParameters"] = execution_parameters_run.ExecutionParametersRunFacet(
                parameters=params, producer=self.producer
            )
        if error:
            facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                message=error, programmingLanguage="unknown", producer=self.producer
            )
        return facets

    def _commit_event(
        self, repo: str, branch: str, commit: Commit, operation: str, source: str
    ) -> RunEvent:
        from openlineage.client.event_v2 import (
            InputDataset,
            OutputDataset,
            Run,
            RunEvent,
            RunState,
        )

        inputs = self._inputs(commit.inputs)
        if operation == "merge" and len(commit.parents) > 1:
            inputs.append(self._dataset(InputDataset, repo, branch, commit.parents[0]))
            inputs.append(self._dataset(InputDataset, repo, source, commit.parents[1]))
        output: OutputDataset = self._dataset(OutputDataset, repo, branch, commit.id)
        return RunEvent(
            eventType=RunState.COMPLETE,
            eventTime=iso(commit.creation_date),
            run=Run(runId=commit_run_id(commit.id), facets=self._run_facets(commit, "")),
            job=self._job(f"{repo}/{branch}", _OPERATION_JOB_TYPE.get(operation, "COMMIT")),
            inputs=inputs,
            outputs=[output],
            producer=self.producer,
        )

    def _run_event(
        self,
        state: str,
        run_id: str,
        repo: str,
        branch: str,
        name: str,
        when: float,
        inputs: Sequence[CommitInput],
        commit: Commit | None,
        error: str,
    ) -> RunEvent:
        from openlineage.client.event_v2 import OutputDataset, Run, RunEvent, RunState

        output = self._dataset(OutputDataset, repo, branch, commit.id if commit else None)
        return RunEvent(
            eventType=RunState(state),
            eventTime=iso(when),
            run=Run(runId=run_uuid(run_id), facets=self._run_facets(commit, error)),
            job=self._job(f"{repo}/runs/{name}", "RUN"),
            inputs=self._inputs(inputs),
            outputs=[output],
            producer=self.producer,
        )


def from_settings(s: OpenLineageSettings, *, version: str) -> OpenLineageEmitter | None:
    """The emitter the ``[openlineage]`` settings ask for; None when not configured."""
    if not s.url and not s.file:
        return None
    config = EmitterConfig(
        url=s.url,
        endpoint=s.endpoint,
        file=s.file,
        namespace=s.namespace,
        api_key=s.api_key,
        queue_size=s.queue_size,
        retries=s.retries,
        timeout=float(s.timeout),
    )
    return OpenLineageEmitter(
        config, producer=f"urn:weir:gateway:{version}", engine_version=version
    )


def metric_series(emitter: OpenLineageEmitter) -> list[tuple[str, str, str, str, float]]:
    """The emitter's figures for ``/_metrics``."""
    with emitter._lock:
        stats = dict(emitter.stats)
    help_ = "OpenLineage events by outcome (sent, or dropped and why)."
    out = [
        ("weir_openlineage_events_total", "counter", help_, f'outcome="{k}"', float(v))
        for k, v in sorted(stats.items())
    ]
    out.append(
        (
            "weir_openlineage_queue_depth",
            "gauge",
            "OpenLineage events waiting for delivery.",
            "",
            float(emitter.queue_depth()),
        )
    )
    return out
