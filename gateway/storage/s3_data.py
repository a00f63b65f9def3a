"""The S3 backend's data path: object and part bodies over plain aiohttp, SigV4-signed by botocore.

Control requests (create/complete/abort multipart uploads, HEAD, list, delete) go through
aiobotocore (``s3_client``). Bodies do not: a PUT here *streams* -- its body is an async iterable
consumed while the caller is still receiving the bytes from its own client, with an exact
``Content-Length`` and ``UNSIGNED-PAYLOAD`` (Weir hashes every byte itself) -- and a GET reads the
store's response through a large buffer, so the store keeps sending while Weir writes to its
client. aiobotocore would need the whole body in memory before sending and reads responses
64 KiB at a time (measured in docs/decisions/0020-s3-streaming-layout.md).

Retries (the same policy as ``s3_client``, docs/decisions/0021-object-store-faults.md): a request
whose body is replayable (``bytes``, or a factory the caller can call again) is retried on
throttling, 5xx and transport failures, up to ``max_attempts`` with full-jitter exponential
backoff; a response body that breaks mid-way is the reader's business (``S3BlobStore.read``
resumes it with a ranged GET).
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials
from yarl import URL

from gateway.core.errors import StorageError, StorageFault
from gateway.storage.s3_client import TRANSIENT_CODES, ClientSettings, shared_session

#: The store's response body is read through a buffer this large: it keeps sending while Weir
#: writes the previous bytes to its own client.
READ_BUFFER = 4 << 20
MAX_BACKOFF = 20.0
_CODE = re.compile(rb"<Code>([^<]{1,100})</Code>")

Body = bytes | Callable[[], AsyncIterable[bytes]]


class _UnsignedPayload(S3SigV4Auth):  # type: ignore[misc]
    """SigV4 with ``UNSIGNED-PAYLOAD`` also over plain HTTP (botocore hashes the body there)."""

    def _should_sha256_sign_payload(self, request: Any) -> bool:
        return False


@dataclass
class StoreError(Exception):
    """A non-2xx answer of the store after the retries."""

    status: int
    code: str
    message: str

    def domain(self, what: str) -> StorageError:
        text = f"object store {what} failed: {self.code or self.status}: {self.message}"
        if self.code in TRANSIENT_CODES or self.status >= 500 or self.status == 429:
            return StorageError(text)
        return StorageFault(text)


class DataClient:
    """Signed, retried PUT and GET of object bodies. Create and use on one event loop."""

    def __init__(self, settings: ClientSettings, bucket: str) -> None:
        self.settings = settings
        self.bucket = bucket
        self._session: aiohttp.ClientSession | None = None
        self._static: ReadOnlyCredentials | None = None
        if settings.access_key_id and settings.secret_access_key:
            self._static = Credentials(
                settings.access_key_id, settings.secret_access_key
            ).get_frozen_credentials()
        self._chain: Any = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            timeout = aiohttp.ClientTimeout(
                sock_connect=self.settings.connect_timeout, sock_read=self.settings.read_timeout
            )
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.settings.max_pool_connections),
                timeout=timeout,
                read_bufsize=READ_BUFFER,
                auto_decompress=False,
                skip_auto_headers=("Content-Type",),
            )
        return self._session

    async def _credentials(self) -> ReadOnlyCredentials:
        if self._static is not None:
            return self._static
        if self._chain is None:
            self._chain = await shared_session().get_credentials()
            if self._chain is None:
                raise StorageFault("no AWS credentials found for the object store")
        frozen: ReadOnlyCredentials = await self._chain.get_frozen_credentials()
        return frozen

    def url(
        self, key: str, query: Mapping[str, str] | None = None, *, bucket: str | None = None
    ) -> str:
        """The address of ``key`` in ``bucket`` (default: the store's), path-style when an
        endpoint is configured, virtual-hosted on AWS."""
        b = bucket or self.bucket
        path = quote(key, safe="/~")
        if self.settings.endpoint_url:
            base = f"{self.settings.endpoint_url.rstrip('/')}/{quote(b, safe='')}/{path}"
        else:
            base = f"https://{b}.s3.{self.settings.region}.amazonaws.com/{path}"
        if query:
            base += "?" + "&".join(f"{k}={quote(v, safe='-_.~')}" for k, v in sorted(query.items()))
        return base

    async def signed(self, method: str, url: str, extra: Mapping[str, str]) -> dict[str, str]:
        """Headers (``extra`` included) of a SigV4-signed request with an unsigned payload."""
        creds = await self._credentials()
        request = AWSRequest(method=method, url=url, headers=dict(extra))
        _UnsignedPayload(creds, "s3", self.settings.region).add_auth(request)
        return {k: str(v) for k, v in request.headers.items()}

    async def put(
        self,
        key: str,
        body: Body,
        length: int,
        *,
        query: Mapping[str, str] | None = None,
        what: str = "PUT",
    ) -> str:
        """PUT ``length`` bytes; the ETag the store answered. A ``bytes`` body (or a factory
        that yields the same bytes again) is retried; any other failure raises at once."""
        url = self.url(key, query)
        attempts = self.settings.max_attempts
        for attempt in range(attempts):
            try:
                headers = await self.signed("PUT", url, {})
                headers["Content-Length"] = str(length)
                data: Any = body if isinstance(body, bytes) else body()
                async with self._http().put(
                    URL(url, encoded=True), data=data, headers=headers
                ) as r:
                    if r.status < 300:
                        await r.read()
                        return r.headers.get("ETag", "")
                    error = await _error(r)
                if not retryable(error.status, error.code) or attempt == attempts - 1:
                    raise error.domain(f"{what} {key}")
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                if attempt == attempts - 1:
                    raise StorageError(
                        f"object store {what} {key} failed: {type(exc).__name__}: {exc}"
                    ) from exc
            await asyncio.sleep(backoff(attempt))  # a retry schedule, not a synchronisation
        raise AssertionError("unreachable")

    async def get(
        self,
        key: str,
        start: int,
        end: int | None,
        *,
        bucket: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> aiohttp.ClientResponse | None:
        """Open a GET of bytes ``start``..``end`` (inclusive; None: to the end). None when the
        range starts past the end (416); raises StoreError for any other non-2xx answer left
        after the retries (404 for a missing object, 412 for a failed If-Match). The caller
        reads and releases the response."""
        url = self.url(key, bucket=bucket)
        extra = dict(headers or {})
        if start > 0 or end is not None:
            extra["Range"] = f"bytes={start}-{'' if end is None else end}"
        attempts = self.settings.max_attempts
        for attempt in range(attempts):
            try:
                headers = await self.signed("GET", url, extra)
                r = await self._http().get(URL(url, encoded=True), headers=headers)
                if r.status < 300:
                    return r
                error = await _error(r)
                if r.status == 416:
                    return None
                if not retryable(error.status, error.code) or attempt == attempts - 1:
                    raise error
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                if attempt == attempts - 1:
                    raise StorageError(
                        f"object store GET {key} failed: {type(exc).__name__}: {exc}"
                    ) from exc
            await asyncio.sleep(backoff(attempt))  # a retry schedule, not a synchronisation
        raise AssertionError("unreachable")

    async def fetch(
        self,
        method: str,
        bucket: str,
        key: str,
        query: Mapping[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """A small request (a listing page, a HEAD) read whole: (status, lower-case headers,
        body). Retried on throttling, 5xx and transport failures; the last answer returned."""
        url = self.url(key, query, bucket=bucket)
        attempts = self.settings.max_attempts
        for attempt in range(attempts):
            try:
                signed = await self.signed(method, url, {})
                async with self._http().request(
                    method, URL(url, encoded=True), headers=signed
                ) as r:
                    body = await r.read()
                    status, headers = r.status, {k.lower(): v for k, v in r.headers.items()}
                code = store_error(status, body).code if status >= 300 else ""
                if status < 300 or not retryable(status, code) or attempt == attempts - 1:
                    return status, headers, body
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                if attempt == attempts - 1:
                    raise StorageError(
                        f"object store {method} {url} failed: {type(exc).__name__}: {exc}"
                    ) from exc
            await asyncio.sleep(backoff(attempt))  # a retry schedule, not a synchronisation
        raise AssertionError("unreachable")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


async def _error(r: aiohttp.ClientResponse) -> StoreError:
    body = await r.content.read(64 << 10)
    r.release()
    return store_error(r.status, body)


def store_error(status: int, body: bytes) -> StoreError:
    """The store's error answer: its status and the ``<Code>`` of its XML body."""
    match = _CODE.search(body)
    code = match.group(1).decode("utf-8", "replace") if match else ""
    return StoreError(status, code, body[:300].decode("utf-8", "replace"))


def retryable(status: int, code: str) -> bool:
    return status >= 500 or status == 429 or code in TRANSIENT_CODES


def backoff(attempt: int) -> float:
    """Full jitter: uniform in [0, min(20 s, 2^attempt s)) -- botocore's standard mode."""
    return random.random() * min(MAX_BACKOFF, float(2**attempt))
