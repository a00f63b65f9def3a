"""Golden output of every client command against the fake API: tables and ``--json``."""

from __future__ import annotations

import json

import pytest

from tests.cli.conftest import check_golden, run
from tests.cli.fake_api import FakeApi

GOLDEN_CASES = {
    "repo_list": ["repo", "list"],
    "repo_list_json": ["repo", "list", "--json"],
    "repo_list_json_global": ["--json", "repo", "list", "--limit", "2"],
    "repo_create": ["repo", "create", "new-repo"],
    "repo_delete": ["repo", "delete", "zeta", "--yes"],
    "branch_list": ["branch", "list", "analytics"],
    "branch_create": ["branch", "create", "analytics", "exp", "--source", "dev"],
    "branch_create_default_source": ["branch", "create", "analytics", "exp2"],
    "branch_delete": ["branch", "delete", "analytics", "dev", "-y"],
    "branch_reset": ["branch", "reset", "analytics", "dev", "--yes"],
    "branch_reset_path": ["branch", "reset", "analytics", "dev", "--path", "a.csv", "--yes"],
    "branch_reset_to": ["branch", "reset", "analytics", "dev", "--to", "main~1", "--yes"],
    "branch_protect_list": ["branch", "protect", "analytics"],
    "branch_protect_add": ["branch", "protect", "analytics", "release-*"],
    "branch_protect_remove": ["branch", "protect", "analytics", "--remove", "main"],
    "tag_list": ["tag", "list", "analytics"],
    "tag_create": ["tag", "create", "analytics", "v2.0", "main"],
    "tag_delete": ["tag", "delete", "analytics", "v1.0"],
    "commit": ["commit", "analytics", "dev", "-m", "Nightly load", "--meta", "job=etl-7"],
    "commit_json": ["commit", "analytics", "dev", "-m", "Nightly", "--json"],
    "commit_protected": ["commit", "analytics", "main", "-m", "direct"],
    "log": ["log", "analytics", "main"],
    "log_oneline_limit": ["log", "analytics", "main", "--oneline", "--limit", "2"],
    "log_path": ["log", "analytics", "main", "--path", "data/", "--oneline"],
    "log_json": ["log", "analytics", "dev", "--json"],
    "show": ["show", "analytics", "main~1"],
    "show_merge": ["show", "analytics", "main"],
    "show_json": ["show", "analytics", "v1.0", "--json"],
    "diff_three_dot": ["diff", "analytics", "main", "dev"],
    "diff_two_dot": ["diff", "analytics", "main", "dev", "--two-dot"],
    "diff_uncommitted": ["diff", "analytics", "dev"],
    "diff_json": ["diff", "analytics", "main", "dev", "--prefix", "data/", "--json"],
    "merge": ["merge", "analytics", "dev", "main", "-m", "Adopt dev"],
    "merge_json": ["merge", "analytics", "dev", "main", "--json"],
    "merge_conflict": ["merge", "analytics", "conflicting", "main"],
    "merge_conflict_json": ["merge", "analytics", "conflicting", "main", "--json"],
    "merge_resolved": ["merge", "analytics", "conflicting", "main", "--resolve", "data/*=source"],
    "revert": ["revert", "analytics", "dev", "v1.0"],
    "revert_conflict": ["revert", "analytics", "dev", "conflicting"],
    "cherry_pick": ["cherry-pick", "analytics", "main", "c2111", "--parent", "1"],
    "ls": ["ls", "analytics", "main"],
    "ls_prefix": ["ls", "analytics", "main", "data/"],
    "ls_recursive": ["ls", "analytics", "main", "--recursive"],
    "ls_json": ["ls", "analytics", "main", "data/", "--json"],
    "rm": ["rm", "analytics", "dev", "data/a.csv", "README.md"],
    "whoami": ["whoami"],
    "user_list": ["user", "list"],
    "user_list_json": ["user", "list", "--json"],
    "user_create": ["user", "create", "ops", "--admin"],
    "user_delete": ["user", "delete", "ana"],
    "user_key_create": ["user", "key", "create", "ana"],
    "user_key_revoke": ["user", "key", "revoke", "ana", "AKIAOLD"],
    "grant_list": ["grant", "list", "ana"],
    "grant_add": ["grant", "add", "ana", "--repo", "team-*", "--action", "commit"],
    "grant_remove": ["grant", "remove", "ana", "--repo", "analytics", "--action", "read"],
    "grant_remove_id": ["grant", "remove", "ana", "--id", "g1"],
    "grant_remove_missing": ["grant", "remove", "ana", "--repo", "x", "--action", "read"],
    "user_key_list": ["user", "key", "list", "ana"],
}


# Cases whose point is a failure (exit 1); every other case must succeed, so a golden file can
# never silently record a bug as the expected output.
FAILING = {
    "commit_protected",
    "merge_conflict",
    "merge_conflict_json",
    "revert_conflict",
    "grant_remove_missing",
}


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_golden(name: str, env: dict[str, str], fake: FakeApi) -> None:
    result = run(GOLDEN_CASES[name], env)
    assert result.code == (1 if name in FAILING else 0), result.stderr
    check_golden(name, result)


def test_json_output_is_valid_json_of_all_pages(env: dict[str, str], fake: FakeApi) -> None:
    result = run(["repo", "list", "--json"], env)
    assert result.code == 0
    ids = [r["id"] for r in json.loads(result.stdout)]
    assert ids == ["analytics", "web-logs", "zeta"]  # three items across two pages of two
    afters = [r["query"].get("after") for r in fake.state.requests]
    assert afters == [None, ["web-logs"]]


def test_commit_sends_message_metadata_and_paths(env: dict[str, str], fake: FakeApi) -> None:
    argv = ["commit", "analytics", "dev", "-m", "m", "--meta", "a=1", "--meta", "b=x=y"]
    result = run([*argv, "--path", "reports/", "--path", "c.csv"], env)
    assert result.code == 0
    body = fake.state.requests[-1]["json"]
    assert body == {
        "message": "m",
        "metadata": {"a": "1", "b": "x=y"},
        "paths": ["reports/", "c.csv"],
    }


def test_merge_sends_strategy_and_resolutions(env: dict[str, str], fake: FakeApi) -> None:
    argv = ["merge", "analytics", "conflicting", "main", "--strategy", "dest-wins"]
    result = run(
        [*argv, "--resolve", "data/*=source", "--resolve", "a=b=dest", "--meta", "k=v"], env
    )
    assert result.code == 0
    body = fake.state.requests[-1]["json"]
    assert body["strategy"] == "dest-wins"
    assert body["resolutions"] == [
        {"pattern": "data/*", "side": "source"},
        {"pattern": "a=b", "side": "dest"},
    ]
    assert body["metadata"] == {"k": "v"}


def test_log_path_filter_splits_objects_and_prefixes(env: dict[str, str], fake: FakeApi) -> None:
    result = run(["log", "analytics", "main", "--path", "data/", "--path", "x.csv"], env)
    assert result.code == 0
    query = fake.state.requests[-1]["query"]
    assert query["prefixes"] == ["data/"]
    assert query["objects"] == ["x.csv"]


def test_limit_stops_paging(env: dict[str, str], fake: FakeApi) -> None:
    result = run(["log", "analytics", "main", "--limit", "1", "--json"], env)
    assert [c["id"][:2] for c in json.loads(result.stdout)] == ["c3"]
    assert len(fake.state.requests) == 1


def test_protect_changes_rules_with_etag(env: dict[str, str], fake: FakeApi) -> None:
    result = run(["branch", "protect", "analytics", "rel-*", "--remove", "main"], env)
    assert result.code == 0
    assert fake.state.protection == ["rel-*"]
    put = fake.state.requests[-1]
    assert put["method"] == "PUT" and put["headers"].get("If-Match", "").startswith('"')


def test_grant_remove_by_fields_deletes_that_grant_id(env: dict[str, str], fake: FakeApi) -> None:
    fake.state.grants["ana"].append(
        {"id": "g9", "repository": "r*", "branch": "b", "action": "write"}
    )
    argv = ["grant", "remove", "ana", "--repo", "r*", "--branch", "b", "--action", "write"]
    assert run(argv, env).code == 0
    req = fake.state.requests[-1]
    assert req["method"] == "DELETE" and req["path"] == "/api/v1/auth/users/ana/grants/g9"
    assert [g["id"] for g in fake.state.grants["ana"]] == ["g1"]


def test_grant_remove_needs_id_or_fields(env: dict[str, str], fake: FakeApi) -> None:
    result = run(["grant", "remove", "ana", "--repo", "r"], env)
    assert result.code == 2 and "give --id" in result.stderr


def test_path_parameters_are_percent_encoded(env: dict[str, str], fake: FakeApi) -> None:
    run(["show", "analytics", "main@"], env)
    assert fake.state.requests[-1]["raw_path"] == "/api/v1/repositories/analytics/commits/main%40"
    run(["show", "analytics", "a/b"], env)
    assert fake.state.requests[-1]["raw_path"].endswith("/commits/a%2Fb")


def test_destructive_commands_need_yes_without_a_terminal(
    env: dict[str, str], fake: FakeApi
) -> None:
    for argv in (["repo", "delete", "zeta"], ["branch", "delete", "analytics", "dev"]):
        result = run(argv, env)
        assert result.code == 2
        assert "needs confirmation: add --yes" in result.stderr
    assert "zeta" in fake.state.repos and all(r["method"] == "GET" for r in fake.state.requests)


def test_key_revoke_positional_does_not_replace_the_credentials(
    env: dict[str, str], fake: FakeApi
) -> None:
    result = run(["user", "key", "revoke", "ana", "AKIAOTHER"], env)
    assert result.code == 0, result.stderr
    assert fake.state.requests[-1]["path"] == "/api/v1/auth/users/ana/credentials/AKIAOTHER"


def test_no_positional_shares_a_dest_with_a_global_option() -> None:
    import argparse

    from gateway.cli.main import build_parser

    reserved = {"endpoint", "access_key_id", "secret_access_key", "json"}

    def walk(parser: argparse.ArgumentParser) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    walk(sub)
            elif not action.option_strings:
                assert action.dest not in reserved, f"{parser.prog}: {action.dest}"

    walk(build_parser())
