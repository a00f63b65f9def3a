"""The first rows and the schema of a Parquet file, read by range with pyarrow.

pyarrow reads the footer (two small ranges at the end), then, for the first ``rows`` rows of
at most ``MAX_COLUMNS`` columns, only the first pages of those column chunks of the first row
group (``pre_buffer`` off, a small read buffer): a preview of a multi-gigabyte file reads a few
megabytes at most, bounded by ``BUDGET``. The work runs in a worker thread.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from gateway.preview import MAX_COLUMNS, cell, columns_of
from gateway.preview.rangefile import PreviewTooLarge, RangeFile, RangeReader

#: Bytes a Parquet preview may read (footer + first pages); a file needing more shows its schema.
BUDGET = 32 << 20
READ_BUFFER = 256 << 10


def _read(file: RangeFile, rows: int) -> dict[str, Any]:
    out: dict[str, Any] = {"columns": [], "rows": [], "truncated": False}
    try:
        pf = pq.ParquetFile(
            pa.PythonFile(file, mode="r"), pre_buffer=False, buffer_size=READ_BUFFER
        )
    except (pa.ArrowException, OSError, PreviewTooLarge) as exc:
        out["message"] = f"not a readable Parquet file: {exc}"
        return out
    schema = pf.schema_arrow
    meta = pf.metadata
    names = schema.names[:MAX_COLUMNS]
    out["columns"] = columns_of(names, [str(schema.field(n).type) for n in names])
    out["num_rows"] = meta.num_rows
    out["num_row_groups"] = meta.num_row_groups
    out["num_columns"] = len(schema.names)
    out["created_by"] = meta.created_by or ""
    out["truncated"] = meta.num_rows > rows or len(schema.names) > MAX_COLUMNS
    if meta.num_rows == 0:
        return out
    try:
        batch = next(pf.iter_batches(batch_size=rows, columns=names, use_threads=False), None)
    except PreviewTooLarge:
        out["message"] = "rows not shown: the first pages are larger than a preview may read"
        return out
    except (pa.ArrowException, OSError) as exc:
        out["message"] = f"rows not readable: {exc}"
        return out
    if batch is not None:
        columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
        out["rows"] = [[cell(col[r]) for col in columns] for r in range(batch.num_rows)]
    return out


async def parquet_preview(reader: RangeReader, size: int, rows: int) -> dict[str, Any]:
    """Schema, row counts and the first ``rows`` rows; ``bytes_read`` says what it cost."""
    file = RangeFile(reader, size, asyncio.get_running_loop(), BUDGET)
    out = await asyncio.to_thread(_read, file, rows)
    out["bytes_read"] = file.bytes_read
    return out
