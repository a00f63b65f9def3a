"""The encoding of staged records: a staged write is stored as the exact bytes a tree leaf holds
for its entry, and a deletion as an empty value (a tombstone). Commit then folds staged values
into the tree as they are, without decoding and re-encoding each entry.
"""

from __future__ import annotations

from gateway.core.model import Entry
from gateway.core.tree.node import decode_entry_value, encode_entry_value

TOMBSTONE = b""


def encode(entry: Entry | None) -> bytes:
    return TOMBSTONE if entry is None else encode_entry_value(entry)


def decode(value: bytes) -> Entry | None:
    return None if value == TOMBSTONE else decode_entry_value(value)


def leaf_value(value: bytes) -> bytes | None:
    """The tree change a staged record stands for: leaf bytes to set, or None to delete."""
    return None if value == TOMBSTONE else value
