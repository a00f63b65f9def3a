"""Bucket operations: a bucket is a repository.

ListBuckets shows the repositories the caller may read; CreateBucket creates a repository with
default branch ``main`` (ACL headers that change nothing are accepted, public ones refused:
``handlers.acl``);
DeleteBucket deletes a repository only when no ref holds an object (``BucketNotEmpty``).
Atomicity is the facade's: each call is one metadata transaction.
"""

from __future__ import annotations

from aiohttp import web

from gateway.core.access import Action
from gateway.core.errors import AccessDenied, InvalidName
from gateway.core.model import Repository
from gateway.s3.errors import InvalidBucketName, InvalidLocationConstraint
from gateway.s3.handlers.acl import check_acl_headers
from gateway.s3.handlers.common import S3Context, empty, read_body, xml_response
from gateway.s3.keys import validate_bucket
from gateway.s3.responses import bucket_location
from gateway.s3.responses import list_buckets as list_buckets_xml
from gateway.s3.xml import parse_create_bucket_configuration

#: A CreateBucketConfiguration document is tiny; anything larger is refused unread.
MAX_CONFIG_BYTES = 64 * 1024


async def list_buckets(ctx: S3Context) -> web.StreamResponse:
    visible: list[Repository] = []
    after = ""
    for _ in range(100_000):  # bounded: 100 M repositories at 1,000 per page
        page, more = await ctx.lake.list_repositories(after=after, limit=1000)
        for repo in page:
            try:
                await ctx.allow(Action.READ, repo.name)
            except AccessDenied:
                continue
            visible.append(repo)
        if not more or not page:
            break
        after = page[-1].name
    body = list_buckets_xml(ctx.principal.user, ((r.name, r.creation_date) for r in visible))
    return xml_response(body)


async def create_bucket(ctx: S3Context) -> web.StreamResponse:
    validate_bucket(ctx.bucket)
    await ctx.allow(Action.ADMIN, None)
    ctx.note(repo=ctx.bucket)
    check_acl_headers(ctx.headers)
    body = await read_body(ctx, MAX_CONFIG_BYTES)
    location = parse_create_bucket_configuration(body, max_bytes=MAX_CONFIG_BYTES)
    if location is not None and location != ctx.region:
        raise InvalidLocationConstraint(
            f"The specified location-constraint {location!r} is not valid: this endpoint "
            f"serves {ctx.region!r}"
        )
    try:
        await ctx.lake.create_repository(ctx.bucket, default_branch="main")
    except InvalidName as exc:  # valid for S3 (dots, say) but not as a repository name
        raise InvalidBucketName(exc.message, extra={"BucketName": ctx.bucket}) from None
    return empty(200, {"Location": f"/{ctx.bucket}"})


async def delete_bucket(ctx: S3Context) -> web.StreamResponse:
    ctx.note(repo=ctx.bucket)
    await ctx.allow(Action.ADMIN, ctx.bucket)
    await ctx.lake.delete_repository(ctx.bucket, require_empty=True)
    return empty(204)


async def head_bucket(ctx: S3Context) -> web.StreamResponse:
    ctx.note(repo=ctx.bucket)
    await ctx.allow(Action.READ, ctx.bucket)
    await ctx.lake.get_repository(ctx.bucket)
    return empty(200, {"x-amz-bucket-region": ctx.region})


async def get_bucket_location(ctx: S3Context) -> web.StreamResponse:
    ctx.note(repo=ctx.bucket)
    await ctx.allow(Action.READ, ctx.bucket)
    await ctx.lake.get_repository(ctx.bucket)
    return xml_response(bucket_location(ctx.region))
