"""Blobs, objects, listings and multipart uploads: the data part of the ``Lake`` facade."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Mapping,
    Sequence,
)
from pathlib import Path as FsPath

from gateway.core import audit, codec, gcrefs, keys, listing, multipart, names, staging, tree
from gateway.core.errors import (
    ObjectNotFound,
    PreconditionFailed,
    SourceChanged,
    StorageFault,
    UploadNotFound,
)
from gateway.core.ids import BlobId, BranchName, Path, RepoName
from gateway.core.ingest import ingest as _ingest
from gateway.core.lake.base import (
    INLINE_LIMIT,
    LakeBase,
    page_of,
)
from gateway.core.lake.types import (
    Conditions,
    Hasher,
    ListingPage,
    Part,
    Upload,
)
from gateway.core.model import (
    EXTERNAL_PREFIX,
    MANIFEST_PREFIX,
    BlobInfo,
    Branch,
    Entry,
    RefKind,
    ResolvedRef,
    parse_external,
)
from gateway.core.ports import KVReader, KVWriter, SpliceSource
from gateway.core.view import View


class ObjectOps(LakeBase):
    """Objects on refs: staged writes, overlaid reads, seeked listings, multipart."""

    # -- blobs --------------------------------------------------------------------------------
    async def ingest(
        self,
        chunks: AsyncIterable[bytes],
        *,
        hashers: Mapping[str, Hasher] | None = None,
        check: Callable[[BlobInfo, Mapping[str, bytes]], None] | None = None,
        defer_inline: bool = False,
        size: int | None = None,
    ) -> BlobInfo:
        """Stream a body into a new blob, computing blake3 + MD5 (+ ``hashers``) in one pass off
        the event loop. ``check(info, digests)`` runs before the blob is published and may raise
        (BadDigest, IncompleteBody, ...) to abort it: nothing is stored then. If the iterator
        raises (client went away), the blob is aborted and the error propagates.
        Publishing is atomic and deduplicated. Returns the blob's info with ``checksums`` empty.
        ``size``: the length the client announced, if any (lets the backend stream the bytes to
        the object store as they arrive; a longer body raises IncompleteBody).
        """
        return await _ingest(
            self.blobs,
            chunks,
            hashers=hashers,
            check=check,
            inline_limit=INLINE_LIMIT,
            inline_sink=self._store_inline,
            defer_inline=defer_inline,
            size=size,
        )

    async def _store_inline(self, blob_id: BlobId, data: bytes) -> None:
        def fn(w: KVWriter) -> None:
            _put_inline(w, blob_id, data)
            # Referenced by a later transaction: young until then (see gcrefs).
            gcrefs.note_young(w, [gcrefs.blob_ref(blob_id)])

        with audit.housekeeping():  # content-addressed bytes, unreferenced until staged
            await self.kv.write(fn)

    async def _read_blob(
        self, blob_id: BlobId, size: int, offset: int, length: int
    ) -> AsyncIterator[bytes]:
        if size <= INLINE_LIMIT:
            data = await self._quick(lambda r: r.get(keys.inline_blob(blob_id)))
            if data is not None:
                yield data[offset : offset + length]
                return
        async for chunk in self.blobs.read(blob_id, offset, length):
            yield chunk

    async def read_entry(
        self, entry: Entry, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        """Stream an entry's bytes (single blob or multipart manifest), ``length`` bytes from
        ``offset``."""
        if length is None:
            length = max(0, entry.size - offset)
        if length <= 0:
            return
        if entry.address.startswith(EXTERNAL_PREFIX):
            async for chunk in self._read_external(entry, offset, min(length, entry.size - offset)):
                yield chunk
            return
        if not entry.address.startswith(MANIFEST_PREFIX):
            async for chunk in self._read_blob(BlobId(entry.address), entry.size, offset, length):
                yield chunk
            return
        mid = entry.address[len(MANIFEST_PREFIX) :]
        raw = await self.kv.read(lambda r: r.get(keys.manifest(mid)))
        if raw is None:
            from gateway.core.errors import BlobNotFound

            raise BlobNotFound(f"multipart manifest {mid} is missing")
        pos = 0
        for part in codec.decode_manifest(raw):
            p_end = pos + part.size
            if p_end > offset and length > 0:
                start = max(0, offset - pos)
                n = min(part.size - start, length)
                async for chunk in self._read_blob(part.blob_id, part.size, start, n):
                    yield chunk
                offset += n
                length -= n
            pos = p_end
            if length <= 0:
                break

    async def _read_external(self, entry: Entry, offset: int, length: int) -> AsyncIterator[bytes]:
        """An imported object's bytes, from its source, checked against the recorded ETag and
        size; a changed or deleted source raises SourceChanged naming the import."""
        import_id, url = parse_external(entry.address)
        if self.external is None:
            raise StorageFault(f"imported object {url}: no reader for external objects is set")
        try:
            async for chunk in self.external.read(
                url, etag=entry.etag, size=entry.size, offset=offset, length=length
            ):
                yield chunk
        except SourceChanged as exc:
            raise SourceChanged(
                f"this object was imported by import {import_id} from {url} (ETag {entry.etag}, "
                f"{entry.size} bytes), and the source no longer matches: {exc.message}. "
                "Import it again to version its current content."
            ) from None

    async def open_splice(self, entry: Entry, offset: int, length: int) -> SpliceSource | None:
        """The entry's byte range opened for an in-kernel copy into a socket, when its bytes are
        one blob of a backend that can do that (``BlobStore.open_splice``); else None."""
        if (
            entry.address.startswith((MANIFEST_PREFIX, EXTERNAL_PREFIX))
            or entry.size <= INLINE_LIMIT
        ):
            return None
        return await self.blobs.open_splice(BlobId(entry.address), offset, length)

    def local_path(self, entry: Entry) -> FsPath | None:
        """A local file holding exactly the entry's bytes (sendfile), when the backend has one."""
        if (
            entry.address.startswith((MANIFEST_PREFIX, EXTERNAL_PREFIX))
            or entry.size <= INLINE_LIMIT
            or not self.blobs.capabilities.local_files
        ):
            return None
        return self.blobs.local_path(BlobId(entry.address))

    # -- objects ------------------------------------------------------------------------------
    async def stat_object(self, repo: str, ref: str | ResolvedRef, path: str) -> Entry:
        """The entry at ``path``: staging overlaid on the head for a branch.
        Raises ObjectNotFound (also for a tombstoned path), RefNotFound, RepositoryNotFound."""

        def fn(r: KVReader) -> Entry:
            view = View(r)
            resolved = _in_snapshot(view, repo, ref)
            return listing.stat(view, repo, resolved, path)

        return await self._quick(fn)

    async def stat_read(self, repo: str, ref: str, path: str) -> tuple[ResolvedRef, Entry, bool]:
        """``stat_object`` plus where the entry came from: (the ref resolved in the same
        snapshot, the entry, whether it is a staged, uncommitted write). Lineage records a read
        as (repository, resolved commit, path, ETag) unless it saw a staged write."""

        def fn(r: KVReader) -> tuple[ResolvedRef, Entry, bool]:
            view = View(r)
            resolved = view.resolve(repo, ref)
            if resolved.branch is not None and not resolved.committed_only:
                assert resolved.staging_token is not None
                hit, staged = view.staged(repo, resolved.staging_token, path)
                if hit:
                    if staged is None:
                        raise ObjectNotFound(f"object {path!r} not found")
                    return resolved, staged, True
            found = tree.get(view.commit(repo, resolved.commit).tree, path, view.nodes)
            if found is None:
                raise ObjectNotFound(f"object {path!r} not found")
            return resolved, found, False

        return await self._quick(fn)

    async def check_writable(self, repo: str, branch: str) -> None:
        """Raise what a write to ``branch`` would raise (RepositoryNotFound, BranchNotFound,
        ReadOnlyRef, ProtectedBranch) before a body is streamed. Advisory: the write itself
        checks again atomically."""
        await self._quick(lambda r: self._writable_branch(View(r), repo, branch))

    async def put_object(
        self,
        repo: str,
        branch: str,
        path: str,
        entry: Entry,
        *,
        conditions: Conditions | None = None,
        blob: BlobInfo | None = None,
    ) -> Entry:
        """Stage ``entry`` at ``path``. ``blob``: the ``ingest`` result of a deferred small
        blob, stored in the same transaction. Raises ReadOnlyRef (tag/commit), ProtectedBranch,
        BranchNotFound, InvalidPath, PreconditionFailed."""
        names.check_path(path)
        value = staging.encode(entry)
        if blob is not None and blob.data is not None and blob.blob_id != entry.address:
            raise ValueError("put_object: the deferred blob is not the entry's blob")

        def fn(w: KVWriter) -> Entry:
            view = View(w)
            b = self._writable_branch(view, repo, branch)
            if conditions is not None:
                _check_conditions(view, repo, b, path, conditions)
            if blob is not None and blob.data is not None:
                _put_inline(w, blob.blob_id, blob.data)
            w.put(keys.staging(repo, b.staging_token) + path.encode("utf-8"), value)
            view.bump_staging(repo, b.staging_token)
            gcrefs.note_fresh(w, [gcrefs.address_ref(entry.address)])
            return entry

        return await self.kv.write(fn)

    async def put_objects(self, repo: str, branch: str, items: Sequence[tuple[str, Entry]]) -> int:
        """Stage many entries in one transaction (imports, bulk loads). All or nothing.

        Raises what ``put_object`` raises; an invalid path fails the whole batch.
        """
        encoded = [(names.check_path(p).encode("utf-8"), staging.encode(e)) for p, e in items]
        addresses = {e.address for _, e in items}

        def fn(w: KVWriter) -> int:
            view = View(w)
            b = self._writable_branch(view, repo, branch)
            base = keys.staging(repo, b.staging_token)
            for path, value in encoded:
                w.put(base + path, value)
            view.bump_staging(repo, b.staging_token)
            gcrefs.note_fresh(w, map(gcrefs.address_ref, addresses))
            return len(encoded)

        return await self.kv.write(fn)

    async def delete_object(self, repo: str, branch: str, path: str) -> bool:
        """Stage a tombstone. Returns whether the path existed (S3 ignores that; lakeFS 404s)."""
        result = await self.delete_objects(repo, branch, [path])
        err = result[0][1]
        if err is not None:
            raise err
        return result[0][0] == "existed"

    async def delete_objects(
        self, repo: str, branch: str, paths: Sequence[str]
    ) -> list[tuple[str, Exception | None]]:
        """Tombstone many paths in one transaction. Returns, in input order, for each path
        ("existed" | "missing", None) or (path, error) for a path that could not be deleted."""
        tomb = staging.encode(None)

        def fn(w: KVWriter) -> list[tuple[str, Exception | None]]:
            view = View(w)
            b = self._writable_branch(view, repo, branch)
            ref = ResolvedRef(
                kind=RefKind.BRANCH, commit=b.head, branch=b.name, staging_token=b.staging_token
            )
            root = view.commit(repo, b.head).tree
            base = keys.staging(repo, b.staging_token)
            out: list[tuple[str, Exception | None]] = []
            for p in paths:
                try:
                    names.check_path(p)
                    listing.stat(view, repo, ref, p)
                    existed = True
                except ObjectNotFound:
                    existed = False
                except Exception as exc:  # an invalid path: reported per key
                    out.append((p, exc))
                    continue
                key = base + p.encode("utf-8")
                if tree.get(root, p, view.nodes) is None:
                    # Nothing committed: dropping the staged write is the whole deletion.
                    w.delete(key)
                else:
                    w.put(key, tomb)
                out.append(("existed" if existed else "missing", None))
            view.bump_staging(repo, b.staging_token)
            return out

        return await self.kv.write(fn)

    async def list_objects(
        self,
        repo: str,
        ref: str | ResolvedRef,
        *,
        prefix: str = "",
        delimiter: str = "",
        after: str = "",
        limit: int = 1000,
    ) -> ListingPage:
        """Objects (and with ``delimiter``, common prefixes) under ``prefix``, keys ``> after``,
        in key order. Costs O(page + log n): staging and the tree are both seeked, and a
        delimiter listing jumps over each common prefix."""

        def fn(r: KVReader) -> ListingPage:
            view = View(r)
            resolved = _in_snapshot(view, repo, ref)
            objs, prefixes, truncated, nxt = listing.list_page(
                view,
                repo,
                resolved,
                prefix=prefix,
                delimiter=delimiter,
                after=after,
                limit=limit,
            )
            return ListingPage(objs, prefixes, truncated, nxt)

        return await self.kv.read(fn)

    # -- multipart ----------------------------------------------------------------------------
    async def create_upload(
        self,
        repo: str,
        branch: str,
        path: str,
        *,
        content_type: str,
        metadata: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Upload:
        names.check_path(path)
        up = Upload(
            upload_id=multipart.new_upload_id(),
            repo=RepoName(repo),
            branch=BranchName(branch),
            path=Path(path),
            initiated=time.time(),
            content_type=content_type,
            metadata=dict(metadata or {}),
            tags=dict(tags or {}),
        )

        def fn(w: KVWriter) -> Upload:
            self._writable_branch(View(w), repo, branch)
            w.put(keys.upload(repo, up.upload_id), multipart.encode_upload(up))
            return up

        return await self.kv.write(fn)

    async def get_upload(self, repo: str, upload_id: str) -> Upload:
        """Raises UploadNotFound."""

        def fn(r: KVReader) -> Upload:
            View(r).repo(repo)
            return multipart.get_upload(r, repo, upload_id)

        return await self.kv.read(fn)

    async def put_part(self, repo: str, upload_id: str, number: int, blob: BlobInfo) -> Part:
        """Record a part (replacing an earlier upload of the same number)."""
        from gateway.core.errors import InvalidArgument

        if not 1 <= number <= multipart.MAX_PARTS:
            raise InvalidArgument(f"part number must be 1..{multipart.MAX_PARTS}")
        part = Part(
            number=number, blob=dataclasses.replace(blob, data=None), last_modified=time.time()
        )

        def fn(w: KVWriter) -> Part:
            multipart.get_upload(w, repo, upload_id)
            if blob.data is not None:
                _put_inline(w, blob.blob_id, blob.data)
            w.put(keys.part(repo, upload_id, number), multipart.encode_part(part))
            gcrefs.note_fresh(w, [gcrefs.blob_ref(blob.blob_id)])
            return part

        return await self.kv.write(fn)

    async def list_parts(
        self, repo: str, upload_id: str, *, after: int = 0, limit: int = 1000
    ) -> tuple[list[Part], bool]:
        def fn(r: KVReader) -> tuple[list[Part], bool]:
            multipart.get_upload(r, repo, upload_id)
            return page_of(multipart.iter_parts(r, repo, upload_id, after)[: limit + 1], limit)

        return await self.kv.read(fn)

    async def list_uploads(
        self, repo: str, *, prefix: str = "", after: str = "", limit: int = 1000
    ) -> tuple[list[Upload], bool]:
        """Uploads sorted by (full key "branch/path", initiated), key > ``after``."""

        def fn(r: KVReader) -> tuple[list[Upload], bool]:
            View(r).repo(repo)
            base = keys.uploads(repo)
            ups = [multipart.decode_upload(v) for _, v in r.scan(base, keys.prefix_end(base))]
            ups = [u for u in ups if f"{u.branch}/{u.path}".startswith(prefix)]
            ups = [u for u in ups if not after or f"{u.branch}/{u.path}" > after]
            ups.sort(key=lambda u: (f"{u.branch}/{u.path}", u.initiated))
            return page_of(ups, limit)

        return await self.kv.read(fn)

    async def complete_upload(
        self,
        repo: str,
        upload_id: str,
        parts: Sequence[tuple[int, str]],
        *,
        conditions: Conditions | None = None,
        branch: str | None = None,
        path: str | None = None,
    ) -> Entry:
        """Compose the listed (number, etag) parts, in ascending order, into one entry
        (zero-copy manifest) and stage it, atomically with removing the upload. ETag is
        md5-of-part-md5s-N. Idempotent: the same request repeated after success (same key, same
        parts, within ``multipart.COMPLETED_TTL_SECONDS``) returns the same entry and stages
        nothing. ``branch``/``path``: the key the request names (UploadNotFound if the upload
        belongs to another). Raises InvalidPart, InvalidPartOrder, EntityTooSmall (part < 5 MiB
        except the last), UploadNotFound, ProtectedBranch, PreconditionFailed."""

        def fn(w: KVWriter) -> Entry:
            view = View(w)
            now = time.time()
            try:
                up = multipart.get_upload(w, repo, upload_id)
            except UploadNotFound:
                view.repo(repo)  # NoSuchBucket before NoSuchUpload
                done = multipart.repeated_completion(
                    w, repo, upload_id, parts, branch=branch, path=path, now=now
                )
                if done is None:
                    raise
                return done
            if (branch is not None and up.branch != branch) or (
                path is not None and up.path != path
            ):
                raise UploadNotFound("upload id does not belong to this key")
            b = self._writable_branch(view, repo, up.branch)
            entry = multipart.compose(w, up, parts)
            if conditions is not None:
                _check_conditions(view, repo, b, up.path, conditions)
            w.put(
                keys.staging(repo, b.staging_token) + up.path.encode("utf-8"),
                staging.encode(entry),
            )
            view.bump_staging(repo, b.staging_token)
            multipart.delete_upload(w, repo, upload_id)
            multipart.record_completed(w, up, parts, entry, now)
            gcrefs.note_fresh(w, [gcrefs.address_ref(entry.address)])
            return entry

        return await self.kv.write(fn)

    async def abort_upload(self, repo: str, upload_id: str) -> None:
        def fn(w: KVWriter) -> None:
            multipart.get_upload(w, repo, upload_id)
            multipart.delete_upload(w, repo, upload_id)

        await self.kv.write(fn)


def _in_snapshot(view: View, repo: str, ref: str | ResolvedRef) -> ResolvedRef:
    """A ref resolved in this transaction: a branch resolved earlier is read again, so that its
    head and staging area come from one snapshot."""
    if isinstance(ref, str):
        return view.resolve(repo, ref)
    if ref.kind is not RefKind.BRANCH or ref.branch is None:
        return ref
    b = view.branch(repo, ref.branch)
    return dataclasses.replace(ref, commit=b.head, staging_token=b.staging_token)


def _other_key(up: Upload, branch: str | None, path: str | None) -> bool:
    """The request names a key other than the upload's (None: not checked)."""
    return (branch is not None and up.branch != branch) or (path is not None and up.path != path)


def _put_inline(w: KVWriter, blob_id: str, data: bytes) -> None:
    key = keys.inline_blob(blob_id)
    if w.get(key) is None:  # stored once (dedup)
        w.put(key, data)


def _check_conditions(view: View, repo: str, b: Branch, path: str, cond: Conditions) -> None:
    ref = ResolvedRef(
        kind=RefKind.BRANCH, commit=b.head, branch=b.name, staging_token=b.staging_token
    )
    try:
        current: Entry | None = listing.stat(view, repo, ref, path)
    except ObjectNotFound:
        current = None
    if cond.if_none_match_any and current is not None:
        raise PreconditionFailed(f"object {path!r} already exists")
    if cond.if_match is not None:
        want = cond.if_match.strip()
        if current is None:
            raise ObjectNotFound(f"object {path!r} not found")
        if want != "*" and want.strip('"') != current.etag:
            raise PreconditionFailed(f"object {path!r} has a different ETag")
