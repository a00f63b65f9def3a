"""The S3 error table: every domain error has a deliberate S3 code, nothing falls to 500."""

from __future__ import annotations

import inspect
import xml.etree.ElementTree as ET

import pytest

from gateway.core import errors as core
from gateway.s3 import errors as s3e
from gateway.s3.errors import S3ErrorSpec, describe, error_xml, s3_error_for


def _all_error_classes() -> list[type[core.WeirError]]:
    classes = [
        cls
        for module in (core, s3e)
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, core.WeirError)
    ]
    return sorted(set(classes), key=lambda c: c.__qualname__)


def _make(cls: type[core.WeirError]) -> core.WeirError:
    if issubclass(cls, core.InvalidRange):
        return cls("bad range", 10)
    if issubclass(cls, core.MergeConflict):
        return cls("conflict", [])
    return cls("boom")


@pytest.mark.parametrize("cls", _all_error_classes(), ids=lambda c: c.__qualname__)
def test_every_error_class_maps_to_a_deliberate_spec(cls: type[core.WeirError]) -> None:
    spec = s3_error_for(_make(cls))
    assert isinstance(spec, S3ErrorSpec)
    if cls in (core.WeirError, s3e.S3Detail, core.StorageFault) or issubclass(cls, core.Corruption):
        # The only deliberate 500s: the two abstract bases (never raised), lost or damaged
        # stored data (blobs, tree nodes), and an object store refusing what no retry fixes.
        assert spec.status == 500
    else:
        assert spec.status < 500 or spec.code in (
            "ServiceUnavailable",
            "SlowDown",
            "NotImplemented",
        )


@pytest.mark.parametrize(
    ("exc", "code", "status"),
    [
        (core.RepositoryNotFound("r"), "NoSuchBucket", 404),
        (core.ObjectNotFound("k"), "NoSuchKey", 404),
        (core.BranchNotFound("b"), "NoSuchKey", 404),
        (core.CommitNotFound("c"), "NoSuchKey", 404),
        (core.UploadNotFound("u"), "NoSuchUpload", 404),
        (core.RepositoryExists("r"), "BucketAlreadyOwnedByYou", 409),
        (core.NotEmpty("r"), "BucketNotEmpty", 409),
        (core.InvalidRange("r", 3), "InvalidRange", 416),
        (core.BadDigest("d"), "BadDigest", 400),
        (s3e.XAmzContentSHA256Mismatch("d"), "XAmzContentSHA256Mismatch", 400),
        (s3e.ChecksumMismatch("d"), "BadDigest", 400),
        (core.PreconditionFailed("p"), "PreconditionFailed", 412),
        (core.NotModified("n"), "NotModified", 304),
        (core.InvalidPart("p"), "InvalidPart", 400),
        (core.InvalidPartOrder("p"), "InvalidPartOrder", 400),
        (core.EntityTooSmall("p"), "EntityTooSmall", 400),
        (core.InvalidArgument("a"), "InvalidArgument", 400),
        (s3e.InvalidBucketName("a"), "InvalidBucketName", 400),
        (s3e.KeyTooLongError("a"), "KeyTooLongError", 400),
        (core.ReadOnlyRef("tag"), "AccessDenied", 403),
        (core.ProtectedBranch("main"), "AccessDenied", 403),
        (core.AccessDenied("no"), "AccessDenied", 403),
        (s3e.SignatureDoesNotMatch("x"), "SignatureDoesNotMatch", 403),
        (s3e.InvalidAccessKeyId("x"), "InvalidAccessKeyId", 403),
        (s3e.RequestTimeTooSkewed("x"), "RequestTimeTooSkewed", 403),
        (s3e.RequestExpired("Request has expired"), "AccessDenied", 403),
        (s3e.AuthorizationHeaderMalformed("x"), "AuthorizationHeaderMalformed", 400),
        (s3e.AuthorizationQueryParametersError("x"), "AuthorizationQueryParametersError", 400),
        (s3e.UnsupportedSignature("x"), "InvalidRequest", 400),
        (s3e.MalformedXML("x"), "MalformedXML", 400),
        (s3e.MissingContentLength("x"), "MissingContentLength", 411),
        (s3e.InvalidDigest("x"), "InvalidDigest", 400),
        (s3e.InvalidChunkSizeError("x"), "InvalidChunkSizeError", 400),
        (s3e.MalformedChunkedEncoding("x"), "IncompleteBody", 400),
        (s3e.MethodNotAllowed("x"), "MethodNotAllowed", 405),
        (s3e.EntityTooLarge("x"), "EntityTooLarge", 400),
        (core.NotImplementedFeature("acl"), "NotImplemented", 501),
        (core.MergeConflict("c", []), "OperationAborted", 409),
        (core.BranchMoved("c"), "OperationAborted", 409),
        (core.StorageError("io"), "SlowDown", 503),
        (core.StorageFault("denied"), "InternalError", 500),
        (s3e.SlowDown("io"), "SlowDown", 503),
    ],
)
def test_documented_codes(exc: BaseException, code: str, status: int) -> None:
    spec = s3_error_for(exc)
    assert (spec.code, spec.status) == (code, status)


def test_unknown_exceptions_are_internal_errors_without_detail() -> None:
    spec, message, extra = describe(ValueError("/secret/path exploded"))
    assert (spec.code, spec.status) == ("InternalError", 500)
    assert "secret" not in message
    assert extra == {}


def test_s3_only_errors_subclass_the_core_hierarchy() -> None:
    assert issubclass(s3e.SignatureDoesNotMatch, core.Unauthenticated)
    assert issubclass(s3e.XAmzContentSHA256Mismatch, core.BadDigest)
    assert issubclass(s3e.MalformedXML, core.InvalidArgument)
    assert issubclass(s3e.KeyTooLongError, core.InvalidPath)


def test_messages_policy_refusals_echo_the_domain_message() -> None:
    _, message, _ = describe(core.ProtectedBranch("branch main is protected"))
    assert message == "branch main is protected"
    _, message, _ = describe(core.ObjectNotFound("internal detail"))
    assert message == "The specified key does not exist."


def test_not_modified_has_no_body() -> None:
    assert not s3_error_for(core.NotModified("x")).has_body
    assert s3_error_for(core.ObjectNotFound("x")).has_body


def test_error_xml_document() -> None:
    exc = core.InvalidRange("r", 7)
    spec, message, extra = describe(exc)
    body = error_xml(
        spec, message=message, resource="/repo/main/a&b", request_id="REQ1", extra=extra
    )
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(body)
    assert root.tag == "Error"
    assert root.findtext("Code") == "InvalidRange"
    assert root.findtext("Resource") == "/repo/main/a&b"
    assert root.findtext("RequestId") == "REQ1"
    assert root.findtext("ActualObjectSize") == "7"


def test_signature_errors_carry_aws_debug_elements() -> None:
    exc = s3e.SignatureDoesNotMatch("bad", extra={"StringToSign": "a<b"})
    spec, message, extra = describe(exc)
    root = ET.fromstring(
        error_xml(spec, message=message, resource="/", request_id="1", extra=extra)
    )
    assert root.findtext("StringToSign") == "a<b"
    assert root.findtext("Message") == "bad"
