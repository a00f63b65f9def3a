"""boto3 with its defaults (SigV2 presigned URLs), ``auth.sigv2 = false``, and virtual-hosted
style addressing under ``s3.domain``, against real servers.

The default server shares the session's ``weir_server``; the second one (SigV2 off, a domain
configured) is started once for this module from a TOML file, as an operator would.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import boto3  # type: ignore[import-untyped]
import botocore.awsrequest
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.functional.conftest import WeirServer, run_weir, unique_bucket

DOMAIN = "s3.weir.test"


def default_boto3(server: WeirServer, **config: Any) -> Any:
    """boto3 as a user gets it: no signature_version configured (presigns with SigV2)."""
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}, **config),
    )


def send(url: str, method: str = "GET", body: bytes = b"") -> tuple[int, bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        conn.request(method, f"{parts.path}?{parts.query}", body=body or None)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_boto3_default_presigned_get_and_put(weir_server: WeirServer, s3: Any, bucket: str) -> None:
    client = default_boto3(weir_server, s3={"addressing_style": "path"})
    put_url = client.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "main/shared.csv"}, ExpiresIn=600
    )
    assert "AWSAccessKeyId=" in put_url  # SigV2: what botocore produces by default
    assert send(put_url, "PUT", b"a,b\n1,2\n")[0] == 200
    get_url = client.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "main/shared.csv"}, ExpiresIn=600
    )
    assert send(get_url) == (200, b"a,b\n1,2\n")
    assert s3.get_object(Bucket=bucket, Key="main/shared.csv")["Body"].read() == b"a,b\n1,2\n"


def test_sigv2_header_auth_grants_are_the_same(weir_server: WeirServer, bucket: str) -> None:
    client = default_boto3(weir_server, signature_version="s3", s3={"addressing_style": "path"})
    client.put_object(Bucket=bucket, Key="main/v2.txt", Body=b"signed v2")
    assert client.get_object(Bucket=bucket, Key="main/v2.txt")["Body"].read() == b"signed v2"
    with pytest.raises(ClientError) as refused:  # no such branch, whatever the signature
        client.put_object(Bucket=bucket, Key="nope/v2.txt", Body=b"x")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


@pytest.fixture(scope="module")
def configured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WeirServer]:
    root = tmp_path_factory.mktemp("weir-configured")
    config = root / "weir.toml"
    config.write_text(f'[auth]\nsigv2 = false\n\n[s3]\ndomain = "{DOMAIN}"\n')
    with run_weir(root / "data", root / "server.log", ["--config", str(config)]) as server:
        yield server


def test_sigv2_can_be_turned_off(configured: WeirServer) -> None:
    client = default_boto3(configured, s3={"addressing_style": "path"})
    name = unique_bucket()
    configured.boto3_client().create_bucket(Bucket=name)
    url = client.generate_presigned_url(
        "get_object", Params={"Bucket": name, "Key": "main/x"}, ExpiresIn=600
    )
    status, body = send(url)
    assert status == 400 and b"<Code>InvalidRequest</Code>" in body, body


def _virtual_hosted(server: WeirServer) -> Any:
    """A boto3 client addressing ``<bucket>.s3.weir.test``: the name cannot be resolved here,
    so each signed request is sent to the server's address with its Host header unchanged."""
    client = boto3.client(
        "s3",
        endpoint_url=f"http://{DOMAIN}:{server.port}",
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        region_name="us-east-1",
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "virtual"},
            retries={"max_attempts": 1},
        ),
    )

    def to_loopback(request: botocore.awsrequest.AWSPreparedRequest, **_: Any) -> None:
        parts = urlsplit(request.url)
        request.headers["Host"] = parts.netloc
        request.url = request.url.replace(parts.netloc, server.hostport, 1)

    client.meta.events.register("before-send.s3", to_loopback)
    return client


def test_virtual_hosted_style_beside_path_style(configured: WeirServer) -> None:
    virtual = _virtual_hosted(configured)
    path_style = configured.boto3_client()
    name = unique_bucket()
    virtual.create_bucket(Bucket=name)
    virtual.put_object(Bucket=name, Key="main/dir/a.txt", Body=b"virtual")
    assert path_style.get_object(Bucket=name, Key="main/dir/a.txt")["Body"].read() == b"virtual"
    listed = virtual.list_objects_v2(Bucket=name, Prefix="main/")
    assert [o["Key"] for o in listed["Contents"]] == ["main/dir/a.txt"]
    assert virtual.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert name in [b["Name"] for b in path_style.list_buckets()["Buckets"]]
