"""Crash safety: a writer killed with SIGKILL at random points loses no acknowledged work.

After each kill and restart: every acknowledged commit exists and holds its objects, every
acknowledged write is readable with its bytes, every stored blob hashes to its name, no branch
points at a missing commit, and no temporary blob file is visible as a blob.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import blake3

from gateway.core.lake import Lake
from gateway.meta.lmdb_store import LmdbKVStore
from gateway.storage.local import LocalBlobStore

ROUNDS = 4


def run_until_killed(root: Path, seed: int, lines_before_kill: int) -> list[str]:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.unit.engine_crash_worker", str(root), str(seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )
    acked: list[str] = []
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            acked.append(line.strip())
            if len(acked) >= lines_before_kill:
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert acked and acked[0] == "READY", proc.stderr.read() if proc.stderr else ""
    return acked[1:]


async def check(root: Path, acked: dict[str, list[str]]) -> None:
    lake = Lake(LmdbKVStore(root / "meta"), LocalBlobStore(root / "blobs"))
    try:
        for line in acked["COMMIT"]:
            _, branch, cid, n = line.split()
            commit = await lake.get_commit("crash", cid)
            page = await lake.list_objects("crash", cid, limit=100_000)
            assert len(page.objects) == int(n), f"commit {cid} lost objects"
            assert commit.id == cid
        for line in acked["PUT"]:
            _, branch, path, md5 = line.split()
            entry = await lake.stat_object("crash", branch, path)
            data = b"".join([c async for c in lake.read_entry(entry)])
            assert hashlib.md5(data).hexdigest() == md5, f"{branch}/{path} corrupted"
        branches, _ = await lake.list_branches("crash")
        for b in branches:
            await lake.get_commit("crash", b.head)  # raises if the head is dangling
        inline = lake.kv.read_sync(lambda r: list(r.scan(b"I/", b"I0")))
        for key, data in inline:
            assert blake3.blake3(data).hexdigest() == key[2:].decode(), "inline blob damaged"
        async for blob_id in lake.blobs.list():
            h = blake3.blake3()
            async for chunk in lake.blobs.read(blob_id):
                h.update(chunk)
            assert h.hexdigest() == blob_id, f"blob {blob_id} does not match its name"
    finally:
        await lake.close()


async def test_sigkill_loses_no_acknowledged_work(tmp_path: Path) -> None:
    rng = random.Random(1234)
    acked: dict[str, list[str]] = {"PUT": [], "COMMIT": []}
    for round_ in range(ROUNDS):
        lines = run_until_killed(tmp_path, round_, rng.randint(5, 120))
        for line in lines:
            acked[line.split()[0]].append(line)
        await check(tmp_path, acked)
    assert acked["COMMIT"], "the worker never got to commit: raise the kill points"
