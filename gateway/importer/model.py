"""What an import knows of an external object store, free of any client library.

``service`` works with these; ``source`` (the S3 client side) produces them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from gateway.core.errors import InvalidArgument


@dataclass(frozen=True, slots=True)
class ExternalObject:
    key: str
    size: int
    etag: str  # without quotes
    last_modified: float  # unix seconds


def parse_url(url: str) -> tuple[str, str]:
    """``s3://bucket/key/prefix`` -> (bucket, key prefix). Raises InvalidArgument."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise InvalidArgument(f"not an s3://bucket/prefix address: {url!r}")
    return parts.netloc, parts.path.lstrip("/")


class Lister(Protocol):
    """Lists external objects (``gateway.importer.source.S3Source``)."""

    def pages(self, url: str, *, after: str = "") -> AsyncIterator[list[ExternalObject]]: ...

    async def head(self, url: str) -> ExternalObject: ...

    async def close(self) -> None: ...
