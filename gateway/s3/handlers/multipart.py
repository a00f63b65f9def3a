"""Multipart uploads, tracked by Weir (so they work on every blob backend).

Parts are blobs; completion stages one entry whose address is a manifest of the parts (zero
copy). An upload in progress is invisible to reads and listings; abort drops its records.
UploadPartCopy of a whole single-blob object reuses the source blob; a byte range (or a
multipart source) is streamed into a new part blob (``Lake.read_entry`` into ``Lake.ingest``),
memory flat. Each call is one facade operation, atomic as the facade documents.
"""

from __future__ import annotations

import re

from aiohttp import web

from gateway.core.access import Action
from gateway.core.errors import InvalidArgument, UploadNotFound
from gateway.core.ids import BlobId
from gateway.core.lake import Upload
from gateway.core.model import BlobInfo
from gateway.observability import BYTES_IN
from gateway.s3 import tagging
from gateway.s3.errors import InvalidArgument as S3InvalidArgument
from gateway.s3.handlers.acl import check_acl_headers
from gateway.s3.handlers.common import (
    S3Context,
    empty,
    parse_int,
    read_body,
    user_metadata,
    xml_response,
)
from gateway.s3.handlers.copy import resolve_copy_source
from gateway.s3.handlers.objects_write import (
    DEFAULT_CONTENT_TYPE,
    require_branch,
    write_conditions,
)
from gateway.s3.responses import (
    ListedPart,
    ListedUpload,
    complete_multipart,
    copy_part_result,
    initiate_multipart,
    list_parts,
    list_uploads,
    quote_etag,
)
from gateway.s3.xml import DEFAULT_MAX_XML_BYTES, MAX_PART_NUMBER, parse_complete_multipart

_COPY_RANGE = re.compile(r"bytes=(\d+)-(\d+)", re.ASCII)


async def create_multipart_upload(ctx: S3Context) -> web.StreamResponse:
    ref, path = ctx.ref_and_path()
    await ctx.allow(Action.WRITE, ctx.bucket, ref)
    check_acl_headers(ctx.headers)
    tags = tagging.parse_header(ctx.headers.get("x-amz-tagging"))
    branch = await require_branch(ctx, ref)
    upload = await ctx.lake.create_upload(
        ctx.bucket,
        branch,
        path,
        content_type=ctx.headers.get("Content-Type") or DEFAULT_CONTENT_TYPE,
        metadata=user_metadata(ctx.headers),
        tags=tags,
    )
    assert ctx.key is not None
    return xml_response(initiate_multipart(ctx.bucket, ctx.key, upload.upload_id))


async def _upload_for_key(ctx: S3Context) -> Upload:
    """The upload named by ``uploadId``, authorized for writing, and matching the URL's key."""
    ref, path = ctx.ref_and_path()
    await ctx.allow(Action.WRITE, ctx.bucket, ref)
    upload = await ctx.lake.get_upload(ctx.bucket, ctx.query.get("uploadId", ""))
    if upload.branch != ref or upload.path != path:
        raise UploadNotFound("upload id does not belong to this key")
    return upload


def _part_number(ctx: S3Context) -> int:
    text = ctx.query.get("partNumber", "")
    if not text.isdigit() or not 1 <= int(text) <= MAX_PART_NUMBER:
        raise InvalidArgument("Part number must be an integer between 1 and 10000, inclusive")
    return int(text)


async def upload_part(ctx: S3Context) -> web.StreamResponse:
    number = _part_number(ctx)
    upload = await _upload_for_key(ctx)
    payload = await ctx.payload(require_length=True)
    info = await ctx.lake.ingest(
        payload.chunks,
        hashers=payload.hashers,
        check=payload.check,
        defer_inline=True,
        size=payload.declared_size,  # the object store can take the bytes as they arrive
    )
    ctx.request[BYTES_IN] = info.size
    part = await ctx.lake.put_part(ctx.bucket, upload.upload_id, number, info)
    headers = {"ETag": quote_etag(part.etag)}
    for algorithm, value in payload.checksums.items():
        headers[f"x-amz-checksum-{algorithm.lower()}"] = value
    return empty(200, headers)


async def upload_part_copy(ctx: S3Context) -> web.StreamResponse:
    number = _part_number(ctx)
    upload = await _upload_for_key(ctx)
    source = await resolve_copy_source(ctx)
    entry = source.entry
    range_header = ctx.headers.get("x-amz-copy-source-range")
    if range_header is None and not entry.is_multipart and not entry.is_external:
        info = BlobInfo(blob_id=BlobId(entry.address), size=entry.size, md5_hex=entry.etag)
    else:
        offset, length = 0, entry.size
        if range_header is not None:
            match = _COPY_RANGE.fullmatch(range_header.strip())
            argument = {"ArgumentName": "x-amz-copy-source-range", "ArgumentValue": range_header}
            if match is None:
                raise S3InvalidArgument(
                    "The x-amz-copy-source-range value must be of the form bytes=first-last "
                    "where first and last are the zero-based offsets of the first and last "
                    "bytes to copy",
                    extra=argument,
                )
            first, last = int(match.group(1)), int(match.group(2))
            if last < first or last >= entry.size:
                # AWS answers 400 InvalidArgument here (not 416): measured, see conformance.
                raise S3InvalidArgument(
                    f"Range specified is not valid for source object of size: {entry.size}",
                    extra=argument,
                )
            offset, length = first, last - first + 1
        info = await ctx.lake.ingest(ctx.lake.read_entry(entry, offset, length))
    part = await ctx.lake.put_part(ctx.bucket, upload.upload_id, number, info)
    return xml_response(copy_part_result(part.etag, part.last_modified))


async def complete_multipart_upload(ctx: S3Context) -> web.StreamResponse:
    """Complete an upload; repeated after success (an SDK retrying a lost response), the same
    request answers the same ETag again (the engine remembers completed uploads)."""
    ref, path = ctx.ref_and_path()
    await ctx.allow(Action.WRITE, ctx.bucket, ref)
    body = await read_body(ctx, DEFAULT_MAX_XML_BYTES)
    parts = parse_complete_multipart(body)
    entry = await ctx.lake.complete_upload(
        ctx.bucket,
        ctx.query.get("uploadId", ""),
        parts,
        conditions=write_conditions(ctx),
        branch=ref,
        path=path,
    )
    assert ctx.key is not None
    location = f"/{ctx.bucket}/{ctx.key}"
    return xml_response(complete_multipart(location, ctx.bucket, ctx.key, entry.etag))


async def abort_multipart_upload(ctx: S3Context) -> web.StreamResponse:
    upload = await _upload_for_key(ctx)
    await ctx.lake.abort_upload(ctx.bucket, upload.upload_id)
    return empty(204)


async def list_parts_handler(ctx: S3Context) -> web.StreamResponse:
    ref, _ = ctx.ref_and_path()
    await ctx.allow(Action.READ, ctx.bucket, ref)
    upload = await ctx.lake.get_upload(ctx.bucket, ctx.query.get("uploadId", ""))
    assert ctx.key is not None
    if f"{upload.branch}/{upload.path}" != ctx.key:
        raise UploadNotFound("upload id does not belong to this key")
    marker = parse_int(
        ctx.query.get("part-number-marker"), "part-number-marker", default=0, low=0, high=10_000
    )
    max_parts = parse_int(ctx.query.get("max-parts"), "max-parts", default=1000, low=0, high=1000)
    parts, more = (
        await ctx.lake.list_parts(ctx.bucket, upload.upload_id, after=marker, limit=max_parts)
        if max_parts
        else ([], False)
    )
    body = list_parts(
        bucket=ctx.bucket,
        key=ctx.key,
        upload_id=upload.upload_id,
        owner=ctx.principal.user,
        marker=marker,
        next_marker=parts[-1].number if more and parts else None,
        max_parts=max_parts,
        truncated=more,
        parts=[ListedPart(p.number, p.etag, p.blob.size, p.last_modified) for p in parts],
    )
    return xml_response(body)


async def list_multipart_uploads(ctx: S3Context) -> web.StreamResponse:
    """Uploads in progress by key (``<branch>/<path>``), with prefix, delimiter and markers.

    Known limit: the facade pages by key only, so ``upload-id-marker`` is echoed but not used;
    when a page ends inside the uploads of one key, the next page starts after that key.
    """
    ctx.note(repo=ctx.bucket)
    await ctx.allow(Action.READ, ctx.bucket)
    await ctx.lake.get_repository(ctx.bucket)
    q = ctx.query
    prefix = q.get("prefix", "")
    delimiter = q.get("delimiter", "")
    key_marker = q.get("key-marker", "")
    encoding = q.get("encoding-type")
    if encoding is not None and encoding != "url":
        raise InvalidArgument("Invalid Encoding Method specified in Request")
    max_uploads = parse_int(q.get("max-uploads"), "max-uploads", default=1000, low=0, high=1000)
    uploads: list[ListedUpload] = []
    prefixes: list[str] = []
    truncated = False
    after = key_marker
    skip = bool(delimiter) and key_marker.endswith(delimiter)
    for _ in range(100_000):  # bounded: at most 10^8 uploads scanned
        if max_uploads == 0:
            break
        page, more = await ctx.lake.list_uploads(ctx.bucket, prefix=prefix, after=after, limit=1000)
        for upload in page:
            key = f"{upload.branch}/{upload.path}"
            if skip and key.startswith(key_marker):
                continue  # the marker is a common prefix returned by the previous page
            cut = key.find(delimiter, len(prefix)) if delimiter else -1
            common = key[: cut + len(delimiter)] if cut >= 0 else None
            if common is not None and prefixes and prefixes[-1] == common:
                continue
            if len(uploads) + len(prefixes) >= max_uploads:
                truncated = True
                break
            if common is not None:
                prefixes.append(common)
            else:
                uploads.append(ListedUpload(key, upload.upload_id, upload.initiated))
        if truncated or not more or not page:
            break
        last = page[-1]
        after = f"{last.branch}/{last.path}"
    next_key = next_id = None
    if truncated:
        last_upload = uploads[-1] if uploads else None
        last_prefix = prefixes[-1] if prefixes else None
        if last_upload is not None and (last_prefix is None or last_upload.key > last_prefix):
            next_key, next_id = last_upload.key, last_upload.upload_id
        else:
            next_key = last_prefix
    body = list_uploads(
        bucket=ctx.bucket,
        owner=ctx.principal.user,
        prefix=prefix,
        key_marker=key_marker,
        upload_id_marker=q.get("upload-id-marker", ""),
        next_key_marker=next_key,
        next_upload_id_marker=next_id,
        max_uploads=max_uploads,
        truncated=truncated,
        uploads=uploads,
        delimiter=delimiter,
        prefixes=prefixes,
        url_encoded=encoding == "url",
    )
    return xml_response(body)
