"""The CLI against the real Weir server (``python -m gateway serve`` on a free loopback port).

One module-scoped server; each test makes its own repository. This checks that the CLI and the
admin API agree on every shape the fake API only imitates.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import Result, run
from tests.functional.conftest import WeirServer, run_weir


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WeirServer]:
    root = tmp_path_factory.mktemp("weir-cli-e2e")
    with run_weir(root / "data", root / "server.log") as srv:
        yield srv


@pytest.fixture
def env(server: WeirServer, tmp_path: Path) -> dict[str, str]:
    return {
        "WEIR_ENDPOINT": server.endpoint,
        "WEIR_ACCESS_KEY_ID": server.access_key,
        "WEIR_SECRET_ACCESS_KEY": server.secret_key,
        "WEIR_CONFIG": str(tmp_path / "none.toml"),
        "HOME": str(tmp_path),
    }


def ok(argv: list[str], env: dict[str, str], stdin: bytes = b"") -> Result:
    result = run(argv, env, stdin)
    assert result.code == 0, f"weir {argv}: {result.stderr}"
    return result


def test_branch_commit_merge_conflict_log_diff(env: dict[str, str], tmp_path: Path) -> None:
    repo = f"cli-{uuid.uuid4().hex[:10]}"
    ok(["repo", "create", repo], env)
    assert repo in ok(["repo", "list"], env).stdout

    base = tmp_path / "base.csv"
    base.write_bytes(b"id,v\n1,1\n")
    ok(["upload", repo, "main", str(base), "data/t.csv"], env)
    assert "added   data/t.csv" in ok(["diff", repo, "main"], env).stdout
    ok(["commit", repo, "main", "-m", "base", "--meta", "run=1"], env)
    ok(["branch", "create", repo, "dev"], env)

    for branch, text in (("main", b"id,v\n1,main\n"), ("dev", b"id,v\n1,dev-side\n")):
        ok(["upload", repo, branch, "-", "data/t.csv"], env, stdin=text)
        ok(["commit", repo, branch, "-m", f"edit on {branch}"], env)
    ok(["upload", repo, "dev", "-", "data/only-dev.csv"], env, stdin=b"x\n")
    ok(["commit", repo, "dev", "-m", "add only-dev"], env)

    diff = json.loads(ok(["diff", repo, "main", "dev", "--json"], env).stdout)
    assert {(d["type"], d["path"]) for d in diff} == {
        ("changed", "data/t.csv"),
        ("added", "data/only-dev.csv"),
    }

    conflict = run(["merge", repo, "dev", "main"], env)
    assert conflict.code == 1
    header, row = conflict.stdout.splitlines()
    assert header.split() == ["PATH", "KIND", "BASE", "SOURCE", "DEST"]
    # path, kind, then base/source/dest as "<etag prefix> <size>"
    assert re.fullmatch(r"data/t\.csv +both-changed +\w{8} 9 B +\w{8} 16 B +\w{8} 12 B", row), row
    assert conflict.stderr.startswith("weir: error: merge of 'dev' into 'main' stopped with 1")
    as_json = json.loads(run(["merge", repo, "dev", "main", "--json"], env).stdout)
    assert as_json["reference"] == "" and as_json["conflicts"][0]["path"] == "data/t.csv"

    merged = ok(["merge", repo, "dev", "main", "--resolve", "data/*=source", "-m", "take dev"], env)
    assert merged.stdout.startswith("Merged 'dev' into 'main': ")
    assert ok(["cat", repo, "main", "data/t.csv"], env).raw == b"id,v\n1,dev-side\n"

    log = json.loads(ok(["log", repo, "main", "--json"], env).stdout)
    assert [c["message"] for c in log][:2] == ["take dev", "add only-dev"]
    assert len(log[0]["parents"]) == 2
    assert "Meta:      run = 1" in ok(["show", repo, "main~2"], env).stdout
    path_log = ok(["log", repo, "main", "--path", "data/only-dev.csv", "--oneline"], env)
    # The merge brought the file to main (a change against its first parent), as did the commit.
    messages = [line.split("  ")[-1] for line in path_log.stdout.splitlines()]
    assert messages == ["take dev", "add only-dev"]

    two_dot = json.loads(ok(["diff", repo, "main", "dev", "--two-dot", "--json"], env).stdout)
    assert two_dot == []  # after taking dev's side, main and dev hold the same objects
    ok(["repo", "delete", repo, "--yes"], env)


def test_tags_revert_cherry_pick_reset_and_objects(env: dict[str, str], tmp_path: Path) -> None:
    repo = f"cli-{uuid.uuid4().hex[:10]}"
    ok(["repo", "create", repo], env)
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * (5 << 12))  # 5 MiB: several chunks each way
    ok(["upload", repo, "main", str(big), "raw/big.bin"], env)
    ok(["upload", repo, "main", "-", "a.txt"], env, stdin=b"one\n")
    ok(["commit", repo, "main", "-m", "one"], env)
    ok(["tag", "create", repo, "v1", "main"], env)
    assert ok(["tag", "list", repo], env).stdout.splitlines()[1].startswith("v1 ")

    listing = ok(["ls", repo, "v1"], env).stdout.splitlines()
    assert [line.split()[-1] for line in listing[1:]] == ["a.txt", "raw/"]
    out = tmp_path / "out"
    out.mkdir()
    ok(["download", repo, "v1", "raw/big.bin", str(out)], env)  # MD5 checked against the ETag
    assert (out / "big.bin").read_bytes() == big.read_bytes()

    ok(["upload", repo, "main", "-", "a.txt"], env, stdin=b"two\n")
    ok(["commit", repo, "main", "-m", "two"], env)
    ok(["branch", "create", repo, "side", "--source", "v1"], env)
    picked = ok(["cherry-pick", repo, "side", "main"], env)
    assert picked.stdout.startswith("commit ") and "two" in picked.stdout
    assert ok(["cat", repo, "side", "a.txt"], env).raw == b"two\n"

    reverted = ok(["revert", repo, "main", "main"], env)
    assert "Revert" in reverted.stdout
    assert ok(["cat", repo, "main", "a.txt"], env).raw == b"one\n"

    ok(["upload", repo, "side", "-", "tmp.txt"], env, stdin=b"scratch")
    assert "tmp.txt" in ok(["diff", repo, "side"], env).stdout
    ok(["branch", "reset", repo, "side", "--path", "tmp.txt", "--yes"], env)
    assert ok(["diff", repo, "side", "--json"], env).stdout == "[]\n"
    ok(["branch", "reset", repo, "side", "--to", "v1", "--yes"], env)
    side = json.loads(ok(["show", repo, "side", "--json"], env).stdout)
    assert side["id"] == json.loads(ok(["show", repo, "v1", "--json"], env).stdout)["id"]
    ok(["branch", "delete", repo, "side", "--yes"], env)
    ok(["tag", "delete", repo, "v1"], env)
    ok(["repo", "delete", repo, "--yes"], env)


def test_protection_and_grants_are_enforced_for_cli_users(
    env: dict[str, str], tmp_path: Path
) -> None:
    repo = f"cli-{uuid.uuid4().hex[:10]}"
    user = f"u{uuid.uuid4().hex[:8]}"
    ok(["repo", "create", repo], env)
    ok(["branch", "protect", repo, "main"], env)
    refused = run(["upload", repo, "main", "-", "x.txt"], env, stdin=b"x")
    assert refused.code == 1 and "(HTTP 403)" in refused.stderr

    ok(["user", "create", user], env)
    key = json.loads(ok(["user", "key", "create", user, "--json"], env).stdout)
    ok(["grant", "add", user, "--repo", repo, "--action", "read"], env)
    as_user = {
        **env,
        "WEIR_ACCESS_KEY_ID": key["access_key_id"],
        "WEIR_SECRET_ACCESS_KEY": key["secret_access_key"],
    }
    assert ok(["branch", "list", repo], as_user).stdout.startswith("BRANCH")
    denied = run(["branch", "create", repo, "nope"], as_user)
    assert denied.code == 1 and "(HTTP 403)" in denied.stderr

    ok(["user", "key", "revoke", user, key["access_key_id"]], env)
    revoked = run(["branch", "list", repo], as_user)
    assert revoked.code == 3 and "authentication failed" in revoked.stderr
    ok(["user", "delete", user], env)
    ok(["repo", "delete", repo, "--yes"], env)


def test_login_against_the_real_server(server: WeirServer, tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    argv = ["login", "--endpoint", server.hostport, "--access-key-id", server.access_key]
    result = run([*argv, "--secret-access-key", server.secret_key], {"WEIR_CONFIG": str(cfg)})
    assert result.code == 0, result.stderr
    assert (cfg.stat().st_mode & 0o777) == 0o600
    assert run(["repo", "list"], {"WEIR_CONFIG": str(cfg)}).code == 0
    me = run(["whoami"], {"WEIR_CONFIG": str(cfg)})
    assert me.code == 0 and me.stdout.startswith("User:        admin (admin)\n")
    bad = run([*argv, "--secret-access-key", "wrong"], {"WEIR_CONFIG": str(tmp_path / "b.toml")})
    assert bad.code == 3 and not (tmp_path / "b.toml").exists()


def test_every_route_the_cli_needs_is_in_weirs_openapi(server: WeirServer) -> None:
    """The fake API serves exactly what the CLI calls; the real server must document it all."""
    import http.client

    from tests.cli.fake_api import FakeApi

    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    conn.request("GET", "/api/v1/openapi.json")
    doc = json.loads(conn.getresponse().read())
    conn.close()

    def shape(path: str) -> str:
        return re.sub(r"\{[^}]+\}", "{}", path.removeprefix("/api/v1"))

    served = {(m.upper(), shape(p)) for p, ops in doc["paths"].items() for m in ops}
    needed = {
        (route.method, shape(route.resource.canonical))
        for route in FakeApi().app().router.routes()
        if route.resource is not None and route.method != "HEAD"
    }
    assert needed - served == set()
