"""Garbage collection while writers write, on the local backend and on the S3 backend against a
real SeaweedFS: nothing acknowledged and retained ever becomes unreadable, and once the writers
stop, a collection with retention 0 and no grace leaves exactly what retained commits, staging
and uploads in progress reference (counted independently, ``tests/support/gc_census.py``).

The writers upload (small objects live in the metadata store, larger ones in the blob backend),
overwrite (often with bytes an earlier, now unreferenced version had: deduplication against
garbage), delete, copy, commit, branch, merge, tag, hard-reset, delete branches and tags, and
complete or abort multipart uploads, while a collection runs again and again. Each writer owns
its keys, so it knows what every one of them must read back.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import random
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from gateway.client.api import AdminClient, ApiError
from gateway.config import load_settings
from gateway.server import open_blobs, open_metadata
from tests.contract.blob_fixtures import seaweedfs_server  # noqa: F401
from tests.functional.conftest import WeirServer, run_weir
from tests.functional.gc_helpers import admin, run_gc
from tests.support import gc_census
from tests.support.postgres import server_meta_env
from tests.support.s3servers import S3Server

WRITERS = 3
OPS_PER_WRITER = 45
BRANCH_ROUNDS = 10
MULTIPART_ROUNDS = 5
MIN_GC_RUNS = 3
#: Grace while writers write: longer than any request of this test takes between storing its
#: bytes and recording them (milliseconds; the margin covers a loaded machine), and shorter
#: than the writing phase, so blobs are collected while writers write.
GRACE_S = 4
MiB = 1 << 20


@dataclass
class Lake:
    server: WeirServer
    env: dict[str, str]
    data_dir: Path
    stop: Callable[[], None]  # stops the server (idempotent)
    store: S3Server | None = None  # the object store behind an S3-backend Weir


@pytest.fixture(params=["local", "s3"])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Lake]:
    env = {
        "WEIR_GC_RETENTION_DAYS": "0",
        "WEIR_GC_GRACE_SECONDS": str(GRACE_S),
        "WEIR_STORAGE_BACKEND": "local",  # also under WEIR_TEST_BLOB_BACKEND=s3
    }
    store: S3Server | None = None
    if request.param == "s3":
        store = request.getfixturevalue("seaweedfs_server")
        assert store is not None
        env.update(
            WEIR_STORAGE_BACKEND="s3",
            WEIR_STORAGE_S3_BUCKET=store.make_bucket(),
            WEIR_STORAGE_S3_PREFIX=f"gc-{uuid.uuid4().hex[:8]}",
            WEIR_STORAGE_S3_ENDPOINT_URL=store.endpoint_url,
            WEIR_STORAGE_S3_REGION=store.region,
            WEIR_STORAGE_S3_ACCESS_KEY_ID=store.access_key_id,
            WEIR_STORAGE_S3_SECRET_ACCESS_KEY=store.secret_access_key,
        )
    data = tmp_path / "data"
    # WEIR_TEST_META_BACKEND=postgres: the schema run_weir gives this data directory, so that the
    # census below opens the same metadata store.
    env.update(server_meta_env(key=str(data.resolve())))
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(run_weir(data, tmp_path / "server.log", env_extra=env))
        yield Lake(server, env, data, stack.close, store if request.param == "s3" else None)


def _body(rng: random.Random, pool: list[bytes]) -> bytes:
    """Often a body an earlier write used (dedup, possibly against garbage), else a new one."""
    if pool and rng.random() < 0.5:
        return rng.choice(pool)
    size = rng.choice([100, 3000, 40_000, 200_000])
    data = rng.randbytes(size)
    pool.append(data)
    return data


@dataclass
class Writer:
    """One writer on ``main``: owns keys ``w<i>/...`` and remembers what each must read back."""

    index: int
    client: Any
    repo: str
    rng: random.Random
    expected: dict[str, bytes | None] = field(default_factory=dict)
    pool: list[bytes] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def key(self) -> str:
        return f"w{self.index}/k{self.rng.randrange(12)}"

    def step(self) -> None:
        op = self.rng.random()
        key = self.key()
        if op < 0.55:
            data = _body(self.rng, self.pool)
            self.client.put_object(Bucket=self.repo, Key=f"main/{key}", Body=data)
            self.expected[key] = data
        elif op < 0.7:
            self.client.delete_object(Bucket=self.repo, Key=f"main/{key}")
            self.expected[key] = None
        else:
            src = next((k for k, v in self.expected.items() if v is not None and k != key), None)
            if src is None:
                return
            self.client.copy_object(
                Bucket=self.repo, Key=f"main/{key}", CopySource=f"{self.repo}/main/{src}"
            )
            self.expected[key] = self.expected[src]
        self.check(self.rng.choice(list(self.expected)))

    def check(self, key: str) -> None:
        want = self.expected[key]
        try:
            got: bytes | None = self.client.get_object(Bucket=self.repo, Key=f"main/{key}")[
                "Body"
            ].read()
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "NoSuchKey":
                raise
            got = None
        if got != want:
            self.errors.append(f"{key}: read {_digest(got)}, wrote {_digest(want)}")


def _digest(data: bytes | None) -> str:
    return "nothing" if data is None else f"{len(data)} bytes {hashlib.md5(data).hexdigest()}"


def _quiet(call: Callable[[], Any], *statuses: int) -> Any:
    """Run an admin call whose refusals with ``statuses`` are expected races (nothing staged
    to commit, a conflicting merge): the writers keep going."""
    try:
        return call()
    except ApiError as exc:
        if exc.status not in statuses:
            raise
        return None


def _brancher(client: AdminClient, s3: Any, repo: str, rng: random.Random) -> None:
    """Feature branches off ``integration``: merged, abandoned, tagged, reset."""
    for j in range(BRANCH_ROUNDS):
        name = f"f{j}"
        client.create_branch(repo, name, "integration")
        for n in range(2):
            s3.put_object(Bucket=repo, Key=f"{name}/f{j}-{n}", Body=rng.randbytes(30_000 + n))
        head = client.commit(repo, name, f"feature {j}")["id"]
        fate = j % 4
        if fate == 0:
            _quiet(functools.partial(client.merge, repo, name, "integration"), 409)
        elif fate == 1:
            client.create_tag(repo, f"t{j}", head)
        elif fate == 2:
            s3.put_object(Bucket=repo, Key=f"{name}/after", Body=rng.randbytes(20_000))
            client.commit(repo, name, "more")
            client.hard_reset(repo, name, head)
            continue  # the branch stays, at ``head``
        client.delete_branch(repo, name)
        if fate == 1 and j >= 4:
            client.delete_tag(repo, f"t{j - 4}")


def _multipart(s3: Any, repo: str, rng: random.Random) -> None:
    for j in range(MULTIPART_ROUNDS):
        key = f"main/mp/{j}"
        up = s3.create_multipart_upload(Bucket=repo, Key=key)["UploadId"]
        first = rng.randbytes(5 * MiB)
        last = rng.randbytes(50_000)
        e1 = s3.upload_part(Bucket=repo, Key=key, UploadId=up, PartNumber=1, Body=first)["ETag"]
        e2 = s3.upload_part(Bucket=repo, Key=key, UploadId=up, PartNumber=2, Body=last)["ETag"]
        if j % 2:
            s3.abort_multipart_upload(Bucket=repo, Key=key, UploadId=up)
            continue
        parts = [{"ETag": e1, "PartNumber": 1}, {"ETag": e2, "PartNumber": 2}]
        s3.complete_multipart_upload(
            Bucket=repo, Key=key, UploadId=up, MultipartUpload={"Parts": parts}
        )
        got = s3.get_object(Bucket=repo, Key=key)["Body"].read()
        assert got == first + last, f"multipart {key} reads back wrong"


def _read_everything(client: AdminClient, s3: Any, repo: str) -> int:
    """Read every object of every retained commit (main's and integration's history, tags) and
    of every branch: each must be readable with its recorded ETag and size."""
    refs = {b["id"] for b in client.list_branches(repo)}
    refs |= {t["id"] for t in client.list_tags(repo)}
    for branch in ("main", "integration"):
        refs |= {c["id"] for c in client.log(repo, branch)}
    read = 0
    for ref in sorted(refs):
        for obj in client.list_objects(repo, ref, delimiter=""):
            key, size = f"{ref}/{obj['path']}", obj["size_bytes"]
            if size > MiB:  # multipart: its first and last byte (both parts exist)
                for rng in ("bytes=0-0", f"bytes={size - 1}-{size - 1}"):
                    assert len(s3.get_object(Bucket=repo, Key=key, Range=rng)["Body"].read()) == 1
            else:
                body = s3.get_object(Bucket=repo, Key=key)["Body"].read()
                assert hashlib.md5(body).hexdigest() == obj["checksum"], key
            read += 1
    return read


def test_gc_while_writing_keeps_every_retained_object_and_then_exactly_that(lake: Lake) -> None:
    server = lake.server
    client = admin(server)
    repo = f"gcc-{uuid.uuid4().hex[:8]}"
    server.boto3_client().create_bucket(Bucket=repo)
    client.create_branch(repo, "integration", "main")

    done = threading.Event()
    failures: list[BaseException] = []
    gc_runs: list[dict[str, Any]] = []
    writers = [
        Writer(i, server.boto3_client(), repo, random.Random(1000 + i)) for i in range(WRITERS)
    ]

    def guarded(fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except BaseException as exc:
                failures.append(exc)

        return run

    def write(w: Writer) -> Callable[[], None]:
        def run() -> None:
            for n in range(OPS_PER_WRITER):
                w.step()
                if n % 9 == 8:
                    _quiet(lambda: client.commit(repo, "main", f"writer {w.index}"), 400, 409)

        return run

    def collect() -> None:
        while not done.is_set() or len(gc_runs) < MIN_GC_RUNS:
            report = run_gc(client)
            assert report["state"] == "succeeded", report
            gc_runs.append(report)

    workers = [threading.Thread(target=guarded(write(w))) for w in writers]
    workers.append(
        threading.Thread(
            target=guarded(lambda: _brancher(client, server.boto3_client(), repo, random.Random(7)))
        )
    )
    workers.append(
        threading.Thread(
            target=guarded(lambda: _multipart(server.boto3_client(), repo, random.Random(8)))
        )
    )
    collector = threading.Thread(target=guarded(collect))
    collector.start()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    done.set()
    collector.join()
    if failures:
        raise failures[0]
    for w in writers:
        for key in w.expected:
            w.check(key)
        assert not w.errors, w.errors
    assert len(gc_runs) >= MIN_GC_RUNS
    freed_while_writing = sum(r["freed_bytes"] for r in gc_runs)
    assert freed_while_writing > 0, gc_runs

    # The writers have stopped: nothing may be young any more, and retention is 0.
    s3 = server.boto3_client()
    assert _read_everything(client, s3, repo) > 0
    final = run_gc(client, grace_seconds=0)
    assert final["state"] == "succeeded", final
    read = _read_everything(client, s3, repo)
    for w in writers:
        for key in w.expected:
            w.check(key)
        assert not w.errors, w.errors
    assert read > 0
    assert _census_after_stop(lake) is None


def _physical_objects(store: S3Server, s: Any) -> int:
    """Objects under the S3 backend's prefix in the bucket (the blob objects, ``data/``)."""
    prefix = s.s3_prefix.rstrip("/") + "/data/"
    pages = (
        store.client().get_paginator("list_objects_v2").paginate(Bucket=s.s3_bucket, Prefix=prefix)
    )
    return sum(len(page.get("Contents", [])) for page in pages)


def _census_after_stop(lake: Lake) -> str | None:
    """Stop the server and compare what its store holds with what must be kept; None when they
    are equal, else what differs."""
    lake.stop()
    settings = load_settings(environ=lake.env, overrides={"data_dir": str(lake.data_dir)})
    kv = open_metadata(settings)
    try:
        blobs = open_blobs(settings, kv)

        async def backend() -> set[str]:
            try:
                # Physical leftovers of interrupted uploads are the backend's own sweep.
                await blobs.sweep(grace=0)
                return {b async for b, _ in blobs.inventory()}
            finally:
                await blobs.close()

        stored_blobs = asyncio.run(backend())
        if lake.store is not None:  # every physical object is an indexed blob, and vice versa
            physical = _physical_objects(lake.store, settings.storage)
            assert physical == len(stored_blobs), (physical, len(stored_blobs))
        exp = kv.read_sync(gc_census.expected)
        have = kv.read_sync(lambda r: gc_census.stored(r, stored_blobs))
    finally:
        kv.close()
    assert exp.sizes()["blobs"] > 0 and exp.sizes()["commits"] > 0
    if have != exp:
        return (
            f"stored {have.sizes()} expected {exp.sizes()}; extra blobs "
            f"{sorted(have.blobs - exp.blobs)[:5]} missing {sorted(exp.blobs - have.blobs)[:5]}; "
            f"extra commits {sorted(have.commits - exp.commits)[:5]}; "
            f"extra nodes {len(have.nodes - exp.nodes)}, missing {len(exp.nodes - have.nodes)}"
        )
    return None
