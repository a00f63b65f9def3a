# mypy: disable-error-code="no-untyped-call"
"""The real, unmodified lakeFS clients (``lakefs`` 0.16.0 SDK and ``lakefs-spec`` 0.15.1) against a
running Weir server (``weir_server``: a subprocess on a free port), through every flow of the
reference (``lakefs-api.md`` section 8).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import lakefs
import pytest
from lakefs.exceptions import (
    ConflictException,
    ForbiddenException,
    NotAuthorizedException,
    NotFoundException,
    ObjectExistsException,
)
from lakefs_spec import LakeFSFileSystem

from tests.functional.admin_conftest import ServerAdmin
from tests.functional.conftest import WeirServer


@pytest.fixture(scope="module")
def client(weir_server: WeirServer) -> lakefs.Client:
    return lakefs.Client(
        host=weir_server.endpoint,
        username=weir_server.access_key,
        password=weir_server.secret_key,
    )


@pytest.fixture
def repo(client: lakefs.Client) -> Iterator[lakefs.Repository]:
    name = f"lk-{uuid.uuid4().hex[:10]}"
    r = lakefs.Repository(name, client=client).create(
        storage_namespace=f"local://{name}", default_branch="main"
    )
    yield r
    r.delete()


@pytest.fixture(scope="module")
def fs(weir_server: WeirServer) -> LakeFSFileSystem:
    return LakeFSFileSystem(
        host=weir_server.endpoint,
        username=weir_server.access_key,
        password=weir_server.secret_key,
    )


def test_config_and_bad_credentials(client: lakefs.Client, weir_server: WeirServer) -> None:
    assert client.version == "1.50.0"
    assert client.storage_config.pre_sign_support is False
    bad = lakefs.Client(host=weir_server.endpoint, username="AKIANOBODY", password="wrong")
    with pytest.raises(NotAuthorizedException):
        lakefs.Repository("whatever", client=bad).properties  # noqa: B018


def test_repository_and_branches(client: lakefs.Client, repo: lakefs.Repository) -> None:
    again = lakefs.Repository(repo.id, client=client).create(
        storage_namespace="local://x", exist_ok=True
    )
    assert again.properties.default_branch == "main"
    dev = repo.branch("dev").create(source_reference="main")
    assert dev.create(source_reference="main", exist_ok=True).id == "dev"
    with pytest.raises(ConflictException):
        repo.branch("dev").create(source_reference="main")
    assert {b.id for b in repo.branches()} == {"main", "dev"}
    assert dev.head.id == repo.branch("main").head.id
    assert repo.metadata == {}
    dev.delete()
    assert {b.id for b in repo.branches()} == {"main"}
    with pytest.raises(NotFoundException):
        repo.branch("nope").head  # noqa: B018


def test_object_io(repo: lakefs.Repository) -> None:
    dev = repo.branch("dev").create(source_reference="main")
    obj = dev.object("data/hello world.txt")
    obj.upload(data=b"hello, weir", content_type="text/plain", metadata={"Owner": "me"})
    assert obj.reader().read() == b"hello, weir"
    with obj.reader() as r:
        assert r.read(5) == b"hello"
        r.seek(7)
        assert r.read() == b"weir"
        assert r.read() == b""  # 416 at EOF becomes b""
    stat = obj.stat()
    assert stat.size_bytes == 11 and stat.content_type == "text/plain"
    assert stat.metadata == {"owner": "me"}
    assert obj.exists()
    with pytest.raises(ObjectExistsException):
        obj.upload(data=b"again", mode="x")
    obj.delete()
    assert not obj.exists()
    with pytest.raises(NotFoundException):
        obj.delete()


def test_big_upload_streams(repo: lakefs.Repository) -> None:
    data = bytes(range(256)) * 16384  # 4 MiB through a chunked raw body
    obj = repo.branch("main").object("big.bin")
    obj.upload(data=data)
    assert obj.reader(mode="rb").read() == data


def test_listing_and_pagination(repo: lakefs.Repository) -> None:
    main = repo.branch("main")
    for name in ["a/1", "a/2", "a/3", "b/1", "c"]:
        main.object(name).upload(data=name.encode())
    assert [o.path for o in main.objects(prefix="a/")] == ["a/1", "a/2", "a/3"]
    assert [o.path for o in main.objects(amount=2)] == ["a/1", "a/2", "a/3", "b/1", "c"]
    top = list(main.objects(delimiter="/"))
    assert [o.path for o in top] == ["a/", "b/", "c"]
    assert list(main.objects(prefix="nothing/")) == []
    assert [o.path for o in main.objects(max_amount=2)] == ["a/1", "a/2"]


def test_commit_diff_merge_log(repo: lakefs.Repository) -> None:
    main = repo.branch("main")
    dev = repo.branch("dev").create(source_reference="main")
    dev.object("x").upload(data=b"x")
    dev.object("y").upload(data=b"y")
    assert {c.path for c in dev.uncommitted()} == {"x", "y"}
    ref = dev.commit(message="add x y", metadata={"k": "v"})
    commit = ref.get_commit()
    assert commit.message == "add x y" and commit.metadata == {"k": "v"}
    assert list(dev.uncommitted()) == []
    changes = list(main.diff(dev))
    assert [(c.path, c.type) for c in changes] == [("x", "added"), ("y", "added")]
    merged = dev.merge_into(main)
    assert main.get_commit().id == merged
    assert main.object("x").reader().read() == b"x"
    messages = [c.message for c in main.log()]
    assert "add x y" in messages and messages[-1] == "Repository created"
    assert len(list(main.log(max_amount=1))) == 1


def test_merge_conflict(repo: lakefs.Repository) -> None:
    main = repo.branch("main")
    main.object("f").upload(data=b"base")
    main.commit(message="base")
    dev = repo.branch("dev").create(source_reference="main")
    dev.object("f").upload(data=b"dev")
    dev.commit(message="dev")
    main.object("f").upload(data=b"main")
    main.commit(message="main")
    with pytest.raises(ConflictException):
        dev.merge_into(main)
    dev.merge_into(main, strategy="source-wins")
    assert main.object("f").reader().read() == b"dev"


def test_tags_revert_reset(repo: lakefs.Repository) -> None:
    main = repo.branch("main")
    main.object("a").upload(data=b"1")
    first = main.commit(message="one").get_commit()
    tag = repo.tag("v1").create(source_ref=main)
    assert tag.get_commit().id == first.id
    assert repo.tag("v1").create(source_ref=main, exist_ok=True).id == "v1"
    assert [t.id for t in repo.tags()] == ["v1"]
    main.object("a").upload(data=b"2")
    second = main.commit(message="two").get_commit()
    assert repo.commit("main~1").get_commit().id == first.id
    main.revert(second.id)
    assert main.object("a").reader().read() == b"1"
    main.object("b").upload(data=b"b")
    main.object("c/d").upload(data=b"d")
    main.reset_changes(path_type="object", path="b")
    assert [c.path for c in main.uncommitted()] == ["c/d"]
    main.reset_changes()
    assert list(main.uncommitted()) == []
    tag.delete()
    assert list(repo.tags()) == []


def test_transact(repo: lakefs.Repository) -> None:
    main = repo.branch("main")
    with main.transact(commit_message="in a transaction") as tx:
        tx.object("t/1").upload(data=b"one")
        tx.object("t/2").upload(data=b"two")
    assert main.object("t/2").reader().read() == b"two"
    assert [b.id for b in repo.branches()] == ["main"]
    assert any(c.message == "in a transaction" for c in main.log())


def test_lakefs_spec_filesystem(
    fs: LakeFSFileSystem, repo: lakefs.Repository, tmp_path: Path
) -> None:
    local = tmp_path / "local.csv"
    local.write_bytes(b"a,b\n1,2\n")
    fs.put_file(str(local), f"lakefs://{repo.id}/main/data/file.csv")
    fs.put_file(str(local), f"lakefs://{repo.id}/feature/data/file.csv")  # creates the branch
    listing = fs.ls(f"lakefs://{repo.id}/main/data/", detail=False)
    assert listing == [f"{repo.id}/main/data/file.csv"]
    with fs.open(f"lakefs://{repo.id}/main/data/file.csv", "rb") as f:
        assert f.read() == b"a,b\n1,2\n"
    assert fs.cat_file(f"lakefs://{repo.id}/main/data/file.csv", start=2, end=5) == b"b\n1"
    assert fs.exists(f"lakefs://{repo.id}/feature/data/file.csv")
    fs.touch(f"lakefs://{repo.id}/main/empty")
    repo.branch("main").commit(message="files")  # a merge needs a clean destination
    with fs.transaction(repo.id, "main") as tx:
        fs.pipe(f"lakefs://{repo.id}/{tx.branch.id}/tx.txt", b"in tx")
        tx.commit(message="fsspec transaction")
    with fs.open(f"lakefs://{repo.id}/main/tx.txt", "rb") as f:
        assert f.read() == b"in tx"
    fs.rm(f"lakefs://{repo.id}/main/data/file.csv")
    assert not fs.exists(f"lakefs://{repo.id}/main/data/file.csv")


def test_cherry_pick_copy_batch_delete(repo: lakefs.Repository) -> None:
    main = repo.branch("main")
    main.object("seed").upload(data=b"s")
    main.commit(message="seed")
    dev = repo.branch("dev").create(source_reference="main")
    dev.object("picked").upload(data=b"p")
    picked = dev.commit(message="to pick").get_commit()
    commit = main.cherry_pick(picked.id)
    assert commit.message and main.object("picked").reader().read() == b"p"
    copied = main.object("picked").copy("dev", "copies/picked")
    assert copied.reader().read() == b"p"
    assert copied.stat().checksum == main.object("picked").stat().checksum
    dev.delete_objects(["picked", "copies/picked", "never-there"])
    assert [o.path for o in dev.objects()] == ["seed"]
    history = [c.message for c in main.log(objects=["picked"])]
    assert history == [commit.message]
    assert repo.ref("main~1").get_commit().message == "seed"


def test_presigned_mode_on_request(repo: lakefs.Repository) -> None:
    obj = repo.branch("main").object("presigned/file.bin")
    obj.upload(data=b"via staging", pre_sign=True, content_type="application/x-p")
    assert obj.stat().content_type == "application/x-p"
    assert obj.reader(pre_sign=True).read() == b"via staging"
    with pytest.raises(ObjectExistsException):
        obj.upload(data=b"again", mode="x", pre_sign=True)


def test_grants_and_protection_through_the_clients(
    weir_server: WeirServer, repo: lakefs.Repository
) -> None:
    admin = ServerAdmin(weir_server)
    user = f"reader-{uuid.uuid4().hex[:6]}"
    admin.call("POST", "/auth/users", 201, {"id": user})
    creds = admin.call("POST", f"/auth/users/{user}/credentials", 201)
    admin.call(
        "POST",
        f"/auth/users/{user}/grants",
        201,
        {"repository": repo.id, "branch": "*", "action": "read"},
    )
    repo.branch("main").object("f").upload(data=b"f")
    reader = lakefs.Client(
        host=weir_server.endpoint,
        username=creds["access_key_id"],
        password=creds["secret_access_key"],
    )
    mine = lakefs.Repository(repo.id, client=reader)
    assert mine.branch("main").object("f").reader().read() == b"f"
    with pytest.raises(ForbiddenException):
        mine.branch("main").object("g").upload(data=b"no")
    reader_fs = LakeFSFileSystem(
        host=weir_server.endpoint,
        username=creds["access_key_id"],
        password=creds["secret_access_key"],
    )
    assert reader_fs.cat_file(f"lakefs://{repo.id}/main/f") == b"f"
    with pytest.raises(PermissionError):
        reader_fs.pipe_file(f"lakefs://{repo.id}/main/g", b"no")

    repo.branch("main").commit(message="seed")
    admin.call(
        "PUT", f"/repositories/{repo.id}/settings/branch_protection", 204, [{"pattern": "main"}]
    )
    with pytest.raises(ForbiddenException):
        repo.branch("main").object("direct").upload(data=b"x")
    with repo.branch("main").transact(commit_message="merged in") as tx:  # merges are allowed
        tx.object("via-merge").upload(data=b"ok")
    assert repo.branch("main").object("via-merge").reader().read() == b"ok"
