"""DeleteObject and DeleteObjects (multi-object delete): results, Quiet, limits, bad XML."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

from conformance.expect import client_error, raw_error, raw_ok
from conformance.rawhttp import RawClient, content_md5, object_path


def delete_body(keys: list[str], quiet: bool = False) -> bytes:
    objects = "".join(f"<Object><Key>{escape(k)}</Key></Object>" for k in keys)
    flag = "<Quiet>true</Quiet>" if quiet else ""
    return f'<?xml version="1.0" encoding="UTF-8"?><Delete>{flag}{objects}</Delete>'.encode()


def post_delete(raw: RawClient, bucket: str, body: bytes) -> Any:
    headers = {"content-md5": content_md5(body), "content-type": "application/xml"}
    return raw.request(
        "POST", object_path(bucket), query=[("delete", "")], headers=headers, body=body
    )


def test_delete_object_removes_it_with_204(s3: Any, bucket: str, prefix: str) -> None:
    s3.put_object(Bucket=bucket, Key=prefix + "k", Body=b"x")
    resp = s3.delete_object(Bucket=bucket, Key=prefix + "k")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    with client_error(404, "NoSuchKey"):
        s3.get_object(Bucket=bucket, Key=prefix + "k")
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)


def test_delete_missing_object_is_204(s3: Any, bucket: str, prefix: str) -> None:
    resp = s3.delete_object(Bucket=bucket, Key=prefix + "never-existed")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_delete_object_in_missing_bucket_is_no_such_bucket(
    s3: Any, scratch_bucket: str, key_prefix: str
) -> None:
    with client_error(404, "NoSuchBucket"):
        s3.delete_object(Bucket=scratch_bucket, Key=key_prefix + "k")


def test_delete_leaves_siblings_and_prefix_keys_alone(s3: Any, bucket: str, prefix: str) -> None:
    for name in ("a", "a/b", "ab"):
        s3.put_object(Bucket=bucket, Key=prefix + name, Body=b"x")
    s3.delete_object(Bucket=bucket, Key=prefix + "a")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]]
    assert keys == [prefix + "a/b", prefix + "ab"]


def test_delete_objects_reports_each_key_deleted(s3: Any, bucket: str, prefix: str) -> None:
    keys = [prefix + f"k{i}" for i in range(5)]
    for key in keys[:3]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    resp = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    # Deleting a key that does not exist is a success in S3.
    assert sorted(d["Key"] for d in resp["Deleted"]) == keys
    assert "Errors" not in resp
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)


def test_delete_objects_quiet_reports_nothing_on_success(s3: Any, bucket: str, prefix: str) -> None:
    keys = [prefix + f"k{i}" for i in range(3)]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    resp = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True}
    )
    assert not resp.get("Deleted")
    assert not resp.get("Errors")
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)


def test_delete_objects_raw_result_xml(raw: RawClient, s3: Any, bucket: str, prefix: str) -> None:
    s3.put_object(Bucket=bucket, Key=prefix + "a&b", Body=b"x")
    resp = post_delete(raw, bucket, delete_body([prefix + "a&b"]))
    raw_ok(resp)
    root = resp.xml()
    assert root.tag == "DeleteResult"
    assert [d.findtext("Key") for d in root.findall("Deleted")] == [prefix + "a&b"]


def test_delete_objects_1000_keys_is_accepted(raw: RawClient, bucket: str, prefix: str) -> None:
    keys = [prefix + f"k{i:04d}" for i in range(1000)]
    raw_ok(post_delete(raw, bucket, delete_body(keys, quiet=True)))


def test_delete_objects_more_than_1000_keys_is_malformed_xml(
    raw: RawClient, s3: Any, bucket: str, prefix: str
) -> None:
    s3.put_object(Bucket=bucket, Key=prefix + "k0000", Body=b"x")
    keys = [prefix + f"k{i:04d}" for i in range(1001)]
    raw_error(post_delete(raw, bucket, delete_body(keys, quiet=True)), 400, "MalformedXML")
    assert s3.get_object(Bucket=bucket, Key=prefix + "k0000")["Body"].read() == b"x"


def test_delete_objects_malformed_xml_is_malformed_xml(raw: RawClient, bucket: str) -> None:
    raw_error(post_delete(raw, bucket, b"<Delete><Object><Key>x</Key>"), 400, "MalformedXML")


def test_delete_objects_empty_list_is_malformed_xml(raw: RawClient, bucket: str) -> None:
    raw_error(post_delete(raw, bucket, b"<Delete></Delete>"), 400, "MalformedXML")


def test_delete_objects_in_missing_bucket_is_no_such_bucket(
    raw: RawClient, scratch_bucket: str, key_prefix: str
) -> None:
    resp = post_delete(raw, scratch_bucket, delete_body([key_prefix + "k"]))
    raw_error(resp, 404, "NoSuchBucket")


def test_delete_objects_without_content_md5_or_checksum_is_invalid_request(
    raw: RawClient, s3: Any, bucket: str, prefix: str
) -> None:
    # "The Content-MD5 or x-amz-sdk-checksum-algorithm header is required for all Multi-Object
    # Delete requests" (DeleteObjects API reference).
    s3.put_object(Bucket=bucket, Key=prefix + "k", Body=b"x")
    body = delete_body([prefix + "k"])
    resp = raw.request("POST", object_path(bucket), query=[("delete", "")], body=body)
    raw_error(resp, 400, "InvalidRequest")
    assert s3.get_object(Bucket=bucket, Key=prefix + "k")["Body"].read() == b"x"


def test_delete_objects_with_wrong_content_md5_is_bad_digest(
    raw: RawClient, s3: Any, bucket: str, prefix: str
) -> None:
    s3.put_object(Bucket=bucket, Key=prefix + "k", Body=b"x")
    body = delete_body([prefix + "k"])
    headers = {"content-md5": content_md5(b"something else")}
    resp = raw.request(
        "POST", object_path(bucket), query=[("delete", "")], headers=headers, body=body
    )
    raw_error(resp, 400, "BadDigest")
    assert s3.get_object(Bucket=bucket, Key=prefix + "k")["Body"].read() == b"x"
