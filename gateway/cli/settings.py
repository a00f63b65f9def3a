"""Where the CLI finds its endpoint and credentials, and how ``weir login`` saves them.

Precedence, per setting: command-line flag, then environment variable (``WEIR_ENDPOINT``,
``WEIR_ACCESS_KEY_ID``, ``WEIR_SECRET_ACCESS_KEY``), then the config file (``$WEIR_CONFIG``,
else ``$XDG_CONFIG_HOME/weir/config.toml``, else ``~/.config/weir/config.toml``).
"""

from __future__ import annotations

import json
import os
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ENDPOINT = "http://127.0.0.1:8000"
KEYS = ("endpoint", "access_key_id", "secret_access_key")
ENV_NAMES = {
    "endpoint": "WEIR_ENDPOINT",
    "access_key_id": "WEIR_ACCESS_KEY_ID",
    "secret_access_key": "WEIR_SECRET_ACCESS_KEY",
}


class SettingsError(Exception):
    """The config file cannot be read or written."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Resolved connection settings; ``sources`` says where each value came from."""

    endpoint: str
    access_key_id: str
    secret_access_key: str
    sources: Mapping[str, str]


def config_path(env: Mapping[str, str]) -> Path:
    """The config file the CLI reads and ``weir login`` writes."""
    if env.get("WEIR_CONFIG"):
        return Path(env["WEIR_CONFIG"]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base).expanduser() / "weir" / "config.toml"


def read_config(path: Path) -> dict[str, str]:
    """The string settings in ``path`` (an empty dict when the file does not exist).

    Raises:
        SettingsError: The file exists but is unreadable or not valid TOML.
    """
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise SettingsError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    return {k: v for k, v in data.items() if k in KEYS and isinstance(v, str)}


def write_config(path: Path, values: Mapping[str, str]) -> None:
    """Write ``values`` to ``path`` as TOML, readable by the owner only (mode 0600).

    Atomic: the file is written under a temporary name in the same directory with mode 0600
    from the start (the secret is never world-readable, even briefly) and renamed over the old
    one, so a crash leaves either the old or the new file. The directory is created with 0700.

    Raises:
        SettingsError: The file cannot be written.
    """
    lines = ["# Written by `weir login`. Keep this file private (mode 0600).\n"]
    for key in KEYS:
        if values.get(key):
            # A JSON string literal is a valid TOML basic string (same escapes).
            lines.append(f"{key} = {json.dumps(values[key])}\n")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:  # mkstemp creates it 0600
                fh.writelines(lines)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise SettingsError(f"cannot write config file {path}: {exc.strerror or exc}") from None


def resolve(flags: Mapping[str, str | None], env: Mapping[str, str]) -> Settings:
    """Combine flags, environment and config file, in that order of precedence.

    The config file is read only when a flag or variable leaves something unset.
    """
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    for key in KEYS:
        flag = flags.get(key)
        if flag:
            values[key], sources[key] = flag, "flag"
        elif env.get(ENV_NAMES[key]):
            values[key], sources[key] = env[ENV_NAMES[key]], ENV_NAMES[key]
    missing = [k for k in KEYS if k not in values]
    if missing:
        path = config_path(env)
        stored = read_config(path)
        for key in missing:
            if stored.get(key):
                values[key], sources[key] = stored[key], str(path)
    if "endpoint" not in values:
        values["endpoint"], sources["endpoint"] = DEFAULT_ENDPOINT, "default"
    return Settings(
        endpoint=values["endpoint"],
        access_key_id=values.get("access_key_id", ""),
        secret_access_key=values.get("secret_access_key", ""),
        sources=sources,
    )
