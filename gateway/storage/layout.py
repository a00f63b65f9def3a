"""Where a blob lives: ``blobs/<h[0:2]>/<h[2:4]>/<h>``, shared by every backend.

Two levels of two hex digits fan blobs out over 65,536 directories (or S3 key prefixes), so no
directory holds more than a few thousand entries below ~10^8 blobs, and a hex prefix maps to a
directory (or key prefix) without scanning the others.
"""

from __future__ import annotations

from gateway.core.errors import InvalidArgument
from gateway.core.ids import HEX_DIGITS, BlobId, is_hex_id

BLOBS_DIR = "blobs"


def check_blob_id(blob_id: str) -> BlobId:
    """Return ``blob_id`` as a BlobId, or raise InvalidArgument unless it is 64 lower-case hex.

    Every backend checks ids at its edge: a local backend would otherwise let ``../`` escape
    its root.
    """
    if not is_hex_id(blob_id):
        raise InvalidArgument(f"not a blob id (64 lower-case hex digits): {blob_id[:80]!r}")
    return BlobId(blob_id)


def check_hex_prefix(prefix: str) -> str:
    """Return ``prefix`` unchanged, or raise InvalidArgument unless it is lower-case hex, <= 64."""
    if len(prefix) > 64 or not all(c in HEX_DIGITS for c in prefix):
        raise InvalidArgument(f"not a blob id prefix (lower-case hex): {prefix[:80]!r}")
    return prefix


def blob_key(blob_id: BlobId) -> str:
    """Relative key of a blob: ``blobs/ab/cd/abcd...``."""
    return f"{BLOBS_DIR}/{blob_id[0:2]}/{blob_id[2:4]}/{blob_id}"


def key_prefix(hex_prefix: str) -> str:
    """The narrowest key prefix that holds every blob whose id starts with ``hex_prefix``.

    ``""`` -> ``blobs/``, ``"a"`` -> ``blobs/a``, ``"ab"`` -> ``blobs/ab/``,
    ``"abc"`` -> ``blobs/ab/c``, ``"abcd"`` -> ``blobs/ab/cd/``, longer -> ``blobs/ab/cd/abcd..``.
    """
    p = hex_prefix
    if len(p) < 2:
        return f"{BLOBS_DIR}/{p}"
    if len(p) == 2:
        return f"{BLOBS_DIR}/{p}/"
    if len(p) < 4:
        return f"{BLOBS_DIR}/{p[0:2]}/{p[2:]}"
    if len(p) == 4:
        return f"{BLOBS_DIR}/{p[0:2]}/{p[2:4]}/"
    return f"{BLOBS_DIR}/{p[0:2]}/{p[2:4]}/{p}"


def blob_id_from_key(key: str) -> BlobId | None:
    """The blob id a relative key names, or None when the key is not a well-formed blob key
    (foreign objects under the same prefix are ignored, not reported)."""
    parts = key.split("/")
    if len(parts) != 4 or parts[0] != BLOBS_DIR:
        return None
    h = parts[3]
    if not is_hex_id(h) or parts[1] != h[0:2] or parts[2] != h[2:4]:
        return None
    return BlobId(h)
