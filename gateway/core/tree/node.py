"""Tree nodes: the storage port, the node format, the chunk-boundary rule and the node cache.

A tree node is one msgpack array ``[FORMAT_VERSION, level, keys, values]``:

* ``level`` 0 is a leaf: ``keys`` are paths and ``values`` are entries, each the msgpack bytes
  of its ``gateway.core.codec.entry_to_list`` form, nested as a msgpack ``bin``. Nesting keeps
  the entries opaque to the node codec: decoding or re-encoding a leaf allocates one object per
  entry, not seven, which makes ``apply`` and ``diff`` about 3x cheaper per touched leaf while
  iteration (which decodes every entry anyway) costs the same.
* ``level`` >= 1 is an internal node: ``keys`` are the *last* key of each child and ``values``
  are ``[child_id, child_count]`` pairs (``child_count`` = number of entries below the child).

A node's id is the 32-byte blake3 digest of its encoded bytes, so nodes are immutable and equal
ids mean equal subtrees. Node boundaries are chosen by hashing keys only (see
:func:`is_boundary`); the node layout of a map is therefore a pure function of its key set, and
the node ids a pure function of the map (history independence).

This module is pure: it never touches disk or the network; persistence is the caller's
:class:`NodeStore`.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

import blake3
import msgpack

from gateway.core import codec
from gateway.core.errors import CorruptNode, MissingNode
from gateway.core.model import Entry

#: Version of the node encoding *and* of the chunking rule (both decide node ids).
FORMAT_VERSION = 1

#: Expected entries per leaf and children per internal node (powers of two; see
#: docs/decisions/0001-prolly-tree.md for the measurements behind them).
LEAF_TARGET = 32
INTERNAL_TARGET = 64

_leaf_mask = LEAF_TARGET - 1
_internal_mask = INTERNAL_TARGET - 1

#: Raw value stored in a node: encoded entry bytes (leaf) or a ``(child_id, child_count)`` pair.
RawValue = Any


class NodeStore(Protocol):
    """Where encoded tree nodes live, keyed by their id (blake3 of the bytes).

    Nodes are immutable: ``put_node`` of an existing id must store nothing new (or the same
    bytes). Implementations used from several threads must make both calls thread-safe.
    """

    def get_node(self, node_id: bytes) -> bytes | None: ...

    def put_node(self, node_id: bytes, data: bytes) -> None: ...


class DictNodeStore:
    """An in-memory :class:`NodeStore` for tests and benchmarks.

    Thread-safe for concurrent readers and writers (single dict operations are atomic under the
    GIL and nodes are never overwritten with different bytes).
    """

    def __init__(self) -> None:
        self.nodes: dict[bytes, bytes] = {}

    def get_node(self, node_id: bytes) -> bytes | None:
        return self.nodes.get(node_id)

    def put_node(self, node_id: bytes, data: bytes) -> None:
        self.nodes[node_id] = data


class OverlayNodeStore:
    """A :class:`NodeStore` that keeps new nodes in memory over a read-only base store.

    For publishing a tree atomically: build or ``apply`` against the overlay, then write
    ``overlay.pending`` into the base store inside the same transaction that publishes the root
    (e.g. the commit's LMDB write transaction). Until then nothing reaches the base store.
    Not thread-safe for concurrent writers; one overlay per operation.
    """

    def __init__(self, base: NodeStore) -> None:
        self.base = base
        self.pending: dict[bytes, bytes] = {}

    def get_node(self, node_id: bytes) -> bytes | None:
        data = self.pending.get(node_id)
        return data if data is not None else self.base.get_node(node_id)

    def put_node(self, node_id: bytes, data: bytes) -> None:
        self.pending[node_id] = data


class Node:
    """A decoded node. Immutable by convention: ``keys`` and ``vals`` are tuples, never mutated.

    Shared between threads through :class:`NodeCache`; never modify one after construction.
    """

    __slots__ = ("keys", "level", "nbytes", "vals")

    def __init__(
        self, level: int, keys: Sequence[str], vals: Sequence[RawValue], nbytes: int
    ) -> None:
        self.level = level
        self.keys = keys
        self.vals = vals
        self.nbytes = nbytes

    def count(self) -> int:
        """Number of entries below this node."""
        if self.level == 0:
            return len(self.keys)
        return sum(v[1] for v in self.vals)


# -- encoding --------------------------------------------------------------------------------------


def encode_node(level: int, keys: Sequence[str], vals: Sequence[RawValue]) -> tuple[bytes, bytes]:
    """Encode a node; return ``(node_id, data)``."""
    data: bytes = msgpack.packb([FORMAT_VERSION, level, keys, vals], use_bin_type=True)
    return blake3.blake3(data).digest(), data


def decode_node(data: bytes) -> Node:
    """Decode stored node bytes.

    Raises:
        CorruptNode: the bytes are not a node of a known format version.
    """
    try:
        version, level, keys, vals = msgpack.unpackb(data, raw=False, use_list=False)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise CorruptNode(f"undecodable tree node: {exc}") from exc
    if version != FORMAT_VERSION or len(keys) != len(vals) or not keys:
        raise CorruptNode(f"unsupported tree node (version {version!r})")
    return Node(level, keys, vals, len(data))


# -- entries: the codec's list form, converted fast -----------------------------------------------

_ENTRY_FIELDS = (
    "address",
    "size",
    "etag",
    "content_type",
    "metadata",
    "mtime",
    "checksums",
    "tags",
)


def entry_to_raw(e: Entry) -> tuple[Any, ...]:
    """``codec.entry_to_list`` as nested tuples: the same msgpack bytes (checked by the tests)."""
    m = e.metadata
    c = e.checksums
    t = e.tags
    raw: tuple[Any, ...] = (
        e.address,
        e.size,
        e.etag,
        e.content_type,
        tuple([(k, m[k]) for k in sorted(m)]) if m else (),
        e.mtime,
        tuple([(k, c[k]) for k in sorted(c)]) if c else (),
    )
    if t:  # only when present, as in the codec: untagged entries keep their bytes
        raw += (tuple([(k, t[k]) for k in sorted(t)]),)
    return raw


def encode_entry_value(e: Entry) -> bytes:
    """The leaf value of an entry: msgpack of its ``codec.entry_to_list`` form (canonical)."""
    data: bytes = msgpack.packb(entry_to_raw(e), use_bin_type=True)
    return data


def _make_entry_decoders() -> tuple[Callable[[Sequence[Any]], Entry], Callable[[bytes], Entry]]:
    # Entry is a frozen slotted dataclass whose generated __init__ costs ~3x the work below; the
    # slot descriptors set the same fields directly. Fall back to the codec if the fields change.
    unpackb = msgpack.unpackb
    if tuple(f.name for f in dataclasses.fields(Entry)) != _ENTRY_FIELDS:
        slow: Callable[[Sequence[Any]], Entry] = codec.entry_from_list  # type: ignore[assignment]
        return slow, lambda data: slow(unpackb(data, raw=False, use_list=False))
    new = object.__new__
    s_addr, s_size, s_etag, s_ctype, s_meta, s_mtime, s_sums, s_tags = (
        getattr(Entry, name).__set__ for name in _ENTRY_FIELDS
    )

    def from_raw(v: Sequence[Any]) -> Entry:
        e: Entry = new(Entry)
        s_addr(e, v[0])
        s_size(e, v[1])
        s_etag(e, v[2])
        s_ctype(e, v[3])
        s_meta(e, dict(v[4]) if v[4] else {})
        s_mtime(e, v[5])
        s_sums(e, dict(v[6]) if v[6] else {})
        s_tags(e, dict(v[7]) if len(v) > 7 and v[7] else {})
        return e

    def from_bytes(data: bytes) -> Entry:
        return from_raw(unpackb(data, raw=False, use_list=False))

    return from_raw, from_bytes


#: ``entry_from_raw``: same result as ``codec.entry_from_list`` (checked by the tests), ~3x
#: faster. ``decode_entry_value``: the entry of a leaf value (see :func:`encode_entry_value`).
entry_from_raw, decode_entry_value = _make_entry_decoders()


# -- chunking --------------------------------------------------------------------------------------


def is_boundary(key: str, level: int) -> bool:
    """Whether ``key`` ends a node at ``level``: a pure function of the key and the level.

    Byte ``level`` of blake3(key) is used for each level, so boundaries of different levels are
    independent. A node at ``level`` ends after its first boundary key (or at the last key).
    """
    mask = _leaf_mask if level == 0 else _internal_mask
    return blake3.blake3(key.encode()).digest()[level & 31] & mask == 0


@contextmanager
def override_fanout(leaf_target: int, internal_target: int) -> Iterator[None]:
    """Temporarily change the expected fan-outs (powers of two) -- for tests and benchmarks only.

    Changes node ids, so trees built inside and outside the block are not comparable. Not
    thread-safe: process-global while active.
    """
    global _leaf_mask, _internal_mask
    for t in (leaf_target, internal_target):
        if t < 2 or t > 256 or t & (t - 1):
            raise ValueError("fan-out targets must be powers of two in [2, 256]")
    saved = (_leaf_mask, _internal_mask)
    _leaf_mask, _internal_mask = leaf_target - 1, internal_target - 1
    try:
        yield
    finally:
        _leaf_mask, _internal_mask = saved


# -- decoded-node cache ----------------------------------------------------------------------------


class NodeCache:
    """A bounded LRU cache of decoded nodes keyed by node id.

    Nodes are content-addressed and immutable, so one cache can serve every store and every
    thread. All methods are thread-safe (one lock around the LRU bookkeeping; decoding happens
    outside it). The bound is on the encoded size of the cached nodes.
    """

    def __init__(self, max_bytes: int = 64 << 20) -> None:
        self.max_bytes = max_bytes
        self._nodes: OrderedDict[bytes, Node] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, node_id: bytes) -> Node | None:
        with self._lock:
            node = self._nodes.get(node_id)
            if node is not None:
                self._nodes.move_to_end(node_id)
            return node

    def put(self, node_id: bytes, node: Node) -> None:
        if node.nbytes > self.max_bytes:
            return
        with self._lock:
            if node_id in self._nodes:
                return
            self._nodes[node_id] = node
            self._bytes += node.nbytes
            while self._bytes > self.max_bytes:
                _, old = self._nodes.popitem(last=False)
                self._bytes -= old.nbytes

    def clear(self) -> None:
        with self._lock:
            self._nodes.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._nodes)


#: The process-wide cache used when a caller passes none.
DEFAULT_CACHE = NodeCache()


def load_node(
    store: NodeStore, cache: NodeCache, node_id: bytes, *, cache_leaf: bool = True
) -> Node:
    """The decoded node ``node_id``, from the cache or the store.

    ``cache_leaf=False`` keeps a leaf read from the store out of the cache (internal nodes are
    always cached): long scans then do not evict the working set.

    Raises:
        MissingNode: the store does not have the node.
        CorruptNode: the stored bytes do not decode.
    """
    node = cache.get(node_id)
    if node is None:
        data = store.get_node(node_id)
        if data is None:
            raise MissingNode(f"tree node {node_id.hex()} is missing")
        node = decode_node(data)
        if cache_leaf or node.level > 0:
            cache.put(node_id, node)
    return node


def write_node(
    store: NodeStore, cache: NodeCache, level: int, keys: Sequence[str], vals: Sequence[RawValue]
) -> bytes:
    """Encode, store and cache a node; return its id. ``keys``/``vals`` must not change later."""
    node_id, data = encode_node(level, keys, vals)
    store.put_node(node_id, data)
    cache.put(node_id, Node(level, tuple(keys), tuple(vals), len(data)))
    return node_id
