"""The object-store client of the S3 backend: connection settings, the retry policy, how store
failures become domain errors, and the memory budget shared by a store's writers.

Retry policy (docs/decisions/0021-object-store-faults.md): every request goes through botocore's
*standard* retry mode -- up to ``max_attempts`` attempts for throttling (503 SlowDown, 429),
5xx answers and transport failures (refused, reset, timed out), with exponential backoff and full
jitter (at most 20 s between attempts), and a retry quota per client so that an outage makes
requests fail fast instead of piling up. Each attempt is bounded by ``connect_timeout`` and, per
read from the socket, ``read_timeout``: no request can hang. What is left after the retries is a
``StorageError`` (retryable: the S3 layer answers ``503 SlowDown``) or, when the store refused the
request in a way no retry fixes (credentials, permissions, a missing bucket), a ``StorageFault``
(``500 InternalError``). Both messages carry the cause for the log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from gateway.core.errors import StorageError, StorageFault

NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
#: Errors that mean "try again later" when they survive the client's retries.
TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "ServiceUnavailable",
        "InternalError",
        "503",
        "500",
    }
)
TRANSPORT_ERRORS = (BotoCoreError, aiohttp.ClientError, asyncio.TimeoutError, OSError)

_session: Any = None


def shared_session() -> Any:
    """One aiobotocore session per process: it caches the parsed S3 service model, so every
    further client costs ~20 ms instead of ~200 ms. Clients (and connections) stay per store."""
    global _session
    if _session is None:
        _session = get_session()
    return _session


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """How to reach the object store and how hard to try."""

    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None
    max_attempts: int = 4
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_pool_connections: int = 32

    def config(self, *, attempts: int | None = None, timeout: float | None = None) -> AioConfig:
        """The botocore configuration: standard retries, bounded timeouts, and no per-byte work
        the store does not need (no SHA-256 of payloads, no CRC unless the operation requires
        one): Weir hashes every byte already and checks sizes and ETags itself."""
        s3: dict[str, Any] = {"payload_signing_enabled": False}
        if self.endpoint_url:
            s3["addressing_style"] = "path"
        return AioConfig(
            max_pool_connections=self.max_pool_connections,
            retries={"max_attempts": attempts or self.max_attempts, "mode": "standard"},
            connect_timeout=timeout or self.connect_timeout,
            read_timeout=timeout or self.read_timeout,
            s3=s3,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )

    def create(
        self, stack: Any, *, attempts: int | None = None, timeout: float | None = None
    ) -> Any:
        """An async context manager for a new client (enter it on ``stack``)."""
        return stack.enter_async_context(
            shared_session().create_client(
                "s3",
                endpoint_url=self.endpoint_url,
                region_name=self.region,
                aws_access_key_id=self.access_key_id,
                aws_secret_access_key=self.secret_access_key,
                config=self.config(attempts=attempts, timeout=timeout),
            )
        )


def error_code(exc: ClientError) -> tuple[str, int]:
    err: dict[str, Any] = exc.response.get("Error", {})
    meta: dict[str, Any] = exc.response.get("ResponseMetadata", {})
    return str(err.get("Code", "")), int(meta.get("HTTPStatusCode", 0) or 0)


def is_not_found(exc: ClientError) -> bool:
    code, status = error_code(exc)
    return code in NOT_FOUND_CODES or status == 404


def storage_error(what: str, exc: BaseException) -> StorageError:
    """The domain error for a failed request: StorageFault when retrying cannot help."""
    if isinstance(exc, ClientError):
        code, status = error_code(exc)
        message = f"object store {what} failed: {code or status}: {exc}"
        if code in TRANSIENT_CODES or status >= 500 or status == 429:
            return StorageError(message)
        return StorageFault(message)
    return StorageError(f"object store {what} failed: {type(exc).__name__}: {exc}")


async def call(what: str, fn: Callable[..., Any], /, **kwargs: Any) -> Any:
    """``await fn(**kwargs)`` with failures mapped to StorageError/StorageFault."""
    try:
        return await fn(**kwargs)
    except ClientError as exc:
        raise storage_error(what, exc) from exc
    except TRANSPORT_ERRORS as exc:
        raise storage_error(what, exc) from exc


class MemoryBudget:
    """Bytes a store's writers may hold in memory together (buffers and parts in flight).

    ``try_take`` never waits (a writer that cannot get memory spools to disk instead);
    ``take`` waits, and is only called by a writer holding nothing but parts in flight, which
    finish on their own: no cycle of waiters can form. ``force_take`` may overdraw by a chunk.
    Single event loop.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._freed: asyncio.Event | None = None

    def try_take(self, n: int) -> bool:
        if self.used + n > self.limit:
            return False
        self.used += n
        return True

    def force_take(self, n: int) -> None:
        self.used += n

    async def take(self, n: int) -> None:
        """Wait until ``n`` bytes fit (or nothing else is held: a part larger than the whole
        budget still goes, alone)."""
        while self.used > 0 and self.used + n > self.limit:
            if self._freed is None:
                self._freed = asyncio.Event()
            await self._freed.wait()
        self.used += n

    def give(self, n: int) -> None:
        self.used -= n
        if self._freed is not None:
            self._freed.set()
            self._freed = None
