"""Every failure is one line on stderr with the documented exit code, never a traceback."""

from __future__ import annotations

import socket

import pytest

from tests.cli.conftest import check_golden, run
from tests.cli.fake_api import FakeApi


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _one_error_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("weir: error: ")
    assert "Traceback" not in stderr
    return lines[0]


def test_connection_refused_exits_3(env: dict[str, str], fake: FakeApi) -> None:
    env["WEIR_ENDPOINT"] = f"http://127.0.0.1:{_closed_port()}"
    result = run(["repo", "list"], env)
    assert result.code == 3
    assert "connection refused" in _one_error_line(result.stderr)
    check_golden("error_connection_refused", result)


def test_unknown_host_exits_3(env: dict[str, str], fake: FakeApi) -> None:
    env["WEIR_ENDPOINT"] = "http://no-such-host.invalid:8000"
    result = run(["repo", "list"], env)
    assert result.code == 3
    _one_error_line(result.stderr)


def test_wrong_secret_is_401_one_line_exit_3(env: dict[str, str], fake: FakeApi) -> None:
    env["WEIR_SECRET_ACCESS_KEY"] = "wrong"
    result = run(["branch", "list", "analytics"], env)
    assert result.code == 3
    assert "authentication failed" in _one_error_line(result.stderr)
    check_golden("error_401", result)


def test_missing_repository_is_404_one_line_exit_1(env: dict[str, str], fake: FakeApi) -> None:
    result = run(["branch", "list", "nope"], env)
    assert result.code == 1
    assert "(HTTP 404)" in _one_error_line(result.stderr)
    check_golden("error_404", result)


def test_missing_object_download_is_404(env: dict[str, str], fake: FakeApi, tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = run(["download", "analytics", "main", "nope.txt", str(tmp_path / "x")], env)
    assert result.code == 1
    assert "object 'nope.txt' not found (HTTP 404)" in _one_error_line(result.stderr)
    assert list(tmp_path.iterdir()) == []  # no partial file left behind


def test_409_exists(env: dict[str, str], fake: FakeApi) -> None:
    result = run(["branch", "create", "analytics", "dev"], env)
    assert result.code == 1
    assert "already exists (HTTP 409)" in _one_error_line(result.stderr)


def test_no_credentials_exits_3(env: dict[str, str], fake: FakeApi) -> None:
    del env["WEIR_ACCESS_KEY_ID"], env["WEIR_SECRET_ACCESS_KEY"]
    result = run(["repo", "list"], env)
    assert result.code == 3
    assert "weir login" in _one_error_line(result.stderr)
    assert fake.state.requests == []


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["repo", "create"], "required: NAME"),
        (["frobnicate"], "invalid choice"),
        (["repo", "list", "--bogus"], "unrecognized arguments: --bogus"),
        (["merge", "r", "a", "b", "--strategy", "newest"], "invalid choice: 'newest'"),
        (["merge", "r", "a", "b", "--resolve", "x=left"], "GLOB=source or GLOB=dest"),
        (["commit", "r", "b", "-m", "x", "--meta", "novalue"], "KEY=VALUE"),
        (["commit", "r", "b"], "required: -m/--message"),
        (["log", "r", "main", "--limit", "0"], "positive"),
        (["grant", "add", "u", "--repo", "r", "--action", "sudo"], "invalid choice"),
        (["branch", "reset", "r", "b", "--path", "p", "--to", "x"], "not allowed with"),
    ],
)
def test_usage_errors_exit_2(
    argv: list[str], needle: str, env: dict[str, str], fake: FakeApi
) -> None:
    result = run(argv, env)
    assert result.code == 2
    line = _one_error_line(result.stderr)
    assert needle in line and "--help" in line
    assert result.stdout == ""
    assert fake.state.requests == []


def test_usage_error_golden(env: dict[str, str], fake: FakeApi) -> None:
    check_golden("error_usage", run(["merge", "analytics", "dev"], env))


def test_bare_group_prints_its_help_and_exits_2(env: dict[str, str], fake: FakeApi) -> None:
    result = run(["branch"], env)
    assert result.code == 2
    assert "usage: weir branch" in result.stdout and "protect" in result.stdout


def test_invalid_endpoint_is_a_usage_error(env: dict[str, str], fake: FakeApi) -> None:
    env["WEIR_ENDPOINT"] = "ftp://example.com"
    result = run(["repo", "list"], env)
    assert result.code == 2
    assert "invalid endpoint" in _one_error_line(result.stderr)


def test_invalid_config_file_is_one_line(env: dict[str, str], fake: FakeApi, tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.toml"
    bad.write_text("endpoint = [unclosed\n")
    env["WEIR_CONFIG"] = str(bad)
    del env["WEIR_ENDPOINT"]
    result = run(["repo", "list"], env)
    assert result.code == 2
    assert "not valid TOML" in _one_error_line(result.stderr)


def test_unexpected_exception_is_one_line_unless_debug(
    env: dict[str, str], fake: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway.client import api as client

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(client.AdminClient, "get_commit", boom)
    result = run(["show", "analytics", "main"], env)
    assert result.code == 1
    line = _one_error_line(result.stderr)
    assert "internal error: RuntimeError: kaboom" in line and "WEIR_DEBUG=1" in line
    env["WEIR_DEBUG"] = "1"
    debug = run(["show", "analytics", "main"], env)
    assert debug.code == 1
    assert "Traceback" in debug.stderr and debug.stderr.rstrip().endswith("kaboom")
