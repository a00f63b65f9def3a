"""SessionStore: tokens are never stored, sessions expire, expired ones are swept."""

from __future__ import annotations

import pytest

from gateway.auth import sessions as sessions_mod
from gateway.auth.sessions import SessionStore
from gateway.meta.memory_store import MemoryKVStore


async def _all_bytes(kv: MemoryKVStore) -> bytes:
    def read(r: object) -> bytes:
        return b"".join(k + v for k, v in r.scan(b"", b"\xff" * 8))  # type: ignore[attr-defined]

    return await kv.read(read)


async def test_the_store_keeps_a_digest_not_the_token() -> None:
    kv = MemoryKVStore()
    store = SessionStore(kv, ttl=60)
    session = await store.create("alice", "AKIAALICE")
    assert session.token and session.csrf_token
    stored = await _all_bytes(kv)
    assert session.token.encode() not in stored
    found = await store.get(session.token)
    assert found is not None
    assert (found.user, found.access_key_id, found.csrf_token) == (
        "alice",
        "AKIAALICE",
        session.csrf_token,
    )
    assert found.token == ""
    assert await store.get(session.token + "x") is None
    assert await store.get("") is None


async def test_sessions_expire_and_are_swept(monkeypatch: pytest.MonkeyPatch) -> None:
    kv = MemoryKVStore()
    store = SessionStore(kv, ttl=100)
    now = [1_000_000.0]
    monkeypatch.setattr(sessions_mod.time, "time", lambda: now[0])
    old = await store.create("alice", "AKIAALICE")
    now[0] += 99
    assert await store.get(old.token) is not None
    now[0] += 2
    assert await store.get(old.token) is None
    fresh = await store.create("bob", "AKIABOB")  # sweeps the expired record
    stored = await _all_bytes(kv)
    assert b"alice" not in stored and b"bob" in stored
    assert await store.get(fresh.token) is not None


async def test_delete_ends_a_session() -> None:
    store = SessionStore(MemoryKVStore(), ttl=60)
    s = await store.create("alice", "AKIAALICE")
    assert await store.delete(s.token) is True
    assert await store.get(s.token) is None
    assert await store.delete(s.token) is False
