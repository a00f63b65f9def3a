"""The composition root: picks concrete backends from settings and serves S3 + admin on one port.

Only this module knows which metadata store and blob backend are in use.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web

from gateway import __version__
from gateway.audit import log as audit_log
from gateway.audit.kv import AuditedKV
from gateway.auth.crypto import SecretKeyError, load_or_create_key, parse_key
from gateway.auth.sessions import SessionStore
from gateway.auth.users import UserStore
from gateway.config import Settings, load_settings
from gateway.core import audit
from gateway.core.errors import InvalidArgument, WeirError
from gateway.core.events import NO_EVENTS
from gateway.core.lake import Lake
from gateway.core.ports import BlobStore, KVStore, KVWriter
from gateway.gc.collector import Collector, GcConfig
from gateway.gc.report import GcRun
from gateway.importer.service import ImportService
from gateway.lineage import openlineage
from gateway.observability import (
    METRICS,
    AccessLog,
    Handler,
    Metrics,
    health_handler,
    metrics_handler,
    observability_middleware,
    readiness_handler,
)
from gateway.runs.mapping import RunAuthorizer
from gateway.runs.service import RunService, RunSettings
from gateway.workers import peers
from gateway.workers.peers import WORKER, WorkerIdentity

DRAIN_POLL = 0.05  # seconds between checks for the last in-flight request while draining
CANCEL_GRACE = 1.0  # seconds cancelled handlers get to unwind after the drain
LAKE: web.AppKey[Lake] = web.AppKey("weir.lake", Lake)
USERS: web.AppKey[UserStore] = web.AppKey("weir.users", UserStore)
BOOTSTRAP: web.AppKey[list[str]] = web.AppKey("weir.bootstrap", list)


def open_metadata(settings: Settings) -> KVStore:
    m = settings.meta
    if m.backend == "postgres":
        from gateway.meta.postgres_store import PostgresKVStore

        return PostgresKVStore(
            m.dsn,
            schema=m.schema,
            pool_size=m.pool_size,
            connect_timeout=float(m.connect_timeout_seconds),
            retry_seconds=float(m.retry_seconds),
        )
    from gateway.meta.lmdb_store import LmdbKVStore

    path = settings.data_path / "meta"
    path.mkdir(parents=True, exist_ok=True)
    return LmdbKVStore(path, map_size=settings.lmdb_map_size_gib << 30)


def open_blobs(settings: Settings, kv: KVStore) -> BlobStore:
    s = settings.storage
    if s.backend == "local":
        from gateway.storage.local import LocalBlobStore

        return LocalBlobStore(settings.blob_path)
    if s.backend == "memory":
        from gateway.storage.memory import MemoryBlobStore

        return MemoryBlobStore()
    from gateway.storage.s3 import S3BlobStore

    spool = settings.data_path / "spool"
    spool.mkdir(parents=True, exist_ok=True)
    return S3BlobStore(
        kv=kv,
        bucket=s.s3_bucket,
        prefix=s.s3_prefix,
        endpoint_url=s.s3_endpoint_url or None,
        region=s.s3_region,
        access_key_id=s.s3_access_key_id or None,
        secret_access_key=s.s3_secret_access_key or None,
        spool_dir=spool,
        part_size=s.s3_part_size_mib << 20,
        memory_budget=s.s3_memory_budget_mib << 20,
        max_attempts=s.s3_max_attempts,
        connect_timeout=s.s3_connect_timeout_s,
        read_timeout=s.s3_read_timeout_s,
    )


def open_collector(settings: Settings, lake: Lake) -> Collector:
    """The garbage collector of this process (one collection at a time across processes)."""
    g = settings.gc
    config = GcConfig(
        retention_days=g.retention_days,
        grace_seconds=g.grace_seconds,
        multipart_abandon_days=g.multipart_abandon_days,
        interval_minutes=g.interval_minutes,
        work_dir=settings.gc_path,
    )
    return Collector(lake.kv, lake.blobs, config, audit=_audit_gc)


def _audit_gc(w: KVWriter, run: GcRun, report: dict[str, Any]) -> None:
    """One audit record per garbage collection, in the transaction that stores its report:
    who started it and what it freed (decision 0015)."""
    freed = report.get("freed", {})
    what = ", ".join(f"{v['count']} {k}" for k, v in sorted(freed.items())) or "nothing"
    verb = "would free" if run.dry_run else "freed"
    audit_log.append(
        w,
        {
            "api": "system" if run.trigger == "schedule" else "admin",
            "operation": "garbageCollection",
            "user": run.started_by,
            "access_key_id": run.access_key_id,
            "address": run.address,
            "request_id": run.request_id,
            "repository": run.repository or "",
            "ref": run.id,
            "result": "ok" if report["state"] == "succeeded" else report["state"],
            "detail": f"{verb} {what} ({report.get('freed_bytes', 0)} bytes)",
        },
    )


def open_imports(settings: Settings, lake: Lake) -> ImportService | None:
    """The import service, reading external buckets with the storage.s3_* endpoint and
    credentials (also when blobs stay on local disk); it also serves imported objects' bytes."""
    if not settings.imports.enabled:
        return None
    from gateway.importer.service import ImportService
    from gateway.importer.source import S3Source
    from gateway.storage.s3_client import ClientSettings
    from gateway.storage.s3_data import DataClient

    s = settings.storage
    client = ClientSettings(
        endpoint_url=s.s3_endpoint_url or None,
        region=s.s3_region,
        access_key_id=s.s3_access_key_id or None,
        secret_access_key=s.s3_secret_access_key or None,
        max_attempts=s.s3_max_attempts,
        connect_timeout=s.s3_connect_timeout_s,
        read_timeout=s.s3_read_timeout_s,
    )
    source = S3Source(DataClient(client, s.s3_bucket), page=settings.imports.list_page_size)
    lake.external = source
    return ImportService(lake, source, lease=float(settings.imports.lease_s))


def load_encryption_key(settings: Settings) -> bytes:
    """The key that seals stored secrets: from the configured file, else ``<data_dir>/secret.key``
    (created 0600 on first start)."""
    configured = settings.auth.encryption_key_file
    if not configured:
        return load_or_create_key(settings.data_path)
    try:
        return parse_key(Path(configured).read_text())
    except OSError as exc:
        raise InvalidArgument(f"cannot read encryption key file {configured}: {exc}") from None


async def _startup_work(lake: Lake, users: UserStore, settings: Settings) -> str | None:
    """Once per server start, before serving: finish interrupted purges and create the bootstrap
    admin (its generated secret printed once). Returns the created admin key id, if any."""
    swept = await lake.sweep()  # finish purges a crash interrupted, before serving
    if swept:
        print(f"weir: resumed {swept} interrupted purge(s)", file=sys.stderr, flush=True)
    # Runs whose credential lapsed while the server was down: expired, snapshots released.
    await RunService(lake, users, users).sweep()
    await users.check_encryption_key()  # gateways sharing a database must share the key
    a = settings.auth
    with audit.system("ensureAdmin"):  # the first credential is on the audit trail too
        created = await users.ensure_admin(a.access_key_id or None, a.secret_access_key or None)
    if created is None:
        return None
    if not a.access_key_id:
        # Printed once, on first start only: the secret is stored encrypted.
        print(
            "Weir admin credentials (shown once):\n"
            f"  access key id:     {created.access_key_id}\n"
            f"  secret access key: {created.secret_access_key}",
            file=sys.stderr,
            flush=True,
        )
    return created.access_key_id


async def startup(settings: Settings) -> None:
    """The one-time start-up work on its own (the supervisor of ``--workers N`` runs it once,
    before any worker serves); opens the stores and closes them again."""
    settings.data_path.mkdir(parents=True, exist_ok=True)
    raw = open_metadata(settings)
    lake = Lake(AuditedKV(raw), open_blobs(settings, raw))
    try:
        users = UserStore(lake.kv, load_encryption_key(settings))
        await _startup_work(lake, users, settings)
    finally:
        await lake.close()


def build_app(settings: Settings, *, worker: WorkerIdentity | None = None) -> web.Application:
    """Assemble the application. Resources open here and close on app cleanup.

    Alone (``worker`` None) the app runs the start-up work itself before serving. As one worker
    of several, the supervisor has done it; a *restarted* worker sweeps again in the background
    (the purges its predecessor may have left half done; ``Lake.sweep`` is safe at any time), and
    ``/_metrics`` reports every worker.
    """
    settings.data_path.mkdir(parents=True, exist_ok=True)
    raw = open_metadata(settings)
    # Everything that changes the lake writes through the audited store (decision 0015); the
    # blob backend's index writes are physical bookkeeping and use the store directly.
    kv = AuditedKV(raw, reads=settings.audit.reads)
    blobs = open_blobs(settings, raw)
    emitter = openlineage.from_settings(settings.openlineage, version=__version__)
    lake = Lake(kv, blobs, events=emitter or NO_EVENTS)
    users = UserStore(kv, load_encryption_key(settings))
    collector = open_collector(settings, lake)
    imports = open_imports(settings, lake)
    r = settings.runs
    runs = RunService(
        lake,
        users,
        users,
        settings=RunSettings(
            credential_ttl=float(r.credential_ttl_seconds),
            max_credential_ttl=float(r.max_credential_ttl_seconds),
            flush_interval=r.read_flush_ms / 1000,
            finish_timeout=float(r.finish_timeout_seconds),
        ),
    )
    authz = RunAuthorizer(users, runs)  # ordinary credentials: exactly the users' grants
    metrics = Metrics()
    if emitter is not None:
        metrics.collectors.append(lambda: openlineage.metric_series(emitter))
    access_log = AccessLog() if settings.access_log else None

    app = web.Application(
        middlewares=[observability_middleware(metrics, access_log=access_log)],
        client_max_size=1 << 20,
    )
    app[METRICS] = metrics
    app[LAKE] = lake
    app[USERS] = users
    app[BOOTSTRAP] = []
    if worker is not None:
        app[WORKER] = worker

    async def resources(app: web.Application) -> AsyncIterator[None]:
        if worker is None:
            created = await _startup_work(lake, users, settings)
            if created is not None:
                app[BOOTSTRAP].append(created)
        elif worker.starts > 1:
            lake._background(_resume_purges(lake))
        await collector.recover()
        collector.start_schedule()
        runs.watch()  # expire runs whose credential lapsed, release their snapshots
        from gateway.storage.housekeeping import sweep_periodically

        sweeper = asyncio.ensure_future(
            sweep_periodically(blobs, float(settings.storage.orphan_grace_s))
        )
        if imports is not None:
            imports.start_background()  # resumes imports a stopped process left running
        yield
        if imports is not None:
            await imports.close()
        await collector.close()
        await runs.close()
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
        await lake.close()
        if emitter is not None:
            await asyncio.to_thread(emitter.close)
        if access_log is not None:
            access_log.flush()

    app.cleanup_ctx.append(resources)
    ready = readiness_handler(blobs)
    app.router.add_get("/_health", ready if worker is None else _tagged(ready))
    app.router.add_get("/_health/live", health_handler)
    app.router.add_get("/_metrics", metrics_handler if worker is None else peers.metrics_handler)

    from gateway.admin.app import create_admin_app

    sessions = SessionStore(kv, ttl=settings.auth.session_ttl_hours * 3600.0)
    app.add_subapp(
        "/api/v1",
        create_admin_app(
            lake=lake,
            users=users,
            authn=users,
            authz=authz,
            version=__version__,
            runs=runs,
            gc=collector,
            imports=imports,
            sessions=sessions,
            cookie_secure=settings.auth.session_cookie_secure,
        ),
    )

    from gateway.s3.app import S3_GATEWAY, setup_s3

    if settings.ui.enabled:
        from gateway.ui import is_browser_navigation, setup_ui

        setup_ui(app)

        async def root(request: web.Request) -> web.StreamResponse:
            """A browser's page load of ``/`` goes to the UI; anything else is S3's."""
            if is_browser_navigation(request):
                raise web.HTTPFound("/ui/")
            return await request.app[S3_GATEWAY].handle(request)

        app.router.add_route("GET", "/", root)  # before S3's catch-all; HEAD / stays S3's

    setup_s3(
        app,
        lake=lake,
        authn=users,
        authz=authz,
        region=settings.region,
        regions=frozenset(r.strip() for r in settings.auth.extra_regions.split(",") if r.strip()),
        sigv2=settings.auth.sigv2,
        domain=settings.s3.domain,
        scope=runs,
    )
    return app


def _tagged(handler: Handler) -> Handler:
    """``handler`` with an ``X-Weir-Worker: <slot>`` header: which worker a connection reached
    (operators and tests pin a keep-alive connection to a worker this way)."""

    async def tagged(request: web.Request) -> web.StreamResponse:
        response = await handler(request)
        response.headers["X-Weir-Worker"] = str(request.app[WORKER].slot)
        return response

    return tagged


async def _resume_purges(lake: Lake) -> None:
    swept = await lake.sweep()
    if swept:
        print(f"weir: resumed {swept} interrupted purge(s)", file=sys.stderr, flush=True)


async def serve_worker(
    settings: Settings, sock: socket.socket, worker: WorkerIdentity, status_fd: int
) -> None:
    """Serve as one worker of ``weir serve --workers N`` on the supervisor's socket ``sock``;
    write ``ready`` to ``status_fd`` once serving; drain and return on SIGTERM/SIGINT."""
    app = build_app(settings, worker=worker)
    runner = web.AppRunner(
        app,
        access_log=None,
        handle_signals=False,
        shutdown_timeout=CANCEL_GRACE,  # after drain(): what is still running is cancelled
    )
    await runner.setup()
    from gateway.s3.protocol import serve_s3_errors

    serve_s3_errors(runner)  # requests aiohttp cannot parse answer S3 XML too
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    snapshots: asyncio.AbstractServer | None = None
    try:
        await web.SockSite(runner, sock).start()
        snapshots = await peers.serve_snapshots(worker, app[METRICS])
        os.write(status_fd, b"ready\n")
        await stop.wait()
        await drain(runner, app[METRICS], settings.server.shutdown_timeout)
    finally:
        if snapshots is not None:
            snapshots.close()
        await runner.cleanup()  # close idle connections, cancel what is left, close the stores


async def drain(runner: web.AppRunner, metrics: Metrics, seconds: float) -> None:
    """Stop accepting and let in-flight requests finish, for at most ``seconds``.

    aiohttp's own graceful shutdown stops reading from connections at once, so a request whose
    body is still arriving could never finish; here the listeners close first, requests keep
    being served (each answer closing its connection) until none is in flight or the time is
    up, and only then does ``runner.cleanup`` close connections and cancel the rest.
    """
    metrics.draining = True
    for site in list(runner.sites):
        await site.stop()
    deadline = asyncio.get_running_loop().time() + seconds
    # Polls the middleware's counter: an event set on every decrement would cost each request.
    while metrics.in_flight and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(DRAIN_POLL)


async def _serve(settings: Settings) -> None:
    app = build_app(settings)
    host, port = settings.host_port
    runner = web.AppRunner(
        app,
        access_log=None,
        handle_signals=False,
        shutdown_timeout=CANCEL_GRACE,  # after drain(): what is still running is cancelled
    )
    await runner.setup()
    from gateway.s3.protocol import serve_s3_errors

    serve_s3_errors(runner)  # requests aiohttp cannot parse answer S3 XML too
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    data = settings.data_path.resolve()
    meta = (
        f", metadata: postgres schema {settings.meta.schema}"
        if settings.meta.backend == "postgres"
        else ""
    )
    print(
        f"Weir {__version__} listening on http://{host}:{port} (data: {data}{meta})",
        file=sys.stderr,
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
        await drain(runner, app[METRICS], settings.server.shutdown_timeout)
    finally:
        await runner.cleanup()


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=getattr(logging, settings.log_level.upper(), logging.INFO),
        format="%(message)s",
        stream=sys.stderr,
    )


def serve_from_args(args: argparse.Namespace) -> int:
    """``weir serve``: load settings (file < env < flags) and run until SIGINT/SIGTERM.

    ``server.workers`` processes (default: one per core) under a supervisor; ``--single-process``
    serves in this process instead (for profilers and debuggers).
    """
    overrides: dict[str, object] = {"listen": args.listen, "data_dir": args.data_dir}
    if getattr(args, "workers", None) is not None:
        overrides["server"] = {"workers": args.workers}
    try:
        settings = load_settings(config_file=args.config, overrides=overrides)
    except WeirError as exc:
        print(f"weir: error: {exc.message}", file=sys.stderr)
        return 2
    configure_logging(settings)
    try:
        if getattr(args, "single_process", False):
            asyncio.run(_serve(settings))
            return 0
        asyncio.run(startup(settings))
        from gateway.workers.supervisor import Supervisor

        return Supervisor(settings).run()
    except WeirError as exc:
        print(f"weir: error: {exc.message}", file=sys.stderr)
        return 1
    except (OSError, SecretKeyError) as exc:
        print(f"weir: error: {exc}", file=sys.stderr)
        return 1
    return 0
