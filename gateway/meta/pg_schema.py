"""The PostgreSQL schema of the metadata store: versioned migrations that Weir applies itself.

Migrations are the files ``gateway/meta/migrations/NNNN_name.sql``, applied in order. Each
database schema (``meta.schema``, default ``weir``) records what it has in a table
``weir_migrations(version, name, applied_at)``. ``migrate`` applies every pending migration in
one transaction (PostgreSQL DDL is transactional: an upgrade is all or nothing), under an
advisory lock, so that gateways starting together against an empty database never race.

A store opens only a schema at exactly the version its code knows (``check``): an older schema
needs ``weir db migrate``; a newer one was migrated by a newer Weir, which this one must not
write to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from gateway.core.errors import StorageError

#: Key of the advisory lock held while migrating (any 64-bit constant unique to Weir).
_LOCK_KEY = 0x5745495230303031  # "WEIR0001"
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


@cache
def migrations() -> tuple[Migration, ...]:
    """Every migration shipped with this code, in version order (1, 2, ... without gaps)."""
    found: list[Migration] = []
    for item in resources.files("gateway.meta.migrations").iterdir():
        m = _FILE.match(item.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), item.read_text(encoding="utf-8")))
    found.sort(key=lambda x: x.version)
    if [x.version for x in found] != list(range(1, len(found) + 1)):
        raise RuntimeError("metadata migrations must be numbered 1, 2, 3, ... without gaps")
    return tuple(found)


def latest_version() -> int:
    return migrations()[-1].version


def current_version(conn: psycopg.Connection[TupleRow], schema: str) -> int:
    """The schema's version (0: no Weir tables in that schema)."""
    table = conn.execute(
        "SELECT to_regclass(%s)", (sql.Identifier(schema, "weir_migrations").as_string(conn),)
    ).fetchone()
    if table is None or table[0] is None:
        return 0
    row = conn.execute(
        sql.SQL("SELECT coalesce(max(version), 0) FROM {}").format(
            sql.Identifier(schema, "weir_migrations")
        )
    ).fetchone()
    return int(row[0]) if row else 0


def migrate(conn: psycopg.Connection[TupleRow], schema: str) -> list[Migration]:
    """Apply every pending migration to ``schema`` in one transaction; return those applied.

    ``conn`` must be in autocommit mode (this function runs its own transaction).

    Raises:
        StorageError: the schema is newer than this code, or a migration failed (nothing of
            it is kept).
    """
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (version integer PRIMARY KEY, "
                    "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
                ).format(sql.Identifier(schema, "weir_migrations"))
            )
            have = current_version(conn, schema)
            _refuse_newer(have, schema)
            applied = [m for m in migrations() if m.version > have]
            conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(schema)))
            for m in applied:
                conn.execute(m.sql.encode("utf-8"))  # several statements: simple query protocol
                conn.execute(
                    "INSERT INTO weir_migrations (version, name) VALUES (%s, %s)",
                    (m.version, m.name),
                )
    except psycopg.Error as exc:
        raise StorageError(f"metadata schema migration failed: {exc}") from exc
    return applied


def check(conn: psycopg.Connection[TupleRow], schema: str) -> None:
    """Raise unless ``schema`` is at exactly the version this code knows.

    Raises:
        StorageError: with what to do (run ``weir db migrate``, or upgrade Weir).
    """
    have = current_version(conn, schema)
    _refuse_newer(have, schema)
    if have < latest_version():
        raise StorageError(
            f"the metadata schema {schema!r} is at version {have}, this Weir needs "
            f"{latest_version()}: run 'weir db migrate' first"
        )


def _refuse_newer(have: int, schema: str) -> None:
    if have > latest_version():
        raise StorageError(
            f"the metadata schema {schema!r} is at version {have}, newer than this Weir knows "
            f"({latest_version()}): upgrade Weir"
        )
