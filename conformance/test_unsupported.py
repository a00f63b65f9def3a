"""Sub-resources a server may not implement (acl, lifecycle, policy, tagging, ...).

AWS S3 supports all of these; a gateway such as Weir answers ``501 NotImplemented``. One assertion
fits both: the answer is never a 5xx other than ``501 NotImplemented`` (as S3 XML), an error is a
well-formed S3 error, and whatever the answer, the request must not silently change data: a PUT
or DELETE on ``?tagging`` must not overwrite or delete the object itself, a bucket-level request
must not create, change or remove objects.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from conformance.expect import raw_error
from conformance.rawhttp import RawClient, content_md5, object_path

DATA = b"must survive every unsupported request\n"

TAGGING_XML = b"<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>"
LIFECYCLE_XML = (
    b"<LifecycleConfiguration><Rule><ID>r</ID><Filter><Prefix>x/</Prefix></Filter>"
    b"<Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>"
    b"</LifecycleConfiguration>"
)
CORS_XML = (
    b"<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod>"
    b"<AllowedOrigin>*</AllowedOrigin></CORSRule></CORSConfiguration>"
)
VERSIONING_XML = b"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>"
WEBSITE_XML = (
    b"<WebsiteConfiguration><IndexDocument><Suffix>i.html</Suffix></IndexDocument>"
    b"</WebsiteConfiguration>"
)
ACCELERATE_XML = b"<AccelerateConfiguration><Status>Enabled</Status></AccelerateConfiguration>"
PAYMENT_XML = (
    b"<RequestPaymentConfiguration><Payer>BucketOwner</Payer></RequestPaymentConfiguration>"
)
POLICY_JSON = b'{"Version":"2012-10-17","Statement":[]}'

# (method, sub-resource, body, on the object?) -- each id reads "<METHOD>-<subresource>-<scope>".
OBJECT_CASES = [
    ("PUT", "acl", b""),
    ("GET", "acl", b""),
    ("PUT", "tagging", TAGGING_XML),
    ("GET", "tagging", b""),
    ("DELETE", "tagging", b""),
    ("PUT", "retention", b"<Retention><Mode>GOVERNANCE</Mode></Retention>"),
    ("PUT", "legal-hold", b"<LegalHold><Status>ON</Status></LegalHold>"),
    ("POST", "restore", b"<RestoreRequest><Days>1</Days></RestoreRequest>"),
    ("GET", "torrent", b""),
]
BUCKET_CASES = [
    ("PUT", "acl", b""),
    ("PUT", "lifecycle", LIFECYCLE_XML),
    ("GET", "lifecycle", b""),
    ("DELETE", "lifecycle", b""),
    ("PUT", "policy", POLICY_JSON),
    ("GET", "policy", b""),
    ("DELETE", "policy", b""),
    ("PUT", "cors", CORS_XML),
    ("GET", "cors", b""),
    ("PUT", "website", WEBSITE_XML),
    ("PUT", "versioning", VERSIONING_XML),
    ("PUT", "tagging", TAGGING_XML),
    ("DELETE", "tagging", b""),
    ("PUT", "notification", b"<NotificationConfiguration/>"),
    ("PUT", "logging", b"<BucketLoggingStatus/>"),
    ("PUT", "replication", b"<ReplicationConfiguration/>"),
    ("PUT", "encryption", b"<ServerSideEncryptionConfiguration/>"),
    ("PUT", "object-lock", b"<ObjectLockConfiguration/>"),
    ("PUT", "accelerate", ACCELERATE_XML),
    ("PUT", "requestPayment", PAYMENT_XML),
]


def assert_not_broken(resp: Any) -> None:
    """No 5xx except 501 NotImplemented; any error is a proper S3 XML error."""
    if resp.status == 501:
        raw_error(resp, 501, "NotImplemented")
        return
    assert resp.status < 500, f"server error {resp.status}: {resp.body[:300]!r}"
    if resp.status >= 400:
        raw_error(resp, resp.status, resp.error_code() or "<missing Code>")


def snapshot(s3: Any, bucket: str, prefix: str) -> list[tuple[str, str, int, str]]:
    """Every object under ``prefix`` with its ETag, size and body digest."""
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    state = []
    for obj in listed:
        body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        state.append((obj["Key"], obj["ETag"], obj["Size"], hashlib.sha256(body).hexdigest()))
    return state


def send(raw: RawClient, method: str, path: str, sub: str, body: bytes) -> Any:
    headers = {"content-md5": content_md5(body)} if method in ("PUT", "POST") else {}
    if sub == "acl" and method == "PUT":
        headers["x-amz-acl"] = "private"  # the canned ACL: harmless where it is supported
    return raw.request(method, path, query=[(sub, "")], headers=headers, body=body)


@pytest.mark.parametrize(
    ("method", "sub", "body"), OBJECT_CASES, ids=[f"{m}-{s}-object" for m, s, _ in OBJECT_CASES]
)
def test_object_subresource_is_not_implemented_or_harmless(
    raw: RawClient, s3: Any, bucket: str, prefix: str, method: str, sub: str, body: bytes
) -> None:
    key = prefix + "obj"
    s3.put_object(Bucket=bucket, Key=key, Body=DATA)
    before = snapshot(s3, bucket, prefix)
    resp = send(raw, method, object_path(bucket, key), sub, body)
    assert_not_broken(resp)
    assert snapshot(s3, bucket, prefix) == before
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == DATA


@pytest.mark.parametrize(
    ("method", "sub", "body"), BUCKET_CASES, ids=[f"{m}-{s}-bucket" for m, s, _ in BUCKET_CASES]
)
def test_bucket_subresource_is_not_implemented_or_harmless(
    raw: RawClient,
    s3: Any,
    scratch_bucket: str,
    key_prefix: str,
    method: str,
    sub: str,
    body: bytes,
) -> None:
    # A bucket of its own, so that a configuration a server does accept (versioning, policy,
    # lifecycle) cannot affect the rest of the suite.
    s3.create_bucket(Bucket=scratch_bucket)
    s3.put_object(Bucket=scratch_bucket, Key=key_prefix + "obj", Body=DATA)
    before = snapshot(s3, scratch_bucket, key_prefix)
    resp = send(raw, method, object_path(scratch_bucket), sub, body)
    assert_not_broken(resp)
    assert snapshot(s3, scratch_bucket, key_prefix) == before
    s3.head_bucket(Bucket=scratch_bucket)
