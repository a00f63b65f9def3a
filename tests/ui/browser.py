"""Headless Debian Chromium driven by Playwright (never a downloaded browser).

The flags are the ones known to work on these machines: no sandbox (CI runs as root), no GPU,
and no background networking (the machine has no internet; Chromium would otherwise retry its
update and sync hosts at every start).
"""

from __future__ import annotations

import os
import shutil

CHROMIUM = os.environ.get("WEIR_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str:
    """The browser binary; a clear error (not a skip) when it is missing."""
    if not (os.path.isfile(CHROMIUM) or shutil.which(CHROMIUM)):
        raise RuntimeError(
            f"{CHROMIUM} is missing: install Debian's chromium (`apt-get install chromium`; "
            ".ci/run does it) or point WEIR_CHROMIUM at a Chromium binary"
        )
    return CHROMIUM
