"""Child process for the S3 backend's crash test: writes blobs until it is SIGKILLed.

Same protocol as ``blob_crash_child``: ``ready`` once a never-committed writer is streaming a
multipart upload; ``writing <n>`` in the middle of each blob; ``committed <blob id>`` after each
commit returned. The blob index lives in an LMDB store at ``META``, the bytes in ``BUCKET`` under
``PREFIX`` on the S3 endpoint.

Usage: ``python -m tests.support.s3_crash_child META ENDPOINT KEY SECRET BUCKET PREFIX SEED``.
"""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path

from blake3 import blake3

from gateway.core.ids import BlobId
from gateway.meta.lmdb_store import LmdbKVStore
from gateway.storage.s3 import MIN_PART_SIZE, S3BlobStore

MiB = 1024 * 1024
SIZES = (40_000, 1 * MiB, 3 * MiB, 6 * MiB, 11 * MiB + 5)
MAX_BLOBS = 10_000  # bound: the parent kills us long before


async def main(argv: list[str]) -> None:
    meta, endpoint, key, secret, bucket, prefix, seed = argv
    rng = random.Random(int(seed))
    kv = LmdbKVStore(Path(meta))
    store = S3BlobStore(
        kv=kv,
        bucket=bucket,
        prefix=prefix,
        endpoint_url=endpoint,
        access_key_id=key,
        secret_access_key=secret,
        part_size=MIN_PART_SIZE,
        spool_dir=Path(meta) / "spool",
    )
    straggler = await store.open_writer()  # never committed: an upload is always in flight
    for _ in range(MIN_PART_SIZE // MiB + 2):
        await straggler.write(rng.randbytes(MiB))
    assert straggler._start is not None  # streaming: wait until its multipart upload exists
    await straggler._start
    print("ready", flush=True)
    for n in range(MAX_BLOBS):
        data = rng.randbytes(rng.choice(SIZES))
        writer = await store.open_writer()
        half = len(data) // 2
        for i in range(0, half, MiB):
            await writer.write(data[i : min(i + MiB, half)])
        print(f"writing {n}", flush=True)
        for i in range(half, len(data), MiB):
            await writer.write(data[i : i + MiB])
        blob_id = BlobId(blake3(data).hexdigest())
        await writer.commit(blob_id)
        print(f"committed {blob_id}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
