"""Human output: aligned tables, sizes, dates, commits, diffs and merge conflicts.

Pure functions from the API's JSON shapes to text, so the golden tests pin the format.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Row = Sequence[str]


def table(headers: Row, rows: Iterable[Row]) -> str:
    """Columns aligned with two spaces; the last column is not padded. Ends with a newline."""
    materialised = [[_cell(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in materialised:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    out = []
    for row in [list(headers), *materialised]:
        padded = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])] + [row[-1]]
        out.append("  ".join(padded).rstrip())
    return "\n".join(out) + "\n"


_CONTROL = {i: f"\\x{i:02x}" for i in [*range(32), 127]}


def _cell(value: object) -> str:
    """One line of text: control characters in names (a newline in an object key) are shown
    escaped, so they cannot break the columns or forge rows; spaces are kept as they are."""
    return str(value).translate(_CONTROL) if value is not None else ""


def size(n: object) -> str:
    """``1536`` -> ``1.5 KiB``; exact bytes below 1 KiB; ``-`` when unknown."""
    if not isinstance(n, int) or isinstance(n, bool):
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover - loop always returns


def when(ts: object) -> str:
    """Unix seconds -> ``2026-11-26T08:47:35Z`` (UTC); ``-`` for missing or zero."""
    if not isinstance(ts, int | float) or isinstance(ts, bool) or ts <= 0:
        return "-"
    moment = datetime.datetime.fromtimestamp(int(ts), tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def commit(c: Mapping[str, Any]) -> str:
    """A commit in ``git show`` style: id, parents, committer, date, metadata, message."""
    lines = [f"commit {c.get('id', '')}"]
    parents = [str(p) for p in c.get("parents") or []]
    if len(parents) > 1:
        lines.append(f"Merge:     {' '.join(parents)}")
    elif parents:
        lines.append(f"Parent:    {parents[0]}")
    lines.append(f"Committer: {c.get('committer', '')}")
    lines.append(f"Date:      {when(c.get('creation_date'))}")
    for key, value in sorted((c.get("metadata") or {}).items()):
        lines.append(f"Meta:      {key} = {value}")
    for i in c.get("inputs") or []:
        path = f":{i.get('path')}" if i.get("path") else ""
        lines.append(
            f"Input:     {i.get('repository')}@{i.get('commit_id')}{path} ({i.get('ref')})"
        )
    lines.append("")
    message = str(c.get("message") or "")
    lines.extend(f"    {line}" for line in message.splitlines() or [""])
    return "\n".join(lines) + "\n"


def commit_oneline(c: Mapping[str, Any]) -> str:
    first = (str(c.get("message") or "").splitlines() or [""])[0]
    return f"{str(c.get('id', ''))[:12]}  {when(c.get('creation_date'))}  {first}"


def diff(changes: Iterable[Mapping[str, Any]]) -> tuple[str, int]:
    """A diff table (change, path, size) and the number of changes."""
    rows = [
        (str(d.get("type", "")), str(d.get("path", "")), size(d.get("size_bytes"))) for d in changes
    ]
    return table(("CHANGE", "PATH", "SIZE"), rows), len(rows)


def entry(stats: object) -> str:
    """One side of a conflict: short ETag and size, or ``(absent)``."""
    if not isinstance(stats, Mapping):
        return "(absent)"
    checksum = str(stats.get("checksum") or stats.get("etag") or "").strip('"')
    parts = [checksum[:8] if checksum else "?", size(stats.get("size_bytes"))]
    return " ".join(parts)


def conflicts(items: Iterable[Mapping[str, Any]]) -> str:
    """The merge conflict table: path, kind, and the base/source/dest entries."""
    rows = [
        (
            str(c.get("path", "")),
            str(c.get("type") or c.get("kind") or "conflict"),
            entry(c.get("base")),
            entry(c.get("source")),
            entry(c.get("destination", c.get("dest"))),
        )
        for c in items
    ]
    return table(("PATH", "KIND", "BASE", "SOURCE", "DEST"), rows)


def objects(items: Iterable[Mapping[str, Any]]) -> str:
    """An object listing: size, modification time and path; prefixes show as ``DIR``."""
    rows = []
    for o in items:
        if o.get("path_type") == "common_prefix":
            rows.append(("DIR", "", str(o.get("path", ""))))
        else:
            rows.append((size(o.get("size_bytes")), when(o.get("mtime")), str(o.get("path", ""))))
    return table(("SIZE", "MODIFIED", "PATH"), rows)
