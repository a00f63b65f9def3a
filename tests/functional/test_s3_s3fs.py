"""s3fs (fsspec over aiobotocore) against a real Weir server."""

from __future__ import annotations

from typing import Any

import pytest
import s3fs  # type: ignore[import-untyped]

from tests.functional.conftest import WeirServer


@pytest.fixture
def fs(weir_server: WeirServer) -> s3fs.S3FileSystem:
    return s3fs.S3FileSystem(
        key=weir_server.access_key,
        secret=weir_server.secret_key,
        endpoint_url=weir_server.endpoint,
        client_kwargs={"region_name": "us-east-1"},
        skip_instance_cache=True,
        use_listings_cache=False,
    )


def test_write_read_list_delete(fs: s3fs.S3FileSystem, bucket: str, s3: Any) -> None:
    payload = b"".join(i.to_bytes(4, "big") for i in range(300_000))  # 1.2 MiB
    with fs.open(f"{bucket}/main/s3fs/data.bin", "wb") as f:
        f.write(payload)
    fs.pipe(f"{bucket}/main/s3fs/sub/a.txt", b"alpha")
    fs.pipe(f"{bucket}/main/s3fs/sub/b.txt", b"beta")

    assert fs.cat(f"{bucket}/main/s3fs/data.bin") == payload
    with fs.open(f"{bucket}/main/s3fs/data.bin", "rb") as f:
        f.seek(400_000)
        assert f.read(8) == payload[400_000:400_008]
    assert fs.cat(f"{bucket}/main/s3fs/sub/a.txt") == b"alpha"

    assert sorted(fs.ls(f"{bucket}/main/s3fs/", detail=False)) == [
        f"{bucket}/main/s3fs/data.bin",
        f"{bucket}/main/s3fs/sub",
    ]
    assert fs.ls(bucket, detail=False) == [f"{bucket}/main"]  # branches at the bucket root
    assert fs.info(f"{bucket}/main/s3fs/data.bin")["size"] == len(payload)
    assert fs.isdir(f"{bucket}/main/s3fs/sub")
    assert sorted(fs.find(f"{bucket}/main/s3fs/")) == [
        f"{bucket}/main/s3fs/data.bin",
        f"{bucket}/main/s3fs/sub/a.txt",
        f"{bucket}/main/s3fs/sub/b.txt",
    ]
    assert sorted(fs.glob(f"{bucket}/main/s3fs/sub/*.txt")) == [
        f"{bucket}/main/s3fs/sub/a.txt",
        f"{bucket}/main/s3fs/sub/b.txt",
    ]

    fs.copy(f"{bucket}/main/s3fs/sub/a.txt", f"{bucket}/main/s3fs/copy.txt")
    assert fs.cat(f"{bucket}/main/s3fs/copy.txt") == b"alpha"
    fs.rm(f"{bucket}/main/s3fs/sub", recursive=True)
    assert not fs.exists(f"{bucket}/main/s3fs/sub/a.txt")
    with pytest.raises(FileNotFoundError):
        fs.cat(f"{bucket}/main/s3fs/sub/b.txt")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="main/s3fs/")["Contents"]]
    assert keys == ["main/s3fs/copy.txt", "main/s3fs/data.bin"]


def test_large_write_uses_multipart(fs: s3fs.S3FileSystem, bucket: str) -> None:
    data = bytes(range(256)) * (4096 * 12)  # 12 MiB with 5 MiB blocks: three parts
    with fs.open(f"{bucket}/main/mp.bin", "wb", block_size=5 * 1024 * 1024) as f:
        for offset in range(0, len(data), 1 << 20):
            f.write(data[offset : offset + (1 << 20)])
    assert fs.info(f"{bucket}/main/mp.bin")["ETag"].endswith('-3"')
    assert fs.cat(f"{bucket}/main/mp.bin") == data
