"""Prometheus metrics and the structured access log, shared by the S3 and admin layers.

Protocol handlers only annotate the request (``request[OP]``, ``REPO``, ``REF``, ``USER``,
``BYTES_IN``, ``BYTES_OUT``); one middleware turns that into metrics and one JSON log line.
Metrics are kept in plain dicts (single event-loop thread, no locking needed) and rendered in the
Prometheus text format on demand.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TextIO

from aiohttp import web
from aiohttp.typedefs import Middleware

from gateway.core.errors import WeirError

# What protocol handlers record about a request, for metrics and the access log.
REQUEST_ID = web.RequestKey("weir.request_id", str)
OP = web.RequestKey("weir.op", str)  # operation name, e.g. "GetObject"
REPO = web.RequestKey("weir.repo", str)
REF = web.RequestKey("weir.ref", str)
USER = web.RequestKey("weir.user", str)
BYTES_IN = web.RequestKey("weir.bytes_in", int)
BYTES_OUT = web.RequestKey("weir.bytes_out", int)

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Metrics:
    """Request counts and latency by (api, operation, status), bytes in/out, in-flight."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.latency: dict[tuple[str, str], list[int]] = {}
        self.latency_sum: dict[tuple[str, str], float] = defaultdict(float)
        self.latency_count: dict[tuple[str, str], int] = defaultdict(int)
        self.bytes_in: dict[str, int] = defaultdict(int)
        self.bytes_out: dict[str, int] = defaultdict(int)
        self.in_flight = 0
        #: Set when the server drains before stopping: every answer then closes its connection,
        #: so keep-alive clients reconnect (to another worker) instead of feeding this one.
        self.draining = False
        #: Series of other parts of the server, read at each scrape: each callable returns
        #: ``Series`` (name, type, help, labels, value), e.g. OpenLineage delivery counters.
        self.collectors: list[Callable[[], list[Series]]] = []

    def observe(
        self, api: str, op: str, status: int, seconds: float, bytes_in: int, bytes_out: int
    ) -> None:
        self.requests[(api, op, status)] += 1
        key = (api, op)
        hist = self.latency.get(key)
        if hist is None:
            hist = self.latency[key] = [0] * (len(BUCKETS) + 1)
        hist[bisect_left(BUCKETS, seconds)] += 1
        self.latency_sum[key] += seconds
        self.latency_count[key] += 1
        self.bytes_in[api] += bytes_in
        self.bytes_out[api] += bytes_out

    def snapshot(self) -> Snapshot:
        """The figures as plain data (JSON-able): what a worker hands to the one scraped."""
        return {
            "requests": [[a, o, s, n] for (a, o, s), n in self.requests.items()],
            "latency": [
                [a, o, hist, self.latency_sum[(a, o)]] for (a, o), hist in self.latency.items()
            ],
            "bytes_in": dict(self.bytes_in),
            "bytes_out": dict(self.bytes_out),
            "in_flight": self.in_flight,
            "extra": [list(series) for collect in self.collectors for series in collect()],
        }

    def render(self) -> str:
        """This process's figures in the Prometheus text format."""
        return render_snapshots([("", self.snapshot())])


Snapshot = dict[str, Any]
#: One extra series: (metric name, "counter" or "gauge", help text, label text, value).
Series = tuple[str, str, str, str, float]


def _join(*labels: str) -> str:
    inner = ",".join(x for x in labels if x)
    return f"{{{inner}}}" if inner else ""


def render_snapshots(parts: list[tuple[str, Snapshot]], extra: tuple[str, ...] = ()) -> str:
    """Render several processes' snapshots, each series carrying that process's label text
    (``worker="0"``, or "" for a lone process), plus ``extra`` ready-made lines."""
    out = [
        "# HELP weir_requests_total Requests by API, operation and HTTP status.",
        "# TYPE weir_requests_total counter",
    ]
    for label, snap in parts:
        for api, op, status, n in sorted(snap["requests"]):
            labels = _join(f'api="{api}",operation="{op}",status="{status}"', label)
            out.append(f"weir_requests_total{labels} {n}")
    out += [
        "# HELP weir_request_duration_seconds Request latency by API and operation.",
        "# TYPE weir_request_duration_seconds histogram",
    ]
    for label, snap in parts:
        for api, op, hist, total in sorted(snap["latency"]):
            labels = f'api="{api}",operation="{op}"'
            acc = 0
            for bound, n in zip(BUCKETS, hist, strict=False):
                acc += n
                le = _join(labels, label, f'le="{bound}"')
                out.append(f"weir_request_duration_seconds_bucket{le} {acc}")
            acc += hist[-1]
            le = _join(labels, label, 'le="+Inf"')
            out.append(f"weir_request_duration_seconds_bucket{le} {acc}")
            out.append(f"weir_request_duration_seconds_sum{_join(labels, label)} {total:.6f}")
            out.append(f"weir_request_duration_seconds_count{_join(labels, label)} {acc}")
    for name, field_, help_ in (
        ("weir_received_bytes_total", "bytes_in", "Request body bytes received."),
        ("weir_sent_bytes_total", "bytes_out", "Response body bytes sent."),
    ):
        out += [f"# HELP {name} {help_}", f"# TYPE {name} counter"]
        for label, snap in parts:
            for api, n in sorted(snap[field_].items()):
                api_label = f'api="{api}"'
                out.append(f"{name}{_join(api_label, label)} {n}")
    out += [
        "# HELP weir_requests_in_flight Requests being served.",
        "# TYPE weir_requests_in_flight gauge",
    ]
    for label, snap in parts:
        out.append(f"weir_requests_in_flight{_join(label)} {snap['in_flight']}")
    described: set[str] = set()
    series = sorted(
        (
            (str(x[0]), str(x[1]), str(x[2]), str(x[3]), x[4], label)
            for label, snap in parts
            for x in snap.get("extra", [])
        ),
        key=lambda x: (x[0], x[5], x[3]),
    )
    for name, kind, help_, labels, value, label in series:
        if name not in described:
            described.add(name)
            out += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}"]
        out.append(f"{name}{_join(labels, label)} {value}")
    out.extend(extra)
    return "\n".join(out) + "\n"


METRICS: web.AppKey[Metrics] = web.AppKey("weir.metrics", Metrics)


class AccessLog:
    """One JSON line per request, written in batches.

    Writing and flushing a line per request costs a syscall and the logging machinery on the
    event loop (measured at 40-140 us per small GET, docs/decisions/0008). Lines are buffered and
    written every ``interval`` seconds or ``max_lines`` lines, and on shutdown; a crash loses at
    most ``interval`` seconds of access log, never data. On stderr (the default) they are written
    in whole-line writes of at most ``ATOMIC_WRITE`` bytes, so that worker processes sharing
    stderr never tear each other's lines.
    """

    def __init__(
        self, stream: TextIO | None = None, *, max_lines: int = 256, interval: float = 0.25
    ) -> None:
        self._stream = stream
        self._lines: list[str] = []
        self._max = max_lines
        self._interval = interval
        self._timer: asyncio.TimerHandle | None = None

    def write(self, line: str) -> None:
        self._lines.append(line)
        if len(self._lines) >= self._max:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._interval, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._lines:
            return
        if self._stream is not None:
            self._stream.write("\n".join(self._lines) + "\n")
            self._stream.flush()
        else:
            sys.stderr.flush()  # keep order with anything printed before
            write_lines(2, self._lines)
        self._lines.clear()


#: Writes of at most this many bytes to a pipe are atomic (POSIX PIPE_BUF, 4096 on Linux).
ATOMIC_WRITE = 4096


def write_lines(fd: int, lines: list[str]) -> None:
    """Write whole lines to ``fd`` in ``write`` calls of at most ``ATOMIC_WRITE`` bytes, each
    holding whole lines only, so the lines of several worker processes sharing one stderr (a
    pipe or a file) never interleave inside a line. A single longer line gets a write of its own.
    """
    chunk: list[bytes] = []
    size = 0
    for line in lines:
        raw = line.encode() + b"\n"
        if chunk and size + len(raw) > ATOMIC_WRITE:
            _write_all(fd, b"".join(chunk))
            chunk, size = [], 0
        chunk.append(raw)
        size += len(raw)
    if chunk:
        _write_all(fd, b"".join(chunk))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:  # a non-blocking stderr that is full: drop, never stall serving
            return
        view = view[n:]


def _api_of(path: str) -> str:
    if path.startswith("/api/"):
        return "admin"
    if path.startswith("/_"):
        return "internal"
    if path == "/ui" or path.startswith("/ui/"):
        return "ui"  # not a valid bucket: repository names have at least 3 characters
    return "s3"


def observability_middleware(metrics: Metrics, *, access_log: AccessLog | None) -> Middleware:
    """Assign a request id, then count, time and log the request whatever its outcome."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        rid = uuid.uuid4().hex[:16].upper()
        request[REQUEST_ID] = rid
        metrics.in_flight += 1
        start = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            if metrics.draining:
                response.force_close()
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            metrics.in_flight -= 1
            elapsed = time.perf_counter() - start
            api = _api_of(request.path)
            op = str(request.get(OP) or request.method)
            b_in = int(request.get(BYTES_IN) or 0)
            b_out = int(request.get(BYTES_OUT) or 0)
            metrics.observe(api, op, status, elapsed, b_in, b_out)
            if access_log is not None and api != "internal":
                access_log.write(
                    json.dumps(
                        {
                            "ts": round(time.time(), 3),
                            "request_id": rid,
                            "api": api,
                            "operation": op,
                            "method": request.method,
                            "repository": request.get(REPO),
                            "ref": request.get(REF),
                            "status": status,
                            "bytes_in": b_in,
                            "bytes_out": b_out,
                            "duration_ms": round(elapsed * 1000, 3),
                            "user": request.get(USER),
                            "remote": request.remote,
                        },
                        separators=(",", ":"),
                    )
                )

    return middleware


async def metrics_handler(request: web.Request) -> web.Response:
    return web.Response(
        text=request.app[METRICS].render(),
        content_type="text/plain",
        headers={"Cache-Control": "no-store"},
    )


async def health_handler(request: web.Request) -> web.Response:
    """Liveness: the process serves requests."""
    return web.json_response({"status": "ok"})


class Probe(Protocol):
    async def check(self) -> None: ...


def readiness_handler(blobs: Probe) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Readiness: 200 when the blob store answers, else 503 with the cause, so that a load
    balancer routes around a node whose object store it cannot reach (the process itself is up:
    ``/_health/live`` still answers 200)."""

    async def handler(request: web.Request) -> web.Response:
        try:
            await blobs.check()
        except WeirError as exc:
            return web.json_response(
                {
                    "status": "unavailable",
                    "blob_store": {"status": "unreachable", "cause": exc.message},
                },
                status=503,
                headers={"Cache-Control": "no-store"},
            )
        return web.json_response(
            {"status": "ok", "blob_store": {"status": "ok"}}, headers={"Cache-Control": "no-store"}
        )

    return handler
