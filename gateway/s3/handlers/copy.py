"""CopyObject: zero-copy, a new entry pointing at the source's blob (or multipart manifest).

The source may be any ref of the same repository or of another repository (blobs are shared by
the whole lake). Atomicity: the destination is staged in one metadata transaction; no bytes are
read or written. The source is read at one instant (one ``stat_object``); a concurrent write to
the source after that is not seen.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from urllib.parse import unquote

from aiohttp import web

from gateway.core.access import Action
from gateway.core.errors import InvalidArgument
from gateway.core.lake.versions import NULL_VERSION, check_version_id
from gateway.core.model import Entry
from gateway.s3 import tagging
from gateway.s3.errors import InvalidRequest
from gateway.s3.handlers import conditions
from gateway.s3.handlers.acl import check_acl_headers
from gateway.s3.handlers.common import S3Context, user_metadata, xml_response
from gateway.s3.handlers.objects_write import DEFAULT_CONTENT_TYPE, write_conditions
from gateway.s3.responses import copy_object_result


@dataclass(frozen=True, slots=True)
class CopySource:
    repo: str
    ref: str
    path: str
    entry: Entry


async def resolve_copy_source(ctx: S3Context) -> CopySource:
    """Parse ``x-amz-copy-source`` (``[/]bucket/ref/path``, URL-encoded), authorize the read,
    stat the source and check the ``x-amz-copy-source-if-*`` conditions."""
    raw = ctx.headers.get("x-amz-copy-source", "")
    source, _, query = raw.partition("?")
    version: str | None = None
    if query:
        name, _, value = query.partition("=")
        if name != "versionId":
            raise InvalidArgument("Copy Source may only carry a versionId query parameter")
        version = check_version_id(value)
    try:
        decoded = unquote(source, errors="strict")
    except UnicodeDecodeError:
        raise InvalidArgument("Copy Source must be valid UTF-8") from None
    repo, _, key = decoded.lstrip("/").partition("/")
    ref, _, path = key.partition("/")
    if not repo or not ref or not path:
        raise InvalidArgument("Copy Source must mention the source bucket and key: bucket/ref/path")
    await ctx.allow(Action.READ, repo, ref)
    if version is None or version == NULL_VERSION:
        entry = await ctx.lake.stat_object(repo, ref, path)
    else:
        found, _ = await ctx.lake.get_version(repo, ref, path, version)
        if found is None:  # a delete marker: S3 refuses to copy it
            raise InvalidRequest(
                "The source of a copy request may not specifically refer to a delete "
                "marker by version id."
            )
        entry = found
    conditions.check_copy_source(entry, ctx.headers)
    return CopySource(repo=repo, ref=ref, path=path, entry=entry)


async def copy_object(ctx: S3Context) -> web.StreamResponse:
    ref, path = ctx.ref_and_path()
    await ctx.allow(Action.WRITE, ctx.bucket, ref)
    source = await resolve_copy_source(ctx)
    directive = ctx.headers.get("x-amz-metadata-directive", "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise InvalidArgument("Unknown metadata directive.")
    tagging_directive = ctx.headers.get("x-amz-tagging-directive", "COPY").upper()
    if tagging_directive not in ("COPY", "REPLACE"):
        raise InvalidArgument("Unknown tagging directive.")
    check_acl_headers(ctx.headers)
    now = time.time()
    if directive == "REPLACE":
        entry = dataclasses.replace(
            source.entry,
            content_type=ctx.headers.get("Content-Type") or DEFAULT_CONTENT_TYPE,
            metadata=user_metadata(ctx.headers),
            mtime=now,
        )
    else:
        if (source.repo, source.ref, source.path) == (ctx.bucket, ref, path) and (
            tagging_directive == "COPY"
        ):
            raise InvalidRequest(
                "This copy request is illegal because it is trying to copy an object to itself "
                "without changing the object's metadata, storage class, website redirect "
                "location or encryption attributes.",
            )
        entry = dataclasses.replace(source.entry, mtime=now)
    if tagging_directive == "REPLACE":
        entry = dataclasses.replace(
            entry, tags=tagging.parse_header(ctx.headers.get("x-amz-tagging"))
        )
    stored = await ctx.lake.put_object(
        ctx.bucket, ref, path, entry, conditions=write_conditions(ctx)
    )
    return xml_response(copy_object_result(stored.etag, stored.mtime))
