"""Typed identities, parsed once at the edge and passed around as plain strings."""

from __future__ import annotations

from typing import NewType

RepoName = NewType("RepoName", str)
BranchName = NewType("BranchName", str)
TagName = NewType("TagName", str)
CommitId = NewType("CommitId", str)  # 64 hex chars: blake3 of the commit's canonical encoding
BlobId = NewType("BlobId", str)  # 64 hex chars: blake3 of the blob's bytes
NodeId = NewType("NodeId", bytes)  # 32 raw bytes: blake3 of a tree node's encoding
Path = NewType("Path", str)  # object key inside a ref, no leading ref segment

HEX_DIGITS = frozenset("0123456789abcdef")


def is_hex_id(value: str) -> bool:
    """True for a full 64-character lower-case hex digest."""
    return len(value) == 64 and all(c in HEX_DIGITS for c in value)
