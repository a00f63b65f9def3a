"""Fixtures for the CLI tests: a fake admin API and an in-process runner with golden files.

Set ``WEIR_UPDATE_GOLDEN=1`` to rewrite ``tests/cli/golden/*.txt`` from the current output.
"""

from __future__ import annotations

import io
import os
import re
import shlex
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.cli.main import main
from tests.cli.fake_api import KEY, SECRET, FakeApi

GOLDEN = Path(__file__).parent / "golden"


@dataclass
class Result:
    argv: list[str]
    code: int
    stdout: str
    stderr: str
    raw: bytes  # stdout as bytes (for cat/download to stdout)


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeApi]:
    fake = FakeApi()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def fake(fake_server: FakeApi, monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    """The fake API with fresh state; argparse help wraps at a fixed width."""
    fake_server.reset()
    monkeypatch.setenv("COLUMNS", "100")
    return fake_server


@pytest.fixture
def env(fake: FakeApi, tmp_path: Path) -> dict[str, str]:
    """Environment pointing the CLI at the fake, with no config file."""
    return {
        "WEIR_ENDPOINT": fake.endpoint,
        "WEIR_ACCESS_KEY_ID": KEY,
        "WEIR_SECRET_ACCESS_KEY": SECRET,
        "WEIR_CONFIG": str(tmp_path / "no-such-config.toml"),
        "HOME": str(tmp_path),
    }


class _TtyInput(io.TextIOWrapper):
    def isatty(self) -> bool:
        return True


def run(
    argv: Sequence[str], env: Mapping[str, str], stdin: bytes = b"", *, stdin_tty: bool = False
) -> Result:
    """Run ``weir ARGV`` in-process with captured streams (stdin may pretend to be a terminal)."""
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", newline="")
    err = io.StringIO()
    inp = (_TtyInput if stdin_tty else io.TextIOWrapper)(io.BytesIO(stdin), encoding="utf-8")
    code = main(list(argv), stdout=out, stderr=err, stdin=inp, env=dict(env))
    out.flush()
    raw = out.buffer.getvalue()  # type: ignore[attr-defined]
    return Result(list(argv), code, raw.decode("utf-8", "replace"), err.getvalue(), raw)


def normalise(text: str) -> str:
    return re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)


def check_golden(
    name: str, result: Result, *, stderr: bool = True, replace: Mapping[str, str] | None = None
) -> None:
    """Compare the command, exit code, stdout (and stderr) with ``golden/NAME.txt``.

    ``replace`` maps run-specific text (temporary paths) to stable placeholders.
    """
    text = f"$ weir {shlex.join(result.argv)}\n[exit {result.code}]\n--- stdout\n{result.stdout}"
    if stderr:
        text += f"--- stderr\n{result.stderr}"
    for old, new in (replace or {}).items():
        text = text.replace(old, new)
    text = normalise(text)
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("WEIR_UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"missing golden file {path}; run with WEIR_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"output differs from {path}"
