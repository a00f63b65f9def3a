"""ListObjects (v1) and ListObjectsV2: prefix, delimiter, pagination, encoding-type=url, errors."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote_plus

import pytest

from conformance.conftest import empty_prefix
from conformance.expect import client_error, raw_error, raw_ok
from conformance.rawhttp import RawClient, object_path

# Relative names under the listing prefix: "directories", a nested one, and keys that need
# encoding in XML or URLs.
NAMES = [
    "a/1",
    "a/2",
    "b/1",
    "c",
    "d/e/f",
    "e",
    "sp ace",
    "plus+sign",
    "pct%25",
    "uni-\u00e9\u65e5",
    "x-amp&lt<>",
]


@pytest.fixture(scope="module")
def listing(s3: Any, bucket: str, key_prefix: str) -> Iterator[str]:
    """A prefix holding one small object per name in NAMES (body = the name's UTF-8 bytes)."""
    base = f"{key_prefix}listing-{uuid.uuid4().hex[:8]}/"

    def put(name: str) -> None:
        s3.put_object(Bucket=bucket, Key=base + name, Body=name.encode())

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, NAMES))
    yield base
    empty_prefix(s3, bucket, base)


def expected_keys(base: str) -> list[str]:
    # S3 lists in UTF-8 byte order; Python's code-point order is the same.
    return sorted(base + n for n in NAMES)


def test_list_v2_prefix_returns_sorted_keys_with_size_and_etag(
    s3: Any, bucket: str, listing: str
) -> None:
    resp = s3.list_objects_v2(Bucket=bucket, Prefix=listing)
    keys = [o["Key"] for o in resp["Contents"]]
    assert keys == expected_keys(listing)
    assert resp["KeyCount"] == len(NAMES)
    assert resp["IsTruncated"] is False
    for obj in resp["Contents"]:
        name = obj["Key"][len(listing) :].encode()
        assert obj["Size"] == len(name)
        assert obj["ETag"] == f'"{hashlib.md5(name).hexdigest()}"'
        assert "LastModified" in obj


def test_list_v2_delimiter_groups_common_prefixes(s3: Any, bucket: str, listing: str) -> None:
    resp = s3.list_objects_v2(Bucket=bucket, Prefix=listing, Delimiter="/")
    prefixes = [p["Prefix"] for p in resp.get("CommonPrefixes", [])]
    assert prefixes == [listing + "a/", listing + "b/", listing + "d/"]
    keys = [o["Key"] for o in resp["Contents"]]
    assert keys == [k for k in expected_keys(listing) if "/" not in k[len(listing) :]]
    assert resp["KeyCount"] == len(keys) + len(prefixes)
    assert (resp["Name"], resp["Prefix"], resp["Delimiter"]) == (bucket, listing, "/")
    assert resp["MaxKeys"] == 1000


def test_list_v2_delimiter_other_than_slash(s3: Any, bucket: str, listing: str) -> None:
    resp = s3.list_objects_v2(Bucket=bucket, Prefix=listing, Delimiter="-")
    prefixes = [p["Prefix"] for p in resp.get("CommonPrefixes", [])]
    assert prefixes == [listing + "uni-", listing + "x-"]
    keys = [o["Key"] for o in resp["Contents"]]
    assert keys == [k for k in expected_keys(listing) if "-" not in k[len(listing) :]]


def test_list_v2_nested_prefix_with_delimiter(s3: Any, bucket: str, listing: str) -> None:
    resp = s3.list_objects_v2(Bucket=bucket, Prefix=listing + "d/", Delimiter="/")
    assert [p["Prefix"] for p in resp.get("CommonPrefixes", [])] == [listing + "d/e/"]
    assert "Contents" not in resp


def test_list_v2_prefix_matching_nothing_is_empty(s3: Any, bucket: str, listing: str) -> None:
    resp = s3.list_objects_v2(Bucket=bucket, Prefix=listing + "zzz")
    assert resp["KeyCount"] == 0
    assert "Contents" not in resp
    assert resp["IsTruncated"] is False


def test_list_v2_paginates_with_max_keys_and_continuation_token(
    s3: Any, bucket: str, listing: str
) -> None:
    seen: list[str] = []
    token: str | None = None
    for _ in range(len(NAMES) + 2):
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": listing, "MaxKeys": 3}
        if token:
            kwargs["ContinuationToken"] = token
        resp = s3.list_objects_v2(**kwargs)
        page = [o["Key"] for o in resp.get("Contents", [])]
        assert len(page) <= 3
        assert resp["KeyCount"] == len(page)
        assert resp["MaxKeys"] == 3
        seen += page
        if not resp["IsTruncated"]:
            assert "NextContinuationToken" not in resp
            break
        token = resp["NextContinuationToken"]
        assert token
    assert seen == expected_keys(listing)


def test_list_v2_start_after(s3: Any, bucket: str, listing: str) -> None:
    after = listing + "c"
    resp = s3.list_objects_v2(Bucket=bucket, Prefix=listing, StartAfter=after)
    assert [o["Key"] for o in resp["Contents"]] == [k for k in expected_keys(listing) if k > after]
    assert resp["StartAfter"] == after


def test_list_v2_max_keys_zero_returns_nothing(s3: Any, bucket: str, listing: str) -> None:
    resp = s3.list_objects_v2(Bucket=bucket, Prefix=listing, MaxKeys=0)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert "Contents" not in resp
    assert "CommonPrefixes" not in resp
    assert resp["KeyCount"] == 0


def test_list_v2_common_prefixes_count_toward_max_keys(s3: Any, bucket: str, listing: str) -> None:
    resp = s3.list_objects_v2(Bucket=bucket, Prefix=listing, Delimiter="/", MaxKeys=2)
    assert [p["Prefix"] for p in resp.get("CommonPrefixes", [])] == [listing + "a/", listing + "b/"]
    assert "Contents" not in resp
    assert resp["KeyCount"] == 2
    assert resp["IsTruncated"] is True
    rest = s3.list_objects_v2(
        Bucket=bucket,
        Prefix=listing,
        Delimiter="/",
        MaxKeys=2,
        ContinuationToken=resp["NextContinuationToken"],
    )
    assert rest["Contents"][0]["Key"] == listing + "c"


def test_list_v2_delimiter_paging_one_at_a_time_yields_each_entry_once(
    s3: Any, bucket: str, listing: str
) -> None:
    entries: list[str] = []
    token: str | None = None
    for _ in range(len(NAMES) + 2):
        kwargs: dict[str, Any] = {
            "Bucket": bucket,
            "Prefix": listing,
            "Delimiter": "/",
            "MaxKeys": 1,
        }
        if token:
            kwargs["ContinuationToken"] = token
        resp = s3.list_objects_v2(**kwargs)
        entries += [p["Prefix"] for p in resp.get("CommonPrefixes", [])]
        entries += [o["Key"] for o in resp.get("Contents", [])]
        if not resp["IsTruncated"]:
            break
        token = resp["NextContinuationToken"]
    top = sorted({listing + n.split("/")[0] + ("/" if "/" in n else "") for n in NAMES})
    assert entries == top


def test_list_v2_encoding_type_url_encodes_keys_and_prefix(
    raw: RawClient, bucket: str, listing: str
) -> None:
    resp = raw.request(
        "GET",
        object_path(bucket),
        query=[("list-type", "2"), ("prefix", listing), ("encoding-type", "url")],
    )
    raw_ok(resp)
    root = resp.xml()
    assert root.findtext("EncodingType") == "url"
    raw_keys = [c.findtext("Key") or "" for c in root.findall("Contents")]
    assert [unquote_plus(k) for k in raw_keys] == expected_keys(listing)
    # Encoded (a space as %20 or +, a plus as %2B), so that unquote_plus -- what SDKs apply --
    # gives back every key exactly; nothing XML-special or blank is left raw.
    assert not any(" " in k or "<" in k or "&" in k for k in raw_keys)
    assert unquote_plus(root.findtext("Prefix") or "") == listing


def test_list_v2_without_encoding_type_returns_keys_verbatim(
    raw: RawClient, bucket: str, listing: str
) -> None:
    resp = raw.request("GET", object_path(bucket), query=[("list-type", "2"), ("prefix", listing)])
    raw_ok(resp)
    raw_keys = [c.findtext("Key") for c in resp.xml().findall("Contents")]
    assert raw_keys == expected_keys(listing)


def test_list_v2_missing_bucket_is_no_such_bucket(s3: Any, scratch_bucket: str) -> None:
    with client_error(404, "NoSuchBucket"):
        s3.list_objects_v2(Bucket=scratch_bucket)


def test_list_v2_negative_max_keys_is_invalid_argument(raw: RawClient, bucket: str) -> None:
    resp = raw.request("GET", object_path(bucket), query=[("list-type", "2"), ("max-keys", "-1")])
    raw_error(resp, 400, "InvalidArgument")


def test_list_v2_unknown_encoding_type_is_invalid_argument(raw: RawClient, bucket: str) -> None:
    query = [("list-type", "2"), ("encoding-type", "base64")]
    raw_error(raw.request("GET", object_path(bucket), query=query), 400, "InvalidArgument")


def test_list_v2_garbage_continuation_token_is_invalid_argument(
    raw: RawClient, bucket: str
) -> None:
    query = [("list-type", "2"), ("continuation-token", "!!not-a-token!!")]
    raw_error(raw.request("GET", object_path(bucket), query=query), 400, "InvalidArgument")


def test_list_v1_prefix_and_delimiter(s3: Any, bucket: str, listing: str) -> None:
    resp = s3.list_objects(Bucket=bucket, Prefix=listing, Delimiter="/")
    assert [p["Prefix"] for p in resp.get("CommonPrefixes", [])] == [
        listing + "a/",
        listing + "b/",
        listing + "d/",
    ]
    keys = [o["Key"] for o in resp["Contents"]]
    assert keys == [k for k in expected_keys(listing) if "/" not in k[len(listing) :]]
    assert resp["IsTruncated"] is False


def test_list_v1_paginates_with_marker(s3: Any, bucket: str, listing: str) -> None:
    seen: list[str] = []
    marker = ""
    for _ in range(len(NAMES) + 2):
        resp = s3.list_objects(Bucket=bucket, Prefix=listing, MaxKeys=4, Marker=marker)
        page = [o["Key"] for o in resp.get("Contents", [])]
        assert len(page) <= 4
        seen += page
        if not resp["IsTruncated"]:
            break
        # Without a delimiter S3 may omit NextMarker; the last key is then the next marker.
        marker = resp.get("NextMarker") or page[-1]
    assert seen == expected_keys(listing)


def test_list_v1_next_marker_with_delimiter(s3: Any, bucket: str, listing: str) -> None:
    resp = s3.list_objects(Bucket=bucket, Prefix=listing, Delimiter="/", MaxKeys=2)
    assert resp["IsTruncated"] is True
    assert [p["Prefix"] for p in resp.get("CommonPrefixes", [])] == [listing + "a/", listing + "b/"]
    assert resp["NextMarker"] == listing + "b/"
    rest = s3.list_objects(
        Bucket=bucket, Prefix=listing, Delimiter="/", MaxKeys=100, Marker=resp["NextMarker"]
    )
    entries = [p["Prefix"] for p in rest.get("CommonPrefixes", [])]
    entries += [o["Key"] for o in rest.get("Contents", [])]
    assert listing + "b/" not in entries
    assert listing + "d/" in entries


def test_list_v1_marker_echoed(s3: Any, bucket: str, listing: str) -> None:
    resp = s3.list_objects(Bucket=bucket, Prefix=listing, Marker=listing + "c")
    assert resp["Marker"] == listing + "c"
    assert [o["Key"] for o in resp["Contents"]] == [
        k for k in expected_keys(listing) if k > listing + "c"
    ]


def test_list_v1_max_keys_zero_returns_nothing(s3: Any, bucket: str, listing: str) -> None:
    resp = s3.list_objects(Bucket=bucket, Prefix=listing, MaxKeys=0)
    assert "Contents" not in resp
    assert "CommonPrefixes" not in resp


def test_list_v1_encoding_type_url_encodes_keys(raw: RawClient, bucket: str, listing: str) -> None:
    query = [("prefix", listing), ("encoding-type", "url")]
    resp = raw.request("GET", object_path(bucket), query=query)
    raw_ok(resp)
    root = resp.xml()
    assert root.findtext("EncodingType") == "url"
    raw_keys = [c.findtext("Key") or "" for c in root.findall("Contents")]
    assert [unquote_plus(k) for k in raw_keys] == expected_keys(listing)
    assert not any(" " in k or "<" in k or "&" in k for k in raw_keys)


def test_list_v1_missing_bucket_is_no_such_bucket(s3: Any, scratch_bucket: str) -> None:
    with client_error(404, "NoSuchBucket"):
        s3.list_objects(Bucket=scratch_bucket)
