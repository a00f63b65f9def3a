"""An independent count of what a lake must keep, and of what it holds, for GC tests.

``expected`` walks, with plain Python sets (fine at test sizes), everything retention 0 keeps:
commits reachable from branch heads and tags (with ancestors and inputs), their trees, the
blobs and manifests their entries name, staged entries of live branches and parts of uploads in
progress. ``stored`` lists what the metadata store and the blob backend hold. After a collection
with retention 0 and no grace, on a quiet lake, the two are equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgpack

from gateway.core import codec, keys, multipart, staging
from gateway.core.ids import CommitId, is_hex_id
from gateway.core.model import MANIFEST_PREFIX
from gateway.core.ports import KVReader


@dataclass
class Census:
    commits: set[tuple[str, str]] = field(default_factory=set)
    nodes: set[bytes] = field(default_factory=set)
    manifests: set[str] = field(default_factory=set)
    blobs: set[str] = field(default_factory=set)

    def sizes(self) -> dict[str, int]:
        return {k: len(getattr(self, k)) for k in ("commits", "nodes", "manifests", "blobs")}


def _repos(r: KVReader) -> list[str]:
    return [k[2:].decode() for k, _ in r.scan(keys.REPO, keys.prefix_end(keys.REPO))]


def _address(c: Census, r: KVReader, address: str) -> None:
    if is_hex_id(address):
        c.blobs.add(address)
    elif address.startswith(MANIFEST_PREFIX):
        mid = address[len(MANIFEST_PREFIX) :]
        c.manifests.add(mid)
        raw = r.get(keys.manifest(mid))
        assert raw is not None, f"retained manifest {mid} is missing"
        for part in codec.decode_manifest(raw):
            c.blobs.add(part.blob_id)


def _tree(c: Census, r: KVReader, node_id: bytes) -> None:
    todo = [node_id]
    while todo:
        nid = todo.pop()
        if nid in c.nodes:
            continue
        c.nodes.add(nid)
        raw = r.get(keys.node(nid))
        assert raw is not None, f"retained node {nid.hex()} is missing"
        _, level, _, vals = msgpack.unpackb(raw, raw=False)
        if level == 0:
            for v in vals:
                _address(c, r, msgpack.unpackb(v, raw=False)[0])
        else:
            todo.extend(child for child, _ in vals)


def expected(r: KVReader) -> Census:
    c = Census()
    todo: list[tuple[str, str]] = []
    for repo in _repos(r):
        for _, v in r.scan(keys.branches(repo), keys.prefix_end(keys.branches(repo))):
            b = codec.decode_branch(v)
            todo.append((repo, b.head))
            base = keys.staging(repo, b.staging_token)
            for _, raw in r.scan(base, keys.prefix_end(base)):
                e = staging.decode(raw)
                if e is not None:
                    _address(c, r, e.address)
        for _, v in r.scan(keys.tags(repo), keys.prefix_end(keys.tags(repo))):
            todo.append((repo, codec.decode_tag(v).commit))
    for _, v in r.scan(keys.PART, keys.prefix_end(keys.PART)):
        c.blobs.add(multipart.decode_part(v).blob.blob_id)
    while todo:
        repo, cid = todo.pop()
        if (repo, cid) in c.commits:
            continue
        c.commits.add((repo, cid))
        raw = r.get(keys.commit(repo, cid))
        assert raw is not None, f"retained commit {repo}/{cid} is missing"
        commit = codec.decode_commit(CommitId(cid), raw)
        if commit.tree:
            _tree(c, r, commit.tree)
        todo.extend((repo, p) for p in commit.parents)
        for i in commit.inputs:
            todo.append((i.repository, i.commit))
            if i.manifest:
                _tree(c, r, bytes.fromhex(i.manifest))
    return c


def stored(r: KVReader, backend_blobs: set[str]) -> Census:
    c = Census()
    for k, _ in r.scan(keys.COMMIT, keys.prefix_end(keys.COMMIT)):
        repo, _, cid = k[2:].partition(keys.SEP)
        c.commits.add((repo.decode(), cid.decode()))
    c.nodes = {k[2:] for k, _ in r.scan(keys.NODE, keys.prefix_end(keys.NODE))}
    c.manifests = {k[2:].decode() for k, _ in r.scan(keys.MANIFEST, keys.prefix_end(keys.MANIFEST))}
    inline = {k[2:].decode() for k, _ in r.scan(keys.INLINE, keys.prefix_end(keys.INLINE))}
    c.blobs = inline | backend_blobs
    return c
