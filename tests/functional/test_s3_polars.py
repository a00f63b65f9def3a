"""Polars (object_store under the hood) reading and writing Parquet on Weir."""

from __future__ import annotations

import polars as pl

from tests.functional.conftest import WeirServer


def storage_options(server: WeirServer) -> dict[str, str]:
    return {
        "aws_access_key_id": server.access_key,
        "aws_secret_access_key": server.secret_key,
        "aws_endpoint_url": server.endpoint,
        "aws_region": "us-east-1",
        "aws_allow_http": "true",
    }


def test_write_read_scan(weir_server: WeirServer, bucket: str) -> None:
    frame = pl.DataFrame({"id": list(range(10_000)), "group": [i % 7 for i in range(10_000)]})
    options = storage_options(weir_server)
    frame.write_parquet(f"s3://{bucket}/main/polars/frame.parquet", storage_options=options)
    back = pl.read_parquet(f"s3://{bucket}/main/polars/frame.parquet", storage_options=options)
    assert back.equals(frame)
    counts = (
        pl.scan_parquet(f"s3://{bucket}/main/polars/*.parquet", storage_options=options)
        .filter(pl.col("group") == 3)
        .select(pl.len())
        .collect()
    )
    assert counts.item() == len([i for i in range(10_000) if i % 7 == 3])
