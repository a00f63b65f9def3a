"""GET .../objects/preview: tables, text, Markdown, images and binaries, read by byte range.

A Parquet preview must read the footer and the first pages only: ``bytes_read`` (what the
server fetched from the blob store) stays a small fraction of a multi-row-group file.
"""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq

from tests.functional.admin_conftest import AdminApi, R, admin_api, api, commit, put  # noqa: F401
from tests.ui.demo import png_bytes

PREVIEW = R + "/refs/{ref}/objects/preview"


def table_bytes(rows: int, tag: str, row_group_size: int) -> bytes:
    table = pa.table(
        {
            "id": pa.array(range(rows), pa.int64()),
            "name": pa.array([f"{tag}-{i}" for i in range(rows)]),
            "big": pa.array([2**60 + i for i in range(rows)], pa.int64()),
            "when": pa.array([i * 1_000_000 for i in range(rows)], pa.timestamp("us")),
        }
    )
    out = io.BytesIO()
    pq.write_table(table, out, row_group_size=row_group_size)
    return out.getvalue()


async def preview(client: AdminApi, ref: str, path: str, **params: str) -> dict[str, object]:
    body = await client.json("GET", PREVIEW.format(ref=ref), 200, params={"path": path, **params})
    assert isinstance(body, dict)
    return body


async def test_parquet_preview_reads_a_small_part_of_the_file(api: AdminApi) -> None:  # noqa: F811
    data = table_bytes(400_000, "v1", row_group_size=50_000)
    assert len(data) > 4 << 20
    await put(api, "main", "t/big.parquet", data)
    pv = await preview(api, "main", "t/big.parquet", rows="5")
    assert pv["kind"] == "parquet"
    assert pv["num_rows"] == 400_000 and pv["num_row_groups"] == 8 and pv["num_columns"] == 4
    assert pv["columns"] == [
        {"name": "id", "type": "int64"},
        {"name": "name", "type": "string"},
        {"name": "big", "type": "int64"},
        {"name": "when", "type": "timestamp[us]"},
    ]
    assert pv["rows"] == [
        [i, f"v1-{i}", str(2**60 + i), f"1970-01-01 00:00:{i:02d}"] for i in range(5)
    ]
    assert pv["truncated"] is True and pv["size_bytes"] == len(data)
    read = pv["bytes_read"]
    assert isinstance(read, int) and 0 < read < len(data) // 4, (read, len(data))


async def test_parquet_preview_at_an_old_commit(api: AdminApi) -> None:  # noqa: F811
    await put(api, "main", "p.parquet", table_bytes(10, "old", 10))
    old = await commit(api, "main", "v1")
    await put(api, "main", "p.parquet", table_bytes(10, "new", 10))
    await commit(api, "main", "v2")
    assert (await preview(api, old["id"], "p.parquet"))["rows"][0][1] == "old-0"  # type: ignore[index]
    assert (await preview(api, "main~1", "p.parquet"))["rows"][0][1] == "old-0"  # type: ignore[index]
    assert (await preview(api, "main", "p.parquet"))["rows"][0][1] == "new-0"  # type: ignore[index]


async def test_csv_text_markdown_image_and_binary(api: AdminApi) -> None:  # noqa: F811
    await put(api, "main", "a.csv", b"x,y\n1,hello\n2,world\n")
    await put(api, "main", "a.tsv", b"x\ty\n1\tz\n")
    await put(api, "main", "notes.md", b"# Title\n\nSome *text*.\n")
    await put(api, "main", "log.txt", ("\u00e9" * 40_000).encode())  # 80 KB of 2-byte chars
    await put(api, "main", "pic.png", png_bytes())
    await put(api, "main", "blob.bin", bytes(range(256)) * 10)
    await put(api, "main", "noext", b"just words\n")
    csv = await preview(api, "main", "a.csv")
    assert csv["kind"] == "csv" and csv["delimiter"] == ","
    assert csv["columns"] == [{"name": "x", "type": "string"}, {"name": "y", "type": "string"}]
    assert csv["rows"] == [["1", "hello"], ["2", "world"]] and csv["truncated"] is False
    assert (await preview(api, "main", "a.tsv"))["rows"] == [["1", "z"]]
    md = await preview(api, "main", "notes.md")
    assert md["kind"] == "markdown" and md["text"] == "# Title\n\nSome *text*.\n"
    text = await preview(api, "main", "log.txt")
    assert text["kind"] == "text" and text["truncated"] is True and text["bytes_read"] == 64 << 10
    assert set(str(text["text"])) == {"\u00e9"}  # the character cut in half is dropped
    assert (await preview(api, "main", "pic.png"))["kind"] == "image"
    binary = await preview(api, "main", "blob.bin")
    assert binary["kind"] == "binary" and "text" not in binary and binary["bytes_read"] <= 4096
    assert (await preview(api, "main", "noext"))["kind"] == "text"


async def test_a_broken_table_is_described_not_a_500(api: AdminApi) -> None:  # noqa: F811
    await put(api, "main", "bad.parquet", b"PAR1 this is not parquet at all PAR1")
    pv = await preview(api, "main", "bad.parquet")
    assert pv["kind"] == "parquet" and pv["rows"] == []
    assert "not a readable Parquet file" in str(pv["message"])


async def test_preview_follows_the_grants_and_errors(api: AdminApi) -> None:  # noqa: F811
    await put(api, "main", "a.csv", b"x\n1\n")
    await api.json("GET", PREVIEW.format(ref="main"), 404, params={"path": "missing.csv"})
    await api.json("GET", PREVIEW.format(ref="main"), 400, params={"path": "a.csv", "rows": "0"})
    stranger = await api.new_user("stranger", {"repository": "other", "action": "read"})
    await stranger.json("GET", PREVIEW.format(ref="main"), 403, params={"path": "a.csv"})
