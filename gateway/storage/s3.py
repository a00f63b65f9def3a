"""Blob backend on any S3-compatible object store (AWS S3, SeaweedFS, MinIO, Ceph), via aiobotocore.

Layout (docs/decisions/0020-s3-streaming-layout.md), under ``prefix`` in one bucket::

    data/<token>          one object per stored upload; token = 32 random hex digits
    blobs/ab/cd/<blake3>  blobs written by Weir before the blob index (read-only fallback)

and in the metadata store (``gateway.core.blobindex``): ``b/<blake3>`` -> the token, size and
times of each stored blob; ``p/<token>`` -> an upload in progress (or an object being deleted).

Writing (``gateway.storage.s3_writer``): the bytes stream to a fresh ``data/<token>`` key while
the caller hashes them -- one PutObject for a blob of at most ``part_size``, a multipart upload
started with the first ``part_size`` bytes for a larger one -- and ``commit`` records the token
under the blob's hash. A blob the index knows already is not uploaded again (dedup).

Guarantees:
    * Atomicity: a blob is visible (readable, listed) once its index record is written, which
      happens after its object is complete; a crash before leaves a pending record, and
      ``sweep`` deletes the object (and aborts the multipart upload) once it is older than the
      grace period.
    * Durability: as the object store's for the bytes, as the metadata store's for the index.
    * Memory: ``memory_budget`` for all writers' buffers and parts in flight together (a writer
      waits for memory, or spools to disk while still buffering); reads stream in chunks of at
      most ``READ_CHUNK``.
    * Concurrency: any number of writers and readers, also of the same blob id (the first
      upload to be recorded wins, the others delete their copies).
    * Errors: a missing blob raises BlobNotFound; store failures left after the client's
      retries raise StorageError (or StorageFault when retrying cannot help), see
      ``gateway.storage.s3_client``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import os
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from botocore.exceptions import ClientError

from gateway.core import blobindex
from gateway.core.errors import BlobNotFound, InvalidArgument, StorageError
from gateway.core.ids import BlobId
from gateway.core.ports import BlobCapabilities, BlobStat, KVReader, KVStore
from gateway.storage.layout import blob_key, check_blob_id, check_hex_prefix
from gateway.storage.local import READ_CHUNK, check_range
from gateway.storage.s3_client import (
    TRANSPORT_ERRORS,
    ClientSettings,
    MemoryBudget,
    call,
    error_code,
    is_not_found,
    storage_error,
)
from gateway.storage.s3_data import DataClient, StoreError, backoff, retryable, store_error
from gateway.storage.s3_splice import RawResponse, SpliceSource, Unsupported, open_raw
from gateway.storage.s3_writer import MAX_PARTS, S3BlobWriter, _Part
from gateway.storage.spool import SpoolFile, TempDir

T = TypeVar("T")

MiB = 1024 * 1024
MIN_PART_SIZE = 5 * MiB  # S3's minimum for every part but the last
DATA_DIR = "data"
LIST_PAGE = 10_000  # index records read per metadata transaction when listing
#: Readiness answers are reused this long: a health check polled every second costs the store
#: at most one HeadBucket per second per process.
CHECK_TTL = 1.0

__all__ = ["MIN_PART_SIZE", "S3BlobStore", "S3BlobWriter"]


class S3BlobStore:
    """Blobs as objects in an S3 bucket (see the module docstring for the guarantees).

    The aiobotocore client is created on first use, bound to the running event loop, and closed
    by ``close()``; use one store per event loop.

    Args:
        kv: the metadata store that holds the blob index (shared with the engine).
        bucket: an existing bucket.
        prefix: key prefix inside the bucket; a ``/`` is appended when missing.
        endpoint_url: S3 endpoint (None: AWS). Path-style addressing is used when given.
        region: signing region.
        access_key_id / secret_access_key: credentials (None: botocore's usual chain).
        part_size: multipart part size and the in-memory limit of a buffered blob (>= 5 MiB).
        max_concurrency: parts in flight per writer.
        spool_dir: where blobs are spooled when the memory budget is spent.
        memory_budget: bytes all writers may hold in memory together (>= 2 parts).
        max_attempts / connect_timeout / read_timeout: the retry policy (``s3_client``).
        read_resumes: how often one ``read`` resumes after a connection broken mid-body.
    """

    capabilities = BlobCapabilities(server_side_copy=False)

    def __init__(
        self,
        *,
        kv: KVStore,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        part_size: int = 8 * MiB,
        max_concurrency: int = 2,
        spool_dir: Path | None = None,
        memory_budget: int = 256 * MiB,
        max_attempts: int = 4,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        read_resumes: int = 3,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise InvalidArgument(f"part_size must be >= {MIN_PART_SIZE}")
        if max_concurrency < 1:
            raise InvalidArgument("max_concurrency must be >= 1")
        if memory_budget < 2 * part_size:
            raise InvalidArgument("memory_budget must hold at least two parts")
        self.kv = kv
        self.bucket = bucket
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self.part_size = part_size
        self.max_concurrency = max_concurrency
        self.read_resumes = read_resumes
        self.budget = MemoryBudget(memory_budget)
        self.settings = ClientSettings(
            endpoint_url=endpoint_url,
            region=region,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            max_attempts=max_attempts,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_pool_connections=max(32, 8 * max_concurrency),
        )
        self._spool_dir = spool_dir or Path(tempfile.gettempdir()) / "weir-s3-spool"
        self._temp: TempDir | None = None
        self._executor = ThreadPoolExecutor(4, thread_name_prefix="weir-s3")
        self._stack = contextlib.AsyncExitStack()
        self._client: Any = None
        self._probe: Any = None
        self._client_lock = asyncio.Lock()
        self._checked: tuple[float, StorageError | None] = (0.0, None)
        self.data = DataClient(self.settings, bucket)

    # -- plumbing -------------------------------------------------------------------------------

    async def client(self) -> Any:
        """The shared aiobotocore S3 client, created on first call."""
        if self._client is None:
            async with self._client_lock:
                if self._client is None:
                    self._client = await self.settings.create(self._stack)
        return self._client

    @property
    def buffered_bytes(self) -> int:
        """Memory held by writers right now (buffers and parts in flight)."""
        return self.budget.used

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def lookup(self, blob_id: BlobId) -> blobindex.BlobLocation | None:
        """The blob's index record: a point read, on the event loop only for an embedded
        metadata store (``KVStore.inline_reads``)."""
        if self.kv.inline_reads:
            return self.kv.read_sync(lambda r: blobindex.lookup(r, blob_id))
        return await self.kv.read(lambda r: blobindex.lookup(r, blob_id))

    def key_of(self, blob_id: BlobId) -> str:
        """The object key holding ``blob_id`` (from the index; the legacy key when unknown).
        Blocking: for tests and tools."""
        loc = self.kv.read_sync(lambda r: blobindex.lookup(r, check_blob_id(blob_id)))
        return self._key(blob_id, loc)

    def _key(self, blob_id: BlobId, loc: blobindex.BlobLocation | None) -> str:
        if loc is None:
            return self.prefix + blob_key(blob_id)
        return self.physical_key(loc.token)

    def physical_key(self, token: str) -> str:
        return f"{self.prefix}{DATA_DIR}/{token}"

    async def open_spool(self) -> SpoolFile:
        """A new (lazily created, locked) spool file; the first call sweeps the spool files
        left by crashes."""
        if self._temp is None:
            self._temp = await self._run(TempDir, self._spool_dir)
            await self._run(self._temp.sweep)
        return SpoolFile(self._temp, self._executor)

    # -- writing (called by S3BlobWriter) ---------------------------------------------------------

    async def open_writer(self, size: int | None = None) -> S3BlobWriter:
        """A new writer; ``size``, when known, lets a large blob stream part by part."""
        return S3BlobWriter(self, size)

    async def touch(self, blob_id: BlobId) -> bool:
        """If the index knows the blob, mark it used now and return True (dedup)."""
        if await self.lookup(blob_id) is None:
            return False
        now = time.time()
        return await self.kv.write(lambda w: blobindex.touch(w, blob_id, now)) is not None

    async def begin_multipart(self, token: str) -> str:
        """Record the pending upload, then create the multipart upload; its id."""
        now = time.time()
        await self.kv.write(lambda w: blobindex.begin_upload(w, token, now))
        client = await self.client()
        key = self.physical_key(token)
        created = await call(
            f"CreateMultipartUpload {key}",
            client.create_multipart_upload,
            Bucket=self.bucket,
            Key=key,
        )
        return str(created["UploadId"])

    async def upload_part(self, token: str, upload_id: str, part: _Part) -> str:
        """Upload one part (streamed while its bytes arrive when its length is known); its
        ETag."""
        key = self.physical_key(token)
        query = {"partNumber": str(part.number), "uploadId": upload_id}
        if part.length is None:
            data = part.joined()
            return await self.data.put(key, data, len(data), query=query, what="UploadPart")
        return await self.data.put(key, part.body, part.length, query=query, what="UploadPart")

    async def complete_multipart(self, token: str, upload_id: str, etags: list[str]) -> None:
        client = await self.client()
        key = self.physical_key(token)
        parts = [{"ETag": e, "PartNumber": i + 1} for i, e in enumerate(etags)]
        await call(
            f"CompleteMultipartUpload {key}",
            client.complete_multipart_upload,
            Bucket=self.bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
        )

    async def abort_multipart(self, token: str, upload_id: str) -> None:
        client = await self.client()
        key = self.physical_key(token)
        try:
            await client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except ClientError as exc:
            if error_code(exc)[0] != "NoSuchUpload":
                raise storage_error(f"AbortMultipartUpload {key}", exc) from exc
        except TRANSPORT_ERRORS as exc:
            raise storage_error(f"AbortMultipartUpload {key}", exc) from exc

    async def put_object(self, token: str, data: bytes) -> None:
        await self.data.put(self.physical_key(token), data, len(data), what="PutObject")

    async def delete_physical(self, token: str) -> None:
        client = await self.client()
        key = self.physical_key(token)
        await call(f"DeleteObject {key}", client.delete_object, Bucket=self.bucket, Key=key)

    async def upload_spooled(self, token: str, spool: SpoolFile) -> None:
        """Upload a spool file to ``data/<token>``: one PutObject, or a multipart upload with
        up to ``max_concurrency`` parts in flight, each read from the spool in a worker thread
        with its memory taken from the budget. Aborts the multipart upload on any failure."""
        size = spool.size
        if size <= self.part_size:
            await self.budget.take(size)
            try:
                data = await self._run(_pread_exact, spool.fd, size, 0)
                await self.put_object(token, data)
            finally:
                self.budget.give(size)
            return
        # Grow the part size (in whole MiB) when the blob would need more than 10,000 parts.
        part = max(self.part_size, math.ceil(size / MAX_PARTS / MiB) * MiB)
        n_parts = math.ceil(size / part)
        client = await self.client()
        key = self.physical_key(token)
        created = await call(
            f"CreateMultipartUpload {key}",
            client.create_multipart_upload,
            Bucket=self.bucket,
            Key=key,
        )
        upload_id = str(created["UploadId"])
        etags: list[str] = [""] * n_parts
        numbers = iter(range(n_parts))

        async def worker() -> None:
            for i in numbers:  # shared iterator: each part is taken once
                n = min(part, size - i * part)
                await self.budget.take(n)
                try:
                    data = await asyncio.shield(self._run(_pread_exact, spool.fd, n, i * part))
                    query = {"partNumber": str(i + 1), "uploadId": upload_id}
                    etags[i] = await self.data.put(key, data, n, query=query, what="UploadPart")
                finally:
                    self.budget.give(n)

        try:
            try:
                async with asyncio.TaskGroup() as tg:
                    for _ in range(min(self.max_concurrency, n_parts)):
                        tg.create_task(worker())
            except BaseExceptionGroup as group:
                raise group.exceptions[0] from None
            await self.complete_multipart(token, upload_id, etags)
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.abort_multipart(token, upload_id))
            raise

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
        blob_id = check_blob_id(blob_id)
        check_range(offset, length)
        loc = await self.lookup(blob_id)
        key = self._key(blob_id, loc)
        if loc is not None:
            # The size is known: no request for what lies past the end, and none with a Range
            # for the whole object.
            end = loc.size if length is None else min(loc.size, offset + length)
            if offset >= end:
                return
            length = None if offset == 0 and end == loc.size else end - offset
        elif length == 0:
            if await self._head(key) is None:
                raise BlobNotFound(f"blob {blob_id} not found")
            return
        pos, left, resumes = offset, length, 0
        while True:
            resp = await self._get_range(blob_id, key, pos, left)
            if resp is None:
                return  # the range starts at or past the end: nothing to send
            # A server that ignores Range answers 200 with the whole object: cut it here.
            skip = pos if (pos > 0 or left is not None) and resp.status == 200 else 0
            try:
                async for chunk in resp.content.iter_chunked(READ_CHUNK):
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
                if left is not None and left > 0:
                    raise ConnectionError(f"body ended {left} bytes early")
                return
            except TRANSPORT_ERRORS as exc:
                resumes += 1
                if resumes > self.read_resumes:
                    raise storage_error(f"GET {key} (body, {resumes} attempts)", exc) from exc
            finally:
                resp.release()

    async def open_splice(self, blob_id: BlobId, offset: int, length: int) -> SpliceSource | None:
        """A ranged GET opened for ``splice(2)`` into a socket (``gateway.storage.s3_splice``):
        only over plain HTTP, for an indexed blob, when the store answers a ranged request with
        exactly the bytes asked for; else None (the caller uses ``read``)."""
        blob_id = check_blob_id(blob_id)
        endpoint = self.settings.endpoint_url or ""
        if not endpoint.startswith("http://") or length <= 0:
            return None
        loc = await self.lookup(blob_id)
        if loc is None or offset + length > loc.size:
            return None
        key = self.physical_key(loc.token)
        what = f"GET {key}"

        async def reopen(done: int, left: int) -> RawResponse:
            response = await self._open_raw(blob_id, key, offset + done, left)
            if response is None:
                raise StorageError(f"object store {what}: the range can no longer be spliced")
            return response

        response = await self._open_raw(blob_id, key, offset, length)
        if response is None:
            return None
        return SpliceSource(
            length=length,
            _response=response,
            _reopen=reopen,
            _read_timeout=self.settings.read_timeout,
            _resumes=self.read_resumes,
            what=what,
        )

    async def _size_of(self, blob_id: BlobId) -> int:
        loc = await self.lookup(blob_id)
        return -1 if loc is None else loc.size

    async def _open_raw(
        self, blob_id: BlobId, key: str, start: int, length: int
    ) -> RawResponse | None:
        """Open a ranged GET on a raw socket, retried like every store request; None when the
        answer is not exactly the range (a store that ignores Range, no Content-Length)."""
        url = self.data.url(key)
        # A whole object is asked for without Range: some stores serve ranges more slowly.
        whole = start == 0 and length == await self._size_of(blob_id)
        headers = {} if whole else {"Range": f"bytes={start}-{start + length - 1}"}
        attempts = self.settings.max_attempts
        for attempt in range(attempts):
            try:
                signed = await self.data.signed("GET", url, headers)
                response = await asyncio.to_thread(
                    open_raw, url, signed, self.settings.connect_timeout, self.settings.read_timeout
                )
            except Unsupported:
                return None
            except OSError as exc:
                if attempt == attempts - 1:
                    raise storage_error(f"GET {key}", exc) from exc
                await asyncio.sleep(backoff(attempt))  # a retry schedule
                continue
            if response.status < 300:
                expected = 200 if whole else 206
                if response.status != expected or int(response.headers["content-length"]) != length:
                    response.close()
                    return None
                return response
            error = store_error(response.status, response.error_body)
            if response.status == 404:
                raise BlobNotFound(f"blob {blob_id} not found")
            if not retryable(error.status, error.code) or attempt == attempts - 1:
                raise error.domain(f"GET {key}")
            await asyncio.sleep(backoff(attempt))  # a retry schedule
        raise AssertionError("unreachable")

    async def _get_range(
        self, blob_id: BlobId, key: str, pos: int, left: int | None
    ) -> aiohttp.ClientResponse | None:
        """Open a GetObject of ``left`` bytes (None: to the end) from ``pos``; None when the
        range starts at or past the end (416)."""
        end = None if left is None else pos + left - 1
        try:
            return await self.data.get(key, pos, end)
        except StoreError as exc:
            if exc.status == 404:
                raise BlobNotFound(f"blob {blob_id} not found") from None
            raise exc.domain(f"GET {key}") from exc

    async def _head(self, key: str) -> dict[str, Any] | None:
        client = await self.client()
        try:
            resp: dict[str, Any] = await client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if is_not_found(exc):
                return None
            raise storage_error(f"HEAD {key}", exc) from exc
        except TRANSPORT_ERRORS as exc:
            raise storage_error(f"HEAD {key}", exc) from exc
        return resp

    async def stat(self, blob_id: BlobId) -> BlobStat | None:
        blob_id = check_blob_id(blob_id)
        loc = await self.lookup(blob_id)
        if loc is not None:
            return BlobStat(size=loc.size, mtime=loc.touched)
        head = await self._head(self._key(blob_id, None))
        if head is None:
            return None
        modified = head.get("LastModified")
        mtime = modified.timestamp() if modified is not None else 0.0
        return BlobStat(size=int(head["ContentLength"]), mtime=mtime)

    async def exists(self, blob_id: BlobId) -> bool:
        return await self.stat(blob_id) is not None

    # -- deleting, listing, sweeping --------------------------------------------------------------

    async def delete(self, blob_id: BlobId, *, unused_since: float | None = None) -> bool:
        """Remove the blob from the index, then its object (see ``blobindex.claim_delete``).
        An unconditional delete also removes a legacy ``blobs/`` object of that id."""
        blob_id = check_blob_id(blob_id)
        loc = await self.kv.write(lambda w: blobindex.claim_delete(w, blob_id, unused_since))
        removed = loc is not None
        if loc is not None:
            await self.delete_physical(loc.token)
            await self._end_upload(loc.token)
        if unused_since is None:
            legacy = self._key(blob_id, None)
            if await self._head(legacy) is not None:
                client = await self.client()
                await call(
                    f"DeleteObject {legacy}", client.delete_object, Bucket=self.bucket, Key=legacy
                )
                removed = True
        return removed

    async def list(self, prefix: str = "") -> AsyncIterator[BlobId]:
        """Every indexed blob id starting with ``prefix``, from the metadata store in pages (no
        bucket listing). Blobs stored or deleted meanwhile may or may not appear."""
        prefix = check_hex_prefix(prefix)
        after = ""
        while True:
            page = await self.kv.read(functools.partial(_index_page, prefix=prefix, after=after))
            for blob_id, _ in page:
                yield blob_id
            if len(page) < LIST_PAGE:
                return
            after = page[-1][0]

    async def inventory(self, prefix: str = "") -> AsyncIterator[tuple[BlobId, BlobStat]]:
        """``list`` with sizes and last-touched times, from the same index pages."""
        prefix = check_hex_prefix(prefix)
        after = ""
        while True:
            page = await self.kv.read(functools.partial(_index_page, prefix=prefix, after=after))
            for blob_id, loc in page:
                yield blob_id, BlobStat(loc.size, loc.touched)
            if len(page) < LIST_PAGE:
                return
            after = page[-1][0]

    async def sweep(self, *, grace: float) -> int:
        """Delete the objects of uploads interrupted more than ``grace`` seconds ago (their
        multipart uploads aborted) and of deletions a crash interrupted. Safe while writers run:
        a writer whose upload was claimed fails its commit instead of recording it."""
        cutoff = time.time() - grace
        removed = 0
        after = ""
        while True:
            batch = await self.kv.read(functools.partial(blobindex.pending, after=after, limit=500))
            if not batch:
                return removed
            after = batch[-1].token
            candidates = [p.token for p in batch if p.claimed or p.created < cutoff]
            if not candidates:
                continue
            claimed = await self.kv.write(
                functools.partial(blobindex.claim_orphans, tokens=candidates, older_than=cutoff)
            )
            for token in claimed:
                await self._remove_upload(token)
                await self._end_upload(token)
                removed += 1

    async def _end_upload(self, token: str) -> None:
        await self.kv.write(lambda w: blobindex.end_upload(w, token))

    async def _remove_upload(self, token: str) -> None:
        """Abort every multipart upload to ``token``'s key and delete its object."""
        client = await self.client()
        key = self.physical_key(token)
        listed = await call(
            f"ListMultipartUploads {key}",
            client.list_multipart_uploads,
            Bucket=self.bucket,
            Prefix=key,
        )
        for upload in listed.get("Uploads", ()):
            if upload.get("Key") == key:
                await self.abort_multipart(token, str(upload["UploadId"]))
        await self.delete_physical(token)

    async def check(self) -> None:
        """HeadBucket with one short attempt (answers reused for ``CHECK_TTL``)."""
        at, error = self._checked
        if time.monotonic() - at < CHECK_TTL:
            if error is not None:
                raise error
            return
        if self._probe is None:
            async with self._client_lock:
                if self._probe is None:
                    self._probe = await self.settings.create(self._stack, attempts=1, timeout=2.0)
        try:
            await self._probe.head_bucket(Bucket=self.bucket)
            error = None
        except ClientError as exc:
            error = storage_error(f"HeadBucket {self.bucket}", exc)
        except TRANSPORT_ERRORS as exc:
            error = storage_error(f"HeadBucket {self.bucket}", exc)
        self._checked = (time.monotonic(), error)
        if error is not None:
            raise error

    def local_path(self, blob_id: BlobId) -> Path | None:
        return None

    async def close(self) -> None:
        """Close the HTTP clients and the thread pool. The store is unusable after."""
        await self._stack.aclose()
        await self.data.close()
        self._client = self._probe = None
        await asyncio.to_thread(self._executor.shutdown, True)


def _index_page(
    r: KVReader, *, prefix: str, after: str
) -> list[tuple[BlobId, blobindex.BlobLocation]]:
    return blobindex.scan(r, prefix, after=after, limit=LIST_PAGE)


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
