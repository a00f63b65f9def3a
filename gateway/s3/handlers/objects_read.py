"""GetObject and HeadObject: conditional, ranged reads of any ref.

Large objects stored as one local file go out with ``sendfile`` (no copy through Python);
everything else streams from ``Lake.read_entry`` in chunks, so memory stays flat whatever the
size. Small local objects (``SMALL_OBJECT``) are read inline with one ``pread`` and sent as one
body: measured cheaper than sendfile or a worker-thread read per request (see common.py).
Every check (conditions, range) happens before the status line is sent.
"""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path as FsPath

from aiohttp import web

from gateway.core.errors import (
    BlobNotFound,
    NotModified,
)
from gateway.core.model import Entry
from gateway.core.ports import SpliceSource
from gateway.observability import BYTES_OUT
from gateway.s3.errors import InvalidArgument, InvalidPartNumber, InvalidRequest
from gateway.s3.handlers import conditions
from gateway.s3.handlers.common import SMALL_OBJECT, S3Context, object_headers
from gateway.s3.handlers.versions import stat_for_read
from gateway.s3.keys import content_range, parse_range
from gateway.s3.xml import MAX_PART_NUMBER

#: ``response-*`` query parameters and the header each one overrides.
_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}

CLIENT_GONE = web.RequestKey("weir.client_gone", bool)


async def get_object(ctx: S3Context) -> web.StreamResponse:
    return await _read(ctx, head=False)


async def head_object(ctx: S3Context) -> web.StreamResponse:
    return await _read(ctx, head=True)


def _part_number(ctx: S3Context) -> int | None:
    text = ctx.query.get("partNumber")
    if text is None:
        return None
    if not text.isdigit() or not 1 <= int(text) <= MAX_PART_NUMBER:
        raise InvalidArgument(
            "Part number must be an integer between 1 and 10000, inclusive",
            extra={"ArgumentName": "partNumber", "ArgumentValue": text[:100]},
        )
    if "Range" in ctx.headers:
        raise InvalidRequest("Cannot specify both Range header and partNumber query parameter")
    return int(text)


def parts_count(entry: Entry) -> int | None:
    """The number of parts of a multipart object (from its ``md5-N`` ETag), else None."""
    _, dash, count = entry.etag.rpartition("-")
    return int(count) if dash and count.isdigit() else None


async def _part_range(ctx: S3Context, entry: Entry, number: int) -> tuple[int, int]:
    """(offset, length) of part ``number``; a single-part object's part 1 is all of it.

    Raises:
        InvalidPartNumber (416): beyond the object's parts.
    """
    sizes = await ctx.lake.part_sizes(entry) if entry.is_multipart else [entry.size]
    if number > len(sizes):
        raise InvalidPartNumber(
            "The requested partnumber is not satisfiable",
            extra={"PartNumberRequested": str(number), "ActualPartCount": str(len(sizes))},
        )
    return sum(sizes[: number - 1]), sizes[number - 1]


async def _read(ctx: S3Context, *, head: bool) -> web.StreamResponse:
    part_number = _part_number(ctx)
    entry, version = await stat_for_read(ctx)
    headers = object_headers(entry)
    if version is not None:
        headers["x-amz-version-id"] = version
    if entry.tags and not head:
        headers["x-amz-tagging-count"] = str(len(entry.tags))
    try:
        conditions.check_read(entry, ctx.headers)
    except NotModified:
        return web.Response(
            status=304, headers={"ETag": headers["ETag"], "Last-Modified": headers["Last-Modified"]}
        )
    for param, header in _OVERRIDES.items():
        value = ctx.query.get(param)
        if value is not None:
            headers[header] = value

    size = entry.size
    offset, length, status = 0, size, 200
    byte_range = parse_range(ctx.headers.get("Range"), size)  # InvalidRange -> 416
    if part_number is not None:
        # Weir keeps the part manifest: the part is a byte range of the object, no copy.
        offset, length = await _part_range(ctx, entry, part_number)
        if length:  # an empty object has no byte to range over: 200, as for a plain read
            status = 206
            headers["Content-Range"] = content_range(offset, length, size)
        count = parts_count(entry)
        if count is not None:
            headers["x-amz-mp-parts-count"] = str(count)
    elif byte_range is not None:
        offset, length = byte_range.resolve(size)
        status = 206
        headers["Content-Range"] = content_range(offset, length, size)
    elif ctx.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED":
        for algorithm, value in entry.checksums.items():
            headers[f"x-amz-checksum-{algorithm.lower()}"] = value

    ctx.request[BYTES_OUT] = 0 if head else length
    if head:
        # A plain Response is cheaper than prepare()/write_eof(); aiohttp keeps an explicit
        # Content-Length on HEAD answers.
        headers["Content-Length"] = str(length)
        return web.Response(status=status, headers=headers)
    if length == 0:
        return web.Response(status=status, body=b"", headers=headers)
    local = ctx.lake.local_path(entry)
    if local is not None:
        if length <= SMALL_OBJECT:
            return web.Response(status=status, body=_pread(local, offset, length), headers=headers)
        return await _sendfile(ctx.request, status, headers, local, offset, length)
    if length <= SMALL_OBJECT:
        body = b"".join([chunk async for chunk in ctx.lake.read_entry(entry, offset, length)])
        return web.Response(status=status, body=body, headers=headers)
    if length > SMALL_OBJECT and (sock := _plain_socket(ctx.request)) is not None:
        source = await ctx.lake.open_splice(entry, offset, length)  # store failures raise here
        if source is not None:
            return await _splice(ctx.request, status, headers, source, sock)
    chunks = ctx.lake.read_entry(entry, offset, length)
    # The first chunk before the status line: a blob store that is down or throttling answers
    # 503 SlowDown here, not a 200 with a broken body (decision 0021).
    first = await anext(chunks, b"")
    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = length
    await response.prepare(ctx.request)
    try:
        await response.write(first)
        async for chunk in chunks:
            await response.write(chunk)
        await response.write_eof()
    except ConnectionError:
        _client_gone(ctx.request)
    return response


def _plain_socket(request: web.Request) -> socket.socket | None:
    """The client's TCP socket, when the connection is plain (no TLS): bytes can be spliced
    into it."""
    transport = request.transport
    if transport is None or transport.get_extra_info("sslcontext") is not None:
        return None
    sock: socket.socket | None = transport.get_extra_info("socket")
    return sock


async def _splice(
    request: web.Request,
    status: int,
    headers: dict[str, str],
    source: SpliceSource,
    sock: socket.socket,
) -> web.StreamResponse:
    """Send the status line and headers, then let the kernel move the body from the object
    store's socket into the client's (docs/decisions/0020; ``gateway.storage.s3_splice``)."""
    try:
        response = web.StreamResponse(status=status, headers=headers)
        response.content_length = source.length
        await response.prepare(request)
        transport = request.transport
        for _ in range(2000):  # the headers leave the transport's buffer before the body
            if transport is None or transport.get_write_buffer_size() == 0:
                break
            await asyncio.sleep(0.001)  # a few hundred bytes for the kernel: never long
        try:
            if transport is None or transport.is_closing():
                raise ConnectionResetError("client went away")
            # Our own descriptor of the client's connection: should asyncio close its socket
            # meanwhile (the client went away), its number could be reused for another
            # connection, which must never receive these bytes.
            fd = os.dup(sock.fileno())
            try:
                await source.splice_to(fd)
            finally:
                os.close(fd)
            await response.write_eof()
        except ConnectionError:
            _client_gone(request)
        return response
    finally:
        source.close()


def _client_gone(request: web.Request) -> None:
    """The client closed the connection mid-body: nothing to answer, nothing to log loudly.

    The handler returns the prepared response; aiohttp notices the closed transport, logs the
    access and drops the connection.
    """
    request[CLIENT_GONE] = True


def _pread(path: FsPath, offset: int, length: int) -> bytes:
    """Read a small local blob on the event loop.

    Deliberately blocking: at most ``SMALL_OBJECT`` bytes, almost always from the page cache
    (~10 us), where a worker-thread hop costs more than the read itself.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        data = os.pread(fd, length, offset)
    finally:
        os.close(fd)
    if len(data) != length:
        raise BlobNotFound(f"blob file {path.name} is shorter than its entry")
    return data


async def _sendfile(
    request: web.Request,
    status: int,
    headers: dict[str, str],
    path: FsPath,
    offset: int,
    length: int,
) -> web.StreamResponse:
    """Send ``length`` bytes of a local file with ``loop.sendfile`` (zero-copy).

    The file is opened on the loop (a metadata lookup, no data read); the kernel moves the
    bytes. Falls back to reads where sendfile is unavailable.
    """
    loop = asyncio.get_running_loop()
    fobj = path.open("rb")
    try:
        response = web.StreamResponse(status=status, headers=headers)
        response.content_length = length
        await response.prepare(request)
        transport = request.transport
        try:
            if transport is None:
                raise ConnectionResetError("client went away")
            await loop.sendfile(transport, fobj, offset, length)
            await response.write_eof()
        except ConnectionError:
            _client_gone(request)
        return response
    finally:
        fobj.close()
