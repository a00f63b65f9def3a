"""``weir blame`` and the path-history API against the real server."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import run
from tests.cli.weir_e2e import api, cli_env, ok
from tests.functional.conftest import WeirServer, run_weir


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WeirServer]:
    root = tmp_path_factory.mktemp("weir-cli-paths")
    with run_weir(root / "data", root / "server.log") as srv:
        yield srv


@pytest.fixture
def env(server: WeirServer, tmp_path: Path) -> dict[str, str]:
    return cli_env(server, tmp_path)


def test_blame_follows_a_merge_to_the_commit_that_wrote_the_content(
    env: dict[str, str], server: WeirServer
) -> None:
    repo = f"paths-{uuid.uuid4().hex[:8]}"
    ok(["repo", "create", repo], env)
    ok(["upload", repo, "main", "-", "data/a.csv"], env, stdin=b"a1\n")
    ok(["upload", repo, "main", "-", "data/b.csv"], env, stdin=b"b1\n")
    ok(["commit", repo, "main", "-m", "load a and b"], env)
    ok(["branch", "create", repo, "fix"], env)
    ok(["upload", repo, "fix", "-", "data/b.csv"], env, stdin=b"b2\n")
    ok(["commit", repo, "fix", "-m", "fix b"], env)
    ok(["merge", repo, "fix", "main", "-m", "merge fix"], env)

    table = ok(["blame", repo, "main", "data/"], env).stdout.splitlines()
    assert table[0].split() == ["PATH", "COMMIT", "DATE", "COMMITTER", "MESSAGE"]
    messages = {line.split()[0]: line.split("  ")[-1].strip() for line in table[1:]}
    assert messages == {"data/a.csv": "load a and b", "data/b.csv": "fix b"}
    one = json.loads(ok(["blame", repo, "main", "data/b.csv", "--json"], env).stdout)
    assert [x["commit"]["message"] for x in one] == ["fix b"]
    assert one[0]["object"]["size_bytes"] == 3

    # log --path shows the merge that brought the change in and the commit that made it.
    log = ok(["log", repo, "main", "--path", "data/b.csv", "--oneline"], env).stdout
    assert [line.split("  ")[-1] for line in log.splitlines()] == [
        "merge fix",
        "fix b",
        "load a and b",
    ]
    # First-parent history: the states main went through (what S3 versions are).
    status, body = api(
        server, "GET", f"/repositories/{repo}/refs/main/history?path=data/b.csv&first_parent=true"
    )
    assert status == 200
    versions = body["results"]
    assert [v["commit"]["message"] for v in versions] == ["merge fix", "load a and b"]
    assert [v["object"]["size_bytes"] for v in versions] == [3, 3]
    missing = run(["blame", repo, "main", "data/none.csv"], env)
    assert missing.code == 1 and "not found" in missing.stderr
