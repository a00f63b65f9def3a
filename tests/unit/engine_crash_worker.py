"""Child process for the crash test: writes and commits forever, reporting what was acknowledged.

Each line on stdout is printed only after the operation it names returned (was acknowledged):
  PUT <branch> <path> <md5>      an object write
  COMMIT <branch> <commit id> <n> a commit holding n objects on that branch
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import random
import sys
import time
from pathlib import Path

from gateway.core.errors import RepositoryExists
from gateway.core.lake import Lake
from gateway.core.model import Entry
from gateway.meta.lmdb_store import LmdbKVStore
from gateway.storage.local import LocalBlobStore


async def one(data: bytes) -> object:
    yield data


async def main(root: Path, seed: int) -> None:
    rng = random.Random(seed)
    lake = Lake(LmdbKVStore(root / "meta"), LocalBlobStore(root / "blobs"))
    with contextlib.suppress(RepositoryExists):
        await lake.create_repository("crash")
    branch = f"b{seed}"
    await lake.create_branch("crash", branch, "main")
    print("READY", flush=True)
    n = 0
    while True:
        batch = rng.randint(1, 20)
        for _ in range(batch):
            data = os.urandom(rng.choice([10, 1000, 300_000]))
            info = await lake.ingest(one(data))  # type: ignore[arg-type]
            path = f"p{n:06d}"
            n += 1
            await lake.put_object(
                "crash",
                branch,
                path,
                Entry(address=info.blob_id, size=info.size, etag=info.md5_hex, mtime=time.time()),
            )
            print(f"PUT {branch} {path} {hashlib.md5(data).hexdigest()}", flush=True)
        c = await lake.commit("crash", branch, message=f"batch {n}", committer="crash")
        print(f"COMMIT {branch} {c.id} {n}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
