"""The external objects an import reads: listing a prefix of any bucket, and serving the bytes of
imported entries from their original address.

Both go over the S3 backend's data path (``gateway.storage.s3_data.DataClient``: SigV4 with the
configured credentials, bounded retries with backoff), to whatever bucket an import names.
Listing is ListObjectsV2 pages of 1,000 parsed with the C XML parser (botocore's parser costs
~75 us per key, more than the rest of an import together), the next page fetched while the
current one is recorded.

Reading checks that the object is still the one imported: ``If-Match`` with the recorded ETag
on every request (the store answers 412 otherwise), and the size and ETag the store answers are
compared with the entry too; a change or a deletion raises SourceChanged naming the import.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from urllib.parse import unquote

from gateway.core.errors import InvalidArgument, SourceChanged, StorageError
from gateway.importer.model import ExternalObject, parse_url
from gateway.storage.s3_data import DataClient, StoreError

PAGE = 1000
READ_CHUNK = 1 << 20
_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def _text(el: ET.Element, name: str) -> str:
    found = el.find(_NS + name)
    if found is None:
        found = el.find(name)
    return "" if found is None or found.text is None else found.text


def _timestamp(text: str) -> float:
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def parse_listing(body: bytes) -> tuple[list[ExternalObject], bool]:
    """The objects of a ListObjectsV2 page, and whether more pages follow."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise StorageError(f"object store listing is not XML: {exc}") from exc
    url_encoded = _text(root, "EncodingType") == "url"
    contents = root.findall(_NS + "Contents") or root.findall("Contents")
    objects = []
    for c in contents:
        key = _text(c, "Key")
        objects.append(
            ExternalObject(
                key=unquote(key) if url_encoded else key,
                size=int(_text(c, "Size") or 0),
                etag=_text(c, "ETag").strip('"'),
                last_modified=_timestamp(_text(c, "LastModified")),
            )
        )
    return objects, _text(root, "IsTruncated") == "true"


class S3Source:
    """Lists and reads objects in any bucket the configured credentials can read."""

    def __init__(self, data: DataClient, *, read_resumes: int = 3, page: int = PAGE) -> None:
        self.data = data
        self.read_resumes = read_resumes
        self.page = page

    async def close(self) -> None:
        await self.data.close()

    async def pages(self, url: str, *, after: str = "") -> AsyncIterator[list[ExternalObject]]:
        """Pages of the objects under ``url`` with keys greater than ``after``, in key order;
        the next page is requested while the caller handles this one."""
        bucket, prefix = parse_url(url)

        async def fetch(start_after: str) -> tuple[list[ExternalObject], bool]:
            query = {"list-type": "2", "max-keys": str(self.page), "encoding-type": "url"}
            if prefix:
                query["prefix"] = prefix
            if start_after:
                query["start-after"] = start_after
            body = await self._call("GET", bucket, "", query, f"ListObjectsV2 {url}")
            return parse_listing(body)

        pending = asyncio.ensure_future(fetch(after))
        try:
            while True:
                objects, more = await pending
                if more and objects:
                    pending = asyncio.ensure_future(fetch(objects[-1].key))
                if objects:
                    yield objects
                if not more or not objects:
                    return
        finally:
            if not pending.done():
                pending.cancel()
                with contextlib.suppress(BaseException):
                    await pending

    async def head(self, url: str) -> ExternalObject:
        """One object (an import of ``type: object``). Raises SourceChanged when it is absent."""
        bucket, key = parse_url(url)
        if not key:
            raise InvalidArgument(f"{url!r} names a bucket, not an object")
        status, headers, _ = await self.data.fetch("HEAD", bucket, key)
        if status == 404:
            raise SourceChanged(f"{url} does not exist")
        if status >= 300:
            raise StoreError(status, "", "").domain(f"HEAD {url}")
        return ExternalObject(
            key=key,
            size=int(headers.get("content-length", "0")),
            etag=headers.get("etag", "").strip('"'),
            last_modified=_http_date(headers.get("last-modified", "")),
        )

    async def _call(
        self, method: str, bucket: str, key: str, query: dict[str, str], what: str
    ) -> bytes:
        status, _, body = await self.data.fetch(method, bucket, key, query)
        if status >= 300:
            from gateway.storage.s3_data import store_error

            raise store_error(status, body).domain(what)
        return body

    async def read(
        self, url: str, *, etag: str, size: int, offset: int, length: int
    ) -> AsyncIterator[bytes]:
        """Stream ``length`` bytes from ``offset`` of the object at ``url``, which must still
        have ``etag`` and ``size``. Raises SourceChanged (before any byte) when it does not,
        StorageError when the store fails; a body broken mid-way is resumed (If-Match keeps
        the resumed bytes from another version)."""
        bucket, key = parse_url(url)
        pos, left, resumes = offset, length, 0
        match = {"If-Match": f'"{etag}"'}
        while left > 0:
            try:
                response = await self.data.get(
                    key, pos, pos + left - 1, bucket=bucket, headers=match
                )
            except StoreError as exc:
                if exc.status in (404, 412):
                    what = "is gone" if exc.status == 404 else "has changed (ETag differs)"
                    raise SourceChanged(f"{url} {what}") from None
                raise exc.domain(f"GET {url}") from exc
            if response is None:
                raise SourceChanged(f"{url} is shorter than the {size} bytes imported")
            try:
                _check(response.headers, url, etag, size)
                async for chunk in response.content.iter_chunked(READ_CHUNK):
                    chunk = chunk[:left]
                    pos += len(chunk)
                    left -= len(chunk)
                    yield chunk
                    if left == 0:
                        return
                raise ConnectionError(f"body ended {left} bytes early")
            except (TimeoutError, ConnectionError, OSError) as exc:
                resumes += 1
                if resumes > self.read_resumes:
                    raise StorageError(f"object store GET {url} (body): {exc}") from exc
            finally:
                response.release()


def _check(headers: object, url: str, etag: str, size: int) -> None:
    get = headers.get  # type: ignore[attr-defined]
    got = str(get("ETag", "")).strip('"')
    if got and got != etag:
        raise SourceChanged(f"{url} has changed (ETag {got}, imported {etag})")
    total = str(get("Content-Range", "")).rpartition("/")[2]
    if not total.isdigit():
        total = str(get("Content-Length", ""))
    if total.isdigit() and int(total) != size:
        raise SourceChanged(f"{url} has changed (size {total}, imported {size})")


def _http_date(text: str) -> float:
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError):
        return 0.0
