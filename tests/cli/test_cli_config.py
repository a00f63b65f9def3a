"""Where settings come from (flag > env > config file) and ``weir login``."""

from __future__ import annotations

import json
import socket
import stat
from pathlib import Path

from gateway.cli import settings
from tests.cli.conftest import check_golden, run
from tests.cli.fake_api import KEY, SECRET, FakeApi


def _closed_endpoint() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def _write(path: Path, **values: str) -> None:
    settings.write_config(path, values)


def test_resolve_precedence_flag_env_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    _write(cfg, endpoint="http://file:1", access_key_id="file-key", secret_access_key="file-s")
    env = {"WEIR_CONFIG": str(cfg), "WEIR_ACCESS_KEY_ID": "env-key"}
    got = settings.resolve({"secret_access_key": "flag-s"}, env)
    assert (got.endpoint, got.access_key_id, got.secret_access_key) == (
        "http://file:1",
        "env-key",
        "flag-s",
    )
    assert got.sources == {
        "endpoint": str(cfg),
        "access_key_id": "WEIR_ACCESS_KEY_ID",
        "secret_access_key": "flag",
    }


def test_resolve_defaults_without_any_source(tmp_path: Path) -> None:
    got = settings.resolve({}, {"HOME": str(tmp_path)})
    assert got.endpoint == settings.DEFAULT_ENDPOINT and got.access_key_id == ""
    assert settings.config_path({"HOME": str(tmp_path)}) == tmp_path / ".config/weir/config.toml"
    xdg = {"XDG_CONFIG_HOME": str(tmp_path / "x")}
    assert settings.config_path(xdg) == tmp_path / "x/weir/config.toml"


def test_config_file_alone_is_enough(tmp_path: Path, fake: FakeApi) -> None:
    cfg = tmp_path / "weir.toml"
    _write(cfg, endpoint=fake.endpoint, access_key_id=KEY, secret_access_key=SECRET)
    result = run(["repo", "list", "--json"], {"WEIR_CONFIG": str(cfg)})
    assert result.code == 0, result.stderr


def test_env_beats_file_and_flag_beats_env(tmp_path: Path, fake: FakeApi) -> None:
    cfg = tmp_path / "weir.toml"
    _write(cfg, endpoint=_closed_endpoint(), access_key_id=KEY, secret_access_key=SECRET)
    env = {"WEIR_CONFIG": str(cfg)}
    assert run(["repo", "list"], env).code == 3  # the file's endpoint refuses connections
    env["WEIR_ENDPOINT"] = fake.endpoint
    assert run(["repo", "list"], env).code == 0  # env endpoint wins over the file
    env["WEIR_SECRET_ACCESS_KEY"] = "wrong"
    assert run(["repo", "list"], env).code == 3  # env secret (wrong) wins over the file's
    ok = run(["repo", "list", "--secret-access-key", SECRET], env)
    assert ok.code == 0  # the flag wins over env, given after the subcommand ...
    ok = run(["--secret-access-key", SECRET, "repo", "list"], env)
    assert ok.code == 0  # ... or before it
    refused = run(["--endpoint", _closed_endpoint(), "repo", "list"], env)
    assert refused.code == 3  # the endpoint flag wins over env


def test_login_with_flags_writes_0600_file(tmp_path: Path, fake: FakeApi) -> None:
    cfg = tmp_path / "sub" / "config.toml"
    argv = ["login", "--endpoint", fake.endpoint.removeprefix("http://")]
    result = run(
        [*argv, "--access-key-id", KEY, "--secret-access-key", SECRET], {"WEIR_CONFIG": str(cfg)}
    )
    assert result.code == 0, result.stderr
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
    assert stat.S_IMODE(cfg.parent.stat().st_mode) == 0o700
    assert settings.read_config(cfg) == {
        "endpoint": fake.endpoint + "/api/v1",
        "access_key_id": KEY,
        "secret_access_key": SECRET,
    }
    assert fake.state.requests[-1]["path"] == "/api/v1/config"
    assert "Authorization" in fake.state.requests[-1]["headers"]
    check_golden("login_flags", result, replace={str(tmp_path): "TMP"})
    # The saved file then serves later commands on its own.
    assert run(["branch", "list", "analytics"], {"WEIR_CONFIG": str(cfg)}).code == 0


def test_login_prompts_and_overwrites(tmp_path: Path, fake: FakeApi) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('endpoint = "http://old:1"\n')
    cfg.chmod(0o644)
    answers = f"{fake.endpoint}\n{KEY}\n{SECRET}\n".encode()
    result = run(["login"], {"WEIR_CONFIG": str(cfg)}, stdin=answers)
    assert result.code == 0, result.stderr
    assert "Endpoint [http://old:1]: " in result.stderr
    assert "Secret access key: " in result.stderr and SECRET not in result.stderr
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
    assert settings.read_config(cfg)["secret_access_key"] == SECRET


def test_login_prompt_defaults_from_env(tmp_path: Path, fake: FakeApi) -> None:
    cfg = tmp_path / "config.toml"
    env = {"WEIR_CONFIG": str(cfg), "WEIR_ENDPOINT": fake.endpoint, "WEIR_ACCESS_KEY_ID": KEY}
    result = run(["login"], env, stdin=f"\n\n{SECRET}\n".encode())
    assert result.code == 0, result.stderr
    assert settings.read_config(cfg)["access_key_id"] == KEY


def test_login_rejected_key_writes_nothing(tmp_path: Path, fake: FakeApi) -> None:
    cfg = tmp_path / "config.toml"
    argv = ["login", "--endpoint", fake.endpoint, "--access-key-id", KEY]
    result = run([*argv, "--secret-access-key", "bad"], {"WEIR_CONFIG": str(cfg)})
    assert result.code == 3
    assert (
        result.stderr.startswith("weir: error: login failed")
        and len(result.stderr.splitlines()) == 1
    )
    assert not cfg.exists()


def test_login_unreachable_writes_nothing_unless_no_verify(tmp_path: Path, fake: FakeApi) -> None:
    cfg = tmp_path / "config.toml"
    argv = [
        "login",
        "--endpoint",
        _closed_endpoint(),
        "--access-key-id",
        "k",
        "--secret-access-key",
        "s",
    ]
    assert run(argv, {"WEIR_CONFIG": str(cfg)}).code == 3
    assert not cfg.exists()
    assert run([*argv, "--no-verify"], {"WEIR_CONFIG": str(cfg)}).code == 0
    assert settings.read_config(cfg)["access_key_id"] == "k"


def test_login_without_answers_is_a_usage_error(tmp_path: Path, fake: FakeApi) -> None:
    result = run(["login", "--endpoint", fake.endpoint], {"WEIR_CONFIG": str(tmp_path / "c")})
    assert result.code == 2
    assert "no access key id given" in result.stderr.splitlines()[-1]


def test_values_with_quotes_round_trip(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    tricky = 'se"cr\\et\u00e9'
    _write(cfg, endpoint="http://h:1", access_key_id="k", secret_access_key=tricky)
    assert settings.read_config(cfg)["secret_access_key"] == tricky


def test_whoami_shows_where_each_setting_came_from(tmp_path: Path, fake: FakeApi) -> None:
    cfg = tmp_path / "weir.toml"
    _write(cfg, endpoint=fake.endpoint, access_key_id="file-key", secret_access_key=SECRET)
    env = {"WEIR_CONFIG": str(cfg), "WEIR_ACCESS_KEY_ID": KEY}
    result = run(["whoami", "--json"], env)
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["user"]["id"] == "admin"
    assert data["sources"] == {
        "endpoint": str(cfg),
        "access_key_id": "WEIR_ACCESS_KEY_ID",
        "secret_access_key": str(cfg),
    }
