"""Marking: from the roots, everything they reach, each piece visited once.

What a ref reaches:

* a commit: its parents (a kept commit keeps its history, so log and merge bases never hit a
  hole), its tree, and its inputs (the input commits and their read-manifest trees: lineage
  keeps what a result was built from);
* a tree node: its children, or for a leaf the blob or manifest of every entry;
* a manifest: its part blobs.

The content-addressed structure is what keeps this cheap: a node is marked when first reached,
and a node already marked is not read again, so the thousand commits of a repository that share
most of their tree cost one visit per distinct node, not one per commit and path.

Reads run in short snapshots (``budget`` refs per read transaction): content reachable from a
root is immutable and only a collection deletes it, so it cannot change between snapshots; a
commit that vanished meanwhile (its repository was deleted) is skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import msgpack

from gateway.core import codec, gcrefs, keys
from gateway.core.ids import CommitId
from gateway.core.ports import KVReader, KVStore
from gateway.core.tree.node import decode_node

if TYPE_CHECKING:
    from gateway.gc.markset import MarkSet

#: Refs processed per read snapshot.
BUDGET = 4096


@dataclass
class MarkStats:
    commits: int = 0
    nodes: int = 0
    blobs: int = 0
    manifests: int = 0
    missing: int = 0  # nodes or manifests a kept ref names but the store lacks
    vanished: int = 0  # commits deleted meanwhile (their repository was deleted)
    extra: dict[str, int] = field(default_factory=dict)


def leaf_address(value: bytes) -> str:
    """The address of an encoded leaf entry (``[address, size, ...]``) without decoding the
    rest: a 7-element array whose first element is a str8 (blob ids are 64 characters)."""
    if len(value) > 3 and value[0] == 0x97 and value[1] == 0xD9:
        n = value[2]
        return value[3 : 3 + n].decode("utf-8")
    return str(msgpack.unpackb(value, raw=False)[0])


class Marker:
    """Marks refs into ``marks`` and follows what they reach (see the module docstring)."""

    def __init__(
        self,
        kv: KVStore,
        marks: MarkSet,
        *,
        check: Callable[[], None] = lambda: None,
        budget: int = BUDGET,
    ) -> None:
        self.kv = kv
        self.marks = marks
        self.stats = MarkStats()
        self._stack: list[bytes] = []  # commit and node refs marked but not yet followed
        self._check = check  # raises to cancel
        self._budget = budget

    # -- adding ---------------------------------------------------------------------------------
    def add(self, r: KVReader, ref: bytes) -> None:
        """Mark ``ref``; follow it now (manifest) or later (commit, node) if it is new."""
        kind = ref[:1]
        if not self.marks.add(ref):
            return
        if kind == gcrefs.BLOB:
            self.stats.blobs += 1
        elif kind == gcrefs.MANIFEST:
            self.stats.manifests += 1
            self._manifest(r, ref)
        else:
            self._stack.append(ref)

    def add_all(self, r: KVReader, refs: Iterable[bytes]) -> None:
        for ref in refs:
            self.add(r, ref)

    def _manifest(self, r: KVReader, ref: bytes) -> None:
        raw = r.get(keys.manifest(ref[1:].hex()))
        if raw is None:
            self.stats.missing += 1
            return
        for part in codec.decode_manifest(raw):
            if self.marks.add(gcrefs.blob_ref(part.blob_id)):
                self.stats.blobs += 1

    # -- following ------------------------------------------------------------------------------
    def drain(self) -> None:
        """Follow every pending ref until nothing new is reached."""
        while self._stack:
            self._check()
            self.kv.read_sync(self._step)

    def _step(self, r: KVReader) -> None:
        stack = self._stack
        for _ in range(self._budget):
            if not stack:
                return
            ref = stack.pop()
            if ref[:1] == gcrefs.NODE:
                self._node(r, ref[1:])
            else:
                self._commit(r, ref)

    def _node(self, r: KVReader, node_id: bytes) -> None:
        raw = r.get(keys.node(node_id))
        if raw is None:
            self.stats.missing += 1
            return
        self.stats.nodes += 1
        node = decode_node(raw)
        add = self.marks.add
        if node.level == 0:
            for value in node.vals:
                ref = gcrefs.address_ref(leaf_address(value))
                if ref is not None:
                    self.add(r, ref)
            return
        for child_id, _count in node.vals:
            child = gcrefs.NODE + child_id
            if add(child):
                self._stack.append(child)

    def _commit(self, r: KVReader, ref: bytes) -> None:
        repo, cid = gcrefs.split_commit_ref(ref)
        raw = r.get(keys.commit(repo, cid))
        if raw is None:
            self.stats.vanished += 1
            return
        self.stats.commits += 1
        c = codec.decode_commit(CommitId(cid), raw)
        if c.tree:
            self.add(r, gcrefs.node_ref(c.tree))
        for parent in c.parents:
            self.add(r, gcrefs.commit_ref(repo, parent))
        for i in c.inputs:
            self.add(r, gcrefs.commit_ref(i.repository, i.commit))
            if i.manifest:
                self.add(r, gcrefs.node_ref(bytes.fromhex(i.manifest)))


def read_fresh(r: KVReader, after: int) -> tuple[int, list[bytes]]:
    """The write barrier's refs recorded after counter value ``after``, and the counter now."""
    start = gcrefs.FRESH + (after + 1).to_bytes(8, "big")
    refs: list[bytes] = []
    for _, v in r.scan(start, keys.prefix_end(gcrefs.FRESH)):
        refs.extend(codec.unpack(v))
    return gcrefs.seq(r), refs
