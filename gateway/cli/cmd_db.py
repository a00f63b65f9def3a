"""``weir db migrate|status|copy``: the metadata database of a deployment, run next to it.

Unlike the other commands these do not talk to a Weir server: they open the metadata store the
server's settings name (``--config`` FILE < ``WEIR_*`` environment < flags), like ``weir serve``.
The store modules are imported only when a command runs (the CLI stays light).
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import Any

from gateway.cli.context import CliError, Context, Parser, add_command, add_group


def register(sub: argparse._SubParsersAction[Parser]) -> None:
    _, db = add_group(
        sub,
        "db",
        help="create, upgrade and fill the PostgreSQL metadata database",
        description="Manage the metadata database of a deployment with meta.backend = "
        "postgres: create or upgrade its schema, show its version, copy an embedded (LMDB) "
        "installation into it. Reads the same settings as 'weir serve'.",
    )
    p = add_command(
        db,
        "migrate",
        help="create or upgrade the schema (run before starting upgraded gateways)",
        description="Apply every pending schema migration, in one transaction. Safe to run "
        "again (nothing pending: nothing changes) and from several machines at once.",
        examples="""
  weir db migrate --dsn postgresql://weir@db.internal/weir
  WEIR_META_DSN=postgresql://weir@db.internal/weir weir db migrate
  weir db migrate --config /etc/weir.toml
""",
        handler=migrate,
    )
    _store_options(p)

    p = add_command(
        db,
        "status",
        help="show the schema version of the database and of this Weir",
        description="Show the schema version the database is at and the one this Weir needs.",
        examples="""
  weir db status --dsn postgresql://weir@db.internal/weir
""",
        handler=status,
    )
    _store_options(p)

    p = add_command(
        db,
        "copy",
        help="copy an embedded (LMDB) installation's metadata into PostgreSQL",
        description="Copy every record of the LMDB metadata in --from-data-dir (default: the "
        "configured data_dir) into the configured PostgreSQL schema, which must be empty, then "
        "verify the copy record by record. Stop the gateway first: writes after the copy "
        "starts are not copied. Blobs are not moved: point every gateway at the same blob "
        "store (and encryption key file) as before.",
        examples="""
  weir db copy --from-data-dir ./data --dsn postgresql://weir@db.internal/weir
""",
        handler=copy,
    )
    _store_options(p)
    p.add_argument("--from-data-dir", metavar="DIR", help="data directory of the LMDB installation")


def _store_options(p: Parser) -> None:
    p.add_argument("--config", metavar="FILE", help="TOML config file, as for 'weir serve'")
    p.add_argument("--dsn", metavar="DSN", help="PostgreSQL connection (default: meta.dsn)")
    p.add_argument("--schema", metavar="NAME", help="schema holding Weir's tables (meta.schema)")


def _settings(ctx: Context) -> Any:
    config = importlib.import_module("gateway.config")
    errors = importlib.import_module("gateway.core.errors")
    meta: dict[str, str] = {"backend": "postgres"}
    if ctx.args.dsn:
        meta["dsn"] = ctx.args.dsn
    if ctx.args.schema:
        meta["schema"] = ctx.args.schema
    try:
        return config.load_settings(
            config_file=ctx.args.config, environ=ctx.env, overrides={"meta": meta}
        )
    except errors.WeirError as exc:
        raise CliError(exc.message, 2) from None


def _connect(settings: Any) -> Any:
    psycopg = importlib.import_module("psycopg")
    try:
        return psycopg.connect(
            settings.meta.dsn,
            autocommit=True,
            connect_timeout=settings.meta.connect_timeout_seconds,
        )
    except psycopg.Error as exc:
        raise CliError(f"cannot connect to the metadata database: {exc}", 3) from None


def migrate(ctx: Context) -> int:
    settings = _settings(ctx)
    pg_schema = importlib.import_module("gateway.meta.pg_schema")
    errors = importlib.import_module("gateway.core.errors")
    schema = settings.meta.schema
    with _connect(settings) as conn:
        try:
            before = pg_schema.current_version(conn, schema)
            applied = pg_schema.migrate(conn, schema)
        except errors.WeirError as exc:
            raise CliError(exc.message) from None
    latest = pg_schema.latest_version()
    if ctx.json:
        ctx.emit_json(
            {
                "schema": schema,
                "from": before,
                "to": latest,
                "applied": [m.version for m in applied],
            }
        )
    elif applied:
        names = ", ".join(f"{m.version:04d}_{m.name}" for m in applied)
        ctx.out(f"schema {schema}: version {before} -> {latest} (applied {names})")
    else:
        ctx.out(f"schema {schema}: already at version {latest}, nothing to do")
    return 0


def status(ctx: Context) -> int:
    settings = _settings(ctx)
    pg_schema = importlib.import_module("gateway.meta.pg_schema")
    with _connect(settings) as conn:
        have = pg_schema.current_version(conn, settings.meta.schema)
    latest = pg_schema.latest_version()
    state = "up to date" if have == latest else ("newer" if have > latest else "needs migrate")
    if ctx.json:
        ctx.emit_json(
            {"schema": settings.meta.schema, "version": have, "required": latest, "state": state}
        )
    else:
        ctx.out(f"schema {settings.meta.schema}: version {have}, this Weir needs {latest}: {state}")
    return 0 if have == latest else 1


def copy(ctx: Context) -> int:
    settings = _settings(ctx)
    errors = importlib.import_module("gateway.core.errors")
    lmdb_store = importlib.import_module("gateway.meta.lmdb_store")
    pg_store = importlib.import_module("gateway.meta.postgres_store")
    copier = importlib.import_module("gateway.meta.copy")
    data = Path(ctx.args.from_data_dir or settings.data_dir)
    meta_dir = data / "meta"
    if not (meta_dir / "data.mdb").exists():
        raise CliError(f"no LMDB metadata at {meta_dir} (give --from-data-dir)", 2)
    m = settings.meta
    try:
        source = lmdb_store.LmdbKVStore(meta_dir, map_size=settings.lmdb_map_size_gib << 30)
    except errors.WeirError as exc:
        raise CliError(exc.message) from None
    try:
        dest = pg_store.PostgresKVStore(
            m.dsn,
            schema=m.schema,
            connect_timeout=float(m.connect_timeout_seconds),
            retry_seconds=float(m.retry_seconds),
        )
    except errors.WeirError as exc:
        source.close()
        raise CliError(exc.message, 3) from None
    try:
        report = copier.copy_store(
            source, dest, progress=lambda n, b: ctx.note(f"copied {n:,} records ({b:,} bytes)")
        )
    except errors.WeirError as exc:
        raise CliError(exc.message) from None
    finally:
        dest.close()
        source.close()
    if ctx.json:
        ctx.emit_json({"records": report.keys, "bytes": report.bytes, "digest": report.digest})
    else:
        ctx.out(
            f"copied and verified {report.keys:,} records ({report.bytes:,} bytes) from {meta_dir} "
            f"into schema {m.schema}"
        )
    return 0
