"""DuckDB with httpfs from the duckdb-extension-httpfs wheel (nothing downloaded at run time)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import duckdb_extension_httpfs  # type: ignore[import-untyped]
import pyarrow as pa
import pyarrow.parquet as pq

from tests.functional.conftest import WeirServer


def httpfs_extension() -> str:
    root = Path(next(iter(duckdb_extension_httpfs.__path__)))
    return str(root / "extensions" / f"v{duckdb.__version__}" / "httpfs.duckdb_extension")


def connect(server: WeirServer) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    )
    con.execute(f"LOAD '{httpfs_extension()}'")
    con.execute(
        f"""CREATE SECRET weir (TYPE s3, KEY_ID '{server.access_key}',
        SECRET '{server.secret_key}', ENDPOINT '{server.hostport}', URL_STYLE 'path',
        USE_SSL false, REGION 'us-east-1')"""
    )
    return con


def test_read_parquet_and_glob(
    weir_server: WeirServer, bucket: str, s3: Any, tmp_path: Path
) -> None:
    for part in range(3):
        table = pa.table({"k": list(range(part * 100, part * 100 + 100)), "part": [part] * 100})
        local = tmp_path / f"p{part}.parquet"
        pq.write_table(table, local)
        s3.upload_file(str(local), bucket, f"main/duck/part={part}/data.parquet")
    con = connect(weir_server)
    one = con.execute(
        f"SELECT count(*), sum(k) FROM read_parquet('s3://{bucket}/main/duck/part=1/data.parquet')"
    ).fetchone()
    assert one == (100, sum(range(100, 200)))
    every = con.execute(
        f"SELECT part, count(*) FROM read_parquet('s3://{bucket}/main/duck/*/*.parquet', "
        "hive_partitioning=true) GROUP BY part ORDER BY part"
    ).fetchall()
    assert every == [(0, 100), (1, 100), (2, 100)]


def test_copy_to_weir(weir_server: WeirServer, bucket: str, s3: Any) -> None:
    con = connect(weir_server)
    con.execute(
        f"COPY (SELECT range AS n, range * 2 AS twice FROM range(5000)) "
        f"TO 's3://{bucket}/main/out/numbers.parquet' (FORMAT parquet)"
    )
    head = s3.head_object(Bucket=bucket, Key="main/out/numbers.parquet")
    assert head["ContentLength"] > 0
    total = con.execute(
        f"SELECT sum(twice) FROM 's3://{bucket}/main/out/numbers.parquet'"
    ).fetchone()
    assert total == (2 * sum(range(5000)),)
