"""Fixtures for the S3 conformance suite: the target endpoint, clients, and per-test key space.

The suite talks to one endpoint (see :mod:`conformance.targets`). Each test gets its own unique key
prefix through the ``prefix`` fixture, and everything written under it (objects and multipart
uploads) is removed after the test, so tests are independent and the bucket is left as found.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError

from conformance.rawhttp import Credentials, RawClient
from conformance.targets import Target, target_from_environment, targets_from_environment


def make_client(target: Target, access_key: str | None = None, secret: str | None = None) -> Any:
    """Return a boto3 S3 client for ``target`` (path-style, SigV4, no retries)."""
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        retries={"total_max_attempts": 1},
        connect_timeout=5,
        read_timeout=30,
    )
    return boto3.client(
        "s3",
        endpoint_url=target.endpoint_url,
        aws_access_key_id=access_key or target.access_key,
        aws_secret_access_key=secret or target.secret_key,
        region_name=target.region,
        config=config,
    )


def empty_prefix(s3: BaseClient, bucket: str, prefix: str) -> None:
    """Delete every object and abort every multipart upload under ``prefix`` (best effort)."""
    with contextlib.suppress(ClientError):
        for page in s3.get_paginator("list_multipart_uploads").paginate(
            Bucket=bucket, Prefix=prefix
        ):
            for upload in page.get("Uploads", []):
                with contextlib.suppress(ClientError):
                    s3.abort_multipart_upload(
                        Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
    with contextlib.suppress(ClientError):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})


def remove_bucket(s3: BaseClient, bucket: str) -> None:
    """Empty and delete a bucket the suite created; no error if it is already gone."""
    empty_prefix(s3, bucket, "")
    with contextlib.suppress(ClientError):
        # A test may have turned versioning on where the server supports it.
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            for version in page.get("Versions", []) + page.get("DeleteMarkers", []):
                s3.delete_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])
    with contextlib.suppress(ClientError):
        s3.delete_bucket(Bucket=bucket)


def new_bucket_name() -> str:
    """A bucket (repository) name no other run uses: lowercase, digits and dashes."""
    return f"conf-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session", params=targets_from_environment())
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    """The endpoint under test, started for the session when the environment names none; once
    per kind when ``WEIR_CONFORMANCE_TARGETS`` names several (pytest runs each kind's tests
    together)."""
    with target_from_environment(None if request.param == "env" else request.param) as tgt:
        yield tgt


@pytest.fixture(scope="session")
def s3(target: Target) -> Any:
    """A boto3 S3 client for the target."""
    return make_client(target)


@pytest.fixture(scope="session")
def raw(target: Target) -> RawClient:
    """A raw SigV4 client for the target."""
    return RawClient(
        target.endpoint_url, Credentials(target.access_key, target.secret_key, target.region)
    )


@pytest.fixture(scope="session")
def bucket(target: Target, s3: Any) -> Iterator[str]:
    """The bucket the suite writes into; created (and finally deleted) if it did not exist."""
    name = target.bucket or new_bucket_name()
    created = False
    try:
        s3.head_bucket(Bucket=name)
    except ClientError:
        s3.create_bucket(Bucket=name)
        created = True
    yield name
    if created:
        remove_bucket(s3, name)


@pytest.fixture(scope="session")
def key_prefix(target: Target) -> str:
    """The prefix every key of the suite starts with (for Weir, the branch: ``main/``)."""
    return target.key_prefix


@pytest.fixture
def prefix(s3: Any, bucket: str, key_prefix: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A unique key prefix for one test; everything under it is deleted afterwards."""
    name = request.node.name.split("[")[0].removeprefix("test_")[:40]
    unique = f"{key_prefix}{name}-{uuid.uuid4().hex[:8]}/"
    yield unique
    empty_prefix(s3, bucket, unique)


@pytest.fixture
def scratch_bucket(s3: Any) -> Iterator[str]:
    """A bucket name for tests that create and delete buckets; removed afterwards if it exists."""
    name = new_bucket_name()
    yield name
    remove_bucket(s3, name)
