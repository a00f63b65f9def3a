"""pyarrow's S3FileSystem: write and read a partitioned Parquet dataset under repo/main/ds/."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from tests.functional.conftest import WeirServer


def s3_filesystem(server: WeirServer) -> pafs.S3FileSystem:
    return pafs.S3FileSystem(
        access_key=server.access_key,
        secret_key=server.secret_key,
        endpoint_override=server.hostport,
        scheme="http",
        region="us-east-1",
        allow_bucket_creation=False,
    )


def sample_table(rows: int = 3000) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(range(rows), pa.int64()),
            "year": pa.array([2020 + i % 3 for i in range(rows)], pa.int32()),
            "name": pa.array([f"row-{i}" for i in range(rows)]),
            "value": pa.array([i * 0.5 for i in range(rows)]),
        }
    )


def test_partitioned_dataset_roundtrip(weir_server: WeirServer, bucket: str) -> None:
    fs = s3_filesystem(weir_server)
    table = sample_table()
    pq.write_to_dataset(
        table,
        root_path=f"{bucket}/main/ds",
        partition_cols=["year"],
        filesystem=fs,
        existing_data_behavior="overwrite_or_ignore",
    )
    infos = fs.get_file_info(pafs.FileSelector(f"{bucket}/main/ds", recursive=True))
    files = sorted(i.path for i in infos if i.type == pafs.FileType.File)
    assert len(files) == 3
    assert all(f.startswith(f"{bucket}/main/ds/year=") for f in files)

    dataset = pads.dataset(
        f"{bucket}/main/ds", filesystem=fs, format="parquet", partitioning="hive"
    )
    back = dataset.to_table().sort_by("id")
    assert back.column("id").to_pylist() == table.column("id").to_pylist()
    assert back.column("name").to_pylist() == table.column("name").to_pylist()
    assert back.column("year").to_pylist() == table.column("year").to_pylist()

    only_2021 = dataset.to_table(filter=pads.field("year") == 2021)
    assert only_2021.num_rows == 1000


def test_single_file_stream_and_ranges(weir_server: WeirServer, bucket: str) -> None:
    fs = s3_filesystem(weir_server)
    table = sample_table(20_000)
    pq.write_table(table, f"{bucket}/main/single.parquet", filesystem=fs, row_group_size=4000)
    info = fs.get_file_info(f"{bucket}/main/single.parquet")
    assert info.type == pafs.FileType.File and info.size > 0
    parquet = pq.ParquetFile(f"{bucket}/main/single.parquet", filesystem=fs)
    assert parquet.metadata.num_row_groups == 5
    group = parquet.read_row_group(3, columns=["id"])  # ranged reads
    assert group.column("id").to_pylist() == list(range(12_000, 16_000))
    with fs.open_output_stream(f"{bucket}/main/raw.bin") as out:
        out.write(b"x" * 100_000)
    with fs.open_input_file(f"{bucket}/main/raw.bin") as f:
        f.seek(99_990)
        assert f.read() == b"x" * 10
