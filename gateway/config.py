"""Settings: defaults, then a TOML file, then ``WEIR_*`` environment variables, then flags.

Every setting has a dotted name (``storage.backend``) and an environment variable derived from it
(``WEIR_STORAGE_BACKEND``); top-level names drop the section (``listen`` -> ``WEIR_LISTEN``).
``config/weir.toml`` documents every one with its default.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from gateway.core.errors import InvalidArgument


@dataclass(frozen=True)
class StorageSettings:
    backend: str = "local"  # local | s3 | memory
    local_path: str = ""  # default: <data_dir>/blobs
    s3_bucket: str = ""
    s3_prefix: str = ""
    s3_endpoint_url: str = ""
    s3_region: str = "us-east-1"
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""
    s3_part_size_mib: int = 8  # multipart part size; also the largest blob sent in one PUT
    s3_memory_budget_mib: int = 256  # buffers and parts in flight of all writers together
    s3_max_attempts: int = 4  # per request, with exponential backoff (botocore standard mode)
    s3_connect_timeout_s: int = 5
    s3_read_timeout_s: int = 30  # without a byte from the store; then the attempt fails
    orphan_grace_s: int = 86400  # interrupted uploads older than this are swept


@dataclass(frozen=True)
class MetaSettings:
    backend: str = "lmdb"  # lmdb (embedded, <data_dir>/meta) | postgres (shared by gateways)
    dsn: str = ""  # postgres: libpq URI or key=value string; the password may come from PGPASSWORD
    schema: str = "weir"  # postgres: the schema holding Weir's tables
    pool_size: int = 8  # postgres: most connections for reads (the writer has its own one)
    connect_timeout_seconds: int = 5  # postgres: longest wait for a connection
    retry_seconds: int = 5  # postgres: re-run conflicting transactions this long, then 503


@dataclass(frozen=True)
class AuthSettings:
    access_key_id: str = ""  # bootstrap admin credential on first start
    secret_access_key: str = ""
    encryption_key_file: str = ""  # default: <data_dir>/secret.key
    sigv2: bool = True  # accept AWS Signature Version 2 (boto3's default presigned URLs)
    extra_regions: str = ""  # more SigV4 scope regions to accept, comma-separated; "*" = any
    session_ttl_hours: int = 12  # browser sessions (web UI): lifetime from sign-in
    session_cookie_secure: bool = False  # Secure cookies even on plain HTTP (TLS proxy in front)


@dataclass(frozen=True)
class UISettings:
    enabled: bool = True  # serve the web UI at /ui (and redirect a browser's GET / there)


@dataclass(frozen=True)
class S3Settings:
    domain: str = ""  # virtual-hosted-style base domain: <repo>.<domain> addresses a bucket


@dataclass(frozen=True)
class ServerSettings:
    workers: int = 0  # worker processes on the one port; 0 = one per CPU core
    shutdown_timeout: int = 30  # seconds SIGTERM waits for in-flight requests in every worker

    @property
    def worker_count(self) -> int:
        """``workers``, with 0 resolved to the number of CPU cores this process may use."""
        if self.workers:
            return self.workers
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except (AttributeError, OSError):
            return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class GcSettings:
    interval_minutes: int = 0  # collect garbage every N minutes in the background; 0 = on demand
    retention_days: int = 7  # keep commits no branch or tag reaches for N days (per-repo rules)
    grace_seconds: int = 3600  # never collect content written or claimed more recently
    multipart_abandon_days: int = 7  # abort multipart uploads started longer ago than this
    work_dir: str = ""  # temporary mark sets; default <data_dir>/gc


@dataclass(frozen=True)
class OpenLineageSettings:
    url: str = ""  # HTTP endpoint base (e.g. Marquez); events POSTed to url/endpoint
    endpoint: str = "api/v1/lineage"
    file: str = ""  # or: append events as JSON lines to this file
    namespace: str = "weir"  # job and dataset namespace
    api_key: str = ""  # sent as a Bearer token
    queue_size: int = 10000  # events waiting for delivery; more are dropped (and counted)
    retries: int = 3  # delivery attempts after the first, with exponential backoff
    timeout: int = 5  # seconds per HTTP attempt


@dataclass(frozen=True)
class AuditSettings:
    reads: bool = False  # also record reads (every GET/HEAD/list) on the audit trail


@dataclass(frozen=True)
class RunsSettings:
    credential_ttl_seconds: int = 900  # a run credential lives this long unless renewed
    max_credential_ttl_seconds: int = 604800  # the longest TTL a run may ask for
    read_flush_ms: int = 200  # how often each process writes its batch of recorded reads
    finish_timeout_seconds: int = 10  # finishing waits this long for other processes' reads


@dataclass(frozen=True)
class ImportsSettings:
    # Zero-copy imports read with the storage.s3_* endpoint and credentials.
    enabled: bool = True
    lease_s: int = 30  # a job whose process stopped renewing it this long is resumed elsewhere
    list_page_size: int = 1000  # keys per ListObjectsV2 page (each page is one transaction)


@dataclass(frozen=True)
class Settings:
    listen: str = "127.0.0.1:8000"
    data_dir: str = "./data"
    region: str = "us-east-1"
    log_level: str = "info"
    access_log: bool = True
    lmdb_map_size_gib: int = 1024
    storage: StorageSettings = field(default_factory=StorageSettings)
    meta: MetaSettings = field(default_factory=MetaSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    s3: S3Settings = field(default_factory=S3Settings)
    ui: UISettings = field(default_factory=UISettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    gc: GcSettings = field(default_factory=GcSettings)
    openlineage: OpenLineageSettings = field(default_factory=OpenLineageSettings)
    audit: AuditSettings = field(default_factory=AuditSettings)
    runs: RunsSettings = field(default_factory=RunsSettings)
    imports: ImportsSettings = field(default_factory=ImportsSettings)

    @property
    def host_port(self) -> tuple[str, int]:
        host, sep, port = self.listen.rpartition(":")
        if not sep or not port.isdigit():
            raise InvalidArgument(f"listen address must be HOST:PORT, got {self.listen!r}")
        return host.strip("[]") or "127.0.0.1", int(port)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def gc_path(self) -> Path:
        return Path(self.gc.work_dir) if self.gc.work_dir else self.data_path / "gc"

    @property
    def blob_path(self) -> Path:
        return (
            Path(self.storage.local_path) if self.storage.local_path else self.data_path / "blobs"
        )


_SECTIONS: dict[str, type] = {
    "storage": StorageSettings,
    "meta": MetaSettings,
    "auth": AuthSettings,
    "server": ServerSettings,
    "s3": S3Settings,
    "gc": GcSettings,
    "ui": UISettings,
    "openlineage": OpenLineageSettings,
    "audit": AuditSettings,
    "runs": RunsSettings,
    "imports": ImportsSettings,
}


def _coerce(current: Any, value: Any, name: str) -> Any:
    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
        s = str(value).strip().lower()
        if s in ("1", "true", "yes", "on"):
            return True
        if s in ("0", "false", "no", "off"):
            return False
        raise InvalidArgument(f"setting {name}: expected a boolean, got {value!r}")
    if isinstance(current, int):
        try:
            return int(value)
        except (TypeError, ValueError):
            raise InvalidArgument(f"setting {name}: expected an integer, got {value!r}") from None
    if not isinstance(value, str | int | float):
        raise InvalidArgument(f"setting {name}: expected a string, got {value!r}")
    return str(value)


def _apply(settings: Settings, values: Mapping[str, Any], origin: str) -> Settings:
    top: dict[str, Any] = {}
    for key, value in values.items():
        if key in _SECTIONS:
            if not isinstance(value, Mapping):
                raise InvalidArgument(f"{origin}: [{key}] must be a table")
            section = getattr(settings, key)
            known = {f.name for f in fields(section)}
            sub: dict[str, Any] = {}
            for k, v in value.items():
                if k not in known:
                    raise InvalidArgument(f"{origin}: unknown setting {key}.{k}")
                sub[k] = _coerce(getattr(section, k), v, f"{key}.{k}")
            top[key] = replace(section, **sub)
        else:
            known = {f.name for f in fields(settings)} - set(_SECTIONS)
            if key not in known:
                raise InvalidArgument(f"{origin}: unknown setting {key}")
            top[key] = _coerce(getattr(settings, key), value, key)
    return replace(settings, **top)


def env_values(environ: Mapping[str, str]) -> dict[str, Any]:
    """Settings named by ``WEIR_*`` variables (``WEIR_STORAGE_BACKEND`` -> storage.backend)."""
    out: dict[str, Any] = {}
    for f in fields(Settings):
        if f.name in _SECTIONS:
            for sf in fields(_SECTIONS[f.name]):
                var = f"WEIR_{f.name}_{sf.name}".upper()
                if var in environ:
                    out.setdefault(f.name, {})[sf.name] = environ[var]
        else:
            var = f"WEIR_{f.name}".upper()
            if var in environ:
                out[f.name] = environ[var]
    # The admin bootstrap credential uses the same names as the CLI's.
    for var, key in (
        ("WEIR_ACCESS_KEY_ID", "access_key_id"),
        ("WEIR_SECRET_ACCESS_KEY", "secret_access_key"),
    ):
        if var in environ:
            out.setdefault("auth", {})[key] = environ[var]
    return out


def settings_to_dict(settings: Settings) -> dict[str, Any]:
    """Every setting as plain data (``settings_from_dict`` reads it back): how the supervisor of
    ``weir serve --workers N`` hands the resolved settings to its workers."""
    return asdict(settings)


def settings_from_dict(values: Mapping[str, Any]) -> Settings:
    """The inverse of ``settings_to_dict``. Raises InvalidArgument on unknown settings."""
    return _apply(Settings(), values, "settings")


def load_settings(
    *,
    config_file: str | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Defaults < config file < environment < explicit overrides (command-line flags).

    Raises:
        InvalidArgument: unreadable file, unknown setting or a value of the wrong type.
    """
    settings = Settings()
    if config_file:
        try:
            with open(config_file, "rb") as fh:
                data = tomllib.load(fh)
        except OSError as exc:
            raise InvalidArgument(f"cannot read config file {config_file}: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise InvalidArgument(f"config file {config_file}: {exc}") from None
        settings = _apply(settings, data, config_file)
    settings = _apply(settings, env_values(os.environ if environ is None else environ), "env")
    if overrides:
        settings = _apply(settings, {k: v for k, v in overrides.items() if v is not None}, "flag")
    if settings.storage.backend not in ("local", "s3", "memory"):
        raise InvalidArgument(
            f"storage.backend must be local, s3 or memory, got {settings.storage.backend!r}"
        )
    if settings.storage.backend == "s3" and not settings.storage.s3_bucket:
        raise InvalidArgument("storage.backend = s3 needs storage.s3_bucket")
    _check_meta(settings.meta)
    ol = settings.openlineage
    if ol.url and ol.file:
        raise InvalidArgument("openlineage: set url or file, not both")
    if ol.queue_size < 1 or not 0 <= ol.retries <= 100 or ol.timeout < 1:
        raise InvalidArgument("openlineage: queue_size >= 1, retries 0..100, timeout >= 1")
    if not 0 <= settings.server.workers <= 1024:
        raise InvalidArgument("server.workers must be 0 (one per core) to 1024")
    if not 0 <= settings.server.shutdown_timeout <= 86400:
        raise InvalidArgument("server.shutdown_timeout must be 0 to 86400 seconds")
    for name in ("interval_minutes", "retention_days", "grace_seconds", "multipart_abandon_days"):
        if getattr(settings.gc, name) < 0:
            raise InvalidArgument(f"gc.{name} must not be negative")
    if settings.auth.session_ttl_hours < 1:
        raise InvalidArgument("auth.session_ttl_hours must be at least 1")
    r = settings.runs
    if not 1 <= r.credential_ttl_seconds <= r.max_credential_ttl_seconds:
        raise InvalidArgument(
            "runs.credential_ttl_seconds must be between 1 and runs.max_credential_ttl_seconds"
        )
    if r.read_flush_ms < 1 or r.finish_timeout_seconds < 1:
        raise InvalidArgument("runs.read_flush_ms and runs.finish_timeout_seconds must be >= 1")
    settings.host_port  # noqa: B018 - validates the listen address early
    return settings


def _check_meta(meta: MetaSettings) -> None:
    if meta.backend not in ("lmdb", "postgres"):
        raise InvalidArgument(f"meta.backend must be lmdb or postgres, got {meta.backend!r}")
    if meta.backend == "postgres" and not meta.dsn:
        raise InvalidArgument("meta.backend = postgres needs meta.dsn (e.g. postgresql://host/db)")
    if not meta.schema.isidentifier() or meta.schema.lower().startswith("pg_"):
        raise InvalidArgument(f"meta.schema must be a plain identifier, got {meta.schema!r}")
    if meta.pool_size < 1 or meta.connect_timeout_seconds < 1 or meta.retry_seconds < 1:
        raise InvalidArgument("meta.pool_size, connect_timeout_seconds, retry_seconds must be >= 1")
