"""Child process for the local blob store's crash test: writes blobs until it is SIGKILLed.

Protocol on stdout (one line each, flushed): ``ready`` once a never-committed writer holds a
temp file; ``writing <n>`` in the middle of each blob; ``committed <blob id>`` after each commit
returned. Usage: ``python -m tests.support.blob_crash_child ROOT SEED``.
"""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path

from blake3 import blake3

from gateway.core.ids import BlobId
from gateway.storage.local import LocalBlobStore

SIZES = (0, 1, 100, 4096, 300_000, 1024 * 1024, 2 * 1024 * 1024 + 3)
MAX_BLOBS = 10_000  # bound: the parent kills us long before


async def main(root: Path, seed: int) -> None:
    rng = random.Random(seed)
    store = LocalBlobStore(root)
    straggler = await store.open_writer()  # never committed: a temp file is always in flight
    for _ in range(2):  # the second write waits for the first, which created the temp file
        await straggler.write(rng.randbytes(300_000))
    print("ready", flush=True)
    for n in range(MAX_BLOBS):
        data = rng.randbytes(rng.choice(SIZES))
        writer = await store.open_writer()
        half = len(data) // 2
        await writer.write(data[:half])
        print(f"writing {n}", flush=True)
        await writer.write(data[half:])
        blob_id = BlobId(blake3(data).hexdigest())
        await writer.commit(blob_id)
        print(f"committed {blob_id}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
