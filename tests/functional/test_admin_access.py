"""The cross-API access matrix: every role x every operation x both APIs.

One table of roles (grants) and one rule (``expected``) say what each role may do; each
operation declares the action it needs and the branches it touches. The admin half runs the
operations in-process over HTTP; the S3 half runs the same kind of operations with boto3 against
the real server (``weir_server``). A grant must mean the same thing on both APIs.
"""

from __future__ import annotations

import fnmatch
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from botocore.exceptions import ClientError

from gateway.core.access import Action
from tests.functional.admin_conftest import (  # noqa: F401
    AdminApi,
    ServerAdmin,
    admin_api,
    admin_api_module,
)
from tests.functional.conftest import WeirServer

REPO_GLOB = "mx-*"


@dataclass(frozen=True)
class Role:
    name: str
    action: Action | None  # None: no grant at all
    branches: str = "*"
    admin: bool = False

    def grants(self) -> list[dict[str, str]]:
        if self.action is None or self.admin:
            return []
        return [
            {"repository": REPO_GLOB, "branch": self.branches, "action": self.action.name.lower()}
        ]


ROLES = [
    Role("nobody", None),
    Role("reader", Action.READ),
    Role("writer", Action.WRITE),
    Role("committer", Action.COMMIT),
    Role("repo-admin", Action.ADMIN),
    Role("dev-writer", Action.WRITE, branches="dev"),
    Role("admin", None, admin=True),
]


def expected(role: Role, action: Action, scope: tuple[str, ...]) -> bool:
    """The rule, stated independently of the implementation.

    ``scope``: ``("global",)`` for no repository, ``()`` for repository-wide, else the branches
    touched (READ for all but the first, which gets ``action``).
    """
    if role.admin:
        return True
    if role.action is None:
        return False
    if scope == ("global",):
        return False  # creating repositories is for admins
    if not scope:
        return role.action.value >= action.value and (action is Action.READ or role.branches == "*")
    target, *reads = scope
    return (
        role.action.value >= action.value
        and fnmatch.fnmatchcase(target, role.branches)
        and all(fnmatch.fnmatchcase(b, role.branches) for b in reads)
    )


# -- the admin API half -------------------------------------------------------------------------

AdminCall = Callable[[AdminApi, str], Awaitable[int]]


@dataclass(frozen=True)
class AdminOp:
    name: str
    action: Action
    scope: tuple[str, ...]
    call: AdminCall
    success: int


def _req(method: str, path: str, **kw: Any) -> AdminCall:
    async def call(api: AdminApi, repo: str) -> int:
        resp = await api.call(method, path.format(r=f"/repositories/{repo}"), **kw)
        await resp.read()
        return resp.status

    return call


async def _create_repo(api: AdminApi, repo: str) -> int:
    resp = await api.call(
        "POST", "/repositories", json={"name": f"{repo}-new", "storage_namespace": "local://x"}
    )
    return resp.status


ADMIN_OPS = [
    AdminOp("get-repo", Action.READ, (), _req("GET", "{r}"), 200),
    AdminOp("list-branches", Action.READ, (), _req("GET", "{r}/branches"), 200),
    AdminOp("list-tags", Action.READ, (), _req("GET", "{r}/tags"), 200),
    AdminOp(
        "read-main",
        Action.READ,
        ("main",),
        _req("GET", "{r}/refs/main/objects", params={"path": "a"}),
        200,
    ),
    AdminOp(
        "read-dev~1",
        Action.READ,
        ("dev",),
        _req("GET", "{r}/refs/dev~1/objects/stat", params={"path": "a"}),
        200,
    ),
    AdminOp("ls-dev", Action.READ, ("dev",), _req("GET", "{r}/refs/dev/objects/ls"), 200),
    AdminOp("log-dev", Action.READ, ("dev",), _req("GET", "{r}/refs/dev/commits"), 200),
    AdminOp("staged-diff-dev", Action.READ, ("dev",), _req("GET", "{r}/branches/dev/diff"), 200),
    AdminOp(
        "diff-main-dev", Action.READ, ("main", "dev"), _req("GET", "{r}/refs/main/diff/dev"), 200
    ),
    AdminOp(
        "upload-dev",
        Action.WRITE,
        ("dev",),
        _req("POST", "{r}/branches/dev/objects", params={"path": "n"}, data=b"x"),
        201,
    ),
    AdminOp(
        "upload-main",
        Action.WRITE,
        ("main",),
        _req("POST", "{r}/branches/main/objects", params={"path": "n"}, data=b"x"),
        201,
    ),
    AdminOp(
        "delete-dev",
        Action.WRITE,
        ("dev",),
        _req("DELETE", "{r}/branches/dev/objects", params={"path": "d"}),
        204,
    ),
    AdminOp(
        "reset-dev",
        Action.WRITE,
        ("dev",),
        _req("PUT", "{r}/branches/dev", json={"type": "reset"}),
        204,
    ),
    AdminOp(
        "commit-dev",
        Action.COMMIT,
        ("dev",),
        _req("POST", "{r}/branches/dev/commits", json={"message": "m", "allow_empty": True}),
        201,
    ),
    AdminOp(
        "branch-dev2-from-dev",
        Action.COMMIT,
        ("dev2", "dev"),
        _req("POST", "{r}/branches", json={"name": "dev2", "source": "dev"}),
        201,
    ),
    AdminOp(
        "merge-dev-into-main",
        Action.COMMIT,
        ("main", "dev"),
        _req("POST", "{r}/refs/dev/merge/main", json={}),
        200,
    ),
    AdminOp("delete-branch-dev", Action.COMMIT, ("dev",), _req("DELETE", "{r}/branches/dev"), 204),
    AdminOp(
        "create-tag",
        Action.COMMIT,
        (),
        _req("POST", "{r}/tags", json={"id": "t1", "ref": "main"}),
        201,
    ),
    AdminOp(
        "protect",
        Action.ADMIN,
        (),
        _req("PUT", "{r}/settings/branch_protection", json=[{"pattern": "x"}]),
        204,
    ),
    AdminOp("delete-repo", Action.ADMIN, (), _req("DELETE", "{r}"), 204),
    AdminOp("create-repo", Action.ADMIN, ("global",), _create_repo, 201),
]


async def _seed(api: AdminApi, repo: str) -> None:
    """main: committed ``a``; dev: main + committed ``d``; tag t0."""
    r = f"/repositories/{repo}"
    await api.json(
        "POST", "/repositories", 201, json={"name": repo, "storage_namespace": "local://x"}
    )
    await api.json("POST", f"{r}/branches/main/objects", 201, params={"path": "a"}, data=b"a")
    await api.json("POST", f"{r}/branches/main/commits", 201, json={"message": "a"})
    await api.json("POST", f"{r}/branches", 201, json={"name": "dev", "source": "main"})
    await api.json("POST", f"{r}/branches/dev/objects", 201, params={"path": "d"}, data=b"d")
    await api.json("POST", f"{r}/branches/dev/commits", 201, json={"message": "d"})


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def role_clients(admin_api_module: AdminApi) -> dict[str, AdminApi]:  # noqa: F811
    """One user per role on the module's app."""
    clients: dict[str, AdminApi] = {}
    for role in ROLES:
        if role.admin:
            await admin_api_module.json(
                "POST", "/auth/users", 201, json={"id": "boss", "admin": True}
            )
            creds = await admin_api_module.json("POST", "/auth/users/boss/credentials", 201)
            clients[role.name] = admin_api_module.as_user(
                creds["access_key_id"], creds["secret_access_key"]
            )
        else:
            clients[role.name] = await admin_api_module.new_user(role.name, *role.grants())
    return clients


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("op", ADMIN_OPS, ids=[o.name for o in ADMIN_OPS])
@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
async def test_admin_api_matrix(
    admin_api_module: AdminApi,  # noqa: F811
    role_clients: dict[str, AdminApi],
    role: Role,
    op: AdminOp,
) -> None:
    repo = f"mx-{uuid.uuid4().hex[:8]}"
    await _seed(admin_api_module, repo)
    status = await op.call(role_clients[role.name], repo)
    allowed = expected(role, op.action, op.scope)
    assert status == (op.success if allowed else 403), f"{role.name} {op.name}: {status}"


async def test_repository_listing_is_filtered(admin_api: AdminApi) -> None:  # noqa: F811
    for name in ("mx-one", "other"):
        await admin_api.json(
            "POST", "/repositories", 201, json={"name": name, "storage_namespace": "local://x"}
        )
    reader = await admin_api.new_user("r", *Role("reader", Action.READ).grants())
    page = await reader.json("GET", "/repositories", 200)
    assert [r["id"] for r in page["results"]] == ["mx-one"]
    nobody = await admin_api.new_user("n")
    assert (await nobody.json("GET", "/repositories", 200))["results"] == []


# -- the S3 half --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_roles(weir_server: WeirServer) -> Iterator[dict[str, Any]]:
    """One boto3 client per role on the real server (users created once per module)."""
    admin = ServerAdmin(weir_server)
    clients: dict[str, Any] = {}
    suffix = uuid.uuid4().hex[:6]
    for role in ROLES:
        user = f"s3-{role.name}-{suffix}"
        admin.call("POST", "/auth/users", 201, {"id": user, "admin": role.admin})
        creds = admin.call("POST", f"/auth/users/{user}/credentials", 201)
        for g in role.grants():
            admin.call("POST", f"/auth/users/{user}/grants", 201, g)
        server = WeirServer(
            weir_server.host,
            weir_server.port,
            creds["access_key_id"],
            creds["secret_access_key"],
            weir_server.pid,
            weir_server.data_dir,
            weir_server.log_path,
        )
        clients[role.name] = server.boto3_client()
    clients["__admin__"] = admin
    yield clients


S3Call = Callable[[Any, str], Any]


@dataclass(frozen=True)
class S3Op:
    name: str
    action: Action
    scope: tuple[str, ...]
    call: S3Call
    allowed_errors: tuple[str, ...] = ()  # error codes that still prove access was granted


S3_OPS = [
    S3Op("head-bucket", Action.READ, (), lambda s3, b: s3.head_bucket(Bucket=b)),
    S3Op(
        "list-dev", Action.READ, ("dev",), lambda s3, b: s3.list_objects_v2(Bucket=b, Prefix="dev/")
    ),
    S3Op("get-main", Action.READ, ("main",), lambda s3, b: s3.get_object(Bucket=b, Key="main/a")),
    S3Op("get-dev~1", Action.READ, ("dev",), lambda s3, b: s3.head_object(Bucket=b, Key="dev~1/a")),
    S3Op(
        "put-dev",
        Action.WRITE,
        ("dev",),
        lambda s3, b: s3.put_object(Bucket=b, Key="dev/n", Body=b"x"),
    ),
    S3Op(
        "put-main",
        Action.WRITE,
        ("main",),
        lambda s3, b: s3.put_object(Bucket=b, Key="main/n", Body=b"x"),
    ),
    S3Op(
        "delete-dev", Action.WRITE, ("dev",), lambda s3, b: s3.delete_object(Bucket=b, Key="dev/d")
    ),
    S3Op(
        "copy-main-to-dev",
        Action.WRITE,
        ("dev", "main"),
        lambda s3, b: s3.copy_object(
            Bucket=b, Key="dev/c", CopySource={"Bucket": b, "Key": "main/a"}
        ),
    ),
    S3Op(
        "delete-bucket",
        Action.ADMIN,
        (),
        lambda s3, b: s3.delete_bucket(Bucket=b),
        allowed_errors=("BucketNotEmpty",),
    ),
    S3Op(
        "create-bucket",
        Action.ADMIN,
        ("global",),
        lambda s3, b: s3.create_bucket(Bucket=f"{b}-new"),
    ),
]


@pytest.mark.parametrize("op", S3_OPS, ids=[o.name for o in S3_OPS])
@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_s3_api_matrix(s3_roles: dict[str, Any], role: Role, op: S3Op) -> None:
    admin: ServerAdmin = s3_roles["__admin__"]
    repo = f"mx-{uuid.uuid4().hex[:8]}"
    r = f"/repositories/{repo}"
    admin.call("POST", "/repositories", 201, {"name": repo, "storage_namespace": "local://x"})
    admin.call("POST", f"{r}/branches/main/objects", 201, raw=b"a", path="a")
    admin.call("POST", f"{r}/branches/main/commits", 201, {"message": "a"})
    admin.call("POST", f"{r}/branches", 201, {"name": "dev", "source": "main"})
    admin.call("POST", f"{r}/branches/dev/objects", 201, raw=b"d", path="d")
    admin.call("POST", f"{r}/branches/dev/commits", 201, {"message": "d"})
    allowed = expected(role, op.action, op.scope)
    try:
        op.call(s3_roles[role.name], repo)
        outcome = "ok"
    except ClientError as exc:
        outcome = exc.response["Error"]["Code"]
    if allowed:
        assert outcome == "ok" or outcome in op.allowed_errors, f"{role.name} {op.name}: {outcome}"
    else:
        assert outcome in ("AccessDenied", "403"), f"{role.name} {op.name}: {outcome}"


def test_s3_list_buckets_is_filtered(s3_roles: dict[str, Any]) -> None:
    admin: ServerAdmin = s3_roles["__admin__"]
    repo = f"mx-{uuid.uuid4().hex[:8]}"
    admin.call("POST", "/repositories", 201, {"name": repo, "storage_namespace": "local://x"})
    for role in ROLES:
        names = {b["Name"] for b in s3_roles[role.name].list_buckets()["Buckets"]}
        assert (repo in names) is expected(role, Action.READ, ()), role.name


async def test_existing_branch_is_409_for_a_writer(admin_api: AdminApi) -> None:  # noqa: F811
    """lakefs-spec creates the branch (exist_ok) before every write: a writer must see 409."""
    repo = "mx-exists"
    await _seed(admin_api, repo)
    writer = await admin_api.new_user("w", *Role("writer", Action.WRITE).grants())
    path = f"/repositories/{repo}/branches"
    await writer.json("POST", path, 409, json={"name": "dev", "source": "main"})
    await writer.json("POST", path, 403, json={"name": "new", "source": "main"})
    outsider = await admin_api.new_user("o", {"repository": "other", "action": "write"})
    await outsider.json("POST", path, 403, json={"name": "dev", "source": "main"})


def test_every_route_declares_its_authorization() -> None:
    """A new route cannot silently skip authorization: it declares checks, is public on
    purpose, or is on one of these short, reviewed lists."""
    from gateway.admin.app import ALL_ROUTES

    any_user = {"getConfig", "getLakeFSVersion", "getStorageConfig", "getCurrentUser"}
    any_user |= {"getSession", "deleteSession"}  # the caller's own browser session
    # createBranch: COMMIT on the name from the body; listRepositories: filtered by READ.
    checked_in_handler = {"createBranch", "listRepositories"}
    # Runs by id: the run service checks (the run's user or an admin; READ to see one).
    checked_in_handler |= {"listRuns", "getRun", "renewRun", "finishRun", "rerunRun", "compareRun"}
    # listAudit: ADMIN globally, or on the repository named by the `repository` filter.
    checked_in_handler |= {"listAudit"}
    checked_in_handler |= {"listRunOutputs"}
    public = {"healthCheck", "getOpenAPI", "uploadStaged"}  # uploadStaged: the token is the key
    public |= {"createSession"}  # sign-in: the key pair in the body is checked like Basic
    for spec in ALL_ROUTES:
        if spec.public:
            assert spec.operation_id in public, spec.operation_id
        elif not spec.checks:
            assert spec.operation_id in any_user | checked_in_handler, spec.operation_id
