"""The presigned-upload area is kept in the metadata store: shared by worker processes, bounded,
expiring, one-time."""

from __future__ import annotations

import pytest

from gateway.admin import routes_staging
from gateway.admin.routes_staging import StagingArea, StagingNotFound
from gateway.core.errors import InvalidArgument
from gateway.core.ids import BlobId
from gateway.core.model import BlobInfo
from gateway.meta.memory_store import MemoryKVStore

BLOB = BlobInfo(BlobId("ab" * 32), 5, "0" * 32)


async def test_a_token_issued_by_one_worker_is_served_by_another() -> None:
    kv = MemoryKVStore()
    one, other = StagingArea(kv), StagingArea(kv)  # two worker processes, one store
    token, _ = await one.issue("lake", "main", "p/x", "alice")
    assert other.get(token).path == "p/x"
    await other.uploaded(token, BLOB)
    with pytest.raises(StagingNotFound):
        await one.take(token, "lake", "main", "elsewhere")
    taken = await one.take(token, "lake", "main", "p/x")
    assert taken.blob == BLOB and taken.user == "alice"
    with pytest.raises(StagingNotFound):
        await other.take(token, "lake", "main", "p/x")  # one time only
    with pytest.raises(StagingNotFound):
        other.get("../../not-a-token")


async def test_pending_uploads_are_bounded_and_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1_000_000.0]
    monkeypatch.setattr(routes_staging.time, "time", lambda: now[0])
    area = StagingArea(MemoryKVStore(), ttl=60, max_pending=2)
    first, _ = await area.issue("lake", "main", "a", "u")
    second, _ = await area.issue("lake", "main", "b", "u")
    with pytest.raises(InvalidArgument):
        await area.issue("lake", "main", "c", "u")
    await area.uploaded(first, BLOB)
    await area.take(first, "lake", "main", "a")  # frees a slot
    third, _ = await area.issue("lake", "main", "c", "u")
    now[0] += 61  # both pending ones expire
    with pytest.raises(StagingNotFound):
        area.get(second)
    with pytest.raises(StagingNotFound):
        await area.uploaded(third, BLOB)
    await area.issue("lake", "main", "d", "u")  # expired ones no longer count
    await area.issue("lake", "main", "e", "u")
