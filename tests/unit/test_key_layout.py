"""The key layout: every table of the metadata store has a prefix of its own.

Tables are declared in ``gateway.core.keys``; a few modules own a prefix of their own and keep
their layout private (users, grants, sessions, runs): those prefixes are listed here."""

from __future__ import annotations

from gateway.core import keys


def test_table_prefixes_are_distinct() -> None:
    tables = {
        name: value
        for name, value in vars(keys).items()
        if isinstance(value, bytes) and len(value) == 2 and value.endswith(b"/")
    }
    for owner, prefix in {
        "gateway.auth.users (users, keys)": b"u/",
        "gateway.auth.users (grants)": b"g/",
        "gateway.auth.sessions": b"s/",
        "gateway.runs.store": b"r/",
    }.items():
        tables[owner] = prefix
    owners: dict[bytes, list[str]] = {}
    for name, value in tables.items():
        owners.setdefault(value, []).append(name)
    assert {v: n for v, n in owners.items() if len(n) > 1} == {}
    assert len(tables) >= 20
