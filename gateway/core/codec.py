"""The one versioned msgpack codec for every record the engine persists.

Every encoded record starts with a format version so that a future format can be read next to
this one. Encodings are canonical (fixed field order, sorted maps) where identity depends on them:
commit ids and tree-node ids are hashes of these bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import blake3
import msgpack

from gateway.core.ids import BlobId, BranchName, CommitId, RepoName, TagName
from gateway.core.model import Branch, Commit, CommitInput, Entry, ManifestPart, Repository, Tag

VERSION = 1


def _pack(obj: Any) -> bytes:
    out: bytes = msgpack.packb(obj, use_bin_type=True)
    return out


def _unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False, use_list=True, strict_map_key=False)


def _sorted_map(m: Mapping[str, str]) -> list[list[str]]:
    return [[k, m[k]] for k in sorted(m)]


# -- entries -------------------------------------------------------------------------------------


def entry_to_list(e: Entry) -> list[Any]:
    """Compact list form of an entry, used inside tree leaves and staging records.

    Tags are appended only when there are some: an untagged entry encodes to the bytes it had
    before tags existed, so every existing tree node keeps its id (the trick of commit inputs,
    decision 0011).
    """
    out = [
        e.address,
        e.size,
        e.etag,
        e.content_type,
        _sorted_map(e.metadata),
        e.mtime,
        _sorted_map(e.checksums),
    ]
    if e.tags:
        out.append(_sorted_map(e.tags))
    return out


def entry_from_list(v: list[Any]) -> Entry:
    return Entry(
        address=v[0],
        size=v[1],
        etag=v[2],
        content_type=v[3],
        metadata=dict(v[4]),
        mtime=v[5],
        checksums=dict(v[6]),
        tags=dict(v[7]) if len(v) > 7 and v[7] else {},
    )


def encode_entry(e: Entry) -> bytes:
    return _pack([VERSION, entry_to_list(e)])


def decode_entry(data: bytes) -> Entry:
    v = _unpack(data)
    return entry_from_list(v[1])


# -- commits -------------------------------------------------------------------------------------


def _commit_body(
    tree: bytes,
    parents: tuple[CommitId, ...],
    committer: str,
    message: str,
    metadata: Mapping[str, str],
    creation_date: float,
    generation: int,
    inputs: tuple[CommitInput, ...] = (),
) -> list[Any]:
    body = [
        VERSION,
        tree,
        list(parents),
        committer,
        message,
        _sorted_map(metadata),
        creation_date,
        generation,
    ]
    if inputs:
        # Appended only when present: a commit without inputs keeps the encoding (and id) it
        # had before inputs existed, so older histories verify unchanged.
        body.append([[i.repository, i.commit, i.ref, i.path, i.manifest] for i in inputs])
    return body


def _inputs(v: list[Any]) -> tuple[CommitInput, ...]:
    if len(v) <= 8:
        return ()
    return tuple(
        CommitInput(RepoName(r), CommitId(c), ref, path, manifest)
        for r, c, ref, path, manifest in v[8]
    )


def make_commit(
    *,
    tree: bytes,
    parents: tuple[CommitId, ...],
    committer: str,
    message: str,
    metadata: Mapping[str, str],
    creation_date: float,
    generation: int,
    inputs: tuple[CommitInput, ...] = (),
) -> Commit:
    """Build a commit whose id is the blake3 of its canonical encoding (a hash chain)."""
    body = _commit_body(
        tree, parents, committer, message, metadata, creation_date, generation, inputs
    )
    cid = CommitId(blake3.blake3(_pack(body)).hexdigest())
    return Commit(
        id=cid,
        tree=tree,
        parents=parents,
        committer=committer,
        message=message,
        metadata=dict(metadata),
        creation_date=creation_date,
        generation=generation,
        inputs=inputs,
    )


def encode_commit(c: Commit) -> bytes:
    return _pack(
        _commit_body(
            c.tree,
            c.parents,
            c.committer,
            c.message,
            c.metadata,
            c.creation_date,
            c.generation,
            c.inputs,
        )
    )


def decode_commit(cid: CommitId, data: bytes) -> Commit:
    v = _unpack(data)
    return Commit(
        id=cid,
        tree=v[1],
        parents=tuple(CommitId(p) for p in v[2]),
        committer=v[3],
        message=v[4],
        metadata=dict(v[5]),
        creation_date=v[6],
        generation=v[7],
        inputs=_inputs(v),
    )


def verify_commit(c: Commit, data: bytes) -> bool:
    """True when ``data`` hashes to the commit's id (tamper check)."""
    return blake3.blake3(data).hexdigest() == c.id


# -- refs and repositories ----------------------------------------------------------------------


def encode_repository(r: Repository) -> bytes:
    return _pack(
        [
            VERSION,
            r.name,
            r.default_branch,
            r.storage_namespace,
            r.creation_date,
            _sorted_map(r.metadata),
        ]
    )


def decode_repository(data: bytes) -> Repository:
    v = _unpack(data)
    return Repository(
        name=RepoName(v[1]),
        default_branch=BranchName(v[2]),
        storage_namespace=v[3],
        creation_date=v[4],
        metadata=dict(v[5]),
    )


def encode_branch(b: Branch) -> bytes:
    return _pack([VERSION, b.name, b.head, b.staging_token, b.hidden])


def decode_branch(data: bytes) -> Branch:
    v = _unpack(data)
    return Branch(
        name=BranchName(v[1]),
        head=CommitId(v[2]),
        staging_token=v[3],
        hidden=v[4],
    )


def encode_tag(t: Tag) -> bytes:
    return _pack([VERSION, t.name, t.commit])


def decode_tag(data: bytes) -> Tag:
    v = _unpack(data)
    return Tag(name=TagName(v[1]), commit=CommitId(v[2]))


# -- multipart manifests -------------------------------------------------------------------------


def encode_manifest(parts: list[ManifestPart]) -> bytes:
    return _pack([VERSION, [[p.blob_id, p.size] for p in parts]])


def decode_manifest(data: bytes) -> list[ManifestPart]:
    v = _unpack(data)
    return [ManifestPart(BlobId(b), s) for b, s in v[1]]


def manifest_id(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def pack(obj: Any) -> bytes:
    """Generic versioned encoding for small auxiliary records (uploads, users, indexes)."""
    return _pack([VERSION, obj])


def unpack(data: bytes) -> Any:
    return _unpack(data)[1]
