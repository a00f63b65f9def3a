"""The composition root: picks concrete backends from settings and serves S3 + admin on one port.

Only this module knows which metadata store and blob backend are in use.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from gateway import __version__
from gateway.auth.crypto import SecretKeyError, load_or_create_key, parse_key
from gateway.auth.users import UserStore
from gateway.config import Settings, load_settings
from gateway.core.errors import InvalidArgument, WeirError
from gateway.core.lake import Lake
from gateway.core.ports import BlobStore, KVStore
from gateway.observability import (
    METRICS,
    AccessLog,
    Metrics,
    health_handler,
    metrics_handler,
    observability_middleware,
)

LAKE: web.AppKey[Lake] = web.AppKey("weir.lake", Lake)
USERS: web.AppKey[UserStore] = web.AppKey("weir.users", UserStore)
BOOTSTRAP: web.AppKey[list[str]] = web.AppKey("weir.bootstrap", list)


def open_metadata(settings: Settings) -> KVStore:
    from gateway.meta.lmdb_store import LmdbKVStore

    path = settings.data_path / "meta"
    path.mkdir(parents=True, exist_ok=True)
    return LmdbKVStore(path, map_size=settings.lmdb_map_size_gib << 30)


def open_blobs(settings: Settings) -> BlobStore:
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
        bucket=s.s3_bucket,
        prefix=s.s3_prefix,
        endpoint_url=s.s3_endpoint_url or None,
        region=s.s3_region,
        access_key_id=s.s3_access_key_id or None,
        secret_access_key=s.s3_secret_access_key or None,
        spool_dir=spool,
    )


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


def build_app(settings: Settings) -> web.Application:
    """Assemble the application. Resources open here and close on app cleanup."""
    settings.data_path.mkdir(parents=True, exist_ok=True)
    kv = open_metadata(settings)
    blobs = open_blobs(settings)
    lake = Lake(kv, blobs)
    users = UserStore(kv, load_encryption_key(settings))
    metrics = Metrics()
    access_log = AccessLog() if settings.access_log else None

    app = web.Application(
        middlewares=[observability_middleware(metrics, access_log=access_log)],
        client_max_size=1 << 20,
    )
    app[METRICS] = metrics
    app[LAKE] = lake
    app[USERS] = users
    app[BOOTSTRAP] = []

    async def resources(app: web.Application) -> AsyncIterator[None]:
        swept = await lake.sweep()  # finish purges a crash interrupted, before serving
        if swept:
            print(f"weir: resumed {swept} interrupted purge(s)", file=sys.stderr, flush=True)
        a = settings.auth
        created = await users.ensure_admin(a.access_key_id or None, a.secret_access_key or None)
        if created is not None:
            app[BOOTSTRAP].append(created.access_key_id)
            if not a.access_key_id:
                # Printed once, on first start only: the secret is stored encrypted.
                print(
                    "Weir admin credentials (shown once):\n"
                    f"  access key id:     {created.access_key_id}\n"
                    f"  secret access key: {created.secret_access_key}",
                    file=sys.stderr,
                    flush=True,
                )
        yield
        await lake.close()
        if access_log is not None:
            access_log.flush()

    app.cleanup_ctx.append(resources)
    app.router.add_get("/_health", health_handler)
    app.router.add_get("/_metrics", metrics_handler)

    from gateway.admin.app import create_admin_app

    app.add_subapp(
        "/api/v1",
        create_admin_app(lake=lake, users=users, authn=users, authz=users, version=__version__),
    )

    from gateway.s3.app import setup_s3

    setup_s3(
        app,
        lake=lake,
        authn=users,
        authz=users,
        region=settings.region,
        regions=frozenset(r.strip() for r in settings.auth.extra_regions.split(",") if r.strip()),
        sigv2=settings.auth.sigv2,
        domain=settings.s3.domain,
    )
    return app


async def _serve(settings: Settings) -> None:
    app = build_app(settings)
    host, port = settings.host_port
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    from gateway.s3.protocol import serve_s3_errors

    serve_s3_errors(runner)  # requests aiohttp cannot parse answer S3 XML too
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    data = settings.data_path.resolve()
    print(
        f"Weir {__version__} listening on http://{host}:{port} (data: {data})",
        file=sys.stderr,
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def serve_from_args(args: argparse.Namespace) -> int:
    """``weir serve``: load settings (file < env < flags) and run until SIGINT/SIGTERM."""
    try:
        settings = load_settings(
            config_file=args.config,
            overrides={"listen": args.listen, "data_dir": args.data_dir},
        )
    except WeirError as exc:
        print(f"weir: error: {exc.message}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=getattr(logging, settings.log_level.upper(), logging.INFO),
        format="%(message)s",
        stream=sys.stderr,
    )
    try:
        asyncio.run(_serve(settings))
    except WeirError as exc:
        print(f"weir: error: {exc.message}", file=sys.stderr)
        return 1
    except (OSError, SecretKeyError) as exc:
        print(f"weir: error: {exc}", file=sys.stderr)
        return 1
    return 0
