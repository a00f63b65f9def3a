"""``--help`` renders for every command and group, with examples for every command."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from gateway.cli.main import build_parser
from tests.cli.conftest import check_golden, run
from tests.cli.fake_api import FakeApi


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], bool]]:
    """Every (command path, is_leaf) under ``parser``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                children = list(_commands(sub, (*path, name)))
                yield (*path, name), not children
                yield from children


COMMANDS = sorted(_commands(build_parser()))


def test_every_issue_command_exists() -> None:
    names = {" ".join(p) for p, _ in COMMANDS}
    expected = {
        "login", "repo create", "repo list", "repo delete", "branch create", "branch list",
        "branch delete", "branch reset", "branch protect", "tag create", "tag list",
        "tag delete", "commit", "log", "diff", "merge", "revert", "cherry-pick", "show", "ls",
        "cat", "upload", "download", "user create", "user list", "user delete",
        "user key create", "user key revoke", "grant add", "grant list", "grant remove", "serve",
    }  # fmt: skip
    assert expected <= names


@pytest.mark.parametrize(("path", "leaf"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_help_renders(path: tuple[str, ...], leaf: bool, fake: FakeApi) -> None:
    result = run([*path, "--help"], {})
    assert result.code == 0
    assert result.stdout.startswith(f"usage: weir {' '.join(path)}")
    assert result.stderr == ""
    if leaf and path != ("serve",):
        assert "Examples:\n  weir " + path[0] in result.stdout
        assert "--json" in result.stdout  # global options are accepted after the command


def test_top_level_help_golden(fake: FakeApi) -> None:
    check_golden("help", run(["--help"], {}))


def test_merge_help_golden(fake: FakeApi) -> None:
    check_golden("help_merge", run(["merge", "--help"], {}))


def test_version(fake: FakeApi) -> None:
    result = run(["--version"], {})
    assert result.code == 0 and result.stdout.startswith("weir ")


def test_no_command_prints_help_exit_2(fake: FakeApi) -> None:
    result = run([], {})
    assert result.code == 2 and result.stdout.startswith("usage: weir")
