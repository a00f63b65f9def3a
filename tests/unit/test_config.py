"""Settings precedence (defaults < file < environment < flags) and validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import Settings, load_settings
from gateway.core.errors import InvalidArgument

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config" / "weir.toml"


def test_shipped_config_file_states_the_defaults() -> None:
    assert load_settings(config_file=str(REPO_CONFIG), environ={}) == Settings()


def test_precedence(tmp_path: Path) -> None:
    cfg = tmp_path / "w.toml"
    cfg.write_text(
        'listen = "127.0.0.1:9000"\ndata_dir = "/from/file"\naccess_log = false\n'
        '[storage]\nbackend = "s3"\ns3_bucket = "b"\n'
    )
    env = {"WEIR_DATA_DIR": "/from/env", "WEIR_STORAGE_S3_PREFIX": "p/", "WEIR_ACCESS_LOG": "on"}
    s = load_settings(config_file=str(cfg), environ=env, overrides={"data_dir": "/from/flag"})
    assert s.listen == "127.0.0.1:9000"  # file
    assert s.data_dir == "/from/flag"  # flag beats env beats file
    assert s.access_log is True  # env beats file
    assert s.storage.backend == "s3" and s.storage.s3_bucket == "b" and s.storage.s3_prefix == "p/"
    assert s.host_port == ("127.0.0.1", 9000)


def test_bootstrap_credential_from_the_cli_variable_names() -> None:
    s = load_settings(environ={"WEIR_ACCESS_KEY_ID": "AK", "WEIR_SECRET_ACCESS_KEY": "SK"})
    assert (s.auth.access_key_id, s.auth.secret_access_key) == ("AK", "SK")


def test_flags_left_unset_do_not_override() -> None:
    s = load_settings(environ={"WEIR_LISTEN": "127.0.0.1:1234"}, overrides={"listen": None})
    assert s.listen == "127.0.0.1:1234"


@pytest.mark.parametrize(
    ("content", "env", "message"),
    [
        ("nope = 1\n", {}, "unknown setting nope"),
        ("[storage]\nnope = 1\n", {}, "unknown setting storage.nope"),
        ("storage = 3\n", {}, "[storage] must be a table"),
        ('lmdb_map_size_gib = "big"\n', {}, "expected an integer"),
        ('access_log = "maybe"\n', {}, "expected a boolean"),
        ('listen = "nohost"\n', {}, "HOST:PORT"),
        ('[storage]\nbackend = "s3"\n', {}, "needs storage.s3_bucket"),
        ("listen = \n", {}, "w.toml"),
        ("", {"WEIR_STORAGE_BACKEND": "floppy"}, "must be local, s3 or memory"),
    ],
)
def test_invalid_settings_are_clear_errors(
    tmp_path: Path, content: str, env: dict[str, str], message: str
) -> None:
    cfg = tmp_path / "w.toml"
    cfg.write_text(content)
    with pytest.raises(InvalidArgument, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_settings(config_file=str(cfg), environ=env)


def test_missing_config_file() -> None:
    with pytest.raises(InvalidArgument, match="cannot read config file"):
        load_settings(config_file="/nonexistent/weir.toml", environ={})
