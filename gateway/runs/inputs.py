"""A finished run's inputs: per commit read, a content-addressed manifest of what was read.

The read log (``gateway.runs.store``) holds a run's reads sorted by (repository, commit, path).
``build_inputs`` streams it in pages and cuts it into one group per (repository, commit); each
group becomes a prolly tree (``gateway.core.tree.build``) whose paths are the paths read and
whose entries carry the ETag and size seen. Memory stays flat whatever the number of reads: a
page of the log and one node per tree level at a time; nodes are written in batches. Nodes are
shared with every other manifest holding the same paths and ETags, and the commit stores one
32-byte root per input (decision 0011).

Synchronous and CPU-bound: call it in a worker thread.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from gateway.core import codec, keys, tree
from gateway.core.model import Entry
from gateway.core.nodebuf import write_young_nodes
from gateway.core.ports import KVReader, KVStore, KVWriter
from gateway.core.tree import NodeCache
from gateway.core.view import KVNodeStore
from gateway.runs import store
from gateway.runs.model import InputSummary

PAGE = 5_000
FLUSH_BYTES = 16 << 20


class _NodeWriter:
    """A write-mostly node store: nodes are buffered and written in bounded transactions."""

    def __init__(self, kv: KVStore) -> None:
        self._kv = kv
        self._buf: dict[bytes, bytes] = {}
        self._size = 0

    def get_node(self, node_id: bytes) -> bytes | None:
        found = self._buf.get(node_id)
        if found is not None:
            return found
        return self._kv.read_sync(lambda r: r.get(keys.node(node_id)))

    def put_node(self, node_id: bytes, data: bytes) -> None:
        if node_id in self._buf:
            return
        self._buf[node_id] = data
        self._size += len(data)
        if self._size >= FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        batch, self._buf, self._size = self._buf, {}, 0
        if batch:
            self._kv.write_sync(lambda w: write_young_nodes(w, batch))  # named later: GC


Row = tuple[str, str, str, str, int, str]  # repo, commit, path, etag, size, ref


def read_log(kv: KVStore, run_id: str, *, page: int = PAGE) -> Iterator[Row]:
    """The run's read log in key order, one bounded read transaction per page."""
    prefix = store.reads_of(run_id)
    end = store.prefix_end(prefix)
    start = prefix
    while True:

        def fetch(r: KVReader, lo: bytes = start) -> list[tuple[bytes, bytes]]:
            return list(itertools.islice(r.scan(lo, end), page))

        batch = kv.read_sync(fetch)
        cut = len(prefix)
        for k, v in batch:
            repo, commit, path = k[cut:].split(b"\x00", 2)
            etag, size, ref = codec.unpack(v)
            yield repo.decode(), commit.decode(), path.decode(), etag, int(size), ref
        if len(batch) < page:
            return
        start = batch[-1][0] + b"\x00"


class _Seen:
    __slots__ = ("count", "refs")

    def __init__(self) -> None:
        self.count = 0
        self.refs: set[str] = set()


def _entries(rows: Iterator[Row], seen: _Seen) -> Iterator[tuple[str, Entry]]:
    for _, _, path, etag, size, ref in rows:
        seen.refs.add(ref)
        seen.count += 1
        yield path, Entry(address="", size=size, etag=etag)


def build_inputs(kv: KVStore, run_id: str) -> list[InputSummary]:
    """One ``InputSummary`` (with a stored manifest root) per (repository, commit) read."""
    nodes = _NodeWriter(kv)
    cache = NodeCache(4 << 20)  # manifests are written once: keep them out of the shared cache
    out: list[InputSummary] = []
    for (repo, commit), group in itertools.groupby(read_log(kv, run_id), lambda r: r[:2]):
        seen = _Seen()
        root = tree.build(_entries(group, seen), nodes, cache=cache)
        nodes.flush()
        out.append(InputSummary(repo, commit, tuple(sorted(seen.refs)), seen.count, root.hex()))
    return out


def manifest_rows(
    kv: KVStore, manifest: str, *, after: str = "", limit: int = 1000
) -> Iterator[tuple[str, Entry]]:
    """The (path, entry with ETag and size) of a stored manifest, paths ``> after``."""
    if not manifest:
        return iter(())
    root = bytes.fromhex(manifest)

    def fetch(r: KVReader) -> list[tuple[str, Entry]]:
        start = after + "\x00" if after else ""
        return list(itertools.islice(tree.iterate(root, KVNodeStore(r), start), limit))

    return iter(kv.read_sync(fetch))


def delete_log(kv: KVStore, run_id: str, *, batch: int = 2_000) -> None:
    """Delete a run's read log in bounded transactions (after its commit, or on discard)."""
    prefix = store.reads_of(run_id)
    end = store.prefix_end(prefix)

    def fn(w: KVWriter) -> int:
        ks = [k for k, _ in itertools.islice(w.scan(prefix, end), batch)]
        for k in ks:
            w.delete(k)
        return len(ks)

    while kv.write_sync(fn) == batch:
        pass
