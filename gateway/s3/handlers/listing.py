"""ListObjects (v1) and ListObjectsV2 over the key space ``<ref>/<path>``.

* A prefix containing ``/`` names one ref (its first segment): the listing is that ref's
  listing (``Lake.list_objects``) with keys prefixed by ``<ref>/``. Any ref expression can be
  listed; one that does not resolve lists nothing (S3 semantics for an absent prefix).
* A prefix without ``/`` (the bucket root) spans branches. With a delimiter that occurs in
  ``<branch>/`` after the prefix (``/`` typically), each branch is one common prefix,
  ``main/``: every branch is shown, empty or not, so tools can navigate to it. Without such a
  delimiter the branches are walked in key order (``name + "/"``) and their objects listed in
  turn, so the result is the true sorted listing of every branch's objects, paginated.
  Tags and commits are readable by prefix but are not enumerated at the root. Branch names are
  visible to any reader of the repository; objects only on branches the caller may read.

Pagination tokens are opaque: ``base64url(last key)``. Costs: one ref resolution and one
seeked scan per page per branch touched; the branch list is read once per root listing.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

from aiohttp import web

from gateway.core.access import Action
from gateway.core.errors import AccessDenied, InvalidArgument, RefNotFound
from gateway.core.model import Entry
from gateway.observability import OP
from gateway.s3.handlers.common import S3Context, parse_int, xml_response
from gateway.s3.responses import ListedObject, Listing, list_objects_v1, list_objects_v2

MAX_KEYS = 1000


@dataclass(slots=True)
class Collected:
    objects: list[tuple[str, Entry]] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    next_after: str | None = None

    @property
    def rows(self) -> int:
        return len(self.objects) + len(self.prefixes)


def encode_token(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode()


def decode_token(token: str) -> str:
    try:
        if not token:
            raise ValueError("empty token")
        return base64.b64decode(token.encode(), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidArgument("The continuation token provided is incorrect") from None


async def list_objects(ctx: S3Context) -> web.StreamResponse:
    q = ctx.query
    version2 = q.get("list-type") == "2"
    prefix = q.get("prefix", "")
    delimiter = q.get("delimiter", "")
    encoding = q.get("encoding-type")
    if encoding is not None and encoding != "url":
        raise InvalidArgument("Invalid Encoding Method specified in Request")
    max_keys = parse_int(q.get("max-keys"), "max-keys", default=MAX_KEYS, low=0, high=MAX_KEYS)
    token = q.get("continuation-token") if version2 else None
    start_after = q.get("start-after") if version2 else None
    marker = "" if version2 else q.get("marker", "")
    if token is not None:
        after = decode_token(token)
    elif version2:
        after = start_after or ""
    else:
        after = marker
    ctx.note(repo=ctx.bucket, ref=prefix.partition("/")[0] if "/" in prefix else None)
    ctx.request[OP] = "ListObjectsV2" if version2 else "ListObjects"

    result = Collected()
    if max_keys > 0:
        result = await collect(ctx, prefix, delimiter, after, max_keys)
    else:
        await ctx.allow(Action.READ, ctx.bucket, None)
        await ctx.lake.get_repository(ctx.bucket)  # NoSuchBucket even when nothing is asked
    fetch_owner = q.get("fetch-owner", "").lower() == "true"
    listing = Listing(
        bucket=ctx.bucket,
        prefix=prefix,
        delimiter=delimiter,
        max_keys=max_keys,
        objects=[ListedObject(k, e.size, e.etag, e.mtime) for k, e in result.objects],
        prefixes=result.prefixes,
        truncated=result.truncated,
        url_encoded=encoding == "url",
        owner=ctx.principal.user if (fetch_owner or not version2) else None,
    )
    next_after = result.next_after if result.truncated else None
    if version2:
        body = list_objects_v2(
            listing,
            key_count=result.rows,
            continuation_token=token,
            next_token=encode_token(next_after) if next_after is not None else None,
            start_after=start_after,
        )
    else:
        body = list_objects_v1(listing, marker, next_after)
    return xml_response(body)


async def collect(ctx: S3Context, prefix: str, delimiter: str, after: str, limit: int) -> Collected:
    """Up to ``limit`` rows (objects and common prefixes) with keys ``> after``."""
    if "/" in prefix:
        ref, _, sub = prefix.partition("/")
        await ctx.allow(Action.READ, ctx.bucket, ref)
        out = Collected()  # a missing bucket raises RepositoryNotFound from the listing itself
        await _collect_ref(ctx, ref, sub, delimiter, after, limit, out)
        return out
    await ctx.allow(Action.READ, ctx.bucket, None)
    return await _collect_root(ctx, prefix, delimiter, after, limit)


async def _collect_ref(
    ctx: S3Context, ref: str, sub: str, delimiter: str, after: str, limit: int, out: Collected
) -> None:
    """Append the rows of one ref (keys ``ref/...``) to ``out``, at most ``limit - out.rows``."""
    head = ref + "/"
    if after.startswith(head):
        sub_after = after[len(head) :]
    elif after < head:
        sub_after = ""
    else:
        return  # every key of this ref sorts before ``after``
    try:
        page = await ctx.lake.list_objects(
            ctx.bucket,
            ref,
            prefix=sub,
            delimiter=delimiter,
            after=sub_after,
            limit=limit - out.rows,
        )
    except RefNotFound:
        return
    for path, entry in page.objects:
        out.objects.append((head + path, entry))
    out.prefixes.extend(head + p for p in page.prefixes)
    if page.truncated:
        out.truncated = True
        out.next_after = head + page.next_after if page.next_after is not None else None
    elif page.objects or page.prefixes:
        out.next_after = _last_key(out)


def _last_key(out: Collected) -> str | None:
    last_object = out.objects[-1][0] if out.objects else None
    last_prefix = out.prefixes[-1] if out.prefixes else None
    if last_object is None:
        return last_prefix
    if last_prefix is None:
        return last_object
    return max(last_object, last_prefix)


async def branch_names(ctx: S3Context, prefix: str) -> list[str]:
    """Every branch whose name starts with ``prefix``, in key order of ``name + "/"``."""
    names: list[str] = []
    start = ""
    for _ in range(1_000_000):  # bounded: 1,000 pages of 1,000 branches at most
        branches, more = await ctx.lake.list_branches(
            ctx.bucket, prefix=prefix, after=start, limit=1000, show_hidden=True
        )
        names.extend(b.name for b in branches)
        if not more or not branches:
            break
        start = branches[-1].name
    names.sort(key=lambda n: n + "/")
    return names


async def _collect_root(
    ctx: S3Context, prefix: str, delimiter: str, after: str, limit: int
) -> Collected:
    out = Collected()
    names = await branch_names(ctx, prefix)
    for index, name in enumerate(names):
        head = name + "/"
        rolled = head.find(delimiter, len(prefix)) if delimiter else -1
        if rolled >= 0:
            common = head[: rolled + len(delimiter)]
            if common <= after or after.startswith(common) or common in out.prefixes[-1:]:
                continue
            if out.rows >= limit:
                out.truncated = True
                break
            out.prefixes.append(common)
            out.next_after = common
            continue
        if out.rows >= limit:
            out.truncated = True
            break
        try:
            await ctx.allow(Action.READ, ctx.bucket, name)
        except AccessDenied:
            continue  # a branch-scoped grant must not see other branches' objects
        await _collect_ref(ctx, name, "", delimiter, after, limit, out)
        if out.truncated:
            break
        if out.rows >= limit and index + 1 < len(names):
            out.truncated = True
            break
    if out.truncated and out.next_after is None:
        out.next_after = _last_key(out)
    return out
