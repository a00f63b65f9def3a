"""The mark set of a collection: every ref reached so far, on disk, not in Python memory.

A collection of a lake with a billion objects marks a billion refs; a Python set of them would
cost ~100 bytes each. The marks live in a temporary LMDB environment instead (sorted, O(log n)
membership, no durability: the set is rebuilt if the process dies), so resident memory stays
bounded by the pages LMDB keeps mapped, which the kernel may reclaim.

One write transaction for the whole collection, in a writable memory map (``writemap``): the
pages are written in place, not copied on every commit and not buffered in the heap. Measured
with 1,000,000 random 33-byte refs: 69 MiB mapped and no heap, where committing every 50,000
refs without ``writemap`` mapped 172 MiB (copied pages) and held ~60 MiB of dirty pages in
the heap, and cost 1.4x the CPU.

Single-threaded: the collection's worker thread owns it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import lmdb


class MarkSet:
    """A set of byte strings (gcrefs refs) in a temporary LMDB environment under ``path``.

    The directory is created empty (an existing one is removed first) and removed by
    ``close``.
    """

    def __init__(self, path: Path, *, map_size: int = 1 << 37) -> None:
        self.path = Path(path)
        if self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True)
        self._env = lmdb.open(
            str(self.path),
            map_size=map_size,
            subdir=True,
            sync=False,
            metasync=False,
            lock=False,
            readahead=False,
            writemap=True,
            max_dbs=0,
        )
        self._txn = self._env.begin(write=True)
        self.count = 0

    def add(self, ref: bytes) -> bool:
        """Add ``ref``; True when it was not in the set before."""
        if not self._txn.put(ref, b"", overwrite=False):
            return False
        self.count += 1
        return True

    def __contains__(self, ref: bytes) -> bool:
        return self._txn.get(ref) is not None

    def close(self) -> None:
        """Drop the set and its directory."""
        try:
            self._txn.abort()
            self._env.close()
        finally:
            shutil.rmtree(self.path, ignore_errors=True)
