"""Helpers for CLI tests against the real server: environment, ``ok``, raw API calls."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from base64 import b64encode
from pathlib import Path
from typing import Any

from tests.cli.conftest import Result, run
from tests.functional.conftest import WeirServer


def cli_env(server: WeirServer, home: Path, key: str = "", secret: str = "") -> dict[str, str]:
    return {
        "WEIR_ENDPOINT": server.endpoint,
        "WEIR_ACCESS_KEY_ID": key or server.access_key,
        "WEIR_SECRET_ACCESS_KEY": secret or server.secret_key,
        "WEIR_CONFIG": str(home / "none.toml"),
        "HOME": str(home),
    }


def ok(argv: list[str], env: dict[str, str], stdin: bytes = b"") -> Result:
    result = run(argv, env, stdin)
    assert result.code == 0, f"weir {argv}: {result.stderr}"
    return result


def api(
    server: WeirServer,
    method: str,
    path: str,
    body: Any = None,
    *,
    key: str = "",
    secret: str = "",
) -> tuple[int, Any]:
    """One admin API call; returns (status, decoded JSON or text)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(server.endpoint + "/api/v1" + path, data=data, method=method)
    token = b64encode(f"{key or server.access_key}:{secret or server.secret_key}".encode())
    req.add_header("Authorization", "Basic " + token.decode())
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req) as resp:
            status, raw, ctype = resp.status, resp.read(), resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        status, raw, ctype = exc.code, exc.read(), exc.headers.get("Content-Type", "")
    if "json" in ctype and raw:
        return status, json.loads(raw)
    return status, raw.decode()
