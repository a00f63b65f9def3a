"""SigV4: AWS's published S3 examples, botocore's own signers, tampering, skew and expiry."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import boto3  # type: ignore[import-untyped]
import botocore.auth
import botocore.config
import pytest
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from gateway.s3 import sigv4
from gateway.s3.errors import (
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    InvalidArgument,
    InvalidRequest,
    MissingSecurityHeader,
    RequestExpired,
    RequestTimeTooSkewed,
    SignatureDoesNotMatch,
    UnsupportedSignature,
)

AKID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
T0 = datetime(2013, 5, 24, tzinfo=UTC)
Captured = tuple[Any, list[AWSRequest]]  # (boto3 S3 client, requests signed by it)


def _verify(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: CIMultiDict[str],
    now: datetime,
    secret: str = SECRET,
) -> sigv4.SigningKey:
    ctx = sigv4.parse_auth(method, headers, parse_qsl(raw_query, keep_blank_values=True))
    assert ctx is not None
    return sigv4.verify(
        ctx,
        secret,
        method=method,
        raw_path=raw_path,
        raw_query=raw_query,
        headers=headers,
        now=now,
    )


# -- AWS documentation examples ("Signature Calculations for the Authorization Header") ------


def _aws_headers(signed: str, signature: str, **extra: str) -> CIMultiDict[str]:
    headers = CIMultiDict(
        {
            "Host": "examplebucket.s3.amazonaws.com",
            "x-amz-date": "20130524T000000Z",
            "x-amz-content-sha256": sigv4.EMPTY_SHA256,
        }
    )
    headers.update(extra)
    headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={AKID}/20130524/us-east-1/s3/aws4_request,"
        f"SignedHeaders={signed},Signature={signature}"
    )
    return headers


def test_aws_example_get_object_with_range() -> None:
    headers = _aws_headers(
        "host;range;x-amz-content-sha256;x-amz-date",
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
        Range="bytes=0-9",
    )
    key = _verify("GET", "/test.txt", "", headers, T0)
    assert key.seed_signature.startswith("f0e8bdb8")


def test_aws_example_put_object_with_date_header_and_dollar_in_key() -> None:
    headers = CIMultiDict(
        {
            "Host": "examplebucket.s3.amazonaws.com",
            "Date": "Fri, 24 May 2013 00:00:00 GMT",
            "x-amz-date": "20130524T000000Z",
            "x-amz-storage-class": "REDUCED_REDUNDANCY",
            "x-amz-content-sha256": (
                "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
            ),
            "Authorization": (
                f"AWS4-HMAC-SHA256 Credential={AKID}/20130524/us-east-1/s3/aws4_request,"
                "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,"
                "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
            ),
        }
    )
    _verify("PUT", "/test%24file.text", "", headers, T0)
    # The same request with the '$' sent unencoded is normalised to the signed form.
    _verify("PUT", "/test$file.text", "", headers, T0)


def test_aws_example_get_bucket_lifecycle_empty_value() -> None:
    headers = _aws_headers(
        "host;x-amz-content-sha256;x-amz-date",
        "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
    )
    _verify("GET", "/", "lifecycle", headers, T0)


def test_aws_example_list_objects_query_sorted() -> None:
    headers = _aws_headers(
        "host;x-amz-content-sha256;x-amz-date",
        "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
    )
    _verify("GET", "/", "max-keys=2&prefix=J", headers, T0)
    _verify("GET", "/", "prefix=J&max-keys=2", headers, T0)


def test_aws_example_presigned_get() -> None:
    query = (
        "X-Amz-Algorithm=AWS4-HMAC-SHA256"
        f"&X-Amz-Credential={AKID}%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
        "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    )
    headers = CIMultiDict({"Host": "examplebucket.s3.amazonaws.com"})
    _verify("GET", "/test.txt", query, headers, T0 + timedelta(hours=1))
    with pytest.raises(RequestExpired):
        _verify("GET", "/test.txt", query, headers, T0 + timedelta(seconds=86401))
    with pytest.raises(RequestTimeTooSkewed):  # not valid yet
        _verify("GET", "/test.txt", query, headers, T0 - timedelta(minutes=16))


# -- botocore as the client -------------------------------------------------------------------

KEYS = [
    "main/plain.txt",
    "main/dir/ü x+y~z=(1)!*'$@&,;:.txt",
    "main/spaces  double/end ",
    "main/%41literal-percent",
    "main/日本語/キー",
]


@pytest.fixture(scope="module")
def captured_client() -> Iterator[Captured]:
    """A real boto3 client whose requests are captured after signing instead of sent."""
    captured: list[AWSRequest] = []

    def before_send(request: AWSRequest, **_: object) -> AWSResponse:
        captured.append(request)

        class _Raw:
            def stream(self, *_a: object, **_k: object) -> Iterator[bytes]:
                yield b'<?xml version="1.0" encoding="UTF-8"?><Result/>'

        return AWSResponse(request.url, 200, {}, _Raw())  # parsed as an empty result

    session = boto3.session.Session(
        aws_access_key_id="AKID", aws_secret_access_key="SECRET/+=", region_name="us-east-1"
    )
    client = session.client(
        "s3",
        endpoint_url="http://127.0.0.1:9000",
        config=botocore.config.Config(
            s3={"addressing_style": "path"}, signature_version="s3v4", retries={"max_attempts": 0}
        ),
    )
    client.meta.events.register("before-send", before_send)
    yield client, captured


def _headers_of(request: AWSRequest) -> CIMultiDict[str]:
    return CIMultiDict(
        {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
    )


def _check_captured(request: AWSRequest, secret: str = "SECRET/+=") -> sigv4.SigningKey:
    url = urlsplit(request.url)
    return _verify(
        request.method, url.path, url.query, _headers_of(request), datetime.now(UTC), secret
    )


@pytest.mark.parametrize("key", KEYS)
def test_boto3_put_object_signed_payload(captured_client: Captured, key: str) -> None:
    client, captured = captured_client
    captured.clear()
    client.put_object(Bucket="repo", Key=key, Body=b"hello", Metadata={"a": "b  c"})
    _check_captured(captured[-1])
    with pytest.raises(SignatureDoesNotMatch):
        _check_captured(captured[-1], secret="wrong")


def test_boto3_listing_query_with_special_values(captured_client: Captured) -> None:
    client, captured = captured_client
    captured.clear()
    client.list_objects_v2(
        Bucket="repo", Prefix="main/a b+c=d&e~f/é", Delimiter="/", StartAfter="", MaxKeys=7
    )
    client.list_objects(Bucket="repo", Marker="x y", Prefix="")
    client.list_multipart_uploads(Bucket="repo", Prefix="main/")
    client.get_bucket_location(Bucket="repo")
    for request in captured:
        _check_captured(request)


def test_boto3_presigned_urls(captured_client: Captured) -> None:
    client, _ = captured_client
    for key in KEYS:
        for method, params in (
            ("get_object", {"ResponseContentType": "text/plain; charset=utf-8"}),
            ("put_object", {}),
        ):
            url = urlsplit(
                client.generate_presigned_url(
                    method, Params={"Bucket": "repo", "Key": key, **params}, ExpiresIn=600
                )
            )
            headers = CIMultiDict({"Host": url.netloc})
            http = "GET" if method == "get_object" else "PUT"
            _verify(http, url.path, url.query, headers, datetime.now(UTC), "SECRET/+=")
            with pytest.raises(SignatureDoesNotMatch):
                _verify("DELETE", url.path, url.query, headers, datetime.now(UTC), "SECRET/+=")


def test_botocore_signers_directly_with_repeated_and_empty_params() -> None:
    creds = Credentials("AKID", "SECRET")
    query = [("b", "2"), ("a", ""), ("a", "1"), ("c", "x y+z~=")]
    url = "http://127.0.0.1:9000/repo/main/k%20e%2By"
    now = datetime.now(UTC)
    for signer in (
        botocore.auth.S3SigV4Auth(creds, "s3", "eu-west-1"),
        botocore.auth.S3SigV4QueryAuth(creds, "s3", "eu-west-1", expires=60),
    ):
        request = AWSRequest(method="GET", url=url, params=query, headers={"X-Custom": " a   b "})
        signer.add_auth(request)
        prepared = request.prepare()
        split = urlsplit(prepared.url)
        headers = _headers_of(request)
        headers["Host"] = split.netloc
        _verify("GET", split.path, split.query, headers, now, "SECRET")
        headers["X-Custom"] = "a b"  # whitespace is normalised, so this is the same request
        if isinstance(signer, botocore.auth.S3SigV4QueryAuth):
            continue  # x-custom is not signed in the presigned variant
        _verify("GET", split.path, split.query, headers, now, "SECRET")
        headers["X-Custom"] = "a c"
        with pytest.raises(SignatureDoesNotMatch):
            _verify("GET", split.path, split.query, headers, now, "SECRET")


# -- tampering, time, malformed input ---------------------------------------------------------


def _signed(now: datetime = T0, **kw: object) -> sigv4.SignedRequest:
    return sigv4.sign_request(
        method="PUT",
        path=sigv4.encode_path("/repo/main/a b"),
        query=[("uploadId", "u1"), ("partNumber", "3")],
        headers={"host": "localhost:1", "content-type": "text/plain"},
        access_key="AK",
        secret="SK",
        now=now,
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("presign", [None, 300])
def test_own_signer_roundtrip_and_tampering(presign: int | None) -> None:
    signed = _signed(presign_expires=presign)
    headers = CIMultiDict(signed.headers)
    key = _verify("PUT", signed.path, signed.query, headers, T0, "SK")
    assert key.seed_signature == signed.signature
    tampered = [
        ("PUT", signed.path.replace("a%20b", "a%20c"), signed.query),
        ("PUT", signed.path, signed.query.replace("partNumber=3", "partNumber=4")),
        ("PUT", signed.path, signed.query + "&extra=1"),
        ("POST", signed.path, signed.query),
    ]
    for method, path, query in tampered:
        with pytest.raises(SignatureDoesNotMatch):
            _verify(method, path, query, headers, T0, "SK")
    changed = CIMultiDict(headers)
    changed["content-type"] = "text/html"
    with pytest.raises(SignatureDoesNotMatch):
        _verify("PUT", signed.path, signed.query, changed, T0, "SK")


def test_clock_skew_for_header_auth() -> None:
    signed = _signed()
    headers = CIMultiDict(signed.headers)
    _verify("PUT", signed.path, signed.query, headers, T0 + timedelta(minutes=14), "SK")
    _verify("PUT", signed.path, signed.query, headers, T0 - timedelta(minutes=14), "SK")
    for delta in (timedelta(minutes=16), -timedelta(minutes=16)):
        with pytest.raises(RequestTimeTooSkewed):
            _verify("PUT", signed.path, signed.query, headers, T0 + delta, "SK")


def test_presigned_expiry_limits() -> None:
    signed = _signed(presign_expires=604800)
    headers = CIMultiDict(signed.headers)
    _verify("PUT", signed.path, signed.query, headers, T0 + timedelta(days=6), "SK")
    with pytest.raises(RequestExpired):
        _verify("PUT", signed.path, signed.query, headers, T0 + timedelta(days=7, seconds=1), "SK")
    too_long = _signed(presign_expires=604801)
    with pytest.raises(AuthorizationQueryParametersError):
        _verify("PUT", too_long.path, too_long.query, CIMultiDict(too_long.headers), T0, "SK")


def test_anonymous_and_sigv2() -> None:
    assert sigv4.parse_auth("GET", CIMultiDict({"Host": "h"}), []) is None
    with pytest.raises(UnsupportedSignature):
        sigv4.parse_auth("GET", CIMultiDict({"Authorization": "AWS AKID:c2lnbmF0dXJl"}), [])
    with pytest.raises(UnsupportedSignature):
        sigv4.parse_auth(
            "GET", CIMultiDict(), [("AWSAccessKeyId", "AK"), ("Signature", "x"), ("Expires", "1")]
        )
    with pytest.raises(InvalidArgument):  # AWS: InvalidArgument "Unsupported Authorization Type"
        sigv4.parse_auth("GET", CIMultiDict({"Authorization": "Bearer xyz"}), [])


@pytest.mark.parametrize(
    "authorization",
    [
        "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host",
        "AWS4-HMAC-SHA256 Credential=AK/2013-05-24/us-east-1/s3/aws4_request, "
        "SignedHeaders=host, Signature=" + "a" * 64,
        "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_requestX, "
        "SignedHeaders=host, Signature=" + "a" * 64,
        "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=x-amz-date, Signature=" + "a" * 64,
        "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host, Signature=xyz",
        "AWS4-HMAC-SHA256 Credential=AK/20130525/us-east-1/s3/aws4_request, "
        "SignedHeaders=host, Signature=" + "a" * 64,
        "AWS4-HMAC-SHA256 garbage",
    ],
)
def test_malformed_authorization_header(authorization: str) -> None:
    headers = CIMultiDict(
        {
            "Authorization": authorization,
            "x-amz-date": "20130524T000000Z",
            "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
        }
    )
    with pytest.raises(AuthorizationHeaderMalformed):
        sigv4.parse_auth("GET", headers, [])


def test_missing_date_and_payload_hash() -> None:
    auth = (
        "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host, Signature=" + "a" * 64
    )
    with pytest.raises(MissingSecurityHeader):
        sigv4.parse_auth(
            "GET", CIMultiDict({"Authorization": auth, "x-amz-content-sha256": "x"}), []
        )
    with pytest.raises(InvalidRequest):
        sigv4.parse_auth(
            "GET", CIMultiDict({"Authorization": auth, "x-amz-date": "20130524T000000Z"}), []
        )


@pytest.mark.parametrize(
    "drop",
    ["X-Amz-Algorithm", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature"],
)
def test_presigned_missing_parameter(drop: str) -> None:
    signed = _signed(presign_expires=60)
    params = [(k, v) for k, v in parse_qsl(signed.query) if k != drop]
    with pytest.raises(AuthorizationQueryParametersError):
        sigv4.parse_auth("PUT", CIMultiDict(signed.headers), params)


def test_header_and_query_auth_together_rejected() -> None:
    signed = _signed(presign_expires=60)
    headers = CIMultiDict(signed.headers)
    headers["Authorization"] = _signed().headers["authorization"]
    with pytest.raises(InvalidArgument):  # AWS: "Only one auth mechanism allowed"
        sigv4.parse_auth("PUT", headers, parse_qsl(signed.query))


def test_canonical_forms() -> None:
    assert sigv4.canonical_uri("/b/a%2Fb/c%20d") == "/b/a%2Fb/c%20d"
    assert sigv4.canonical_uri("/b/a+b/c%2fd/(x)") == "/b/a%2Bb/c%2Fd/%28x%29"
    assert sigv4.canonical_query("b=2&a=&a=1&uploads") == "a=&a=1&b=2&uploads="
    assert sigv4.canonical_query("k=a+b%2B&s=%7e") == "k=a%20b%2B&s=~"
    assert sigv4.canonical_query("X-Amz-Signature=x&a=1", exclude_signature=True) == "a=1"


def test_repeated_headers_are_joined_with_commas() -> None:
    headers: CIMultiDict[str] = CIMultiDict()
    headers.add("X-Multi", "a")
    headers.add("X-Multi", "  b   c ")
    assert sigv4.canonical_headers(headers, ["x-multi"]) == "x-multi:a,b c\n"


def test_signing_key_cache_is_bounded_and_reused() -> None:
    sigv4.signing_key.cache_clear()
    for _ in range(3):
        sigv4.signing_key("s", "20130524", "us-east-1", "s3")
    info = sigv4.signing_key.cache_info()
    assert info.hits == 2 and info.misses == 1
    assert info.maxsize == sigv4.KEY_CACHE_SIZE


@settings(max_examples=80, deadline=None)
@given(
    key=st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1),
    value=st.text(st.characters(codec="utf-8"), max_size=20),
)
def test_any_key_and_query_value_signed_by_the_sdk_encoding_verifies(key: str, value: str) -> None:
    signed = sigv4.sign_request(
        method="GET",
        path=sigv4.encode_path(f"/repo/main/{key}"),
        query=[("prefix", value), ("list-type", "2")],
        headers={"host": "h:1"},
        access_key="AK",
        secret="SK",
        now=T0,
    )
    _verify("GET", signed.path, signed.query, CIMultiDict(signed.headers), T0, "SK")
