"""A read-only, seekable file over an object's byte ranges, for libraries that want a file.

pyarrow reads a Parquet footer, then the pages it needs, through a file object. ``RangeFile``
answers each read with one ranged read of the object (through an async range reader running on
the server's event loop), so a preview fetches a few ranges and never the whole object. It runs
in a worker thread; every read blocks that thread, never the event loop. Fetched bytes are kept
in 64 KiB blocks, so pyarrow reading the same footer or page twice costs one fetch. It counts
the bytes it fetched and refuses to fetch more than ``budget`` (which also bounds the cache).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Callable

#: (offset, length) -> the bytes of that range, as chunks.
RangeReader = Callable[[int, int], AsyncIterator[bytes]]

READ_TIMEOUT = 60.0
BLOCK = 64 << 10


class PreviewTooLarge(Exception):
    """The preview would have to read more than its byte budget."""


class RangeFile(io.RawIOBase):
    """``size`` bytes readable by range through ``reader`` (coroutines run on ``loop``)."""

    def __init__(
        self, reader: RangeReader, size: int, loop: asyncio.AbstractEventLoop, budget: int
    ) -> None:
        super().__init__()
        self._reader = reader
        self._size = size
        self._loop = loop
        self._budget = budget
        self._pos = 0
        self._blocks: dict[int, bytes] = {}
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self._size + offset
        else:
            raise ValueError(f"bad whence {whence}")
        if pos < 0:
            raise ValueError("negative seek position")
        self._pos = pos
        return pos

    def size(self) -> int:
        return self._size

    def fetch(self, offset: int, length: int) -> bytes:
        """The bytes at ``offset`` (fewer at the end of the object). Call from a worker thread."""
        end = min(offset + length, self._size)
        if end <= offset:
            return b""
        first, last = offset // BLOCK, (end - 1) // BLOCK
        missing = [b for b in range(first, last + 1) if b not in self._blocks]
        if missing:
            self._load(missing[0], missing[-1])
        data = b"".join(self._blocks[b] for b in range(first, last + 1))
        return data[offset - first * BLOCK : end - first * BLOCK]

    def _load(self, first: int, last: int) -> None:
        """Fetch blocks ``first..last`` in one ranged read."""
        start = first * BLOCK
        length = min((last + 1) * BLOCK, self._size) - start
        if self.bytes_read + length > self._budget:
            raise PreviewTooLarge(f"a preview may read at most {self._budget} bytes")

        async def collect() -> bytes:
            parts = [chunk async for chunk in self._reader(start, length)]
            return b"".join(parts)

        data = asyncio.run_coroutine_threadsafe(collect(), self._loop).result(READ_TIMEOUT)
        if len(data) != length:
            raise OSError(f"short read: {len(data)} of {length} bytes at {start}")
        self.bytes_read += length
        for i, block in enumerate(range(first, last + 1)):
            self._blocks[block] = data[i * BLOCK : (i + 1) * BLOCK]

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.fetch(self._pos, len(buffer))
        n = len(data)
        buffer[:n] = data
        self._pos += n
        return n
