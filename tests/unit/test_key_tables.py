"""Every table of the metadata store has its own key prefix: two tables sharing one would read
each other's records (scans of one would meet the other's keys)."""

from __future__ import annotations

from gateway.core import keys

#: Prefixes deliberately nested inside another table's: the presigned-upload records live under
#: ``V/t/``, ``V/e/`` and the single key ``V/n`` beside the path history ``V/<repo>\0...``;
#: repository names are at least 3 characters of ``a-z0-9-`` and always followed by NUL there,
#: so no history key starts with ``V/t/`` or ``V/e/`` or equals ``V/n``.
NESTED = {"PRESIGNED", "PRESIGNED_BY_TOKEN", "PRESIGNED_BY_EXPIRY", "PRESIGNED_COUNT"}


def test_table_prefixes_are_distinct() -> None:
    tables = {
        name: value
        for name, value in vars(keys).items()
        if name.isupper() and isinstance(value, bytes) and name not in NESTED and name != "SEP"
    }
    seen: dict[bytes, str] = {}
    for name, prefix in sorted(tables.items()):
        assert prefix not in seen, f"{name} and {seen[prefix]} share the prefix {prefix!r}"
        seen[prefix] = name
    for a, pa in tables.items():
        for b, pb in tables.items():
            if a != b:
                assert not pb.startswith(pa), f"{b} ({pb!r}) is inside {a} ({pa!r})"
