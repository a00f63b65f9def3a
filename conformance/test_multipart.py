"""Multipart uploads: create, parts, list, complete (and its errors), abort, UploadPartCopy."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conformance.expect import client_error, raw_error
from conformance.rawhttp import RawClient, content_md5, object_path

MIB = 1024 * 1024
PART1 = bytes(range(256)) * (5 * MIB // 256)  # exactly 5 MiB, the minimum non-last part size
PART2 = b"tail of the upload"


def multipart_etag(*parts: bytes) -> str:
    digests = b"".join(hashlib.md5(p).digest() for p in parts)
    return f'"{hashlib.md5(digests).hexdigest()}-{len(parts)}"'


def start(s3: Any, bucket: str, key: str, **kwargs: Any) -> str:
    return str(s3.create_multipart_upload(Bucket=bucket, Key=key, **kwargs)["UploadId"])


def upload(s3: Any, bucket: str, key: str, upload_id: str, number: int, body: bytes) -> str:
    resp = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body)
    return str(resp["ETag"])


def test_multipart_complete_assembles_parts(s3: Any, bucket: str, prefix: str) -> None:
    key = prefix + "big"
    upload_id = start(s3, bucket, key, ContentType="application/x-mp", Metadata={"m": "1"})
    e1 = upload(s3, bucket, key, upload_id, 1, PART1)
    e2 = upload(s3, bucket, key, upload_id, 2, PART2)
    assert e1 == f'"{hashlib.md5(PART1).hexdigest()}"'
    resp = s3.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]},
    )
    assert resp["ETag"] == multipart_etag(PART1, PART2)
    assert resp["Key"] == key
    got = s3.get_object(Bucket=bucket, Key=key)
    body = got["Body"].read()
    assert len(body) == len(PART1) + len(PART2)
    assert body == PART1 + PART2
    assert got["ETag"] == multipart_etag(PART1, PART2)
    assert got["ContentType"] == "application/x-mp"
    assert got["Metadata"] == {"m": "1"}
    # The upload is gone once completed.
    uploads = s3.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", [])
    assert upload_id not in [u["UploadId"] for u in uploads]


def test_multipart_range_read_across_part_boundary(s3: Any, bucket: str, prefix: str) -> None:
    key = prefix + "big"
    upload_id = start(s3, bucket, key)
    parts = [
        {"PartNumber": 1, "ETag": upload(s3, bucket, key, upload_id, 1, PART1)},
        {"PartNumber": 2, "ETag": upload(s3, bucket, key, upload_id, 2, PART2)},
    ]
    s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
    )
    start_byte = len(PART1) - 4
    got = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={start_byte}-{start_byte + 9}")
    assert got["Body"].read() == (PART1 + PART2)[start_byte : start_byte + 10]


def test_multipart_reuploading_a_part_replaces_it(s3: Any, bucket: str, prefix: str) -> None:
    key = prefix + "k"
    upload_id = start(s3, bucket, key)
    upload(s3, bucket, key, upload_id, 1, b"first version")
    etag = upload(s3, bucket, key, upload_id, 1, b"second version")
    parts = s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in parts] == [(1, etag, 14)]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"second version"


def test_list_parts_reports_number_etag_size(s3: Any, bucket: str, prefix: str) -> None:
    key = prefix + "k"
    upload_id = start(s3, bucket, key)
    etags = [upload(s3, bucket, key, upload_id, n, f"part {n}".encode() * n) for n in (1, 2, 3)]
    resp = s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)
    assert [p["PartNumber"] for p in resp["Parts"]] == [1, 2, 3]
    assert [p["ETag"] for p in resp["Parts"]] == etags
    assert [p["Size"] for p in resp["Parts"]] == [6, 12, 18]
    assert resp["UploadId"] == upload_id
    assert resp["Key"] == key


def test_list_parts_paginates(s3: Any, bucket: str, prefix: str) -> None:
    key = prefix + "k"
    upload_id = start(s3, bucket, key)
    for n in (1, 2, 3):
        upload(s3, bucket, key, upload_id, n, b"p")
    first = s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id, MaxParts=2)
    assert [p["PartNumber"] for p in first["Parts"]] == [1, 2]
    assert first["IsTruncated"] is True
    rest = s3.list_parts(
        Bucket=bucket,
        Key=key,
        UploadId=upload_id,
        MaxParts=2,
        PartNumberMarker=first["NextPartNumberMarker"],
    )
    assert [p["PartNumber"] for p in rest["Parts"]] == [3]
    assert rest["IsTruncated"] is False


def test_list_multipart_uploads_shows_open_uploads(s3: Any, bucket: str, prefix: str) -> None:
    ids = {start(s3, bucket, prefix + name): prefix + name for name in ("x/1", "y")}
    resp = s3.list_multipart_uploads(Bucket=bucket, Prefix=prefix)
    listed = {u["UploadId"]: u["Key"] for u in resp.get("Uploads", [])}
    assert listed == ids
    assert all("Initiated" in u for u in resp["Uploads"])


def test_list_multipart_uploads_with_delimiter_groups_prefixes(
    s3: Any, bucket: str, prefix: str
) -> None:
    for name in ("x/1", "x/2", "y"):
        start(s3, bucket, prefix + name)
    nested = s3.list_multipart_uploads(Bucket=bucket, Prefix=prefix, Delimiter="/")
    assert [p["Prefix"] for p in nested.get("CommonPrefixes", [])] == [prefix + "x/"]
    assert [u["Key"] for u in nested.get("Uploads", [])] == [prefix + "y"]


def test_incomplete_upload_is_invisible(s3: Any, bucket: str, prefix: str) -> None:
    key = prefix + "pending"
    upload_id = start(s3, bucket, key)
    upload(s3, bucket, key, upload_id, 1, b"not yet")
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    assert "Contents" not in s3.list_objects(Bucket=bucket, Prefix=prefix)
    with client_error(404, "NoSuchKey"):
        s3.get_object(Bucket=bucket, Key=key)
    with client_error(404, None):
        s3.head_object(Bucket=bucket, Key=key)


def test_abort_then_upload_is_gone(s3: Any, bucket: str, prefix: str) -> None:
    key = prefix + "k"
    upload_id = start(s3, bucket, key)
    upload(s3, bucket, key, upload_id, 1, b"data")
    resp = s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    with client_error(404, "NoSuchUpload"):
        s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)
    with client_error(404, "NoSuchUpload"):
        upload(s3, bucket, key, upload_id, 2, b"more")
    with client_error(404, "NoSuchUpload"):
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"x"'}]},
        )
    uploads = s3.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", [])
    assert uploads == []
    with client_error(404, "NoSuchKey"):
        s3.get_object(Bucket=bucket, Key=key)


def test_upload_part_to_unknown_upload_is_no_such_upload(s3: Any, bucket: str, prefix: str) -> None:
    with client_error(404, "NoSuchUpload"):
        upload(s3, bucket, prefix + "k", "does-not-exist-upload-id", 1, b"x")


def test_abort_unknown_upload_is_no_such_upload(s3: Any, bucket: str, prefix: str) -> None:
    with client_error(404, "NoSuchUpload"):
        s3.abort_multipart_upload(Bucket=bucket, Key=prefix + "k", UploadId="no-such-upload-id")


@pytest.mark.parametrize("number", ["0", "10001", "abc"])
def test_upload_part_number_out_of_range_is_invalid_argument(
    raw: RawClient, s3: Any, bucket: str, prefix: str, number: str
) -> None:
    key = prefix + "k"
    upload_id = start(s3, bucket, key)
    query = [("partNumber", number), ("uploadId", upload_id)]
    resp = raw.request("PUT", object_path(bucket, key), query=query, body=b"x")
    raw_error(resp, 400, "InvalidArgument")


def test_complete_with_wrong_etag_is_invalid_part(s3: Any, bucket: str, prefix: str) -> None:
    key = prefix + "k"
    upload_id = start(s3, bucket, key)
    upload(s3, bucket, key, upload_id, 1, b"data")
    with client_error(400, "InvalidPart"):
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={
                "Parts": [{"PartNumber": 1, "ETag": '"0123456789abcdef0123456789abcdef"'}]
            },
        )
    with client_error(404, "NoSuchKey"):
        s3.get_object(Bucket=bucket, Key=key)


def test_complete_with_missing_part_number_is_invalid_part(
    s3: Any, bucket: str, prefix: str
) -> None:
    key = prefix + "k"
    upload_id = start(s3, bucket, key)
    etag = upload(s3, bucket, key, upload_id, 1, b"data")
    with client_error(400, "InvalidPart"):
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": etag}]},
        )


def test_complete_with_parts_out_of_order_is_invalid_part_order(
    s3: Any, bucket: str, prefix: str
) -> None:
    key = prefix + "k"
    upload_id = start(s3, bucket, key)
    # Both parts are of the minimum size, so that only the order can be wrong.
    e1 = upload(s3, bucket, key, upload_id, 1, PART1)
    e2 = upload(s3, bucket, key, upload_id, 2, PART1)
    with client_error(400, "InvalidPartOrder"):
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={
                "Parts": [{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}]
            },
        )


def test_complete_with_small_non_last_part_is_entity_too_small(
    s3: Any, bucket: str, prefix: str
) -> None:
    key = prefix + "k"
    upload_id = start(s3, bucket, key)
    e1 = upload(s3, bucket, key, upload_id, 1, b"tiny")
    e2 = upload(s3, bucket, key, upload_id, 2, b"tail")
    with client_error(400, "EntityTooSmall"):
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={
                "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]
            },
        )
    with client_error(404, "NoSuchKey"):
        s3.get_object(Bucket=bucket, Key=key)


def test_complete_with_no_parts_is_malformed_xml(
    raw: RawClient, s3: Any, bucket: str, prefix: str
) -> None:
    key = prefix + "k"
    upload_id = start(s3, bucket, key)
    body = b"<CompleteMultipartUpload></CompleteMultipartUpload>"
    resp = raw.request("POST", object_path(bucket, key), query=[("uploadId", upload_id)], body=body)
    raw_error(resp, 400, "MalformedXML")


def test_complete_with_a_subset_of_uploaded_parts(s3: Any, bucket: str, prefix: str) -> None:
    key = prefix + "k"
    upload_id = start(s3, bucket, key)
    upload(s3, bucket, key, upload_id, 1, PART1)
    e2 = upload(s3, bucket, key, upload_id, 2, b"skipped")
    e3 = upload(s3, bucket, key, upload_id, 3, PART2)
    e1 = s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)["Parts"][0]["ETag"]
    assert e2
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 3, "ETag": e3}]},
    )
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == PART1 + PART2


def test_upload_part_copy_with_range(s3: Any, bucket: str, prefix: str) -> None:
    source = prefix + "source"
    s3.put_object(Bucket=bucket, Key=source, Body=PART1 + PART2)
    key = prefix + "assembled"
    upload_id = start(s3, bucket, key)
    copied = s3.upload_part_copy(
        Bucket=bucket,
        Key=key,
        UploadId=upload_id,
        PartNumber=1,
        CopySource={"Bucket": bucket, "Key": source},
        CopySourceRange=f"bytes=0-{len(PART1) - 1}",
    )
    e1 = copied["CopyPartResult"]["ETag"]
    assert e1 == f'"{hashlib.md5(PART1).hexdigest()}"'
    tail = s3.upload_part_copy(
        Bucket=bucket,
        Key=key,
        UploadId=upload_id,
        PartNumber=2,
        CopySource={"Bucket": bucket, "Key": source},
        CopySourceRange=f"bytes={len(PART1)}-{len(PART1) + 3}",
    )
    e2 = tail["CopyPartResult"]["ETag"]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]},
    )
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == PART1 + PART2[:4]


def test_upload_part_copy_whole_object(s3: Any, bucket: str, prefix: str) -> None:
    source = prefix + "source"
    s3.put_object(Bucket=bucket, Key=source, Body=PART2)
    key = prefix + "assembled"
    upload_id = start(s3, bucket, key)
    copied = s3.upload_part_copy(
        Bucket=bucket,
        Key=key,
        UploadId=upload_id,
        PartNumber=1,
        CopySource={"Bucket": bucket, "Key": source},
    )
    etag = copied["CopyPartResult"]["ETag"]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == PART2


def test_upload_part_copy_range_past_end_is_rejected(s3: Any, bucket: str, prefix: str) -> None:
    # AWS answers 400 InvalidArgument ("Range specified is not valid for source object of
    # size: N"); s3-tests and several servers use InvalidRange (400 or 416). Any of these.
    source = prefix + "source"
    s3.put_object(Bucket=bucket, Key=source, Body=PART2)
    key = prefix + "assembled"
    upload_id = start(s3, bucket, key)
    with pytest.raises(ClientError) as caught:
        s3.upload_part_copy(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=1,
            CopySource={"Bucket": bucket, "Key": source},
            CopySourceRange=f"bytes=0-{len(PART2) + 100}",
        )
    resp = caught.value.response
    got = (resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Code"])
    assert got in {(400, "InvalidArgument"), (400, "InvalidRange"), (416, "InvalidRange")}
    assert resp["ResponseMetadata"]["HTTPHeaders"].get("x-amz-request-id")


def test_upload_part_copy_malformed_range_is_invalid_argument(
    s3: Any, bucket: str, prefix: str
) -> None:
    source = prefix + "source"
    s3.put_object(Bucket=bucket, Key=source, Body=PART2)
    key = prefix + "assembled"
    upload_id = start(s3, bucket, key)
    with client_error(400, "InvalidArgument"):
        s3.upload_part_copy(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=1,
            CopySource={"Bucket": bucket, "Key": source},
            CopySourceRange="bytes=invalid-range",
        )


def test_upload_part_copy_missing_source_is_no_such_key(s3: Any, bucket: str, prefix: str) -> None:
    key = prefix + "assembled"
    upload_id = start(s3, bucket, key)
    with client_error(404, "NoSuchKey"):
        s3.upload_part_copy(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=1,
            CopySource={"Bucket": bucket, "Key": prefix + "missing"},
        )


def test_create_multipart_in_missing_bucket_is_no_such_bucket(
    s3: Any, scratch_bucket: str, key_prefix: str
) -> None:
    with client_error(404, "NoSuchBucket"):
        s3.create_multipart_upload(Bucket=scratch_bucket, Key=key_prefix + "k")


def test_complete_accepts_unquoted_part_etags(s3: Any, bucket: str, prefix: str) -> None:
    key = prefix + "k"
    upload_id = start(s3, bucket, key)
    etag = upload(s3, bucket, key, upload_id, 1, PART2)
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag.strip('"')}]},
    )
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == PART2


def test_upload_part_content_md5_mismatch_is_bad_digest(
    raw: RawClient, s3: Any, bucket: str, prefix: str
) -> None:
    key = prefix + "k"
    upload_id = start(s3, bucket, key)
    query = [("partNumber", "1"), ("uploadId", upload_id)]
    headers = {"content-md5": content_md5(b"other bytes")}
    resp = raw.request("PUT", object_path(bucket, key), query=query, headers=headers, body=PART2)
    raw_error(resp, 400, "BadDigest")
    assert s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id).get("Parts", []) == []
