"""Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from conformance.expect import client_error, raw_error, raw_ok
from conformance.rawhttp import RawClient, object_path


def test_list_buckets_includes_the_suite_bucket(s3: Any, bucket: str) -> None:
    resp = s3.list_buckets()
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    names = [b["Name"] for b in resp["Buckets"]]
    assert bucket in names
    assert all("CreationDate" in b for b in resp["Buckets"])


def test_list_buckets_anonymous_is_access_denied(raw: RawClient) -> None:
    raw_error(raw.request("GET", "/", sign=False), 403, "AccessDenied")


def test_create_head_delete_bucket(s3: Any, scratch_bucket: str) -> None:
    resp = s3.create_bucket(Bucket=scratch_bucket)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.head_bucket(Bucket=scratch_bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert scratch_bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    resp = s3.delete_bucket(Bucket=scratch_bucket)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    with client_error(404, None):
        s3.head_bucket(Bucket=scratch_bucket)


def test_create_bucket_with_canned_acl_header_is_accepted(s3: Any, scratch_bucket: str) -> None:
    resp = s3.create_bucket(Bucket=scratch_bucket, ACL="private")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    s3.head_bucket(Bucket=scratch_bucket)


def test_create_bucket_that_you_own_already(s3: Any, bucket: str) -> None:
    # AWS answers 409 BucketAlreadyOwnedByYou everywhere except us-east-1, where it answers 200
    # for legacy compatibility; both are documented. Nothing in the bucket may change.
    try:
        resp = s3.create_bucket(Bucket=bucket)
    except ClientError as exc:
        status = exc.response["ResponseMetadata"]["HTTPStatusCode"]
        assert (status, exc.response["Error"]["Code"]) == (409, "BucketAlreadyOwnedByYou")
    else:
        assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    s3.head_bucket(Bucket=bucket)


def test_create_bucket_invalid_name_is_invalid_bucket_name(raw: RawClient) -> None:
    raw_error(raw.request("PUT", "/Invalid_Bucket_Name"), 400, "InvalidBucketName")


def test_create_bucket_malformed_configuration_is_malformed_xml(
    raw: RawClient, scratch_bucket: str
) -> None:
    resp = raw.request("PUT", object_path(scratch_bucket), body=b"<CreateBucketConfiguration><oops")
    raw_error(resp, 400, "MalformedXML")


def test_head_bucket_missing_is_404(s3: Any, scratch_bucket: str) -> None:
    with client_error(404, None):
        s3.head_bucket(Bucket=scratch_bucket)


def test_delete_bucket_missing_is_no_such_bucket(s3: Any, scratch_bucket: str) -> None:
    with client_error(404, "NoSuchBucket"):
        s3.delete_bucket(Bucket=scratch_bucket)


def test_delete_bucket_not_empty_is_bucket_not_empty(
    s3: Any, scratch_bucket: str, key_prefix: str
) -> None:
    s3.create_bucket(Bucket=scratch_bucket)
    s3.put_object(Bucket=scratch_bucket, Key=f"{key_prefix}keep", Body=b"x")
    with client_error(409, "BucketNotEmpty"):
        s3.delete_bucket(Bucket=scratch_bucket)
    assert s3.get_object(Bucket=scratch_bucket, Key=f"{key_prefix}keep")["Body"].read() == b"x"
    s3.delete_object(Bucket=scratch_bucket, Key=f"{key_prefix}keep")
    assert s3.delete_bucket(Bucket=scratch_bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_get_bucket_location(s3: Any, bucket: str) -> None:
    resp = s3.get_bucket_location(Bucket=bucket)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    # us-east-1 is reported as an empty LocationConstraint (boto3 gives None).
    location = resp.get("LocationConstraint")
    assert location is None or isinstance(location, str)


def test_get_bucket_location_raw_xml(raw: RawClient, bucket: str) -> None:
    resp = raw.request("GET", object_path(bucket), query=[("location", "")])
    raw_ok(resp)
    assert resp.xml().tag == "LocationConstraint"


def test_get_bucket_location_missing_is_no_such_bucket(s3: Any, scratch_bucket: str) -> None:
    with client_error(404, "NoSuchBucket"):
        s3.get_bucket_location(Bucket=scratch_bucket)
