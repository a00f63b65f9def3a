"""GetObjectTagging, PutObjectTagging, DeleteObjectTagging.

Tags live in the object's entry (``Entry.tags``): reading them works on any ref (a branch, a
tag, a commit, ``main~3``, or a version id), replacing them stages the entry again on a branch
with the same bytes, ETag and Last-Modified, so the change is committed, versioned and shown in
a diff like any other change to the object.
"""

from __future__ import annotations

from aiohttp import web

from gateway.core.access import Action
from gateway.s3 import tagging
from gateway.s3.handlers.common import S3Context, empty, read_body, xml_response
from gateway.s3.handlers.versions import refuse_version_write, stat_for_read


async def get_object_tagging(ctx: S3Context) -> web.StreamResponse:
    entry, version = await stat_for_read(ctx)
    response = xml_response(tagging.document(entry.tags))
    if version is not None:
        response.headers["x-amz-version-id"] = version
    return response


async def put_object_tagging(ctx: S3Context) -> web.StreamResponse:
    refuse_version_write(ctx)
    ref, path = ctx.ref_and_path()
    await ctx.allow(Action.WRITE, ctx.bucket, ref)
    tags = tagging.parse_document(await read_body(ctx, tagging.MAX_TAGGING_BYTES))
    await ctx.lake.set_object_tags(ctx.bucket, ref, path, tags)
    return empty(200)


async def delete_object_tagging(ctx: S3Context) -> web.StreamResponse:
    refuse_version_write(ctx)
    ref, path = ctx.ref_and_path()
    await ctx.allow(Action.WRITE, ctx.bucket, ref)
    await ctx.lake.set_object_tags(ctx.bucket, ref, path, {})
    return empty(204)
