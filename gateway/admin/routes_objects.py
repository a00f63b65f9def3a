"""Object IO: streamed upload and download, stat, listing, delete, copy.

Bodies are never read whole: an upload streams the request (chunked or not, raw or the
``content`` part of multipart/form-data) through ``Lake.ingest``; a download streams
``Lake.read_entry`` into the response. Every check (existence, conditions, range) happens before
the response is prepared, because the status is on the wire after that.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import AsyncIterator

from aiohttp import BodyPartReader, hdrs, web

from gateway.admin import schemas
from gateway.admin.errors import StreamAborted
from gateway.admin.params import amount, q_required, q_str, read_json
from gateway.admin.routing import (
    PAGINATION,
    PREFIX,
    Param,
    RouteSpec,
    authorize,
    lake_of,
    on_branch,
    read_ref,
)
from gateway.core.access import Action
from gateway.core.errors import InvalidArgument, ObjectNotFound
from gateway.core.lake import Conditions
from gateway.core.model import ByteRange, Entry

CHUNK = 1 << 20
META_PREFIX = "x-lakefs-meta-"
MAX_DELETE = 1000
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str | None) -> ByteRange | None:
    """One ``bytes=`` range; None (serve the whole object) when absent, malformed or multiple,
    as RFC 9110 allows."""
    if not header:
        return None
    m = _RANGE.match(header.strip())
    if m is None:
        return None
    first, last = m.group(1), m.group(2)
    if first:
        end = int(last) if last else None
        if end is not None and end < int(first):
            return None
        return ByteRange(start=int(first), end=end)
    if last:
        return ByteRange(start=None, suffix=int(last))
    return None


def _etag_matches(header: str, etag: str) -> bool:
    tags = {t.strip().removeprefix("W/").strip('"') for t in header.split(",")}
    return "*" in tags or etag in tags


def _object_headers(entry: Entry) -> dict[str, str]:
    return {
        hdrs.ETAG: f'"{entry.etag}"',
        hdrs.LAST_MODIFIED: time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(entry.mtime)),
        hdrs.CONTENT_TYPE: entry.content_type,
        hdrs.ACCEPT_RANGES: "bytes",
    }


async def _part_chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(CHUNK):
        yield chunk


async def upload_object(request: web.Request) -> web.Response:
    """Raw body (the SDK sends it chunked) or multipart/form-data with a ``content`` part."""
    repo, branch = request.match_info["repo"], request.match_info["branch"]
    path = q_required(request, "path")
    lake = lake_of(request)
    metadata = {
        k[len(META_PREFIX) :].lower(): v
        for k, v in request.headers.items()
        if k.lower().startswith(META_PREFIX)
    }
    conditions = Conditions(
        if_match=(request.headers.get(hdrs.IF_MATCH) or "").strip('"') or None,
        if_none_match_any=request.headers.get(hdrs.IF_NONE_MATCH, "").strip() == "*",
    )
    await lake.check_writable(repo, branch)  # refuse before the body is read
    if request.content_type == "multipart/form-data":
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                raise InvalidArgument("multipart upload has no 'content' part")
            if isinstance(part, BodyPartReader) and part.name == "content":
                break
            await part.release()
        content_type = part.headers.get(hdrs.CONTENT_TYPE, "application/octet-stream")
        blob = await lake.ingest(_part_chunks(part), defer_inline=True)
    else:
        content_type = request.content_type
        blob = await lake.ingest(request.content.iter_chunked(CHUNK), defer_inline=True)
    entry = Entry(
        address=blob.blob_id,
        size=blob.size,
        etag=blob.md5_hex,
        content_type=content_type,
        metadata=metadata,
        mtime=time.time(),
    )
    # A small body is stored in the same transaction as the entry (decision 0010).
    stored = await lake.put_object(repo, branch, path, entry, conditions=conditions, blob=blob)
    return web.json_response(schemas.object_stats(path, stored), status=201)


async def get_object(request: web.Request) -> web.StreamResponse:
    """200 whole, 206 one range, 416 past the end, 304 on a matching If-None-Match."""
    repo, ref = request.match_info["repo"], request.match_info["ref"]
    lake = lake_of(request)
    entry = await lake.stat_object(repo, ref, q_required(request, "path"))
    headers = _object_headers(entry)
    inm = request.headers.get(hdrs.IF_NONE_MATCH)
    if inm and _etag_matches(inm, entry.etag):
        return web.Response(status=304, headers={hdrs.ETAG: headers[hdrs.ETAG]})
    byte_range = parse_range(request.headers.get(hdrs.RANGE))
    offset, length, status = 0, entry.size, 200
    if byte_range is not None:
        offset, length = byte_range.resolve(entry.size)  # InvalidRange -> 416
        status = 206
        headers[hdrs.CONTENT_RANGE] = f"bytes {offset}-{offset + length - 1}/{entry.size}"
    chunks = lake.read_entry(entry, offset, length)
    # The first chunk before the status line: a store failure or a changed import source is an
    # ordinary error answer, not a 200 with a broken body.
    first = await anext(chunks, b"")
    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = length
    await response.prepare(request)
    try:
        await response.write(first)
        async for chunk in chunks:
            await response.write(chunk)
    except (ConnectionError, TimeoutError):
        raise
    except Exception as exc:
        raise StreamAborted(f"download of {repo}/{ref} failed mid-stream") from exc
    await response.write_eof()
    return response


async def head_object(request: web.Request) -> web.Response:
    entry = await lake_of(request).stat_object(
        request.match_info["repo"], request.match_info["ref"], q_required(request, "path")
    )
    headers = _object_headers(entry)
    headers[hdrs.CONTENT_LENGTH] = str(entry.size)
    return web.Response(status=200, headers=headers)


async def stat_object(request: web.Request) -> web.Response:
    path = q_required(request, "path")
    entry = await lake_of(request).stat_object(
        request.match_info["repo"], request.match_info["ref"], path
    )
    return web.json_response(schemas.object_stats(path, entry))


async def list_objects(request: web.Request) -> web.Response:
    """Objects and (with a delimiter) common prefixes, merged in path order. An unknown
    prefix is an empty page, never a 404."""
    limit = amount(request)
    listing = await lake_of(request).list_objects(
        request.match_info["repo"],
        request.match_info["ref"],
        prefix=q_str(request, "prefix"),
        delimiter=q_str(request, "delimiter"),
        after=q_str(request, "after"),
        limit=limit,
    )
    rows = [schemas.object_stats(p, e) for p, e in listing.objects]
    rows += [schemas.prefix_stats(p) for p in listing.prefixes]
    rows.sort(key=lambda r: str(r["path"]))
    return web.json_response(schemas.page(rows, listing.truncated, listing.next_after or "", limit))


async def delete_object(request: web.Request) -> web.Response:
    path = q_required(request, "path")
    existed = await lake_of(request).delete_object(
        request.match_info["repo"], request.match_info["branch"], path
    )
    if not existed:
        raise ObjectNotFound(f"object {path!r} does not exist")
    return web.Response(status=204)


async def delete_objects(request: web.Request) -> web.Response:
    """PathList -> ObjectErrorList; missing paths are not errors (lakeFS semantics)."""
    from gateway.admin.errors import status_for

    body = await read_json(request)
    paths = body.get("paths")
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise InvalidArgument("field 'paths' must be a list of strings")
    if len(paths) > MAX_DELETE:
        raise InvalidArgument(f"at most {MAX_DELETE} paths per request")
    results = await lake_of(request).delete_objects(
        request.match_info["repo"], request.match_info["branch"], paths
    )
    errors = [
        {"status_code": status_for(exc), "message": str(exc), "path": path}
        for path, exc in results
        if exc is not None and not isinstance(exc, ObjectNotFound)
    ]
    return web.json_response({"errors": errors})


async def copy_object(request: web.Request) -> web.Response:
    """Zero-copy: the destination entry points at the source's blob."""
    repo, branch = request.match_info["repo"], request.match_info["branch"]
    dest_path = q_required(request, "dest_path")
    body = await read_json(request)
    src_path = body.get("src_path")
    src_ref = body.get("src_ref") or branch
    if not isinstance(src_path, str) or not isinstance(src_ref, str):
        raise InvalidArgument("src_path (and src_ref, if given) must be strings")
    await authorize(request, Action.READ, repo, src_ref)
    lake = lake_of(request)
    source = await lake.stat_object(repo, src_ref, src_path)
    copied = dataclasses.replace(source, mtime=time.time())
    stored = await lake.put_object(repo, branch, dest_path, copied)
    return web.json_response(schemas.object_stats(dest_path, stored), status=201)


BRANCH_OBJECTS = "/repositories/{repo}/branches/{branch}/objects"
REF_OBJECTS = "/repositories/{repo}/refs/{ref}/objects"
PATH = Param("path", required=True, description="object path (URL-encoded)")
PRESIGN = Param("presign", "boolean", description="ignored: data always goes through the API")

ROUTES = [
    RouteSpec(
        "POST",
        BRANCH_OBJECTS,
        upload_object,
        "uploadObject",
        "Upload an object: raw body (chunked allowed) or multipart/form-data `content` "
        "part; headers Content-Type, x-lakefs-meta-*, If-None-Match: *, If-Match",
        "objects",
        checks=[on_branch(Action.WRITE)],
        query=[PATH],
        body="@raw",
        responses={201: "ObjectStats"},
    ),
    RouteSpec(
        "DELETE",
        BRANCH_OBJECTS,
        delete_object,
        "deleteObject",
        "Delete an object (404 if it does not exist)",
        "objects",
        checks=[on_branch(Action.WRITE)],
        query=[PATH],
        responses={204: None},
    ),
    RouteSpec(
        "POST",
        BRANCH_OBJECTS + "/delete",
        delete_objects,
        "deleteObjects",
        "Delete up to 1000 objects",
        "objects",
        checks=[on_branch(Action.WRITE)],
        body="PathList",
        responses={200: "ObjectErrorList"},
    ),
    RouteSpec(
        "POST",
        BRANCH_OBJECTS + "/copy",
        copy_object,
        "copyObject",
        "Copy an object (zero-copy); needs READ on src_ref",
        "objects",
        checks=[on_branch(Action.WRITE)],
        query=[Param("dest_path", required=True)],
        body="ObjectCopyCreation",
        responses={201: "ObjectStats"},
    ),
    RouteSpec(
        "GET",
        REF_OBJECTS,
        get_object,
        "getObject",
        "Download an object: 200, 206 (Range), 304 (If-None-Match), 416 past the end",
        "objects",
        checks=[read_ref()],
        query=[PATH, PRESIGN],
        responses={
            200: "@application/octet-stream",
            206: "@application/octet-stream",
            304: None,
            416: "Error",
        },
    ),
    RouteSpec(
        "HEAD",
        REF_OBJECTS,
        head_object,
        "headObject",
        "Does the object exist",
        "objects",
        checks=[read_ref()],
        query=[PATH],
        responses={200: None},
    ),
    RouteSpec(
        "GET",
        REF_OBJECTS + "/stat",
        stat_object,
        "statObject",
        "Object metadata",
        "objects",
        checks=[read_ref()],
        query=[PATH, PRESIGN, Param("user_metadata", "boolean", description="ignored")],
        responses={200: "ObjectStats"},
    ),
    RouteSpec(
        "GET",
        REF_OBJECTS + "/ls",
        list_objects,
        "listObjects",
        "List objects (and common prefixes with a delimiter)",
        "objects",
        checks=[read_ref()],
        query=[
            PREFIX,
            Param("delimiter"),
            *PAGINATION,
            PRESIGN,
            Param("user_metadata", "boolean", description="ignored"),
        ],
        responses={200: "ObjectStatsList"},
    ),
]
