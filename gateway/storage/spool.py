"""Temporary files for in-progress blobs: crash-safe naming, stale sweeping, async writing.

Used by the local backend (the temp file becomes the blob by rename) and by the S3 backend (large
blobs are spooled to disk, then uploaded at commit).

Every temp file is held under an exclusive ``flock`` by its writer for its whole life. A sweep
removes exactly the temp files that no live writer holds, so it is safe at any time and from any
process: the kernel drops a crashed process's locks, and a live writer's file is never touched.
(Process ids would be reused; ages would need clocks; locks need neither.)
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import secrets
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

TEMP_SUFFIX = ".tmp"
# Chunks below this are gathered into one buffer first: one thread hop + syscall per ~1 MiB
# rather than per small chunk. Larger chunks go straight to ``writev`` (no copy).
COALESCE_BELOW = 256 * 1024
FLUSH_AT = 1024 * 1024
_CREATE_ATTEMPTS = 100


def fsync_dir(path: Path) -> None:
    """fsync a directory, making renames and creations inside it durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class TempDir:
    """A directory of in-progress files, each locked by its writer.

    Thread-safe; every method blocks (call it from a worker thread on a server).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)

    def create(self) -> tuple[int, Path]:
        """Create a new, empty, locked temp file; return its open write fd and its path.

        The caller owns the fd: it keeps the lock until the fd is closed, so the caller must
        rename or unlink the file *before* closing the fd.
        """
        for _ in range(_CREATE_ATTEMPTS):
            path = self.path / f"{secrets.token_hex(16)}{TEMP_SUFFIX}"
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)  # a sweep holds it and will unlink it
                continue
            if os.fstat(fd).st_nlink == 0:
                os.close(fd)  # a sweep unlinked it between our open and our lock
                continue
            return fd, path
        raise OSError(f"could not create a temp file in {self.path}")

    def sweep(self) -> int:
        """Remove every temp file no live writer holds (left by a crash). Return how many."""
        removed = 0
        with os.scandir(self.path) as entries:
            names = [e.path for e in entries if e.is_file(follow_symlinks=False)]
        for name in names:
            try:
                fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live writer's file
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name)  # gone already if its writer renamed it meanwhile
                    removed += 1
            finally:
                os.close(fd)
        return removed

    def names(self) -> list[str]:
        """Names of the files present (for tests and diagnostics)."""
        return sorted(os.listdir(self.path))


def _write_all(fd: int, pieces: list[bytes | bytearray]) -> None:
    """``writev`` every byte of ``pieces``, looping over short writes."""
    views = [memoryview(p) for p in pieces if len(p)]
    while views:
        n = os.writev(fd, views)
        while views and n >= len(views[0]):
            n -= len(views[0])
            views.pop(0)
        if views and n:
            views[0] = views[0][n:]


class SpoolFile:
    """Sequential async writer of one locked temp file, created lazily.

    Chunks are buffered until ~1 MiB (or a large chunk) arrives; only then is the temp file
    created, in a worker thread together with the first write. A small blob therefore costs no
    file I/O before ``commit``, and ``materialize_sync`` (called by the commit step in its own
    thread) creates and fills the file in the same thread hop as the fsync and rename; a
    deduplicated small blob never touches the disk at all.

    Writes run in ``executor``, one at a time and in order; ``write`` returns once the previous
    write finished and this one is queued, so receiving the next chunk overlaps writing this one.
    Memory held: at most one coalescing buffer (~1 MiB) plus the chunk being written.

    Not safe for concurrent use by several tasks: one producer awaits each call in turn.
    """

    def __init__(self, temp: TempDir, executor: Executor) -> None:
        self.fd = -1
        self.path: Path | None = None
        self.size = 0
        self._temp = temp
        self._executor = executor
        self._buf = bytearray()
        self._pending: asyncio.Future[None] | None = None
        self._closed = False
        self._failed: Exception | None = None  # a failed write poisons the file for good

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn(*args)`` in this spool's executor."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def write(self, chunk: bytes) -> None:
        """Append ``chunk``. An I/O error of an earlier write surfaces here or in ``flush``."""
        if self._closed:
            raise ValueError("write to a finished blob writer")
        self._check_failed()
        if not isinstance(chunk, bytes):
            chunk = bytes(chunk)  # the caller may reuse a mutable buffer after we return
        if not chunk:
            return
        self.size += len(chunk)
        if len(chunk) < COALESCE_BELOW:
            self._buf += chunk
            if len(self._buf) >= FLUSH_AT:
                await self._submit([self._take_buf()])
        elif self._buf:
            await self._submit([self._take_buf(), chunk])
        else:
            await self._submit([chunk])

    async def flush(self) -> None:
        """Wait until every queued write is done (not fsynced); the buffer stays in memory.

        Raises OSError if any write failed, now or earlier: a file with a hole must never be
        published, even by a caller that ignored the first error.
        """
        self._check_failed()
        await self._wait_pending()

    async def materialize(self) -> None:
        """``flush``, then make sure the file exists and holds every byte written."""
        await self.flush()
        await self.run(self.materialize_sync)

    def materialize_sync(self) -> None:
        """Blocking: create the file if needed and write the buffer. Call after ``flush``."""
        self._check_failed()
        if self.fd < 0:
            self.fd, self.path = self._temp.create()
        if self._buf:
            _write_all(self.fd, [self._take_buf()])

    async def discard(self) -> None:
        """Unlink and close the temp file. Idempotent; never raises for I/O errors."""
        if self._closed:
            return
        self._closed = True
        self._buf = bytearray()
        with contextlib.suppress(Exception):
            await self._wait_pending()
        if self.fd >= 0 or self.path is not None:
            await self.run(self.discard_sync)

    def discard_sync(self) -> None:
        """Unlink then close (in that order: the lock must outlive the name)."""
        self._closed = True
        self._buf = bytearray()
        if self.path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
        self.close_sync()

    def close_sync(self) -> None:
        """Close the fd (the lock goes with it). Idempotent."""
        self._closed = True
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            with contextlib.suppress(OSError):
                os.close(fd)

    def _check_failed(self) -> None:
        if self._failed is not None:
            raise OSError(f"an earlier write to a temp file failed: {self._failed}")

    def _take_buf(self) -> bytearray:
        buf, self._buf = self._buf, bytearray()
        return buf

    def _write_sync(self, pieces: list[bytes | bytearray]) -> None:
        if self.fd < 0:
            self.fd, self.path = self._temp.create()
        _write_all(self.fd, pieces)

    async def _submit(self, pieces: list[bytes | bytearray]) -> None:
        await self._wait_pending()
        loop = asyncio.get_running_loop()
        self._pending = loop.run_in_executor(self._executor, self._write_sync, pieces)

    async def _wait_pending(self) -> None:
        pending = self._pending
        if pending is None:
            return
        try:
            # shield: if our caller is cancelled, the thread still runs; keep tracking it so
            # that nothing closes the fd under it (and the file it may create gets removed).
            await asyncio.shield(pending)
        except Exception as exc:
            if pending.done():
                self._failed = exc
            raise
        finally:
            if pending.done():
                self._pending = None
