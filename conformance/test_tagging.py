"""Object tagging: PutObjectTagging / GetObjectTagging / DeleteObjectTagging, ``x-amz-tagging``
on PutObject and CreateMultipartUpload, ``x-amz-tagging-count`` on GetObject, CopyObject's
``x-amz-tagging-directive``, and S3's limits (AWS "Categorizing your storage using tags": at
most 10 tags, unique keys of at most 128 and values of at most 256 Unicode characters, else
``InvalidTag``; a malformed ``x-amz-tagging`` header is ``InvalidArgument``).

Changing the tags of an object changes neither its bytes nor its ETag.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.expect import client_error, raw_error
from conformance.rawhttp import RawClient, object_path

DATA = b"tagged bytes\n"


def tag_set(s3: Any, bucket: str, key: str) -> dict[str, str]:
    got = s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    return {t["Key"]: t["Value"] for t in got}


def as_tagging(tags: dict[str, str]) -> dict[str, Any]:
    return {"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]}


def test_put_with_tagging_header_stores_tags(s3: Any, bucket: str, prefix: str) -> None:
    s3.put_object(Bucket=bucket, Key=prefix + "k", Body=DATA, Tagging="team=ml&stage=raw%20data")
    assert tag_set(s3, bucket, prefix + "k") == {"team": "ml", "stage": "raw data"}
    assert s3.get_object(Bucket=bucket, Key=prefix + "k")["TagCount"] == 2


def test_untagged_object_has_empty_tag_set_and_no_count(s3: Any, bucket: str, prefix: str) -> None:
    s3.put_object(Bucket=bucket, Key=prefix + "k", Body=DATA)
    assert tag_set(s3, bucket, prefix + "k") == {}
    assert "TagCount" not in s3.get_object(Bucket=bucket, Key=prefix + "k")


def test_put_get_delete_object_tagging(s3: Any, bucket: str, prefix: str) -> None:
    key = prefix + "k"
    s3.put_object(Bucket=bucket, Key=key, Body=DATA, Tagging="old=1")
    before = s3.head_object(Bucket=bucket, Key=key)
    s3.put_object_tagging(Bucket=bucket, Key=key, Tagging=as_tagging({"a": "1", "b": ""}))
    assert tag_set(s3, bucket, key) == {"a": "1", "b": ""}  # replaced, not merged
    after = s3.head_object(Bucket=bucket, Key=key)
    assert after["ETag"] == before["ETag"]
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == DATA
    deleted = s3.delete_object_tagging(Bucket=bucket, Key=key)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert tag_set(s3, bucket, key) == {}


def test_tagging_missing_key_is_no_such_key(s3: Any, bucket: str, prefix: str) -> None:
    with client_error(404, "NoSuchKey"):
        s3.get_object_tagging(Bucket=bucket, Key=prefix + "missing")
    with client_error(404, "NoSuchKey"):
        s3.put_object_tagging(Bucket=bucket, Key=prefix + "missing", Tagging=as_tagging({}))


@pytest.mark.parametrize(
    "tags",
    [
        {f"k{i}": "v" for i in range(11)},
        {"k" * 129: "v"},
        {"k": "v" * 257},
    ],
    ids=["eleven-tags", "key-over-128", "value-over-256"],
)
def test_put_object_tagging_over_limits_is_invalid_tag(
    s3: Any, bucket: str, prefix: str, tags: dict[str, str]
) -> None:
    s3.put_object(Bucket=bucket, Key=prefix + "k", Body=DATA)
    with client_error(400, "InvalidTag"):
        s3.put_object_tagging(Bucket=bucket, Key=prefix + "k", Tagging=as_tagging(tags))
    assert tag_set(s3, bucket, prefix + "k") == {}


def test_put_object_tagging_duplicate_key_is_invalid_tag(
    raw: RawClient, s3: Any, bucket: str, prefix: str
) -> None:
    s3.put_object(Bucket=bucket, Key=prefix + "k", Body=DATA)
    body = (
        b"<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag>"
        b"<Tag><Key>a</Key><Value>2</Value></Tag></TagSet></Tagging>"
    )
    resp = raw.request("PUT", object_path(bucket, prefix + "k"), query=[("tagging", "")], body=body)
    raw_error(resp, 400, "InvalidTag")


def test_put_with_eleven_tags_in_header_is_invalid_tag_and_stores_nothing(
    s3: Any, bucket: str, prefix: str
) -> None:
    header = "&".join(f"k{i}=v" for i in range(11))
    with client_error(400, "InvalidTag"):
        s3.put_object(Bucket=bucket, Key=prefix + "k", Body=DATA, Tagging=header)
    with client_error(404, None):
        s3.head_object(Bucket=bucket, Key=prefix + "k")


def test_put_with_duplicate_tag_in_header_is_invalid_argument(
    s3: Any, bucket: str, prefix: str
) -> None:
    with client_error(400, "InvalidArgument"):
        s3.put_object(Bucket=bucket, Key=prefix + "k", Body=DATA, Tagging="a=1&a=2")


def test_multipart_upload_with_tagging(s3: Any, bucket: str, prefix: str) -> None:
    key = prefix + "mp"
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key, Tagging="kind=multipart")
    etag = s3.upload_part(
        Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=DATA
    )["ETag"]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )
    assert tag_set(s3, bucket, key) == {"kind": "multipart"}


def test_copy_copies_tags_by_default_and_replaces_on_request(
    s3: Any, bucket: str, prefix: str
) -> None:
    s3.put_object(Bucket=bucket, Key=prefix + "src", Body=DATA, Tagging="a=1")
    source = {"Bucket": bucket, "Key": prefix + "src"}
    s3.copy_object(Bucket=bucket, Key=prefix + "copy", CopySource=source)
    assert tag_set(s3, bucket, prefix + "copy") == {"a": "1"}
    s3.copy_object(
        Bucket=bucket,
        Key=prefix + "replaced",
        CopySource=source,
        TaggingDirective="REPLACE",
        Tagging="b=2",
    )
    assert tag_set(s3, bucket, prefix + "replaced") == {"b": "2"}
