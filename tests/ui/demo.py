"""A small, realistic lake for the browser tests and the README's screenshots.

Built through the admin API (``gateway.client``) as a user would: a repository of training
data with a README, a Parquet table, a CSV, a picture and a JSON file; a cleaning branch merged
back; an experiment branch; a tag.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from gateway.client.api import AdminClient

README = """# Training data

Raw **click logs** and curated *labels* for the ranking model.

- `data/train.parquet`: one row per impression
- `data/labels.csv`: human labels, one per query

> Every model trained on this repository records the commit it read.

See [the Weir docs](https://example.org/weir) for how the data is versioned.
"""


def parquet_bytes(rows: int, *, version: int = 1, row_group_size: int | None = None) -> bytes:
    table = pa.table(
        {
            "impression_id": pa.array(range(rows), pa.int64()),
            "query": pa.array([f"query {i % 97}" for i in range(rows)]),
            "score": pa.array([round((i * 37 % 101) / 100 * version, 3) for i in range(rows)]),
            "clicked": pa.array([i % 3 == 0 for i in range(rows)]),
        }
    )
    out = io.BytesIO()
    pq.write_table(table, out, row_group_size=row_group_size)
    return out.getvalue()


def csv_bytes(rows: int, *, flip: bool = False) -> bytes:
    lines = ["query,label,annotator"]
    for i in range(rows):
        label = "relevant" if (i % 2 == 0) != flip else "irrelevant"
        lines.append(f"query {i},{label},ann{i % 5}")
    return ("\n".join(lines) + "\n").encode()


def png_bytes(width: int = 96, height: int = 64) -> bytes:
    """A small gradient PNG (made here: no image library needed)."""
    raw = b"".join(
        b"\x00" + b"".join(bytes((x * 255 // width, y * 255 // height, 180)) for x in range(width))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


TYPES = {
    ".md": "text/markdown",
    ".parquet": "application/vnd.apache.parquet",
    ".csv": "text/csv",
    ".png": "image/png",
    ".json": "application/json",
}


def put(client: AdminClient, repo: str, branch: str, path: str, data: bytes, **meta: str) -> None:
    """Upload ``data`` at ``path`` with the content type its extension implies."""
    ctype = TYPES.get(path[path.rfind(".") :], "application/octet-stream")
    client.upload_object(
        repo, branch, path, _once(data), size=len(data), content_type=ctype, metadata=meta
    )


def _once(data: bytes) -> Iterable[bytes]:
    yield data


def seed(client: AdminClient, repo: str = "training-data") -> None:
    """Create ``repo`` with a short, branching history (on a server that does not have it)."""
    client.create_repository(repo, "", "main")
    put(client, repo, "main", "README.md", README.encode())
    put(client, repo, "main", "data/train.parquet", parquet_bytes(5000), source="crawl-2026-11")
    put(client, repo, "main", "data/labels.csv", csv_bytes(200))
    put(client, repo, "main", "images/sample.png", png_bytes())
    put(client, repo, "main", "config/params.json", b'{"learning_rate": 0.01, "epochs": 12}\n')
    client.commit(repo, "main", "Import raw click logs and labels", {"source": "crawl-2026-11"})
    client.create_branch(repo, "cleaning", "main")
    put(client, repo, "cleaning", "data/train.parquet", parquet_bytes(4800, version=2))
    put(client, repo, "cleaning", "data/labels.csv", csv_bytes(180))
    client.commit(repo, "cleaning", "Drop bot traffic and duplicate labels", {"dropped": "200"})
    put(client, repo, "main", "README.md", (README + "\nUpdated weekly.\n").encode())
    client.commit(repo, "main", "README: say how often the data is refreshed")
    client.merge(repo, "cleaning", "main", message="Merge cleaning into main")
    client.create_tag(repo, "v1.0", "main")
    client.create_branch(repo, "experiment", "main")
    put(client, repo, "experiment", "config/params.json", b'{"learning_rate": 0.003}\n')
    client.commit(repo, "experiment", "Try a lower learning rate", {"owner": "ranking-team"})
    put(client, repo, "experiment", "data/features.parquet", parquet_bytes(300, version=3))
