"""Listing edge cases: control characters in keys, prefixes and delimiters; ``encoding-type=url``
on every element AWS encodes; an empty continuation token.

* Control characters are valid in keys, prefixes and delimiters (AWS "Object key naming
  guidelines"); XML 1.0 cannot carry most of them, so clients ask for ``encoding-type=url``
  (boto3 always does) and decode with ``unquote_plus``.
* With ``encoding-type=url`` AWS encodes ``Key``, ``Prefix``, ``Delimiter``,
  ``StartAfter``/``Marker``/``NextMarker`` and ``CommonPrefixes/Prefix`` (ListObjects,
  ListObjectsV2), and ``Key``, ``Prefix``, ``Delimiter``, ``KeyMarker``/``NextKeyMarker`` for
  ListMultipartUploads (API reference, ``EncodingType`` of each operation).
* ``continuation-token=`` (empty) is refused like any token S3 did not issue: 400
  ``InvalidArgument`` "The continuation token provided is incorrect" (measured against AWS and
  reported in a public issue of an S3-compatible server, 2018; that server then changed to
  match).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_plus

import pytest

from conformance.conftest import empty_prefix
from conformance.expect import raw_error, raw_ok
from conformance.rawhttp import RawClient, object_path

CONTROL_NAMES = ["ctl\x01a", "ctl\x01b", "ctl\x0ac", "ctl\x1fd", "ctl\x7fe", "plain"]


@pytest.fixture(scope="module")
def controls(s3: Any, bucket: str, key_prefix: str) -> Iterator[str]:
    base = f"{key_prefix}controls-{uuid.uuid4().hex[:8]}/"
    for name in CONTROL_NAMES:
        s3.put_object(Bucket=bucket, Key=base + name, Body=name.encode())
    yield base
    empty_prefix(s3, bucket, base)


def test_list_v2_keys_with_control_characters_round_trip(
    s3: Any, bucket: str, controls: str
) -> None:
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=controls)
    assert [o["Key"] for o in listed["Contents"]] == sorted(controls + n for n in CONTROL_NAMES)


@pytest.mark.parametrize("version", [1, 2])
def test_list_prefix_with_control_character(
    s3: Any, bucket: str, controls: str, version: int
) -> None:
    call = s3.list_objects_v2 if version == 2 else s3.list_objects
    listed = call(Bucket=bucket, Prefix=controls + "ctl\x01")
    assert [o["Key"] for o in listed["Contents"]] == [controls + "ctl\x01a", controls + "ctl\x01b"]
    if version == 2:  # botocore decodes the echoed Prefix of v2 only
        assert listed["Prefix"] == controls + "ctl\x01"


@pytest.mark.parametrize("version", [1, 2])
def test_list_control_character_delimiter_groups_prefixes(
    s3: Any, bucket: str, controls: str, version: int
) -> None:
    call = s3.list_objects_v2 if version == 2 else s3.list_objects
    listed = call(Bucket=bucket, Prefix=controls, Delimiter="\x01")
    assert [p["Prefix"] for p in listed["CommonPrefixes"]] == [controls + "ctl\x01"]
    assert [o["Key"] for o in listed["Contents"]] == sorted(
        controls + n for n in CONTROL_NAMES if "\x01" not in n
    )
    assert listed["Delimiter"] == "\x01"


def test_list_v2_url_encoding_covers_delimiter_start_after_and_common_prefixes(
    raw: RawClient, bucket: str, controls: str
) -> None:
    query = [
        ("list-type", "2"),
        ("prefix", controls),
        ("delimiter", "\x01"),
        ("start-after", controls + "ct l"),
        ("encoding-type", "url"),
    ]
    resp = raw.request("GET", object_path(bucket), query=query)
    raw_ok(resp)  # the body parses: nothing XML cannot carry is left raw
    root = resp.xml()
    assert root.findtext("Delimiter") == "%01"
    assert unquote_plus(root.findtext("StartAfter") or "") == controls + "ct l"
    assert " " not in (root.findtext("StartAfter") or "")
    prefixes = [p.findtext("Prefix") or "" for p in root.findall("CommonPrefixes")]
    assert [unquote_plus(p) for p in prefixes] == [controls + "ctl\x01"]
    keys = [unquote_plus(c.findtext("Key") or "") for c in root.findall("Contents")]
    assert keys == sorted(controls + n for n in CONTROL_NAMES if "\x01" not in n)


def test_list_v1_url_encoding_covers_marker_and_next_marker(
    raw: RawClient, bucket: str, controls: str
) -> None:
    query = [
        ("prefix", controls),
        ("marker", controls + "ctl\x01a"),
        ("max-keys", "1"),
        ("encoding-type", "url"),
    ]
    resp = raw.request("GET", object_path(bucket), query=query)
    raw_ok(resp)
    root = resp.xml()
    assert unquote_plus(root.findtext("Marker") or "") == controls + "ctl\x01a"
    assert "\x01" not in (root.findtext("Marker") or "")
    keys = [unquote_plus(c.findtext("Key") or "") for c in root.findall("Contents")]
    assert keys == [controls + "ctl\x01b"]
    assert root.findtext("IsTruncated") == "true"


def test_list_multipart_uploads_url_encoding(
    raw: RawClient, s3: Any, bucket: str, prefix: str
) -> None:
    key = prefix + "dir one/a+b%c"
    s3.create_multipart_upload(Bucket=bucket, Key=key)
    query = [("uploads", ""), ("prefix", prefix + "dir one/"), ("encoding-type", "url")]
    resp = raw.request("GET", object_path(bucket), query=query)
    raw_ok(resp)
    root = resp.xml()
    assert root.findtext("EncodingType") == "url"
    assert unquote_plus(root.findtext("Prefix") or "") == prefix + "dir one/"
    keys = [u.findtext("Key") or "" for u in root.findall("Upload")]
    assert [unquote_plus(k) for k in keys] == [key]
    assert not any(" " in k for k in keys)


def test_list_v2_empty_continuation_token_is_invalid_argument(raw: RawClient, bucket: str) -> None:
    query = [("list-type", "2"), ("continuation-token", "")]
    raw_error(raw.request("GET", object_path(bucket), query=query), 400, "InvalidArgument")
