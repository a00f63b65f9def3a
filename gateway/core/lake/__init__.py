"""The repository facade: the one API that the S3 and admin layers call.

Every method is async and never blocks the event loop: metadata work runs in the KV store's
worker threads, hashing and tree work in worker threads too. Methods raise the domain errors of
``gateway.core.errors``; they never return error codes.

Atomicity: every mutating method is all-or-nothing and durable when it returns.
Concurrency: branch heads move by compare-and-swap; a commit racing with writes to the same
branch never loses an acknowledged write (it removes only the staged records it committed).
"""

from __future__ import annotations

from gateway.core.lake.base import INLINE_LIMIT, PURGE_BATCH
from gateway.core.lake.history import HistoryOps
from gateway.core.lake.imports import ImportOps
from gateway.core.lake.objects import ObjectOps
from gateway.core.lake.parts import PartOps
from gateway.core.lake.paths import PathOps
from gateway.core.lake.refs import RefOps
from gateway.core.lake.tagging import TaggingOps
from gateway.core.lake.types import (
    BlameLine,
    BlamePage,
    Conditions,
    DiffPage,
    Hasher,
    ListingPage,
    LogPage,
    MergeOutcome,
    Part,
    PathHistoryPage,
    PathVersion,
    Resolution,
    Upload,
)
from gateway.core.lake.versions import VersionOps

__all__ = [
    "INLINE_LIMIT",
    "PURGE_BATCH",
    "BlameLine",
    "BlamePage",
    "Conditions",
    "DiffPage",
    "Hasher",
    "Lake",
    "ListingPage",
    "LogPage",
    "MergeOutcome",
    "Part",
    "PathHistoryPage",
    "PathVersion",
    "Resolution",
    "Upload",
]


class Lake(RefOps, ObjectOps, HistoryOps, PathOps, ImportOps, TaggingOps, VersionOps, PartOps):
    """Facade over the engine: repositories, refs, objects, commits, diff, merge, multipart.

    Its parts live in ``lake_refs``, ``lake_objects`` and ``lake_history`` over the shared
    ``lake_base``; callers only ever see this one class.

    Args:
        kv: the metadata store (``gateway.core.ports.KVStore``).
        blobs: the blob backend (``gateway.core.ports.BlobStore``).
        events: where lineage events go (``gateway.core.events.LakeEvents``).
    """
