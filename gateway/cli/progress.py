"""A plain-text progress bar for uploads and downloads, drawn on stderr.

It redraws in place (``\\r``) only when the shown percentage changes, so a multi-GiB transfer
costs at most a hundred redraws. Not thread-safe: one bar per transfer, driven by one thread.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import TextIO

from gateway.cli.render import size

WIDTH = 30
AUTO_THRESHOLD = 4 << 20  # bars appear by themselves only for transfers of at least 4 MiB


def wanted(forced: bool, stream: TextIO, total: int | None) -> bool:
    """Show a bar when forced (``--progress``), or on a terminal for large or unknown sizes."""
    if forced:
        return True
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return tty and (total is None or total >= AUTO_THRESHOLD)


class ProgressBar:
    """``label [#####.....]  42%  12.0 MiB/28.0 MiB  31.5 MiB/s``; without a total, bytes only.

    Args:
        label: What is being transferred (a file or object name).
        total: Expected size in bytes, or None when unknown.
        stream: Where to draw (stderr).
        enabled: When False every method is a no-op.
    """

    def __init__(self, label: str, total: int | None, stream: TextIO, enabled: bool) -> None:
        self.label = label
        self.total = total
        self.stream = stream
        self.enabled = enabled
        self.done = 0
        self._shown: int | None = None
        self._width = 0  # length of the last drawn line, to blank leftovers of a longer one
        self._start = time.monotonic()

    def update(self, n: int) -> None:
        """Account for ``n`` more bytes transferred and redraw if the display changed."""
        self.done += n
        if not self.enabled:
            return
        # Redraw per percent, or per MiB when the size is unknown.
        key = min(100, self.done * 100 // self.total) if self.total else self.done >> 20
        if key != self._shown:
            self._shown = key
            self._draw()

    def wrap(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """Pass ``chunks`` through, counting them."""
        for chunk in chunks:
            self.update(len(chunk))
            yield chunk

    def finish(self) -> None:
        """Draw the final state and end the line."""
        if self.enabled:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self) -> None:
        elapsed = max(time.monotonic() - self._start, 1e-6)
        rate = f"{size(int(self.done / elapsed))}/s"
        if self.total:
            pct = min(100, self.done * 100 // self.total)
            filled = WIDTH * pct // 100
            bar = "#" * filled + "." * (WIDTH - filled)
            text = f"{self.label} [{bar}] {pct:3d}%  {size(self.done)}/{size(self.total)}  {rate}"
        else:
            text = f"{self.label}  {size(self.done)}  {rate}"
        pad = " " * max(0, self._width - len(text))
        self._width = len(text)
        self.stream.write("\r" + text + pad)
        self.stream.flush()
