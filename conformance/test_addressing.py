"""Virtual-hosted-style addressing beside path style (AWS "Virtual hosting of buckets"):
``<bucket>.<domain>/<key>`` names the same objects as ``<domain>/<bucket>/<key>``.

The suite sends such requests to the endpoint's address with the ``Host`` the domain gives (the
names do not resolve here); servers it starts are configured with the domain
(``targets.VIRTUAL_DOMAIN``), any other endpoint names it in ``S3_VIRTUAL_HOST_DOMAIN``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from conformance.expect import raw_error, raw_ok
from conformance.rawhttp import RawClient
from conformance.targets import Target


@pytest.fixture
def domain(target: Target) -> str:
    assert target.virtual_domain, "set S3_VIRTUAL_HOST_DOMAIN for this endpoint"
    return target.virtual_domain


def virtual_host(raw: RawClient, bucket: str, domain: str) -> str:
    return f"{bucket}.{domain}:{raw.host_header.rpartition(':')[2]}"


def send(raw: RawClient, method: str, host: str, path: str, body: bytes = b"", **kw: Any) -> Any:
    headers = {"content-length": str(len(body))} if method in ("PUT", "POST") else {}
    signed = raw.sign(
        method, path, headers=headers, host=host, payload_hash="UNSIGNED-PAYLOAD", **kw
    )
    return raw.send(method, signed.target, signed.headers, body)


def test_virtual_hosted_put_is_read_path_style(
    raw: RawClient, s3: Any, bucket: str, prefix: str, domain: str
) -> None:
    host = virtual_host(raw, bucket, domain)
    key = prefix + "via host"
    raw_ok(send(raw, "PUT", host, "/" + quote(key), b"virtual bytes"))
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"virtual bytes"


def test_path_style_put_is_read_virtual_hosted(
    raw: RawClient, s3: Any, bucket: str, prefix: str, domain: str
) -> None:
    s3.put_object(Bucket=bucket, Key=prefix + "k", Body=b"path bytes")
    resp = send(raw, "GET", virtual_host(raw, bucket, domain), "/" + quote(prefix + "k"))
    raw_ok(resp)
    assert resp.body == b"path bytes"


def test_virtual_hosted_bucket_listing(
    raw: RawClient, s3: Any, bucket: str, prefix: str, domain: str
) -> None:
    s3.put_object(Bucket=bucket, Key=prefix + "a", Body=b"a")
    host = virtual_host(raw, bucket, domain)
    signed = raw.sign(
        "GET",
        "/",
        query=[("list-type", "2"), ("prefix", prefix)],
        host=host,
    )
    resp = raw.send("GET", signed.target, signed.headers)
    raw_ok(resp)
    root = resp.xml()
    assert root.findtext("Name") == bucket
    assert [c.findtext("Key") for c in root.findall("Contents")] == [prefix + "a"]


def test_virtual_hosted_missing_bucket_is_no_such_bucket(
    raw: RawClient, scratch_bucket: str, domain: str
) -> None:
    resp = send(raw, "GET", virtual_host(raw, scratch_bucket, domain), "/")
    raw_error(resp, 404, "NoSuchBucket")
