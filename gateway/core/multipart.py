"""Multipart uploads tracked in the metadata store, so they work the same on every backend."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Sequence

from gateway.core import codec, keys
from gateway.core.errors import EntityTooSmall, InvalidPart, InvalidPartOrder, UploadNotFound
from gateway.core.ids import BlobId, BranchName, Path, RepoName
from gateway.core.lake.types import Part, Upload
from gateway.core.model import MANIFEST_PREFIX, BlobInfo, Entry, ManifestPart
from gateway.core.ports import KVReader, KVWriter

MIN_PART_SIZE = 5 << 20
MAX_PARTS = 10000
#: How long a completed upload is remembered for a repeated CompleteMultipartUpload (an SDK
#: retrying after a lost response does so within seconds to minutes; a day is generous).
COMPLETED_TTL_SECONDS = 24 * 3600


def new_upload_id() -> str:
    return uuid.uuid4().hex


def encode_upload(u: Upload) -> bytes:
    fields = [u.upload_id, u.repo, u.branch, u.path, u.initiated, u.content_type, dict(u.metadata)]
    if u.tags:
        fields.append(dict(u.tags))
    return codec.pack(fields)


def decode_upload(raw: bytes) -> Upload:
    v = codec.unpack(raw)
    return Upload(
        upload_id=v[0],
        repo=RepoName(v[1]),
        branch=BranchName(v[2]),
        path=Path(v[3]),
        initiated=v[4],
        content_type=v[5],
        metadata=dict(v[6]),
        tags=dict(v[7]) if len(v) > 7 else {},
    )


def get_upload(r: KVReader, repo: str, upload_id: str) -> Upload:
    raw = r.get(keys.upload(repo, upload_id)) if _valid_id(upload_id) else None
    if raw is None:
        raise UploadNotFound(f"upload {upload_id!r} not found")
    return decode_upload(raw)


def _valid_id(upload_id: str) -> bool:
    return len(upload_id) == 32 and all(c in "0123456789abcdef" for c in upload_id)


def encode_part(p: Part) -> bytes:
    b = p.blob
    return codec.pack([p.number, b.blob_id, b.size, b.md5_hex, p.last_modified])


def decode_part(raw: bytes) -> Part:
    v = codec.unpack(raw)
    return Part(
        number=v[0],
        blob=BlobInfo(blob_id=BlobId(v[1]), size=v[2], md5_hex=v[3]),
        last_modified=v[4],
    )


def iter_parts(r: KVReader, repo: str, upload_id: str, after: int = 0) -> list[Part]:
    base = keys.parts(repo, upload_id)
    start = keys.part(repo, upload_id, after + 1)
    return [decode_part(v) for _, v in r.scan(start, keys.prefix_end(base))]


def record_completed(
    w: KVWriter, upload: Upload, parts: Sequence[tuple[int, str]], entry: Entry, now: float
) -> None:
    """Remember a completed upload (same transaction as the completion), see keys.COMPLETED."""
    wanted = [[number, _bare_etag(etag)] for number, etag in parts]
    w.put(
        keys.completed(upload.repo, upload.upload_id),
        codec.pack([now, upload.branch, upload.path, wanted, codec.entry_to_list(entry)]),
    )


def completed_created(raw: bytes) -> float:
    """When a completed-upload record was written (unix seconds)."""
    created: float = codec.unpack(raw)[0]
    return created


def completed_expired(raw: bytes, now: float) -> bool:
    """Whether a completed-upload record is past its lifetime (GC may delete it)."""
    return now - completed_created(raw) > COMPLETED_TTL_SECONDS


def repeated_completion(
    r: KVReader,
    repo: str,
    upload_id: str,
    parts: Sequence[tuple[int, str]],
    *,
    branch: str | None,
    path: str | None,
    now: float,
) -> Entry | None:
    """The entry a finished upload produced, when this request repeats its completion exactly
    (same key, same part list) within the record's lifetime; else None."""
    raw = r.get(keys.completed(repo, upload_id)) if _valid_id(upload_id) else None
    if raw is None or completed_expired(raw, now):
        return None
    _, done_branch, done_path, wanted, entry = codec.unpack(raw)
    if (branch is not None and branch != done_branch) or (path is not None and path != done_path):
        return None
    if [[number, _bare_etag(etag)] for number, etag in parts] != wanted:
        return None
    return codec.entry_from_list(entry)


def _bare_etag(etag: str) -> str:
    return etag.strip().strip('"').lower()


def delete_upload(w: KVWriter, repo: str, upload_id: str) -> None:
    base = keys.parts(repo, upload_id)
    for k, _ in list(w.scan(base, keys.prefix_end(base))):
        w.delete(k)
    w.delete(keys.upload(repo, upload_id))


def compose(w: KVWriter, upload: Upload, wanted: Sequence[tuple[int, str]]) -> Entry:
    """Validate the client's part list and build the object's entry (zero-copy manifest).

    Raises InvalidPartOrder, InvalidPart, EntityTooSmall.
    """
    if not wanted:
        raise InvalidPart("the part list is empty")
    prev = 0
    for number, _ in wanted:
        if number <= prev:
            raise InvalidPartOrder("parts must be listed in ascending order, without repeats")
        prev = number
    chosen: list[Part] = []
    for number, etag in wanted:
        raw = w.get(keys.part(upload.repo, upload.upload_id, number))
        if raw is None:
            raise InvalidPart(f"part {number} was not uploaded")
        p = decode_part(raw)
        if _bare_etag(etag) != p.blob.md5_hex:
            raise InvalidPart(f"part {number}: ETag {etag!r} does not match the uploaded part")
        chosen.append(p)
    for p in chosen[:-1]:
        if p.blob.size < MIN_PART_SIZE:
            raise EntityTooSmall(
                f"part {p.number} is {p.blob.size} bytes; every part but the last must be "
                f"at least {MIN_PART_SIZE} bytes"
            )
    md5s = b"".join(bytes.fromhex(p.blob.md5_hex) for p in chosen)
    etag = f"{hashlib.md5(md5s).hexdigest()}-{len(chosen)}"
    size = sum(p.blob.size for p in chosen)
    address: str
    if len(chosen) == 1:
        address = chosen[0].blob.blob_id
    else:
        data = codec.encode_manifest([ManifestPart(p.blob.blob_id, p.blob.size) for p in chosen])
        mid = codec.manifest_id(data)
        w.put(keys.manifest(mid), data)
        address = MANIFEST_PREFIX + mid
    return Entry(
        address=address,
        size=size,
        etag=etag,
        content_type=upload.content_type,
        metadata=dict(upload.metadata),
        mtime=time.time(),
        tags=dict(upload.tags),
    )
