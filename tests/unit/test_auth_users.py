"""UserStore: users, access keys, grants, bootstrap, and the authorization rule."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from gateway.auth.grants import Grant, allows, parse_action, ref_base_name
from gateway.auth.users import AccessKeyNotFound, GrantNotFound, UserStore
from gateway.core.access import Action, Principal
from gateway.core.errors import (
    AccessDenied,
    AlreadyExists,
    Conflict,
    InvalidArgument,
    InvalidName,
    UserNotFound,
)

T = TypeVar("T")
KEY = bytes(range(32))


class DictKV:
    """A minimal ordered KV with all-or-nothing write transactions (copy on write)."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.generations: dict[str, int] = {}
        self._lock = threading.Lock()

    class _Txn:
        def __init__(self, data: dict[bytes, bytes]) -> None:
            self.data = data
            self.touched: list[str] = []

        def touch(self, topic: str) -> None:
            self.touched.append(topic)

        def get(self, key: bytes) -> bytes | None:
            return self.data.get(key)

        def scan(
            self, start: bytes, end: bytes | None = None, *, reverse: bool = False
        ) -> Iterator[tuple[bytes, bytes]]:
            keys = sorted(self.data)
            lo = bisect.bisect_left(keys, start)
            hi = len(keys) if end is None else bisect.bisect_left(keys, end)
            chosen = keys[lo:hi]
            for k in reversed(chosen) if reverse else chosen:
                yield k, self.data[k]

        def put(self, key: bytes, value: bytes) -> None:
            self.data[key] = value

        def delete(self, key: bytes) -> bool:
            return self.data.pop(key, None) is not None

    def read_sync(self, fn: Callable[..., T]) -> T:
        return fn(self._Txn(dict(self.data)))

    def write_sync(self, fn: Callable[..., T]) -> T:
        with self._lock:
            txn = self._Txn(dict(self.data))
            result = fn(txn)
            self.data = txn.data
            for topic in txn.touched:
                self.generations[topic] = self.generations.get(topic, 0) + 1
            return result

    def generation(self, topic: str) -> int:
        return self.generations.get(topic, 0)

    async def read(self, fn: Callable[..., T]) -> T:
        return self.read_sync(fn)

    async def write(self, fn: Callable[..., T]) -> T:
        return self.write_sync(fn)

    def close(self) -> None:
        pass


@pytest.fixture
def kv() -> DictKV:
    return DictKV()


@pytest.fixture
def store(kv: DictKV) -> UserStore:
    return UserStore(kv, secret_key=KEY)


async def test_bootstrap_creates_one_admin_once(store: UserStore, kv: DictKV) -> None:
    created = await store.ensure_admin("AKIAADMIN0000001", "admin-secret")
    assert created is not None and created.user == "admin"
    assert created.access_key_id == "AKIAADMIN0000001"
    found = await store.lookup("AKIAADMIN0000001")
    assert found == (Principal("admin", "AKIAADMIN0000001", is_admin=True), "admin-secret")
    # Second start: nothing changes, even with other credentials in the environment.
    assert await store.ensure_admin("AKIAOTHER0000002", "x") is None
    assert await store.lookup("AKIAOTHER0000002") is None
    # Only u/ and g/ keys are used; the secret is not stored in clear.
    assert all(k.startswith((b"u/", b"g/")) for k in kv.data)
    assert not any(b"admin-secret" in v for v in kv.data.values())


async def test_bootstrap_generates_credentials(store: UserStore) -> None:
    created = await store.ensure_admin()
    assert created is not None
    assert created.access_key_id.startswith("AKIA") and len(created.access_key_id) == 20
    assert len(created.secret_access_key) >= 40
    assert "secret_access_key" not in repr(created)
    found = await store.lookup(created.access_key_id)
    assert found is not None and found[1] == created.secret_access_key


async def test_bootstrap_needs_both_halves(store: UserStore) -> None:
    with pytest.raises(InvalidArgument):
        await store.ensure_admin("AKIAONLYID000001", None)


async def test_user_lifecycle(store: UserStore) -> None:
    await store.ensure_admin("AKIAADMIN0000001", "admin-secret")
    alice = await store.create_user("alice")
    assert not alice.admin
    with pytest.raises(AlreadyExists):
        await store.create_user("alice")
    with pytest.raises(InvalidName):
        await store.create_user("bad/name")
    assert (await store.get_user("alice")).name == "alice"
    users, more = await store.list_users()
    assert [u.name for u in users] == ["admin", "alice"] and not more
    page, more = await store.list_users(limit=1)
    assert [u.name for u in page] == ["admin"] and more
    page, more = await store.list_users(after="admin")
    assert [u.name for u in page] == ["alice"] and not more
    assert [u.name for u in (await store.list_users(prefix="al"))[0]] == ["alice"]

    creds = await store.create_credentials("alice")
    found = await store.lookup(creds.access_key_id)
    assert found is not None
    assert found[0] == Principal("alice", creds.access_key_id, is_admin=False)
    assert found[1] == creds.secret_access_key
    keys, _ = await store.list_credentials("alice")
    assert [k.access_key_id for k in keys] == [creds.access_key_id]

    await store.delete_user("alice")
    assert await store.lookup(creds.access_key_id) is None
    with pytest.raises(UserNotFound):
        await store.get_user("alice")
    with pytest.raises(UserNotFound):
        await store.create_credentials("alice")


async def test_revoked_key_stops_working_immediately(store: UserStore) -> None:
    await store.create_user("bob")
    one = await store.create_credentials("bob", "AKIABOB000000001", "first")
    two = await store.create_credentials("bob")
    assert await store.lookup(one.access_key_id) is not None  # now cached
    await store.delete_credentials("bob", one.access_key_id)
    assert await store.lookup(one.access_key_id) is None
    assert await store.lookup(two.access_key_id) is not None
    with pytest.raises(AccessKeyNotFound):
        await store.delete_credentials("bob", one.access_key_id)
    with pytest.raises(AlreadyExists):
        await store.create_credentials("bob", two.access_key_id, "again")


async def test_key_of_another_user_cannot_be_revoked_through_wrong_user(store: UserStore) -> None:
    await store.create_user("a")
    await store.create_user("b")
    key = await store.create_credentials("a")
    with pytest.raises(AccessKeyNotFound):
        await store.delete_credentials("b", key.access_key_id)
    assert await store.lookup(key.access_key_id) is not None


async def test_last_admin_cannot_be_deleted(store: UserStore) -> None:
    await store.ensure_admin()
    with pytest.raises(Conflict):
        await store.delete_user("admin")
    await store.create_user("root2", admin=True)
    await store.delete_user("admin")


async def test_grants_and_check(store: UserStore) -> None:
    await store.create_user("carol")
    creds = await store.create_credentials("carol")
    found = await store.lookup(creds.access_key_id)
    assert found is not None
    carol = found[0]
    with pytest.raises(AccessDenied):
        await store.check(carol, Action.READ, "sales", "main")
    g = await store.add_grant("carol", Grant("sales*", "dev-*", Action.COMMIT))
    with pytest.raises(AlreadyExists):
        await store.add_grant("carol", Grant("sales*", "dev-*", Action.COMMIT))
    await store.check(carol, Action.COMMIT, "sales-eu", "dev-1")
    await store.check(carol, Action.WRITE, "sales", "dev-x")  # implied
    await store.check(carol, Action.READ, "sales", None)  # repository-wide read
    with pytest.raises(AccessDenied):
        await store.check(carol, Action.ADMIN, "sales", "dev-1")
    with pytest.raises(AccessDenied):
        await store.check(carol, Action.WRITE, "sales", "main")
    with pytest.raises(AccessDenied):
        await store.check(carol, Action.READ, "hr", "dev-1")
    with pytest.raises(AccessDenied):
        await store.check(carol, Action.COMMIT, "sales", None)  # needs branch "*"
    assert [x.id for x in await store.list_grants("carol")] == [g.id]
    await store.delete_grant("carol", g.id)
    with pytest.raises(AccessDenied):
        await store.check(carol, Action.READ, "sales", "dev-1")
    with pytest.raises(GrantNotFound):
        await store.delete_grant("carol", g.id)


async def test_admin_may_do_everything(store: UserStore) -> None:
    admin = Principal("admin", "AKIA", is_admin=True)
    for action in Action:
        await store.check(admin, action, None)
        await store.check(admin, action, "any", "branch")


@pytest.mark.parametrize(
    ("grant", "action", "repo", "branch", "expected"),
    [
        (Grant("*", "*", Action.READ), Action.READ, None, None, True),
        (Grant("*", "*", Action.ADMIN), Action.ADMIN, None, None, False),  # global: admins only
        (Grant("r", "*", Action.ADMIN), Action.ADMIN, "r", None, True),
        (Grant("r", "main", Action.ADMIN), Action.ADMIN, "r", None, False),
        (Grant("r", "main", Action.READ), Action.READ, "r", None, True),
        (Grant("r", "main", Action.READ), Action.READ, "r", "main", True),
        (Grant("r", "main", Action.READ), Action.WRITE, "r", "main", False),
        (Grant("r?", "feat/[ab]*", Action.WRITE), Action.WRITE, "r1", "feat/a1", True),
        (Grant("r?", "feat/[ab]*", Action.WRITE), Action.WRITE, "r1", "feat/c1", False),
        (Grant("R", "*", Action.READ), Action.READ, "r", "x", False),  # case-sensitive
    ],
)
def test_allows_table(
    grant: Grant, action: Action, repo: str | None, branch: str | None, expected: bool
) -> None:
    assert allows([grant], action, repo, branch) is expected


def test_ref_base_name_and_actions() -> None:
    assert ref_base_name("main~2") == "main"
    assert ref_base_name("main@") == "main"
    assert ref_base_name("main^2~1") == "main"
    assert ref_base_name("v1.0") == "v1.0"
    assert parse_action("Commit") is Action.COMMIT
    with pytest.raises(ValueError):
        parse_action("owner")
    assert Grant("a", "b", Action.READ).id == Grant("a", "b", Action.READ).id
    assert Grant("a", "b", Action.READ).id != Grant("a", "b", Action.WRITE).id


async def test_caches_follow_changes_made_by_another_user_store() -> None:
    """Two UserStores on one metadata store stand for two worker processes: a revocation or a
    grant change through one is seen by the other's very next lookup or check."""
    from gateway.meta.memory_store import MemoryKVStore

    shared = MemoryKVStore()
    one, other = UserStore(shared, secret_key=KEY), UserStore(shared, secret_key=KEY)
    await one.ensure_admin("AKIAADMIN0000001", "admin-secret")
    await one.create_user("alice")
    key = await one.create_credentials("alice")
    grant = await one.add_grant("alice", Grant("lake", "*", Action.WRITE))
    alice = Principal("alice", key.access_key_id)
    assert await other.lookup(key.access_key_id) is not None  # cached in `other`
    await other.check(alice, Action.WRITE, "lake", "main")  # grants cached in `other`
    await one.delete_grant("alice", grant.id)
    with pytest.raises(AccessDenied):
        await other.check(alice, Action.WRITE, "lake", "main")
    await one.delete_credentials("alice", key.access_key_id)
    assert await other.lookup(key.access_key_id) is None
    assert await other.lookup("AKIAADMIN0000001") is not None
