"""CopyObject: metadata directive, copy-source conditions, odd source keys, errors."""

from __future__ import annotations

import datetime as dt
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

import pytest

from conformance.expect import client_error, raw_error, raw_ok
from conformance.rawhttp import RawClient, object_path

DATA = b"copy me " * 100


@pytest.fixture
def source(s3: Any, bucket: str, prefix: str) -> dict[str, Any]:
    key = prefix + "source"
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=DATA,
        ContentType="text/x-source",
        Metadata={"origin": "source"},
    )
    head = s3.head_object(Bucket=bucket, Key=key)
    return {"key": key, "etag": head["ETag"], "last_modified": head["LastModified"]}


def http_date(when: dt.datetime) -> str:
    return format_datetime(when.astimezone(dt.UTC), usegmt=True)


def test_copy_default_directive_copies_body_and_metadata(
    s3: Any, bucket: str, prefix: str, source: dict[str, Any]
) -> None:
    resp = s3.copy_object(
        Bucket=bucket, Key=prefix + "dest", CopySource={"Bucket": bucket, "Key": source["key"]}
    )
    assert resp["CopyObjectResult"]["ETag"] == source["etag"]
    assert "LastModified" in resp["CopyObjectResult"]
    got = s3.get_object(Bucket=bucket, Key=prefix + "dest")
    assert got["Body"].read() == DATA
    assert got["ContentType"] == "text/x-source"
    assert got["Metadata"] == {"origin": "source"}


def test_copy_directive_copy_ignores_request_metadata(
    s3: Any, bucket: str, prefix: str, source: dict[str, Any]
) -> None:
    s3.copy_object(
        Bucket=bucket,
        Key=prefix + "dest",
        CopySource={"Bucket": bucket, "Key": source["key"]},
        MetadataDirective="COPY",
        Metadata={"origin": "ignored"},
    )
    assert s3.head_object(Bucket=bucket, Key=prefix + "dest")["Metadata"] == {"origin": "source"}


def test_copy_directive_replace_uses_request_metadata(
    s3: Any, bucket: str, prefix: str, source: dict[str, Any]
) -> None:
    s3.copy_object(
        Bucket=bucket,
        Key=prefix + "dest",
        CopySource={"Bucket": bucket, "Key": source["key"]},
        MetadataDirective="REPLACE",
        Metadata={"fresh": "yes"},
        ContentType="application/x-replaced",
    )
    got = s3.get_object(Bucket=bucket, Key=prefix + "dest")
    assert got["Metadata"] == {"fresh": "yes"}
    assert got["ContentType"] == "application/x-replaced"
    assert got["Body"].read() == DATA
    # The source is untouched.
    assert s3.head_object(Bucket=bucket, Key=source["key"])["Metadata"] == {"origin": "source"}


def test_copy_onto_itself_without_replace_is_invalid_request(
    s3: Any, bucket: str, source: dict[str, Any]
) -> None:
    with client_error(400, "InvalidRequest"):
        s3.copy_object(
            Bucket=bucket, Key=source["key"], CopySource={"Bucket": bucket, "Key": source["key"]}
        )


def test_copy_onto_itself_with_replace_updates_metadata(
    s3: Any, bucket: str, source: dict[str, Any]
) -> None:
    s3.copy_object(
        Bucket=bucket,
        Key=source["key"],
        CopySource={"Bucket": bucket, "Key": source["key"]},
        MetadataDirective="REPLACE",
        Metadata={"origin": "self"},
    )
    got = s3.get_object(Bucket=bucket, Key=source["key"])
    assert got["Metadata"] == {"origin": "self"}
    assert got["Body"].read() == DATA


def test_copy_unknown_metadata_directive_is_invalid_argument(
    raw: RawClient, bucket: str, prefix: str, source: dict[str, Any]
) -> None:
    headers = {
        "x-amz-copy-source": f"/{bucket}/{quote(source['key'])}",
        "x-amz-metadata-directive": "MERGE",
    }
    resp = raw.request("PUT", object_path(bucket, prefix + "dest"), headers=headers)
    raw_error(resp, 400, "InvalidArgument")


def test_copy_source_with_odd_characters(s3: Any, bucket: str, prefix: str) -> None:
    odd = prefix + "src with space+plus%pct/\u00e9"
    s3.put_object(Bucket=bucket, Key=odd, Body=DATA)
    s3.copy_object(Bucket=bucket, Key=prefix + "dest", CopySource={"Bucket": bucket, "Key": odd})
    assert s3.get_object(Bucket=bucket, Key=prefix + "dest")["Body"].read() == DATA


def test_copy_source_without_leading_slash(
    raw: RawClient, s3: Any, bucket: str, prefix: str, source: dict[str, Any]
) -> None:
    headers = {"x-amz-copy-source": f"{bucket}/{quote(source['key'])}"}
    resp = raw.request("PUT", object_path(bucket, prefix + "dest"), headers=headers)
    raw_ok(resp)
    assert resp.xml().tag == "CopyObjectResult"
    assert s3.get_object(Bucket=bucket, Key=prefix + "dest")["Body"].read() == DATA


def _conditions(source: dict[str, Any], case: str) -> dict[str, str]:
    past = http_date(source["last_modified"] - dt.timedelta(days=1))
    same = http_date(source["last_modified"])
    future = http_date(source["last_modified"] + dt.timedelta(days=1))
    other = '"0123456789abcdef0123456789abcdef"'
    return {
        "if-match-equal": {"CopySourceIfMatch": source["etag"]},
        "if-match-other": {"CopySourceIfMatch": other},
        "if-none-match-equal": {"CopySourceIfNoneMatch": source["etag"]},
        "if-none-match-other": {"CopySourceIfNoneMatch": other},
        "if-modified-since-past": {"CopySourceIfModifiedSince": past},
        # Not modified since its own Last-Modified (a future date is avoided: RFC 9110 lets a
        # server treat it as invalid and ignore it).
        "if-modified-since-last-modified": {"CopySourceIfModifiedSince": same},
        "if-unmodified-since-past": {"CopySourceIfUnmodifiedSince": past},
        "if-unmodified-since-future": {"CopySourceIfUnmodifiedSince": future},
        # Documented: if-match true and if-unmodified-since false -> the copy happens.
        "if-match-true-and-unmodified-since-false": {
            "CopySourceIfMatch": source["etag"],
            "CopySourceIfUnmodifiedSince": past,
        },
        # Documented: if-none-match false and if-modified-since true -> 412.
        "if-none-match-false-and-modified-since-true": {
            "CopySourceIfNoneMatch": source["etag"],
            "CopySourceIfModifiedSince": past,
        },
    }[case]


COPY_CONDITIONS = [
    ("if-match-equal", True),
    ("if-match-other", False),
    ("if-none-match-equal", False),
    ("if-none-match-other", True),
    ("if-modified-since-past", True),
    ("if-modified-since-last-modified", False),
    ("if-unmodified-since-past", False),
    ("if-unmodified-since-future", True),
    ("if-match-true-and-unmodified-since-false", True),
    ("if-none-match-false-and-modified-since-true", False),
]


@pytest.mark.parametrize(("case", "copies"), COPY_CONDITIONS, ids=[c for c, _ in COPY_CONDITIONS])
def test_copy_source_condition(
    s3: Any, bucket: str, prefix: str, source: dict[str, Any], case: str, copies: bool
) -> None:
    kwargs = {
        "Bucket": bucket,
        "Key": prefix + "dest",
        "CopySource": {"Bucket": bucket, "Key": source["key"]},
        **_conditions(source, case),
    }
    if copies:
        s3.copy_object(**kwargs)
        assert s3.get_object(Bucket=bucket, Key=prefix + "dest")["Body"].read() == DATA
    else:
        with client_error(412, "PreconditionFailed"):
            s3.copy_object(**kwargs)
        with client_error(404, None):
            s3.head_object(Bucket=bucket, Key=prefix + "dest")


def test_copy_missing_source_key_is_no_such_key(s3: Any, bucket: str, prefix: str) -> None:
    with client_error(404, "NoSuchKey"):
        s3.copy_object(
            Bucket=bucket, Key=prefix + "dest", CopySource={"Bucket": bucket, "Key": prefix + "no"}
        )


def test_copy_from_missing_bucket_is_no_such_bucket(
    s3: Any, bucket: str, prefix: str, scratch_bucket: str, key_prefix: str
) -> None:
    with client_error(404, "NoSuchBucket"):
        s3.copy_object(
            Bucket=bucket,
            Key=prefix + "dest",
            CopySource={"Bucket": scratch_bucket, "Key": key_prefix + "x"},
        )


def test_copy_into_missing_bucket_is_no_such_bucket(
    s3: Any, bucket: str, source: dict[str, Any], scratch_bucket: str, key_prefix: str
) -> None:
    with client_error(404, "NoSuchBucket"):
        s3.copy_object(
            Bucket=scratch_bucket,
            Key=key_prefix + "dest",
            CopySource={"Bucket": bucket, "Key": source["key"]},
        )
