"""PutObject: stream the body once into a blob, verify it, then stage the entry.

Atomicity: the blob is published only after every declared digest (Content-MD5,
x-amz-content-sha256, x-amz-checksum-*, chunk signatures) matched and the byte count equals the
declared length; the entry is staged after that in one metadata transaction. A client that goes
away mid-body, or a mismatch, leaves no visible object (``Lake.ingest`` aborts the blob).
Concurrency: two PUTs of one key race on the staging write; the later one wins, as on S3.
"""

from __future__ import annotations

import time

from aiohttp import web

from gateway.core.access import Action
from gateway.core.errors import InvalidPath, NotImplementedFeature, ReadOnlyRef
from gateway.core.lake import Conditions
from gateway.core.model import Entry, RefKind
from gateway.observability import BYTES_IN
from gateway.s3 import tagging
from gateway.s3.errors import MaxMessageLengthExceeded
from gateway.s3.handlers.acl import check_acl_headers
from gateway.s3.handlers.common import S3Context, strip_etag, user_metadata
from gateway.s3.responses import quote_etag

DEFAULT_CONTENT_TYPE = "application/octet-stream"

#: Bodies larger than this get the ref checked before they are read (one metadata read);
#: smaller ones are checked by ``Lake.put_object`` only, which saves a thread hop per PUT at the
#: price of an unreferenced blob (reclaimed by GC) when a small write is refused.
PRECHECK_BYTES = 1024 * 1024


async def require_branch(ctx: S3Context, ref: str) -> str:
    """Return ``ref`` when it names a branch; raise ReadOnlyRef for a tag, commit or expression.

    Checked before the body is read, so a refused write costs no upload.
    """
    resolved = await ctx.lake.resolve_ref(ctx.bucket, ref)
    if resolved.kind is not RefKind.BRANCH or resolved.branch is None or resolved.committed_only:
        raise ReadOnlyRef(
            f"{ref!r} is a {resolved.kind.value}, not a branch: writes go to branches only"
        )
    return resolved.branch


def write_conditions(ctx: S3Context) -> Conditions | None:
    """If-None-Match: * and If-Match of a conditional write."""
    if_none_match = ctx.headers.get("If-None-Match")
    if_match = ctx.headers.get("If-Match")
    if if_none_match is None and if_match is None:
        return None
    if if_none_match is not None and if_none_match.strip() != "*":
        raise NotImplementedFeature("If-None-Match on writes supports only '*'")
    return Conditions(
        if_match=strip_etag(if_match) if if_match is not None else None,
        if_none_match_any=if_none_match is not None,
    )


async def put_object(ctx: S3Context) -> web.StreamResponse:
    assert ctx.key is not None
    if ctx.key.endswith("/") and ctx.key.count("/") == 1:
        return await _branch_root_marker(ctx)
    ref, path = ctx.ref_and_path()
    await ctx.allow(Action.WRITE, ctx.bucket, ref)
    conditions = write_conditions(ctx)
    check_acl_headers(ctx.headers)
    tags = tagging.parse_header(ctx.headers.get("x-amz-tagging"))
    payload = await ctx.payload(require_length=True)
    if payload.declared_size is None or payload.declared_size > PRECHECK_BYTES:
        await require_branch(ctx, ref)  # refuse before a large upload, not after
    info = await ctx.lake.ingest(
        payload.chunks,
        hashers=payload.hashers,
        check=payload.check,
        defer_inline=True,
        size=payload.declared_size,  # the object store can take the bytes as they arrive
    )
    ctx.request[BYTES_IN] = info.size
    entry = Entry(
        address=info.blob_id,
        size=info.size,
        etag=info.md5_hex,
        content_type=ctx.headers.get("Content-Type") or DEFAULT_CONTENT_TYPE,
        metadata=user_metadata(ctx.headers),
        mtime=time.time(),
        checksums=dict(payload.checksums),
        tags=tags,
    )
    # Lake.put_object refuses tags, commits and missing branches itself (ReadOnlyRef, ...).
    stored = await ctx.lake.put_object(
        ctx.bucket, ref, path, entry, conditions=conditions, blob=info
    )
    headers = {"ETag": quote_etag(stored.etag)}
    for algorithm, value in stored.checksums.items():
        headers[f"x-amz-checksum-{algorithm.lower()}"] = value
    return web.Response(status=200, headers=headers)


EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"


async def _branch_root_marker(ctx: S3Context) -> web.StreamResponse:
    """PUT ``<branch>/`` with an empty body: a "directory marker" for the branch root.

    Tools that create directories (pyarrow ``create_dir``, Hadoop-style committers) write one
    before writing below it. A branch root always exists as a directory, so an empty marker is
    accepted and stores nothing; a non-empty body has no path to live at and is refused.
    """
    assert ctx.key is not None
    ref = ctx.key[:-1]
    ctx.note(repo=ctx.bucket, ref=ref)
    await ctx.allow(Action.WRITE, ctx.bucket, ref)
    await require_branch(ctx, ref)
    payload = await ctx.payload(require_length=True)
    try:
        await payload.read_all(0)
    except MaxMessageLengthExceeded:
        raise InvalidPath(f"key {ctx.key!r} names a branch root: it cannot hold data") from None
    return web.Response(status=200, headers={"ETag": quote_etag(EMPTY_MD5)})
