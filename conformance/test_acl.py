"""ACLs: the default policy (the owner has FULL_CONTROL) is what GetBucketAcl/GetObjectAcl
answer; a ``private`` canned ACL (which changes nothing) is accepted; an ACL that would make
data public is refused (AWS refuses it under Block Public Access, the default for new buckets
since 2023: 403 ``AccessDenied``, or 400 ``AccessControlListNotSupported`` when ACLs are
disabled), and nothing is stored or changed.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from conformance.expect import client_error

DATA = b"private bytes\n"
REFUSED = {(403, "AccessDenied"), (400, "AccessControlListNotSupported")}


def assert_owner_full_control(acl: dict[str, Any]) -> None:
    owner = acl["Owner"]["ID"]
    grants = acl["Grants"]
    assert [g["Permission"] for g in grants] == ["FULL_CONTROL"], grants
    assert grants[0]["Grantee"]["Type"] == "CanonicalUser"
    assert grants[0]["Grantee"]["ID"] == owner


def refused(call: Any, **kwargs: Any) -> None:
    try:
        call(**kwargs)
    except ClientError as exc:
        got = (exc.response["ResponseMetadata"]["HTTPStatusCode"], exc.response["Error"]["Code"])
        assert got in REFUSED, got
    else:
        raise AssertionError("a public ACL was accepted")


def test_get_bucket_acl_is_owner_full_control(s3: Any, bucket: str) -> None:
    assert_owner_full_control(s3.get_bucket_acl(Bucket=bucket))


def test_get_object_acl_is_owner_full_control(s3: Any, bucket: str, prefix: str) -> None:
    s3.put_object(Bucket=bucket, Key=prefix + "k", Body=DATA)
    assert_owner_full_control(s3.get_object_acl(Bucket=bucket, Key=prefix + "k"))


def test_get_object_acl_of_missing_key_is_no_such_key(s3: Any, bucket: str, prefix: str) -> None:
    with client_error(404, "NoSuchKey"):
        s3.get_object_acl(Bucket=bucket, Key=prefix + "missing")


def test_put_object_acl_private_changes_nothing(s3: Any, bucket: str, prefix: str) -> None:
    s3.put_object(Bucket=bucket, Key=prefix + "k", Body=DATA)
    s3.put_object_acl(Bucket=bucket, Key=prefix + "k", ACL="private")
    assert_owner_full_control(s3.get_object_acl(Bucket=bucket, Key=prefix + "k"))
    assert s3.get_object(Bucket=bucket, Key=prefix + "k")["Body"].read() == DATA


def test_put_object_with_public_read_acl_is_refused_and_stores_nothing(
    s3: Any, bucket: str, prefix: str
) -> None:
    refused(s3.put_object, Bucket=bucket, Key=prefix + "k", Body=DATA, ACL="public-read")
    with client_error(404, None):
        s3.head_object(Bucket=bucket, Key=prefix + "k")


def test_put_object_acl_public_read_is_refused(s3: Any, bucket: str, prefix: str) -> None:
    s3.put_object(Bucket=bucket, Key=prefix + "k", Body=DATA)
    refused(s3.put_object_acl, Bucket=bucket, Key=prefix + "k", ACL="public-read")
    assert_owner_full_control(s3.get_object_acl(Bucket=bucket, Key=prefix + "k"))


def test_put_bucket_acl_granting_all_users_is_refused(s3: Any, bucket: str) -> None:
    refused(
        s3.put_bucket_acl,
        Bucket=bucket,
        GrantRead='uri="http://acs.amazonaws.com/groups/global/AllUsers"',
    )
    assert_owner_full_control(s3.get_bucket_acl(Bucket=bucket))


def test_multipart_upload_with_public_acl_is_refused(s3: Any, bucket: str, prefix: str) -> None:
    refused(s3.create_multipart_upload, Bucket=bucket, Key=prefix + "k", ACL="public-read-write")
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket, Prefix=prefix)
