"""Blob backends behind ``gateway.core.ports.BlobStore``: local files, S3, memory.

``S3BlobStore`` is imported lazily so that processes using only the local backend never load
aiobotocore.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway.storage.local import LocalBlobStore
from gateway.storage.memory import MemoryBlobStore

if TYPE_CHECKING:
    from gateway.storage.s3 import S3BlobStore

__all__ = ["LocalBlobStore", "MemoryBlobStore", "S3BlobStore"]


def __getattr__(name: str) -> Any:
    if name == "S3BlobStore":
        from gateway.storage.s3 import S3BlobStore

        return S3BlobStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
