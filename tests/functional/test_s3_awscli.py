"""The AWS CLI (v1) against a real Weir server: mb, cp (multipart, 100-continue), sync, ls, rb."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.functional.conftest import WeirServer, unique_bucket

CLI_TIMEOUT = 120  # a stall on Expect: 100-continue would cost 60 s per request


def aws(server: WeirServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "awscli", "--endpoint-url", server.endpoint, "s3", *args],
        env=server.aws_env(),
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_mb_cp_ls_sync_rb(weir_server: WeirServer, s3: Any, tmp_path: Path) -> None:
    name = unique_bucket("cli")
    ok(aws(weir_server, "mb", f"s3://{name}"))
    assert name in ok(aws(weir_server, "ls"))  # ListBuckets

    big = tmp_path / "big.bin"
    big_data = bytes(range(256)) * (4096 * 20)  # 20 MiB: multipart at the CLI's 8 MiB threshold
    big.write_bytes(big_data)
    small = tmp_path / "small.txt"
    small.write_text("small file\n")
    ok(aws(weir_server, "cp", str(big), f"s3://{name}/main/data/big.bin"))
    ok(aws(weir_server, "cp", str(small), f"s3://{name}/main/data/small.txt"))

    root = ok(aws(weir_server, "ls", f"s3://{name}/"))
    assert "PRE main/" in root
    listing = ok(aws(weir_server, "ls", f"s3://{name}/main/data/"))
    assert "big.bin" in listing and "small.txt" in listing
    assert str(len(big_data)) in listing

    down = tmp_path / "down.bin"
    ok(aws(weir_server, "cp", f"s3://{name}/main/data/big.bin", str(down)))
    assert down.read_bytes() == big_data

    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    for i in range(5):
        (tree / f"f{i}.txt").write_text(f"file {i}\n")
    (tree / "sub" / "deep.txt").write_text("deep\n")
    ok(aws(weir_server, "sync", str(tree), f"s3://{name}/main/tree/"))
    synced = sorted(
        o["Key"] for o in s3.list_objects_v2(Bucket=name, Prefix="main/tree/")["Contents"]
    )
    assert synced == [f"main/tree/f{i}.txt" for i in range(5)] + ["main/tree/sub/deep.txt"]
    back = tmp_path / "back"
    ok(aws(weir_server, "sync", f"s3://{name}/main/tree/", str(back)))
    assert (back / "sub" / "deep.txt").read_text() == "deep\n"
    assert sorted(p.name for p in back.iterdir()) == [f"f{i}.txt" for i in range(5)] + ["sub"]

    # rb on a non-empty bucket fails with BucketNotEmpty (boto3 tests); empty it, then rb.
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=name, Prefix="main/")["Contents"]]
    s3.delete_objects(Bucket=name, Delete={"Objects": [{"Key": k} for k in keys]})
    ok(aws(weir_server, "rb", f"s3://{name}"))
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
