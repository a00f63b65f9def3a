"""The embedded blob backend: one file per blob under a directory.

On-disk layout under ``root``::

    blobs/ab/cd/abcd...   committed blobs, immutable, named by their blake3 hex
    tmp/<random>.tmp      in-progress writes, each flock-ed by its writer

Guarantees:
    * Atomicity: a blob becomes visible by one ``rename`` of a fully written, fsynced temp file,
      so a reader sees either nothing or the whole blob, even across a crash.
    * Durability: ``commit`` returns after the file and every directory entry leading to it
      (fan-out directories created on the way included) are fsynced.
    * Dedup: when the target exists, the temp is dropped without fsyncing it, and the target's
      mtime is set to now ("touched": see ``BlobStat.mtime``).
    * Conditional delete (garbage collection): ``delete(unused_since=t)`` and a deduplicating
      commit both hold the blob file's ``flock`` (exclusive, shared) while they look at it, so
      either the commit touches the file first and the delete keeps it, or the delete unlinks it
      first and the commit, seeing the inode unlinked, publishes its own bytes.
    * Crash cleanup: constructing the store removes temp files that no live writer holds
      (see ``gateway.storage.spool``), so it is safe even with another process on the same root.
    * Concurrency: any number of writers and readers, also of the same blob id. Blocking calls
      run in the store's own thread pool, never on the event loop; fsyncs of concurrent commits
      overlap there.
    * ``delete`` is not fsynced: a crash may bring a deleted blob back, which is harmless for
      content-addressed data (garbage collection simply deletes it again).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from gateway.core.errors import BlobNotFound, InvalidArgument, StorageError
from gateway.core.ids import BlobId, is_hex_id
from gateway.core.ports import BlobCapabilities, BlobStat
from gateway.storage.layout import BLOBS_DIR, blob_key, check_blob_id, check_hex_prefix
from gateway.storage.spool import SpoolFile, TempDir, fsync_dir

T = TypeVar("T")

READ_CHUNK = 1024 * 1024
"""Largest chunk ``read`` yields."""


def check_range(offset: int, length: int | None) -> None:
    """Reject negative offsets and lengths (the S3 layer has resolved suffix ranges already)."""
    if offset < 0 or (length is not None and length < 0):
        raise InvalidArgument(f"bad byte range: offset={offset} length={length}")


class LocalBlobWriter:
    """Writes one blob into a temp file; ``commit`` renames it into place. One task at a time."""

    def __init__(self, store: LocalBlobStore, spool: SpoolFile, size: int | None = None) -> None:
        self._store = store
        self._spool = spool
        self._expected = size
        self._finished = False
        self._publishing: asyncio.Future[None] | None = None

    async def write(self, chunk: bytes) -> None:
        """Append ``chunk`` (written in a worker thread; one write in flight)."""
        if self._finished:
            raise InvalidArgument("write after commit or abort")
        if self._expected is not None and self._spool.size + len(chunk) > self._expected:
            raise StorageError(f"more bytes than the {self._expected} announced")
        try:
            await self._spool.write(chunk)
        except OSError as exc:
            raise StorageError(f"writing blob temp file: {exc}") from exc

    async def commit(self, blob_id: BlobId) -> None:
        """Publish the bytes as ``blob_id``: durable and atomic (see the module docstring)."""
        blob_id = check_blob_id(blob_id)
        if self._finished:
            raise InvalidArgument("commit after commit or abort")
        self._finished = True
        if self._expected is not None and self._spool.size != self._expected:
            await self._spool.discard()
            raise StorageError(f"{self._spool.size} bytes written, {self._expected} announced")
        try:
            await self._spool.flush()
        except BaseException as exc:
            await asyncio.shield(self._spool.discard())
            if isinstance(exc, OSError):
                raise StorageError(f"writing blob {blob_id}: {exc}") from exc
            raise
        # From here the publishing thread owns the temp file and cleans up after itself: if
        # we are cancelled it still finishes (the blob then may or may not be published).
        loop = asyncio.get_running_loop()
        self._publishing = loop.run_in_executor(
            self._store.executor, self._store.publish_sync, self._spool, blob_id
        )
        try:
            await asyncio.shield(self._publishing)
        except OSError as exc:
            raise StorageError(f"committing blob {blob_id}: {exc}") from exc

    async def abort(self) -> None:
        """Remove the temp file. Idempotent; safe after a failed or cancelled commit."""
        self._finished = True
        if self._publishing is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._publishing)
            return  # publish_sync renamed or removed the temp file itself
        await self._spool.discard()


class LocalBlobStore:
    """Blobs as files under ``root`` (see the module docstring for the guarantees).

    Args:
        root: data directory; created if missing.
        io_threads: size of the store's thread pool (reads, writes, fsyncs).
    """

    capabilities = BlobCapabilities(local_files=True)

    def __init__(self, root: Path, *, io_threads: int = 8) -> None:
        self.root = Path(root)
        self._blobs = self.root / BLOBS_DIR
        self._blobs.mkdir(parents=True, exist_ok=True)
        self.temp = TempDir(self.root / "tmp")
        self.temp.sweep()
        self._known_dirs: set[Path] = {self._blobs}
        self.executor = ThreadPoolExecutor(io_threads, thread_name_prefix="weir-blob")

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def path_of(self, blob_id: BlobId) -> Path:
        """Where ``blob_id`` lives (whether or not it exists)."""
        return self.root / blob_key(check_blob_id(blob_id))

    async def open_writer(self, size: int | None = None) -> LocalBlobWriter:
        """Start a blob write. Its locked temp file under ``root/tmp`` is created with the first
        ~1 MiB of data (or at commit for a smaller blob)."""
        return LocalBlobWriter(self, SpoolFile(self.temp, self.executor), size)

    def publish_sync(self, spool: SpoolFile, blob_id: BlobId) -> None:
        """Blocking commit step: write what is still buffered, fsync, rename; or drop
        everything when the blob exists (dedup: no fsync, and for a small blob no file at all)."""
        target = self.path_of(blob_id)
        try:
            self._ensure_dir(target.parent)
            if _touch_existing(target):
                spool.discard_sync()  # dedup: same bytes by definition
            else:
                spool.materialize_sync()
                assert spool.path is not None
                os.utime(spool.fd)  # mtime = when it was stored (BlobStat.mtime)
                os.fsync(spool.fd)
                os.replace(spool.path, target)
                spool.path = None
                spool.close_sync()  # after the rename: the lock guards the temp name
            # Also in the dedup case: a concurrent committer may not have fsynced it yet.
            fsync_dir(target.parent)
        finally:
            if spool.fd >= 0:
                spool.discard_sync()  # failed before the rename: drop the temp

    def _ensure_dir(self, directory: Path) -> None:
        """mkdir -p with every created entry fsynced into its parent. Thread-safe."""
        if directory in self._known_dirs:
            return
        self._ensure_dir(directory.parent)
        with contextlib.suppress(FileExistsError):
            os.mkdir(directory)
        # fsync even when another thread created it: it may not have fsynced yet.
        fsync_dir(directory.parent)
        self._known_dirs.add(directory)

    async def read(
        self, blob_id: BlobId, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        """Stream ``length`` bytes from ``offset`` (to the end when None) in chunks of at most
        ``READ_CHUNK`` bytes. A range running past the end is cut at the end.

        Raises:
            BlobNotFound: on first iteration, when the blob does not exist.
        """
        path = self.path_of(blob_id)
        check_range(offset, length)
        loop = asyncio.get_running_loop()
        # One thread hop opens the file and reads the first chunk; a blob that fits in it (most
        # objects) costs no more hops, and its fd is already closed by then.
        first = READ_CHUNK if length is None else min(READ_CHUNK, length)
        opened = loop.run_in_executor(self.executor, _open_and_read, path, first, offset)
        try:
            fd, data = await asyncio.shield(opened)
        except asyncio.CancelledError:
            opened.add_done_callback(_close_opened)
            raise
        except FileNotFoundError:
            raise BlobNotFound(f"blob {blob_id} not found") from None
        except OSError as exc:
            raise StorageError(f"reading blob {blob_id}: {exc}") from exc
        inflight: asyncio.Future[bytes] | None = None
        try:
            if data:
                yield data
            pos = offset + len(data)
            remaining = None if length is None else length - len(data)
            while fd >= 0 and (remaining is None or remaining > 0):
                n = READ_CHUNK if remaining is None else min(READ_CHUNK, remaining)
                inflight = loop.run_in_executor(self.executor, os.pread, fd, n, pos)
                data = await asyncio.shield(inflight)
                inflight = None
                if data:
                    pos += len(data)
                    if remaining is not None:
                        remaining -= len(data)
                    yield data
                if len(data) < n:
                    break  # end of file
        except OSError as exc:
            raise StorageError(f"reading blob {blob_id}: {exc}") from exc
        finally:
            if fd >= 0:
                if inflight is not None and not inflight.done():
                    # Cancelled mid-read: close only when the thread is done with the fd.
                    inflight.add_done_callback(lambda _f: os.close(fd))
                else:
                    os.close(fd)

    def local_path(self, blob_id: BlobId) -> Path:
        """The blob's file (sendfile-able). It may not exist: check or handle ENOENT."""
        return self.path_of(blob_id)

    async def stat(self, blob_id: BlobId) -> BlobStat | None:
        path = self.path_of(blob_id)
        try:
            st = await self._run(os.stat, path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"stat of blob {blob_id}: {exc}") from exc
        return BlobStat(size=st.st_size, mtime=st.st_mtime)

    async def exists(self, blob_id: BlobId) -> bool:
        return await self.stat(blob_id) is not None

    async def delete(self, blob_id: BlobId, *, unused_since: float | None = None) -> bool:
        """Unlink the blob; missing is fine. Not fsynced (see the module docstring). With
        ``unused_since``, keep a blob whose mtime is at or after it (under its file lock)."""
        path = self.path_of(blob_id)
        try:
            return await self._run(_unlink_unused, path, unused_since)
        except OSError as exc:
            raise StorageError(f"deleting blob {blob_id}: {exc}") from exc

    async def open_splice(self, blob_id: BlobId, offset: int, length: int) -> None:
        return None  # local files go out with sendfile (local_path); memory has no socket

    async def sweep(self, *, grace: float) -> int:
        """Remove temp files no live writer holds (their lock tells, so ``grace`` is unused)."""
        try:
            return await self._run(self.temp.sweep)
        except OSError as exc:
            raise StorageError(f"sweeping {self.temp.path}: {exc}") from exc

    async def check(self) -> None:
        """The blob directory is there and writable."""
        try:
            ok = await self._run(os.access, self._blobs, os.W_OK | os.X_OK)
        except OSError as exc:
            raise StorageError(f"blob directory {self._blobs}: {exc}") from exc
        if not ok:
            raise StorageError(f"blob directory {self._blobs} is not writable")

    async def list(self, prefix: str = "") -> AsyncIterator[BlobId]:
        """Every blob id starting with ``prefix``: one thread hop per first-level directory.

        Blobs committed or deleted during the listing may or may not appear.
        """
        prefix = check_hex_prefix(prefix)
        tops = await self._run(_listdir_matching, self._blobs, prefix[:2])
        for top in tops:
            ids = await self._run(_ids_under, self._blobs / top, prefix)
            for blob_id in ids:
                yield blob_id

    async def inventory(self, prefix: str = "") -> AsyncIterator[tuple[BlobId, BlobStat]]:
        """Every blob starting with ``prefix`` with its size and mtime: one thread hop per
        first-level directory."""
        prefix = check_hex_prefix(prefix)
        tops = await self._run(_listdir_matching, self._blobs, prefix[:2])
        for top in tops:
            found = await self._run(_stats_under, self._blobs / top, prefix)
            for item in found:
                yield item

    async def close(self) -> None:
        """Wait for in-flight I/O and stop the thread pool. The store is unusable after."""
        await asyncio.to_thread(self.executor.shutdown, True)


def _open_and_read(path: Path, n: int, offset: int) -> tuple[int, bytes]:
    """Open ``path`` and read up to ``n`` bytes at ``offset``. Returns (fd, data), with the fd
    already closed (-1) when the read reached the end of the file or ``n`` is 0."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.pread(fd, n, offset) if n else b""
    except BaseException:
        os.close(fd)
        raise
    if len(data) < n or n == 0:
        os.close(fd)
        return -1, data
    return fd, data


def _close_opened(opened: asyncio.Future[tuple[int, bytes]]) -> None:
    """Done-callback for an open abandoned by a cancelled reader."""
    if not opened.cancelled() and opened.exception() is None:
        fd = opened.result()[0]
        if fd >= 0:
            os.close(fd)


def _touch_existing(path: Path) -> bool:
    """If the blob file exists, set its mtime to now and return True (dedup), under a shared
    lock so that a concurrent conditional delete either sees the new mtime or has unlinked the
    file already (then False: the caller publishes its own bytes)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        if os.fstat(fd).st_nlink == 0:
            return False  # deleted between our open and our lock
        os.utime(fd)
        return True
    finally:
        os.close(fd)


def _unlink_unused(path: Path, unused_since: float | None) -> bool:
    """Unlink ``path`` unless it was touched at or after ``unused_since``; False if missing."""
    if unused_since is None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        return True
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        st = os.fstat(fd)
        if st.st_nlink == 0 or st.st_mtime >= unused_since:
            return False
        os.unlink(path)
        return True
    finally:
        os.close(fd)


def _stats_under(top: Path, prefix: str) -> list[tuple[BlobId, BlobStat]]:
    """(blob id, stat) of the blobs in ``top/*/`` starting with ``prefix``."""
    out: list[tuple[BlobId, BlobStat]] = []
    for sub in _listdir_matching(top, prefix[2:4]):
        try:
            entries = list(os.scandir(top / sub))
        except FileNotFoundError:
            continue
        for e in entries:
            n = e.name
            if not (n.startswith(prefix) and is_hex_id(n) and n[0:2] == top.name and n[2:4] == sub):
                continue
            try:
                st = e.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            out.append((BlobId(n), BlobStat(size=st.st_size, mtime=st.st_mtime)))
    return out


def _listdir_matching(directory: Path, prefix: str) -> list[str]:
    """Two-hex-digit subdirectory names of ``directory`` starting with ``prefix``."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if len(n) == 2 and n.startswith(prefix))


def _ids_under(top: Path, prefix: str) -> list[BlobId]:
    """Blob ids in ``top/*/`` starting with ``prefix`` (``top`` is a first-level directory)."""
    out: list[BlobId] = []
    for sub in _listdir_matching(top, prefix[2:4]):
        try:
            names = os.listdir(top / sub)
        except FileNotFoundError:
            continue
        out.extend(
            BlobId(n)
            for n in names
            if n.startswith(prefix) and is_hex_id(n) and n[0:2] == top.name and n[2:4] == sub
        )
    return out
