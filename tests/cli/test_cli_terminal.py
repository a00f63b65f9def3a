"""Behaviour that depends on a terminal: confirmation prompts, automatic progress bars, render."""

from __future__ import annotations

import io

from gateway.cli import render
from gateway.cli.progress import AUTO_THRESHOLD, ProgressBar, wanted
from tests.cli.conftest import run
from tests.cli.fake_api import FakeApi


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_appears_by_itself_only_on_a_terminal_for_large_transfers() -> None:
    assert wanted(False, Tty(), AUTO_THRESHOLD)
    assert wanted(False, Tty(), None)  # unknown size (stdin): show bytes so far
    assert not wanted(False, Tty(), AUTO_THRESHOLD - 1)
    assert not wanted(False, io.StringIO(), 1 << 40)
    assert wanted(True, io.StringIO(), 1)


def test_progress_bar_redraws_per_percent_and_blanks_leftovers() -> None:
    out = io.StringIO()
    bar = ProgressBar("f", 1000, out, enabled=True)
    for _ in range(1000):
        bar.update(1)
    bar.finish()
    frames = out.getvalue().split("\r")[1:]
    assert len(frames) == 102  # 0%..100% and the final frame: at most one redraw per percent
    assert frames[-1].startswith("f [" + "#" * 30 + "] 100%  1000 B/1000 B")
    assert frames[-1].endswith("\n")
    bar._width = 200  # a longer line was drawn before: this frame must blank its tail
    bar._draw()
    assert len(out.getvalue().split("\r")[-1]) == 200


def test_progress_without_total_counts_bytes() -> None:
    out = io.StringIO()
    bar = ProgressBar("stdin", None, out, enabled=True)
    for _ in range(3):
        bar.update(1 << 20)
    bar.finish()
    assert out.getvalue().split("\r")[-1].startswith("stdin  3.0 MiB  ")


def test_disabled_bar_writes_nothing() -> None:
    out = io.StringIO()
    bar = ProgressBar("f", 10, out, enabled=False)
    assert list(bar.wrap([b"12345", b"67890"])) == [b"12345", b"67890"]
    bar.finish()
    assert out.getvalue() == "" and bar.done == 10


def test_confirmation_on_a_terminal(env: dict[str, str], fake: FakeApi) -> None:
    no = run(["repo", "delete", "zeta"], env, stdin=b"n\n", stdin_tty=True)
    assert no.code == 1 and "Delete repository 'zeta'" in no.stderr
    assert no.stderr.endswith("weir: error: cancelled\n") and "zeta" in fake.state.repos
    yes = run(["repo", "delete", "zeta"], env, stdin=b"y\n", stdin_tty=True)
    assert yes.code == 0 and "zeta" not in fake.state.repos


def test_cells_escape_control_characters() -> None:
    text = render.table(("PATH", "SIZE"), [("evil\nDIR  fake", "1 B"), ("a  b", "2 B")])
    lines = text.splitlines()
    assert lines[1] == "evil\\x0aDIR  fake  1 B"  # one row, the newline shown escaped
    assert lines[2].startswith("a  b  ")  # inner spaces kept
    assert lines[0].index("SIZE") == lines[1].index("1 B") == lines[2].index("2 B")


def test_sizes_and_dates() -> None:
    assert [render.size(n) for n in (0, 1023, 1024, 1536, 5 << 30)] == [
        "0 B",
        "1023 B",
        "1.0 KiB",
        "1.5 KiB",
        "5.0 GiB",
    ]
    assert render.size(None) == "-" and render.size(True) == "-"
    assert render.when(0) == "-" and render.when(1793523600) == "2026-11-01T09:00:00Z"
