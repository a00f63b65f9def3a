"""Object previews: the first rows and schema of a table, the start of a text, what an image is.

``preview`` decides what kind of object it has (by name, then content type, then by sniffing
the first bytes), then reads as little of it as it can through a byte-range reader: a Parquet
file's footer and the first pages of its first row group (pyarrow, through ``RangeFile``), the
first 64 KiB of a CSV or text file, nothing of an image (the browser shows it from the download
URL). Never the whole object, whatever its size: ``bytes_read`` in the answer says how much.

The answer is plain JSON-ready data; the admin API serves it (``routes_preview``).
"""

from __future__ import annotations

import codecs
import csv
import io
import math
from collections.abc import Sequence
from typing import Any

from gateway.preview.rangefile import RangeReader

__all__ = ["MAX_ROWS", "RangeReader", "detect_kind", "preview"]

MAX_ROWS = 200
MAX_COLUMNS = 100
MAX_CELL = 200
TEXT_BYTES = 64 << 10
SNIFF_BYTES = 4 << 10

_PARQUET = (".parquet", ".pq", ".parq")
_DELIMITED = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".psv": "|"}
_MARKDOWN = (".md", ".markdown")
_IMAGE = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".svg", ".ico", ".avif")
_TEXT = frozenset(
    [
        ".txt",
        ".log",
        ".json",
        ".jsonl",
        ".ndjson",
        ".yaml",
        ".yml",
        ".toml",
        ".ini",
        ".cfg",
        ".conf",
        ".xml",
        ".html",
        ".htm",
        ".css",
        ".js",
        ".ts",
        ".py",
        ".r",
        ".sql",
        ".sh",
        ".java",
        ".scala",
        ".go",
        ".rs",
        ".c",
        ".h",
        ".cpp",
        ".ipynb",
        ".properties",
        ".env",
        ".rst",
        ".tex",
    ]
)
_MAGIC_IMAGE = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a")


def _ext(path: str) -> str:
    name = path.rsplit("/", 1)[-1].lower()
    return name[name.rfind(".") :] if "." in name else ""


def detect_kind(path: str, content_type: str, head: bytes | None = None) -> str | None:
    """``parquet``, ``csv``, ``markdown``, ``text``, ``image`` or ``binary``; None when only
    the first bytes can tell (then call again with ``head``)."""
    ext, ctype = _ext(path), content_type.split(";")[0].strip().lower()
    if ext in _PARQUET or ctype in ("application/vnd.apache.parquet", "application/x-parquet"):
        return "parquet"
    if ext in _DELIMITED or ctype in ("text/csv", "text/tab-separated-values"):
        return "csv"
    if ext in _MARKDOWN or ctype == "text/markdown":
        return "markdown"
    if ext in _IMAGE or ctype.startswith("image/"):
        return "image"
    if ext in _TEXT or ctype.startswith("text/") or ctype in ("application/json", "text/x-yaml"):
        return "text"
    if head is None:
        return None
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(_MAGIC_IMAGE):
        return "image"
    if b"\x00" not in head:
        try:
            codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
            return "text"
        except UnicodeDecodeError:
            pass
    return "binary"


def cell(value: Any) -> Any:
    """A table cell as JSON the browser shows faithfully (big ints and odd types as text)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**53 else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, bytes):
        return "0x" + value[:32].hex() + ("…" if len(value) > 32 else "")
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= MAX_CELL else text[:MAX_CELL] + "…"


async def _head(reader: RangeReader, size: int, limit: int) -> bytes:
    n = min(size, limit)
    if n <= 0:
        return b""
    return b"".join([chunk async for chunk in reader(0, n)])


def _decode(data: bytes, complete: bool) -> str:
    """UTF-8 text, a cut multi-byte character at the end dropped, a BOM dropped."""
    text = codecs.getincrementaldecoder("utf-8")(errors="replace").decode(data, final=complete)
    return text.removeprefix("\ufeff")


def _delimited(text: str, path: str, complete: bool, rows: int) -> dict[str, Any]:
    if not complete:
        text = text[: text.rfind("\n") + 1] if "\n" in text else ""
    delimiter = _DELIMITED.get(_ext(path))
    if delimiter is None:
        try:
            delimiter = csv.Sniffer().sniff(text[:SNIFF_BYTES], delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    records = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = next(records, [])
    body: list[list[Any]] = []
    more = False
    for record in records:
        if len(body) == rows:
            more = True
            break
        body.append([cell(v) for v in record[:MAX_COLUMNS]])
    return {
        "columns": [{"name": name, "type": "string"} for name in header[:MAX_COLUMNS]],
        "rows": body,
        "truncated": more or not complete or len(header) > MAX_COLUMNS,
        "delimiter": delimiter,
    }


async def preview(
    reader: RangeReader, *, path: str, size: int, content_type: str, rows: int = 50
) -> dict[str, Any]:
    """The preview of one object (see the module docstring). Never raises for bad content:
    an unreadable table is reported in ``message``."""
    rows = max(1, min(rows, MAX_ROWS))
    out: dict[str, Any] = {
        "path": path,
        "content_type": content_type,
        "size_bytes": size,
        "bytes_read": 0,
        "truncated": False,
    }
    kind = detect_kind(path, content_type)
    if kind is None:
        head = await _head(reader, size, SNIFF_BYTES)
        out["bytes_read"] = len(head)
        kind = detect_kind(path, content_type, head)
    out["kind"] = kind
    if kind == "parquet":
        from gateway.preview.parquet import parquet_preview

        table = await parquet_preview(reader, size, rows)
        table["bytes_read"] += out["bytes_read"]
        out.update(table)
    elif kind in ("csv", "text", "markdown"):
        data = await _head(reader, size, TEXT_BYTES)
        complete = len(data) >= size
        out["bytes_read"] = len(data)
        if kind == "csv":
            out.update(_delimited(_decode(data, complete), path, complete, rows))
        else:
            out["text"] = _decode(data, complete)
            out["truncated"] = not complete
    return out


def columns_of(names: Sequence[str], types: Sequence[str]) -> list[dict[str, str]]:
    return [{"name": n, "type": t} for n, t in zip(names, types, strict=True)]
