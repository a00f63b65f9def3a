"""Lineage end to end: commit inputs through the CLI and the admin API, the upstream and
downstream graphs across repositories, drawings, and who may see what."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import lakefs
import pytest

from tests.cli.conftest import run
from tests.cli.weir_e2e import api, cli_env, ok
from tests.functional.conftest import WeirServer, run_weir


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WeirServer]:
    root = tmp_path_factory.mktemp("weir-cli-lineage")
    with run_weir(root / "data", root / "server.log") as srv:
        yield srv


@pytest.fixture
def env(server: WeirServer, tmp_path: Path) -> dict[str, str]:
    return cli_env(server, tmp_path)


def test_model_traced_back_to_raw_data_and_forward_again(
    env: dict[str, str], server: WeirServer
) -> None:
    tag = uuid.uuid4().hex[:6]
    raw, data, models = f"raw-{tag}", f"data-{tag}", f"models-{tag}"
    for repo in (raw, data, models):
        ok(["repo", "create", repo], env)
    ok(["upload", raw, "main", "-", "raw/a.csv"], env, stdin=b"id\n1\n")
    land = json.loads(ok(["commit", raw, "main", "-m", "land raw", "--json"], env).stdout)
    ok(["upload", data, "main", "-", "features/f.parquet"], env, stdin=b"PAR1")
    feat = json.loads(
        ok(
            ["commit", data, "main", "-m", "features", "--input", f"{raw}@main:raw/", "--json"],
            env,
        ).stdout
    )
    assert feat["inputs"] == [
        {"repository": raw, "commit_id": land["id"], "ref": "main", "path": "raw/"}
    ]
    ok(["upload", data, "main", "-", "other.txt"], env, stdin=b"x")
    later = json.loads(ok(["commit", data, "main", "-m", "unrelated", "--json"], env).stdout)
    assert "inputs" not in later  # lakeFS clients see the usual commit shape
    ok(["upload", models, "main", "-", "model.pt"], env, stdin=b"weights")
    argv = ["commit", models, "main", "-m", "train", "--input", f"{data}@main:features/"]
    ok([*argv, "--meta", "git=3f2a9c1", "--meta", "lr=0.1"], env)
    assert (
        f"Input:     {data}@{later['id']}:features/ (main)"
        in ok(["show", models, "main"], env).stdout
    )

    tree = ok(["lineage", models, "main", "model.pt"], env).stdout.splitlines()
    assert tree[0].startswith(f"{models}@") and '"train"' in tree[0] and "git=3f2a9c1" in tree[0]
    assert tree[1].startswith(f"└── input features/ (ref main): {data}@{later['id'][:12]}")
    assert tree[2].startswith(f"    └── contains features/: {data}@{feat['id'][:12]}")
    assert tree[3].startswith(f"        └── input raw/ (ref main): {raw}@{land['id'][:12]}")
    assert len(tree) == 4

    graph = json.loads(ok(["lineage", models, "main", "--json"], env).stdout)
    assert graph["direction"] == "upstream" and not graph["truncated"]
    kinds = sorted(
        (e["kind"], e["from"].split("@")[0], e["to"].split("@")[0]) for e in graph["edges"]
    )
    assert kinds == [("contains", data, data), ("input", data, models), ("input", raw, data)]
    shallow = json.loads(ok(["lineage", models, "main", "--depth", "1", "--json"], env).stdout)
    assert shallow["truncated"] and len(shallow["edges"]) == 2

    down = ok(["lineage", raw, "main", "raw/a.csv", "--downstream"], env).stdout.splitlines()
    assert down[0].startswith(f"{raw}@{land['id'][:12]}")
    assert down[1].startswith(f"└── input raw/ (ref main): {data}@{feat['id'][:12]}")
    assert down[2].startswith(f"    └── contains (everything): {data}@{later['id'][:12]}")
    assert down[3].startswith(f"        └── input features/ (ref main): {models}@")

    dot = ok(["lineage", models, "main", "--format", "dot"], env).stdout
    assert dot.startswith("digraph lineage {") and dot.count("->") == 3
    mermaid = ok(["lineage", models, "main", "--format", "mermaid"], env).stdout
    assert mermaid.startswith("flowchart LR") and mermaid.count("-->") == 3
    status, text = api(server, "GET", f"/repositories/{models}/refs/main/lineage?format=dot")
    assert status == 200 and text == dot

    # The unmodified lakeFS SDK reads a commit that has inputs.
    client = lakefs.Client(
        host=server.endpoint, username=server.access_key, password=server.secret_key
    )
    assert lakefs.Repository(models, client=client).ref("main").get_commit().message == "train"


def test_inputs_need_read_access_and_unreadable_lineage_is_not_expanded(
    env: dict[str, str], server: WeirServer, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:6]
    secret_repo, models = f"secret-{tag}", f"models-{tag}"
    ok(["repo", "create", secret_repo], env)
    ok(["repo", "create", models], env)
    ok(["upload", secret_repo, "main", "-", "pii.csv"], env, stdin=b"name\nann\n")
    ok(["commit", secret_repo, "main", "-m", "pii"], env)
    ok(["upload", models, "main", "-", "m.bin"], env, stdin=b"w")
    ok(["commit", models, "main", "-m", "m", "--input", f"{secret_repo}@main"], env)

    user = f"u{tag}"
    ok(["user", "create", user], env)
    key = json.loads(ok(["user", "key", "create", user, "--json"], env).stdout)
    ok(["grant", "add", user, "--repo", models, "--action", "commit"], env)
    mine = cli_env(server, tmp_path, key["access_key_id"], key["secret_access_key"])

    graph = json.loads(ok(["lineage", models, "main", "--json"], mine).stdout)
    hidden = [n for n in graph["nodes"] if n["repository"] == secret_repo]
    assert len(hidden) == 1 and not hidden[0]["readable"] and hidden[0]["commit"] is None
    assert "(not readable)" in ok(["lineage", models, "main"], mine).stdout

    ok(["upload", models, "main", "-", "m2.bin"], mine, stdin=b"w2")
    denied = run(["commit", models, "main", "-m", "x", "--input", f"{secret_repo}@main"], mine)
    assert denied.code == 1 and "HTTP 403" in denied.stderr
    status, body = api(
        server,
        "POST",
        f"/repositories/{models}/branches/main/commits",
        {"message": "x", "inputs": [{"repository": secret_repo, "ref": "main"}]},
        key=key["access_key_id"],
        secret=key["secret_access_key"],
    )
    assert status == 403 and body["message"]
    status, body = api(
        server,
        "POST",
        f"/repositories/{models}/branches/main/commits",
        {"message": "x", "inputs": ["no-at-sign"]},
    )
    assert status == 400 and "REPO@REF" in body["message"]
    status, body = api(
        server,
        "GET",
        f"/repositories/{secret_repo}/refs/main/lineage?direction=downstream",
    )
    assert status == 200 and len(body["edges"]) == 1
    status, body = api(
        server,
        "GET",
        f"/repositories/{secret_repo}/refs/main/lineage?direction=downstream",
        key=key["access_key_id"],
        secret=key["secret_access_key"],
    )
    assert status == 403
