"""Multipart uploads tracked by Weir: parts, listings, completion, abort, UploadPartCopy."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from botocore.exceptions import ClientError

MIB = 1024 * 1024


def part_data(index: int, size: int = 5 * MIB) -> bytes:
    return bytes([index % 251]) * size


def multipart_etag(parts: list[bytes]) -> str:
    digests = b"".join(hashlib.md5(p).digest() for p in parts)
    return f'"{hashlib.md5(digests).hexdigest()}-{len(parts)}"'


def code(exc: ClientError) -> str:
    return str(exc.response["Error"]["Code"])


def test_full_lifecycle(s3: Any, bucket: str) -> None:
    key = "main/mp/object.bin"
    upload = s3.create_multipart_upload(
        Bucket=bucket, Key=key, ContentType="application/x-mp", Metadata={"m": "v"}
    )
    upload_id = upload["UploadId"]
    assert upload["Key"] == key
    parts = [part_data(1), part_data(2), b"tail"]
    etags = []
    for number, data in enumerate(parts, start=1):
        etags.append(
            s3.upload_part(
                Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data
            )["ETag"]
        )
    assert etags[0] == f'"{hashlib.md5(parts[0]).hexdigest()}"'

    listed = s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)
    assert [(p["PartNumber"], p["Size"]) for p in listed["Parts"]] == [
        (1, 5 * MIB),
        (2, 5 * MIB),
        (3, 4),
    ]
    page = s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id, MaxParts=2)
    assert page["IsTruncated"] and page["NextPartNumberMarker"] == 2
    rest = s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id, PartNumberMarker=2)
    assert [p["PartNumber"] for p in rest["Parts"]] == [3]
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [(key, upload_id)]

    # Invisible until completed.
    with pytest.raises(ClientError) as info:
        s3.head_object(Bucket=bucket, Key=key)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="main/mp/")

    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=upload_id,
        MultipartUpload={
            "Parts": [{"PartNumber": i + 1, "ETag": etag} for i, etag in enumerate(etags)]
        },
    )
    assert done["ETag"] == multipart_etag(parts)
    got = s3.get_object(Bucket=bucket, Key=key)
    assert got["Body"].read() == b"".join(parts)
    assert (got["ContentType"], got["Metadata"]) == ("application/x-mp", {"m": "v"})
    assert got["ETag"] == multipart_etag(parts)
    span = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={5 * MIB - 2}-{5 * MIB + 1}")
    assert span["Body"].read() == parts[0][-2:] + parts[1][:2]
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)
    with pytest.raises(ClientError) as info:
        s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)
    assert code(info.value) == "NoSuchUpload"


def test_abort_and_errors(s3: Any, bucket: str) -> None:
    key = "main/mp/aborted"
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    small = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=b"a")
    last = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=2, Body=b"b")
    with pytest.raises(ClientError) as info:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={
                "Parts": [
                    {"PartNumber": 1, "ETag": small["ETag"]},
                    {"PartNumber": 2, "ETag": last["ETag"]},
                ]
            },
        )
    assert code(info.value) == "EntityTooSmall"
    with pytest.raises(ClientError) as info:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={
                "Parts": [
                    {"PartNumber": 2, "ETag": last["ETag"]},
                    {"PartNumber": 1, "ETag": small["ETag"]},
                ]
            },
        )
    assert code(info.value) == "InvalidPartOrder"
    with pytest.raises(ClientError) as info:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"0000"'}]},
        )
    assert code(info.value) == "InvalidPart"
    with pytest.raises(ClientError) as info:
        s3.upload_part(Bucket=bucket, Key="main/other", UploadId=upload_id, PartNumber=1, Body=b"x")
    assert code(info.value) == "NoSuchUpload"

    s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)
    with pytest.raises(ClientError) as info:
        s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=3, Body=b"c")
    assert code(info.value) == "NoSuchUpload"
    with pytest.raises(ClientError) as info:
        s3.head_object(Bucket=bucket, Key=key)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_single_part_and_replaced_part(s3: Any, bucket: str) -> None:
    key = "main/mp/replaced"
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=b"first")
    etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=b"second")[
        "ETag"
    ]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"second"


def test_upload_part_copy(s3: Any, bucket: str) -> None:
    source = bytes(range(256)) * (24 * 1024)  # 6 MiB
    s3.put_object(Bucket=bucket, Key="main/src.bin", Body=source)
    key = "main/mp/copied"
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    whole = s3.upload_part_copy(
        Bucket=bucket,
        Key=key,
        UploadId=upload_id,
        PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "main/src.bin"},
    )["CopyPartResult"]["ETag"]
    assert whole == f'"{hashlib.md5(source).hexdigest()}"'
    ranged = s3.upload_part_copy(
        Bucket=bucket,
        Key=key,
        UploadId=upload_id,
        PartNumber=2,
        CopySource={"Bucket": bucket, "Key": "main/src.bin"},
        CopySourceRange="bytes=1000-1999",
    )["CopyPartResult"]["ETag"]
    assert ranged == f'"{hashlib.md5(source[1000:2000]).hexdigest()}"'
    with pytest.raises(ClientError) as info:
        s3.upload_part_copy(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=3,
            CopySource={"Bucket": bucket, "Key": "main/src.bin"},
            CopySourceRange=f"bytes=0-{len(source)}",
        )
    assert code(info.value) == "InvalidArgument"
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=upload_id,
        MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": whole}, {"PartNumber": 2, "ETag": ranged}]
        },
    )
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert body == source + source[1000:2000]
    # A multipart object can itself be a copy source, whole and by range.
    second = "main/mp/copied-again"
    again = s3.create_multipart_upload(Bucket=bucket, Key=second)["UploadId"]
    part = s3.upload_part_copy(
        Bucket=bucket,
        Key=second,
        UploadId=again,
        PartNumber=1,
        CopySource=f"{bucket}/{key}",
        CopySourceRange=f"bytes={len(source) - 10}-{len(source) + 9}",
    )["CopyPartResult"]["ETag"]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key=second,
        UploadId=again,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part}]},
    )
    expected = (source + source[1000:2000])[len(source) - 10 : len(source) + 10]
    assert s3.get_object(Bucket=bucket, Key=second)["Body"].read() == expected


def test_copy_object_of_multipart_is_zero_copy(s3: Any, bucket: str) -> None:
    key = "main/mp/zc"
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    parts = [part_data(7), b"end"]
    etags = [
        s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=i + 1, Body=p)["ETag"]
        for i, p in enumerate(parts)
    ]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]},
    )
    copied = s3.copy_object(Bucket=bucket, Key="main/mp/zc-copy", CopySource=f"{bucket}/{key}")
    assert copied["CopyObjectResult"]["ETag"] == multipart_etag(parts)
    assert s3.get_object(Bucket=bucket, Key="main/mp/zc-copy")["Body"].read() == b"".join(parts)


def test_list_uploads_prefix_delimiter_and_pages(s3: Any, bucket: str) -> None:
    started = {}
    for key in ("main/up/a/1", "main/up/a/2", "main/up/b", "main/up/c", "main/other"):
        started[key] = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    grouped = s3.list_multipart_uploads(Bucket=bucket, Prefix="main/up/", Delimiter="/")
    assert [p["Prefix"] for p in grouped["CommonPrefixes"]] == ["main/up/a/"]
    assert [u["Key"] for u in grouped["Uploads"]] == ["main/up/b", "main/up/c"]
    seen: list[str] = []
    for page in s3.get_paginator("list_multipart_uploads").paginate(
        Bucket=bucket, Prefix="main/up/", Delimiter="/", PaginationConfig={"PageSize": 1}
    ):
        seen.extend(p["Prefix"] for p in page.get("CommonPrefixes", []))
        seen.extend(u["Key"] for u in page.get("Uploads", []))
    assert seen == ["main/up/a/", "main/up/b", "main/up/c"]
    flat = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=2)
    assert flat["IsTruncated"]
    assert [u["Key"] for u in flat["Uploads"]] == ["main/other", "main/up/a/1"]
    rest = s3.list_multipart_uploads(Bucket=bucket, KeyMarker=flat["NextKeyMarker"])
    assert [u["UploadId"] for u in rest["Uploads"]] == [
        started["main/up/a/2"],
        started["main/up/b"],
        started["main/up/c"],
    ]


def test_list_uploads_url_encoding(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="main/a b+c")["UploadId"]
    encoded = s3.list_multipart_uploads(Bucket=bucket, EncodingType="url")
    assert [(u["Key"], u["UploadId"]) for u in encoded["Uploads"]] == [("main/a+b%2Bc", upload_id)]
    plain = s3.list_multipart_uploads(Bucket=bucket)
    assert [u["Key"] for u in plain["Uploads"]] == ["main/a b+c"]
