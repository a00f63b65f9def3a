"""The S3 versioning API over Weir's history: GetBucketVersioning, PutBucketVersioning,
ListObjectVersions, and ``versionId`` on reads.

With a ref as the first key segment, the versions of ``<branch>/<path>`` are the commits of the
branch's first-parent history that changed the path (``Lake.list_versions``): VersionId is the
commit id, a commit that deleted the path is a delete marker, and an uncommitted change on the
branch is the latest version with VersionId ``null``. Versioning is always ``Enabled`` and
cannot be suspended (``InvalidBucketState``); history is immutable, so deleting a version is
refused (``AccessDenied``) -- delete the key on a branch instead. Markers are S3's
``key-marker``/``version-id-marker``; the bucket root spans branches as ListObjects does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from gateway.core.access import Action
from gateway.core.errors import (
    AccessDenied,
    InvalidArgument,
    InvalidPath,
    ObjectNotFound,
    RefNotFound,
)
from gateway.core.lake.versions import NULL_VERSION, check_version_id
from gateway.core.model import Entry
from gateway.observability import OP
from gateway.s3.errors import AccessDenied as S3AccessDenied
from gateway.s3.errors import InvalidBucketState, MalformedXML, MethodNotAllowed
from gateway.s3.handlers.common import S3Context, empty, parse_int, read_body, xml_response
from gateway.s3.handlers.listing import branch_names
from gateway.s3.responses import ListedVersion, list_versions, versioning_configuration
from gateway.s3.xml import find_text, parse_xml

MAX_KEYS = 1000
#: Paths examined per page that turn out to have no version on the ref (changed only on other
#: branches) before the page ends early with a marker: bounds the cost of a page.
SCAN_BUDGET = 10_000


def requested_version(ctx: S3Context) -> str | None:
    """The ``versionId`` query parameter, checked (None when absent)."""
    version = ctx.query.get("versionId")
    return None if version is None else check_version_id(version)


def refuse_version_write(ctx: S3Context) -> None:
    """Versions are commits: immutable. A write naming one is refused (``null`` is the branch's
    current state and may be written)."""
    version = requested_version(ctx)
    if version is not None and version != NULL_VERSION:
        raise S3AccessDenied(
            "Weir keeps history immutable: a version (a commit) cannot be changed or deleted. "
            "Write or delete the key on a branch, without versionId."
        )


async def stat_for_read(ctx: S3Context) -> tuple[Entry, str | None]:
    """The entry a GET/HEAD (or a tagging read) addresses, and the version id it was asked for.

    Raises:
        ObjectNotFound, VersionNotFound, InvalidArgument (malformed version id), and
        MethodNotAllowed (405) with ``x-amz-delete-marker`` for a delete marker, as S3 answers.
    """
    try:
        ref, path = ctx.ref_and_path()
    except InvalidPath:
        raise ObjectNotFound("The specified key does not exist.") from None
    await ctx.allow(Action.READ, ctx.bucket, ref)
    version = requested_version(ctx)
    if version is None or version == NULL_VERSION:
        return await ctx.lake.stat_object(ctx.bucket, ref, path), version
    entry, _ = await ctx.lake.get_version(ctx.bucket, ref, path, version)
    if entry is None:
        raise MethodNotAllowed(
            "The specified method is not allowed against this resource.",
            extra={"Method": ctx.request.method, "ResourceType": "DeleteMarker"},
            headers={"x-amz-delete-marker": "true", "x-amz-version-id": version, "Allow": "DELETE"},
        )
    return entry, version


async def get_bucket_versioning(ctx: S3Context) -> web.StreamResponse:
    ctx.note(repo=ctx.bucket)
    await ctx.allow(Action.READ, ctx.bucket)
    await ctx.lake.get_repository(ctx.bucket)
    return xml_response(versioning_configuration("Enabled"))


async def put_bucket_versioning(ctx: S3Context) -> web.StreamResponse:
    """``Enabled`` is what Weir always is (accepted, nothing changes); ``Suspended`` cannot be."""
    ctx.note(repo=ctx.bucket)
    await ctx.allow(Action.ADMIN, ctx.bucket)
    await ctx.lake.get_repository(ctx.bucket)
    root = parse_xml(await read_body(ctx, 64 * 1024))
    if root.tag != "VersioningConfiguration":
        raise MalformedXML(f"Expected root element VersioningConfiguration, got {root.tag}")
    status = (find_text(root, "Status", "") or "").strip()
    if find_text(root, "MfaDelete") not in (None, "", "Disabled"):
        raise InvalidArgument("MFA delete is not supported by Weir")
    if status == "Suspended":
        raise InvalidBucketState(
            "Versioning cannot be suspended: every version of every object is a commit of the "
            "repository's history, which Weir always keeps."
        )
    if status not in ("", "Enabled"):
        raise MalformedXML("Status must be Enabled or Suspended")
    return empty(200)


@dataclass(slots=True)
class _Page:
    rows: list[ListedVersion] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    next_key: str | None = None
    next_version: str | None = None


async def list_object_versions(ctx: S3Context) -> web.StreamResponse:
    ctx.request[OP] = "ListObjectVersions"
    q = ctx.query
    prefix = q.get("prefix", "")
    delimiter = q.get("delimiter", "")
    key_marker = q.get("key-marker", "")
    version_marker = q.get("version-id-marker", "")
    encoding = q.get("encoding-type")
    if encoding is not None and encoding != "url":
        raise InvalidArgument("Invalid Encoding Method specified in Request")
    if version_marker and not key_marker:
        raise InvalidArgument("A version-id marker cannot be specified without a key marker.")
    if version_marker:
        check_version_id(version_marker)
    max_keys = parse_int(q.get("max-keys"), "max-keys", default=MAX_KEYS, low=0, high=MAX_KEYS)
    ctx.note(repo=ctx.bucket, ref=prefix.partition("/")[0] if "/" in prefix else None)
    page = _Page()
    if max_keys == 0:
        await ctx.allow(Action.READ, ctx.bucket, None)
        await ctx.lake.get_repository(ctx.bucket)
    elif "/" in prefix:
        ref, _, sub = prefix.partition("/")
        await ctx.allow(Action.READ, ctx.bucket, ref)
        await ctx.lake.get_repository(ctx.bucket)
        await _collect_ref(ctx, ref, sub, delimiter, key_marker, version_marker, max_keys, page)
    else:
        await ctx.allow(Action.READ, ctx.bucket, None)
        await ctx.lake.get_repository(ctx.bucket)
        await _collect_root(ctx, prefix, delimiter, key_marker, version_marker, max_keys, page)
    body = list_versions(
        bucket=ctx.bucket,
        owner=ctx.principal.user,
        prefix=prefix,
        delimiter=delimiter,
        key_marker=key_marker,
        version_id_marker=version_marker,
        next_key_marker=page.next_key if page.truncated else None,
        next_version_id_marker=page.next_version if page.truncated else None,
        max_keys=max_keys,
        truncated=page.truncated,
        versions=page.rows,
        prefixes=page.prefixes,
        url_encoded=encoding == "url",
    )
    return xml_response(body)


async def _collect_ref(
    ctx: S3Context,
    ref: str,
    sub: str,
    delimiter: str,
    key_marker: str,
    version_marker: str,
    limit: int,
    page: _Page,
) -> None:
    """Append the rows of one ref (keys ``ref/...``) to ``page``, up to ``limit`` rows."""
    head = ref + "/"
    if key_marker.startswith(head):
        key_after, version_after = key_marker[len(head) :], version_marker
    elif key_marker < head:
        key_after, version_after = "", ""
    else:
        return  # every key of this ref sorts before the marker
    room = limit - len(page.rows) - len(page.prefixes)
    try:
        got = await ctx.lake.list_versions(
            ctx.bucket,
            ref,
            prefix=sub,
            delimiter=delimiter,
            key_after=key_after,
            version_after=version_after,
            limit=room,
            scan_budget=SCAN_BUDGET,
        )
    except RefNotFound:
        return
    for v in got.versions:
        page.rows.append(
            ListedVersion(
                key=head + v.path,
                version_id=v.version_id,
                is_latest=v.is_latest,
                mtime=v.when,
                etag=v.entry.etag if v.entry is not None else None,
                size=v.entry.size if v.entry is not None else 0,
            )
        )
    page.prefixes.extend(head + p for p in got.prefixes)
    if got.truncated:
        page.truncated = True
        page.next_key = head + got.next_key if got.next_key is not None else None
        page.next_version = got.next_version


async def _collect_root(
    ctx: S3Context,
    prefix: str,
    delimiter: str,
    key_marker: str,
    version_marker: str,
    limit: int,
    page: _Page,
) -> None:
    """The bucket root spans branches: with a delimiter that ends a branch name each branch is
    one common prefix (``main/``); otherwise each branch's versions in key order."""
    for name in await branch_names(ctx, prefix):
        head = name + "/"
        rolled = head.find(delimiter, len(prefix)) if delimiter else -1
        if rolled >= 0:
            common = head[: rolled + len(delimiter)]
            if common <= key_marker or key_marker.startswith(common):
                continue
            if common in page.prefixes[-1:]:
                continue
            if len(page.rows) + len(page.prefixes) >= limit:
                page.truncated, page.next_key, page.next_version = True, _last_key(page), None
                return
            page.prefixes.append(common)
            continue
        if len(page.rows) + len(page.prefixes) >= limit:
            page.truncated = True
            page.next_key, page.next_version = _last_key(page), _last_version(page)
            return
        try:
            await ctx.allow(Action.READ, ctx.bucket, name)
        except AccessDenied:
            continue  # a branch-scoped grant must not see other branches' versions
        await _collect_ref(ctx, name, "", delimiter, key_marker, version_marker, limit, page)
        if page.truncated:
            return


def _last_key(page: _Page) -> str | None:
    last_row = page.rows[-1].key if page.rows else None
    last_prefix = page.prefixes[-1] if page.prefixes else None
    if last_row is None or (last_prefix is not None and last_prefix > last_row):
        return last_prefix
    return last_row


def _last_version(page: _Page) -> str | None:
    if page.rows and _last_key(page) == page.rows[-1].key:
        return page.rows[-1].version_id
    return None
