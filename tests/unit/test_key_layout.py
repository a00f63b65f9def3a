"""The key layout: every table of the metadata store has a prefix of its own."""

from __future__ import annotations

from gateway.core import keys


def test_table_prefixes_are_distinct() -> None:
    tables = {
        name: value
        for name, value in vars(keys).items()
        if isinstance(value, bytes) and len(value) == 2 and value.endswith(b"/")
    }
    owners: dict[bytes, list[str]] = {}
    for name, value in tables.items():
        owners.setdefault(value, []).append(name)
    assert {v: n for v, n in owners.items() if len(n) > 1} == {}
    assert len(tables) >= 20
