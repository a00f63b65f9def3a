"""Completed uploads are remembered: a repeated CompleteMultipartUpload answers the same entry,
for a bounded time, and only for the same key and part list; part sizes come from the manifest.
"""

from __future__ import annotations

import time

import pytest

from gateway.core import errors, keys, multipart
from gateway.core.lake import Lake
from tests.unit.lake_helpers import chunks_of, memory_lake, read


@pytest.fixture
async def lake() -> Lake:
    lk = memory_lake()
    await lk.create_repository("repo")
    return lk


async def _upload(lake: Lake, path: str = "big") -> tuple[str, list[tuple[int, str]]]:
    up = await lake.create_upload("repo", "main", path, content_type="application/x")
    first = await lake.ingest(chunks_of(b"a" * (5 << 20), 1 << 20))
    last = await lake.ingest(chunks_of(b"tail"))
    await lake.put_part("repo", up.upload_id, 1, first)
    await lake.put_part("repo", up.upload_id, 2, last)
    return up.upload_id, [(1, first.md5_hex), (2, f'"{last.md5_hex}"')]


async def test_repeated_completion_returns_the_same_entry(lake: Lake) -> None:
    upload_id, parts = await _upload(lake)
    entry = await lake.complete_upload("repo", upload_id, parts, branch="main", path="big")
    again = await lake.complete_upload("repo", upload_id, parts, branch="main", path="big")
    assert again == entry
    assert await lake.part_sizes(entry) == [5 << 20, 4]
    assert await read(lake, "repo", "main", "big") == b"a" * (5 << 20) + b"tail"


async def test_repeat_with_other_parts_or_key_is_no_such_upload(lake: Lake) -> None:
    upload_id, parts = await _upload(lake)
    await lake.complete_upload("repo", upload_id, parts)
    with pytest.raises(errors.UploadNotFound):
        await lake.complete_upload("repo", upload_id, parts[:1])
    with pytest.raises(errors.UploadNotFound):
        await lake.complete_upload("repo", upload_id, parts, branch="main", path="other")
    with pytest.raises(errors.RepositoryNotFound):
        await lake.complete_upload("nope", upload_id, parts)


async def test_completion_names_the_key_of_the_upload(lake: Lake) -> None:
    upload_id, parts = await _upload(lake)
    with pytest.raises(errors.UploadNotFound):
        await lake.complete_upload("repo", upload_id, parts, branch="main", path="elsewhere")
    await lake.complete_upload("repo", upload_id, parts, branch="main", path="big")


async def test_completed_records_expire(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    upload_id, parts = await _upload(lake)
    await lake.complete_upload("repo", upload_id, parts)
    raw = lake.kv.read_sync(lambda r: r.get(keys.completed("repo", upload_id)))
    assert raw is not None
    created = multipart.completed_created(raw)
    assert abs(created - time.time()) < 60
    assert not multipart.completed_expired(raw, created + multipart.COMPLETED_TTL_SECONDS)
    assert multipart.completed_expired(raw, created + multipart.COMPLETED_TTL_SECONDS + 1)
    later = created + multipart.COMPLETED_TTL_SECONDS + 1
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(errors.UploadNotFound):
        await lake.complete_upload("repo", upload_id, parts)


async def test_deleting_the_repository_drops_completed_records(lake: Lake) -> None:
    upload_id, parts = await _upload(lake)
    await lake.complete_upload("repo", upload_id, parts)
    await lake.delete_repository("repo")
    await lake.drain()
    assert lake.kv.read_sync(lambda r: r.get(keys.completed("repo", upload_id))) is None
