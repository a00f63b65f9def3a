"""Options shared by every test directory (pytest reads this file first)."""

from __future__ import annotations

import os

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--meta-backend",
        choices=["lmdb", "postgres"],
        default=None,
        help="metadata backend of the Weir servers the functional and conformance suites start "
        "(default: $WEIR_TEST_META_BACKEND, else lmdb); postgres starts a real PostgreSQL",
    )


def pytest_configure(config: pytest.Config) -> None:
    backend = config.getoption("--meta-backend")
    if backend:
        os.environ["WEIR_TEST_META_BACKEND"] = backend
