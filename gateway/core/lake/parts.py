"""Parts of a stored object: what GetObject/HeadObject ``partNumber`` reads.

A multipart object is stored as a manifest of its parts (zero copy), so part N is a byte range
of the object: only the manifest is read to find it.
"""

from __future__ import annotations

from gateway.core import codec, keys
from gateway.core.errors import BlobNotFound
from gateway.core.lake.base import LakeBase
from gateway.core.model import MANIFEST_PREFIX, Entry


class PartOps(LakeBase):
    """The part layout of stored objects."""

    async def part_sizes(self, entry: Entry) -> list[int]:
        """The sizes of the parts a multipart entry was completed from, in order.

        A single-blob entry is one part (its whole size), whatever its ETag says. Reads the
        manifest only: no bytes are touched. Raises BlobNotFound when the manifest is missing.
        """
        if not entry.address.startswith(MANIFEST_PREFIX):
            return [entry.size]
        mid = entry.address[len(MANIFEST_PREFIX) :]
        raw = await self.kv.read(lambda r: r.get(keys.manifest(mid)))
        if raw is None:
            raise BlobNotFound(f"multipart manifest {mid} is missing")
        return [part.size for part in codec.decode_manifest(raw)]
