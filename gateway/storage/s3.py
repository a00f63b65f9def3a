"""Blob backend on any S3-compatible object store (AWS S3, SeaweedFS, MinIO, Ceph), via aiobotocore.

Keys: ``<prefix>blobs/ab/cd/abcd...`` in one bucket.

Writing (see docs/decisions/0003-blob-backends.md for why): the final key is the content hash,
known only at ``commit``. A writer keeps up to ``part_size`` bytes in memory; past that it spools
to a locked temp file on local disk. ``commit`` first HEADs the final key and, when the blob
exists, drops the bytes without uploading them (dedup). Otherwise a blob that fit in memory goes
up in one PutObject; a spooled one as a multipart upload straight to the final key, with up to
``max_concurrency`` parts in flight, each read from the spool file in a worker thread.

Guarantees:
    * Atomicity: the object appears whole or not at all (PutObject and
      CompleteMultipartUpload are atomic in S3). A crash mid-upload leaves at most an incomplete
      multipart upload (invisible; abort it with a bucket lifecycle rule) and a spool file (swept
      at the next start, see ``gateway.storage.spool``).
    * Durability: as the object store's, once ``commit`` returns.
    * Memory: at most ``part_size`` per writer and ``memory_budget`` for all writers together
      while writing; at most ``part_size * max_parts_in_flight`` for all commits together;
      whatever the blob sizes. Reads stream in chunks of <= ``READ_CHUNK``.
    * Concurrency: any number of writers and readers; two writers of the same id both upload
      the same bytes to the same key, which S3 resolves to one object with those bytes.
    * Errors: a missing blob raises BlobNotFound; network and server failures (after the
      client's retries) raise StorageError.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from gateway.core.errors import BlobNotFound, InvalidArgument, StorageError
from gateway.core.ids import BlobId
from gateway.core.ports import BlobCapabilities, BlobStat
from gateway.storage.layout import (
    blob_id_from_key,
    blob_key,
    check_blob_id,
    check_hex_prefix,
    key_prefix,
)
from gateway.storage.local import READ_CHUNK, check_range
from gateway.storage.spool import SpoolFile, TempDir

T = TypeVar("T")

MiB = 1024 * 1024
MIN_PART_SIZE = 5 * MiB  # S3's minimum for every part but the last
MAX_PARTS = 10_000
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_TRANSPORT_ERRORS = (BotoCoreError, aiohttp.ClientError, asyncio.TimeoutError, OSError)


_session: Any = None


def _shared_session() -> Any:
    """One aiobotocore session per process: it caches the parsed S3 service model, so every
    further client costs ~20 ms instead of ~200 ms. Clients (and their connections) stay
    per store."""
    global _session
    if _session is None:
        _session = get_session()
    return _session


def _error_code(exc: ClientError) -> tuple[str, int]:
    err: dict[str, Any] = exc.response.get("Error", {})
    meta: dict[str, Any] = exc.response.get("ResponseMetadata", {})
    return str(err.get("Code", "")), int(meta.get("HTTPStatusCode", 0) or 0)


def _storage_error(what: str, exc: BaseException) -> StorageError:
    return StorageError(f"S3 {what} failed: {type(exc).__name__}: {exc}")


class S3BlobWriter:
    """One blob being written: memory up to ``part_size`` (within the store's memory budget),
    then a spool file. One task at a time."""

    def __init__(self, store: S3BlobStore) -> None:
        self._store = store
        self._buf = bytearray()
        self._spool: SpoolFile | None = None
        self._finished = False

    async def write(self, chunk: bytes) -> None:
        """Append ``chunk``; spills to local disk once the blob outgrows ``part_size``."""
        if self._finished:
            raise InvalidArgument("write after commit or abort")
        try:
            if self._spool is None:
                store = self._store
                if len(self._buf) + len(chunk) <= store.part_size and store.reserve(len(chunk)):
                    self._buf += chunk
                    return
                self._spool = await store.open_spool()
                buf, self._buf = self._buf, bytearray()
                store.unreserve(len(buf))
                await self._spool.write(bytes(buf))
            await self._spool.write(chunk)
        except OSError as exc:
            raise StorageError(f"spooling blob to local disk: {exc}") from exc

    async def commit(self, blob_id: BlobId) -> None:
        """Upload unless the blob exists already; atomic and idempotent (see module docstring)."""
        blob_id = check_blob_id(blob_id)
        if self._finished:
            raise InvalidArgument("commit after commit or abort")
        self._finished = True
        key = self._store.key_of(blob_id)
        try:
            if await self._store.head_key(key) is not None:
                return  # dedup: the same bytes are there already
            if self._spool is None:
                await self._store.put_small(key, bytes(self._buf))
            else:
                await self._spool.materialize()
                await self._store.upload_spooled(key, self._spool)
        except OSError as exc:
            raise StorageError(f"reading spooled blob {blob_id}: {exc}") from exc
        finally:
            await asyncio.shield(self._release())

    async def abort(self) -> None:
        """Drop what was written. Idempotent; safe after a failed commit."""
        self._finished = True
        await self._release()

    async def _release(self) -> None:
        self._store.unreserve(len(self._buf))
        self._buf = bytearray()
        if self._spool is not None:
            await self._spool.discard()


class S3BlobStore:
    """Blobs as objects in an S3 bucket (see the module docstring for the guarantees).

    The aiobotocore client is created on first use, bound to the running event loop, and closed
    by ``close()``; use one store per event loop.

    Args:
        bucket: an existing bucket.
        prefix: key prefix inside the bucket; a ``/`` is appended when missing.
        endpoint_url: S3 endpoint (None: AWS). Path-style addressing is used when given.
        region: signing region.
        access_key_id / secret_access_key: credentials (None: botocore's usual chain).
        part_size: multipart part size and the in-memory limit per writer (>= 5 MiB).
        max_concurrency: parts uploaded in parallel per committing writer.
        spool_dir: where large blobs are spooled before upload (default: the system temp dir).
        memory_budget: bytes all writers of this store may hold in memory together; a writer
            that would exceed it spools to disk even below ``part_size``.
        max_parts_in_flight: part uploads in flight across all committing writers (each holds
            one part in memory), so commit memory is bounded store-wide too.
        max_attempts: botocore attempts per request (standard retry mode, with backoff).
        read_resumes: how often one ``read`` resumes after a connection broken mid-body.
    """

    capabilities = BlobCapabilities(server_side_copy=False)

    def __init__(
        self,
        *,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        part_size: int = 8 * MiB,
        max_concurrency: int = 4,
        spool_dir: Path | None = None,
        max_attempts: int = 5,
        read_resumes: int = 3,
        memory_budget: int = 256 * MiB,
        max_parts_in_flight: int = 16,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise InvalidArgument(f"part_size must be >= {MIN_PART_SIZE}")
        if max_concurrency < 1:
            raise InvalidArgument("max_concurrency must be >= 1")
        self.bucket = bucket
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self.part_size = part_size
        self.max_concurrency = max_concurrency
        self._endpoint_url = endpoint_url
        self._region = region
        self._access_key_id = access_key_id
        self._secret_access_key = secret_access_key
        self._max_attempts = max_attempts
        self.read_resumes = read_resumes
        self.memory_budget = memory_budget
        self.buffered_bytes = 0  # held in writers' memory buffers right now
        self._part_slots = asyncio.Semaphore(max_parts_in_flight)
        self._spool_dir = spool_dir or Path(tempfile.gettempdir()) / "weir-s3-spool"
        self._temp: TempDir | None = None
        self._executor = ThreadPoolExecutor(max_concurrency + 1, thread_name_prefix="weir-s3")
        self._stack = contextlib.AsyncExitStack()
        self._client: Any = None
        self._client_lock = asyncio.Lock()

    # -- plumbing -------------------------------------------------------------------------------

    async def client(self) -> Any:
        """The shared aiobotocore S3 client, created on first call."""
        if self._client is None:
            async with self._client_lock:
                if self._client is None:
                    config = AioConfig(
                        max_pool_connections=max(10, 4 * self.max_concurrency),
                        retries={"max_attempts": self._max_attempts, "mode": "standard"},
                        connect_timeout=10,
                        read_timeout=60,
                        s3={"addressing_style": "path"} if self._endpoint_url else None,
                    )
                    self._client = await self._stack.enter_async_context(
                        _shared_session().create_client(
                            "s3",
                            endpoint_url=self._endpoint_url,
                            region_name=self._region,
                            aws_access_key_id=self._access_key_id,
                            aws_secret_access_key=self._secret_access_key,
                            config=config,
                        )
                    )
        return self._client

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def reserve(self, n: int) -> bool:
        """Take ``n`` bytes of the memory budget; False (nothing taken) if it would overflow."""
        if self.buffered_bytes + n > self.memory_budget:
            return False
        self.buffered_bytes += n
        return True

    def unreserve(self, n: int) -> None:
        """Give back ``n`` bytes taken with ``reserve``."""
        self.buffered_bytes -= n

    def key_of(self, blob_id: BlobId) -> str:
        """The object key of ``blob_id``."""
        return self.prefix + blob_key(check_blob_id(blob_id))

    async def open_spool(self) -> SpoolFile:
        """A new (lazily created, locked) spool file; the first call sweeps the spool files
        left by crashes."""
        if self._temp is None:
            self._temp = await self._run(TempDir, self._spool_dir)
            await self._run(self._temp.sweep)
        return SpoolFile(self._temp, self._executor)

    # -- writing ----------------------------------------------------------------------------------

    async def head_key(self, key: str) -> int | None:
        """Size of the object at ``key``, or None when absent."""
        client = await self.client()
        try:
            resp = await client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            code, status = _error_code(exc)
            if code in _NOT_FOUND_CODES or status == 404:
                return None
            raise _storage_error(f"HEAD {key}", exc) from exc
        except _TRANSPORT_ERRORS as exc:
            raise _storage_error(f"HEAD {key}", exc) from exc
        return int(resp["ContentLength"])

    async def put_small(self, key: str, data: bytes) -> None:
        """One PutObject."""
        client = await self.client()
        try:
            await client.put_object(Bucket=self.bucket, Key=key, Body=data)
        except (ClientError, *_TRANSPORT_ERRORS) as exc:
            raise _storage_error(f"PUT {key}", exc) from exc

    async def upload_spooled(self, key: str, spool: SpoolFile) -> None:
        """Multipart-upload the spool file to ``key``; abort the upload on any failure."""
        client = await self.client()
        size = spool.size
        # Grow the part size (in whole MiB) when the blob would need more than 10,000 parts.
        part = max(self.part_size, math.ceil(size / MAX_PARTS / MiB) * MiB)
        n_parts = max(1, math.ceil(size / part))
        try:
            created = await client.create_multipart_upload(Bucket=self.bucket, Key=key)
        except (ClientError, *_TRANSPORT_ERRORS) as exc:
            raise _storage_error(f"CreateMultipartUpload {key}", exc) from exc
        upload_id = created["UploadId"]
        etags: list[str] = [""] * n_parts
        next_part = 0
        reads: set[asyncio.Future[bytes]] = set()  # thread reads of spool.fd still running
        loop = asyncio.get_running_loop()

        async def upload_worker() -> None:
            nonlocal next_part
            while next_part < n_parts:
                i = next_part
                next_part += 1
                async with self._part_slots:  # bounds part buffers store-wide
                    read = loop.run_in_executor(
                        self._executor, _pread_exact, spool.fd, min(part, size - i * part), i * part
                    )
                    reads.add(read)
                    read.add_done_callback(reads.discard)
                    data = await asyncio.shield(read)
                    resp = await client.upload_part(
                        Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=i + 1, Body=data
                    )
                    del data
                etags[i] = resp["ETag"]

        try:
            try:
                async with asyncio.TaskGroup() as tg:
                    for _ in range(min(self.max_concurrency, n_parts)):
                        tg.create_task(upload_worker())
            except BaseExceptionGroup as group:
                raise group.exceptions[0] from None
            parts = [{"ETag": e, "PartNumber": i + 1} for i, e in enumerate(etags)]
            await client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException as exc:
            if reads:  # the caller closes spool.fd next: let no thread use it after that
                await asyncio.wait(set(reads))
            with contextlib.suppress(Exception):
                await asyncio.shield(
                    client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
                )
            if isinstance(exc, (ClientError, *_TRANSPORT_ERRORS)):
                raise _storage_error(f"multipart upload of {key}", exc) from exc
            raise

    async def open_writer(self) -> S3BlobWriter:
        return S3BlobWriter(self)

    # -- reading ----------------------------------------------------------------------------------

    async def read(
        self, blob_id: BlobId, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        """Stream a byte range with a ranged GetObject, in chunks of at most ``READ_CHUNK``.

        A range running past the end is cut at the end. If the connection breaks in the middle
        of the body, the read resumes where it stopped with a new ranged GET (blobs are
        immutable, so the bytes cannot have changed), up to ``read_resumes`` times per call.

        Raises:
            BlobNotFound: on first iteration, when the blob does not exist.
            StorageError: network or server failure, also in the middle of the stream.
        """
        key = self.key_of(blob_id)
        check_range(offset, length)
        if length == 0:
            if await self.head_key(key) is None:
                raise BlobNotFound(f"blob {blob_id} not found")
            return
        pos, left, resumes = offset, length, 0
        while True:
            resp = await self._get_range(key, pos, left)
            if resp is None:
                return  # the range starts at or past the end: nothing to send
            # A server that ignores Range answers 200 with the whole object: cut it here.
            ranged = pos > 0 or left is not None
            skip = pos if ranged and resp["ResponseMetadata"]["HTTPStatusCode"] == 200 else 0
            try:
                async with resp["Body"] as body:
                    async for chunk in body.iter_chunks(READ_CHUNK):
                        if skip:
                            dropped = min(skip, len(chunk))
                            chunk, skip = chunk[dropped:], skip - dropped
                        if left is not None:
                            chunk = chunk[:left]
                            left -= len(chunk)
                        if chunk:
                            pos += len(chunk)
                            yield chunk
                        if left == 0:
                            return
                return
            except _TRANSPORT_ERRORS as exc:
                resumes += 1
                if resumes > self.read_resumes:
                    raise _storage_error(f"GET {key} (body, {resumes} attempts)", exc) from exc

    async def _get_range(self, key: str, pos: int, left: int | None) -> Any:
        """GetObject of ``left`` bytes (None: to the end) from ``pos``; None when the range
        starts at or past the end (416)."""
        kwargs: dict[str, str] = {}
        if pos > 0 or left is not None:
            kwargs["Range"] = f"bytes={pos}-{'' if left is None else pos + left - 1}"
        client = await self.client()
        try:
            return await client.get_object(Bucket=self.bucket, Key=key, **kwargs)
        except ClientError as exc:
            code, status = _error_code(exc)
            if code in _NOT_FOUND_CODES or status == 404:
                blob_id = key.rsplit("/", 1)[-1]
                raise BlobNotFound(f"blob {blob_id} not found") from None
            if code == "InvalidRange" or status == 416:
                return None
            raise _storage_error(f"GET {key}", exc) from exc
        except _TRANSPORT_ERRORS as exc:
            raise _storage_error(f"GET {key}", exc) from exc

    async def stat(self, blob_id: BlobId) -> BlobStat | None:
        size = await self.head_key(self.key_of(blob_id))
        return None if size is None else BlobStat(size=size)

    async def exists(self, blob_id: BlobId) -> bool:
        return await self.stat(blob_id) is not None

    async def delete(self, blob_id: BlobId, *, unused_since: float | None = None) -> bool:
        """DeleteObject; S3 treats a missing key as success. With ``unused_since``: HEAD first,
        and keep the blob when its LastModified is at or after it.

        Not atomic with respect to a deduplicating writer: this layout's dedup (HEAD of the
        content key) cannot claim a blob, so a write of the same bytes racing the HEAD and the
        DELETE is not protected. The blake3 -> physical-object index of the streaming S3 layout
        (issue 10, storage half) makes both the dedup decision and this deletion metadata
        transactions.
        """
        key = self.key_of(blob_id)
        client = await self.client()
        try:
            if unused_since is not None:
                resp = await client.head_object(Bucket=self.bucket, Key=key)
                if resp["LastModified"].timestamp() >= unused_since:
                    return False
            await client.delete_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            code, status = _error_code(exc)
            if code in _NOT_FOUND_CODES or status == 404:
                return False
            raise _storage_error(f"DELETE {key}", exc) from exc
        except _TRANSPORT_ERRORS as exc:
            raise _storage_error(f"DELETE {key}", exc) from exc
        return True

    async def list(self, prefix: str = "") -> AsyncIterator[BlobId]:
        """Every blob id starting with ``prefix``, via paginated ListObjectsV2."""
        key_start = self.prefix + key_prefix(check_hex_prefix(prefix))
        client = await self.client()
        paginator = client.get_paginator("list_objects_v2")
        try:
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=key_start):
                for obj in page.get("Contents", ()):
                    blob_id = blob_id_from_key(obj["Key"][len(self.prefix) :])
                    if blob_id is not None and blob_id.startswith(prefix):
                        yield blob_id
        except (ClientError, *_TRANSPORT_ERRORS) as exc:
            raise _storage_error(f"LIST {key_start}", exc) from exc

    async def inventory(self, prefix: str = "") -> AsyncIterator[tuple[BlobId, BlobStat]]:
        """Every blob starting with ``prefix`` with its size and LastModified (ListObjectsV2)."""
        key_start = self.prefix + key_prefix(check_hex_prefix(prefix))
        client = await self.client()
        paginator = client.get_paginator("list_objects_v2")
        try:
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=key_start):
                for obj in page.get("Contents", ()):
                    blob_id = blob_id_from_key(obj["Key"][len(self.prefix) :])
                    if blob_id is not None and blob_id.startswith(prefix):
                        stat = BlobStat(int(obj["Size"]), obj["LastModified"].timestamp())
                        yield blob_id, stat
        except (ClientError, *_TRANSPORT_ERRORS) as exc:
            raise _storage_error(f"LIST {key_start}", exc) from exc

    def local_path(self, blob_id: BlobId) -> Path | None:
        return None

    async def close(self) -> None:
        """Close the HTTP client and the thread pool. The store is unusable after."""
        await self._stack.aclose()
        self._client = None
        await asyncio.to_thread(self._executor.shutdown, True)


def _pread_exact(fd: int, n: int, offset: int) -> bytes:
    """Read exactly ``n`` bytes at ``offset`` (a regular file that long)."""
    data = os.pread(fd, n, offset)
    if len(data) == n:
        return data
    pieces = [data]
    got = len(data)
    while got < n:
        more = os.pread(fd, n - got, offset + got)
        if not more:
            raise OSError(f"spool file shorter than expected ({offset + got} < {offset + n})")
        pieces.append(more)
        got += len(more)
    return b"".join(pieces)
