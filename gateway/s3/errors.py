"""The one table from domain error to S3 error: (code, HTTP status, default message).

Handlers never pick S3 codes themselves: they raise a domain error (``gateway.core.errors``) or
one of the S3-only subclasses defined here, and the S3 error middleware calls
``s3_error_for(exc)`` (a lookup along the exception's MRO in one dict) and ``error_xml(...)``.

S3-only errors subclass the closest core error, so code that only knows the core hierarchy still
handles them sensibly (``SignatureDoesNotMatch`` is an ``Unauthenticated``, ``MalformedXML`` an
``InvalidArgument``, ...). Codes and statuses are the ones AWS documents in "Error responses".

Decisions (see docs/decisions/0004-s3-auth-and-checksums.md):

* ``RefNotFound`` (a missing branch, tag or commit in the first key segment) reads as
  ``NoSuchKey`` 404: inside a bucket the ref is part of the key, and S3 clients treat NoSuchKey as
  "this key does not exist" (``s3fs`` -> FileNotFoundError), which is what the caller observes.
* ``ReadOnlyRef`` (a write to a tag or commit) and ``ProtectedBranch`` are ``AccessDenied`` 403:
  the write is refused by policy, not malformed; clients map 403 to a permission error and do not
  retry it.
* ``Collected`` (a commit removed by retention, read by id) is ``NoSuchKey`` 404 with the
  exception's own message, which names retention: S3 has no "gone", and clients treat NoSuchKey
  as "this key does not exist", which is what they observe.
* ``Corruption`` (``BlobNotFound``, ``MissingNode``, ``CorruptNode``) is an explicit
  ``InternalError`` 500: stored data is lost or damaged, a server fault the client cannot fix.
  It is the only core error family mapped to 500.
* A presigned URL past its expiry answers ``AccessDenied`` 403 "Request has expired", exactly as
  AWS does (there is no ``RequestExpired`` code on the wire; the class exists for handlers/tests).
* Anything that is not in the table (a bug, an OSError escaping a handler) is ``InternalError``
  500 with a fixed message: exception text never reaches the client.

Thread-safety: the table is built at import and never mutated; every function is pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from gateway.core import errors as core
from gateway.s3.xmltext import escape_safe


@dataclass(frozen=True, slots=True)
class S3ErrorSpec:
    """How one error appears on the S3 wire.

    Attributes:
        code: The S3 ``<Code>`` value.
        status: HTTP status.
        message: Default ``<Message>``; ``None`` means "use the exception's own message".
    """

    code: str
    status: int
    message: str | None = None

    @property
    def has_body(self) -> bool:
        """False for 304 Not Modified, which must be sent without a body."""
        return self.status != 304


# -- S3-only errors --------------------------------------------------------------------------


class S3Detail(core.WeirError):
    """Mixin base for S3-only errors that carry extra XML elements for the error body.

    ``extra`` maps element name to text, e.g. ``{"StringToSign": ...}`` for
    SignatureDoesNotMatch, exactly as AWS adds them; ``headers`` are response headers AWS sends
    with the error (``Allow``, ``x-amz-delete-marker``, ...).
    """

    def __init__(
        self,
        message: str,
        *,
        extra: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.extra: dict[str, str] = dict(extra or {})
        self.headers: dict[str, str] = dict(headers or {})


class InvalidRequest(S3Detail, core.InvalidArgument):
    """Generic S3 ``InvalidRequest`` 400 (unsupported auth mechanism, bad checksum header...)."""


class SignatureDoesNotMatch(S3Detail, core.Unauthenticated):
    pass


class InvalidAccessKeyId(S3Detail, core.Unauthenticated):
    pass


class RequestTimeTooSkewed(S3Detail, core.Unauthenticated):
    pass


class RequestExpired(S3Detail, core.Unauthenticated):
    """A presigned URL used after X-Amz-Date + X-Amz-Expires (wire code: AccessDenied)."""


class MissingSecurityHeader(S3Detail, core.Unauthenticated):
    """No usable date (X-Amz-Date / Date) on a signed request (wire code: AccessDenied)."""


class AuthorizationHeaderMalformed(S3Detail, core.InvalidArgument):
    pass


class AuthorizationQueryParametersError(S3Detail, core.InvalidArgument):
    pass


class UnsupportedSignature(S3Detail, core.InvalidArgument):
    """SigV2 (``AWS key:sig``) or an unknown scheme: Weir speaks SigV4 only."""


class MalformedXML(S3Detail, core.InvalidArgument):
    pass


class MaxMessageLengthExceeded(S3Detail, core.InvalidArgument):
    """A request body (XML) larger than the operation allows."""


class MissingContentLength(S3Detail, core.InvalidArgument):
    pass


class MissingRequestBodyError(S3Detail, core.InvalidArgument):
    pass


class InvalidDigest(S3Detail, core.InvalidArgument):
    """Content-MD5 (or an x-amz-checksum-* value) is not a well-formed digest."""


class XAmzContentSHA256Mismatch(S3Detail, core.BadDigest):
    """The body's SHA-256 differs from the signed x-amz-content-sha256."""


class ChecksumMismatch(S3Detail, core.BadDigest):
    """An x-amz-checksum-* value differs from the body (wire code: BadDigest)."""


class InvalidChunkSizeError(S3Detail, core.IncompleteBody):
    """A signed aws-chunked chunk other than the last is smaller than 8 KiB."""


class MalformedChunkedEncoding(S3Detail, core.IncompleteBody):
    """aws-chunked framing is broken (wire code: IncompleteBody, as AWS answers)."""


class EntityTooLarge(S3Detail, core.InvalidArgument):
    pass


class MetadataTooLarge(S3Detail, core.InvalidArgument):
    pass


class MethodNotAllowed(S3Detail, core.InvalidArgument):
    pass


class InvalidBucketName(S3Detail, core.InvalidName):
    pass


class KeyTooLongError(S3Detail, core.InvalidPath):
    pass


class InvalidURI(S3Detail, core.InvalidArgument):
    pass


class InvalidStorageClass(S3Detail, core.InvalidArgument):
    pass


class InvalidLocationConstraint(S3Detail, core.InvalidArgument):
    pass


class RequestTimeout(S3Detail, core.InvalidArgument):
    """The client stopped sending the body mid-request."""


class SlowDown(S3Detail, core.StorageError):
    pass


class InvalidArgument(S3Detail, core.InvalidArgument):
    """``InvalidArgument`` 400 with AWS's ``ArgumentName``/``ArgumentValue`` elements."""


class AccessDenied(S3Detail, core.AccessDenied):
    """``AccessDenied`` 403 with a specific message (unsigned headers, public grants...)."""


class BadRequest(S3Detail, core.InvalidArgument):
    """The HTTP layer could not parse the request (framing, header syntax, NUL bytes)."""


class RequestHeaderSectionTooLarge(S3Detail, core.InvalidArgument):
    """A header line, the request line or the number of headers exceeds the limits."""


class InvalidPartNumber(S3Detail, core.InvalidArgument):
    """GetObject/HeadObject ``partNumber`` beyond the object's parts (416)."""


class InvalidBucketState(S3Detail, core.Conflict):
    """A bucket setting Weir's model fixes (versioning cannot be suspended: history is kept)."""


class InvalidTag(S3Detail, core.InvalidArgument):
    """A tag set S3 would refuse (too many tags, key/value too long, duplicate keys)."""


# -- the table ---------------------------------------------------------------------------------

_INTERNAL = S3ErrorSpec("InternalError", 500, "We encountered an internal error. Please try again.")

_TABLE: Mapping[type[BaseException], S3ErrorSpec] = MappingProxyType(
    {
        # not found
        core.NotFound: S3ErrorSpec("NoSuchKey", 404, "The specified key does not exist."),
        core.RepositoryNotFound: S3ErrorSpec(
            "NoSuchBucket", 404, "The specified bucket does not exist."
        ),
        core.RefNotFound: S3ErrorSpec("NoSuchKey", 404, "The specified key does not exist."),
        core.ObjectNotFound: S3ErrorSpec("NoSuchKey", 404, "The specified key does not exist."),
        core.UploadNotFound: S3ErrorSpec(
            "NoSuchUpload",
            404,
            "The specified upload does not exist. The upload ID may be invalid, or the upload "
            "may have been aborted or completed.",
        ),
        core.UserNotFound: S3ErrorSpec(
            "InvalidAccessKeyId",
            403,
            "The AWS Access Key Id you provided does not exist in our records.",
        ),
        core.Corruption: _INTERNAL,
        # removed by retention (garbage collection): NoSuchKey with the reason in the message
        core.Collected: S3ErrorSpec("NoSuchKey", 404, None),
        # already exists
        core.AlreadyExists: S3ErrorSpec("OperationAborted", 409, None),
        core.RepositoryExists: S3ErrorSpec(
            "BucketAlreadyOwnedByYou",
            409,
            "Your previous request to create the named bucket succeeded and you already own it.",
        ),
        # invalid input
        core.InvalidArgument: S3ErrorSpec("InvalidArgument", 400, None),
        core.InvalidName: S3ErrorSpec("InvalidArgument", 400, None),
        core.InvalidPath: S3ErrorSpec("InvalidArgument", 400, None),
        core.AmbiguousRef: S3ErrorSpec("InvalidArgument", 400, None),
        core.InvalidRange: S3ErrorSpec(
            "InvalidRange", 416, "The requested range is not satisfiable"
        ),
        core.BadDigest: S3ErrorSpec(
            "BadDigest", 400, "The Content-MD5 you specified did not match what we received."
        ),
        core.IncompleteBody: S3ErrorSpec(
            "IncompleteBody",
            400,
            "You did not provide the number of bytes specified by the Content-Length HTTP header.",
        ),
        core.InvalidPart: S3ErrorSpec(
            "InvalidPart",
            400,
            "One or more of the specified parts could not be found. The part might not have been "
            "uploaded, or the specified entity tag might not have matched the part's entity tag.",
        ),
        core.InvalidPartOrder: S3ErrorSpec(
            "InvalidPartOrder",
            400,
            "The list of parts was not in ascending order. Parts must be ordered by part number.",
        ),
        core.EntityTooSmall: S3ErrorSpec(
            "EntityTooSmall",
            400,
            "Your proposed upload is smaller than the minimum allowed object size.",
        ),
        # conditions
        core.PreconditionFailed: S3ErrorSpec(
            "PreconditionFailed",
            412,
            "At least one of the pre-conditions you specified did not hold",
        ),
        core.NotModified: S3ErrorSpec("NotModified", 304, "Not Modified"),
        # An imported object whose source changed: the message names the import (decision 0022).
        core.SourceChanged: S3ErrorSpec("PreconditionFailed", 412, None),
        # conflicts
        core.Conflict: S3ErrorSpec("OperationAborted", 409, None),
        core.NotEmpty: S3ErrorSpec(
            "BucketNotEmpty", 409, "The bucket you tried to delete is not empty"
        ),
        core.DefaultBranch: S3ErrorSpec("InvalidRequest", 400, None),
        # permissions
        core.ReadOnlyRef: S3ErrorSpec("AccessDenied", 403, None),
        core.ProtectedBranch: S3ErrorSpec("AccessDenied", 403, None),
        core.AccessDenied: S3ErrorSpec("AccessDenied", 403, "Access Denied"),
        core.Unauthenticated: S3ErrorSpec(
            "SignatureDoesNotMatch",
            403,
            "The request signature we calculated does not match the signature you provided.",
        ),
        core.NotImplementedFeature: S3ErrorSpec(
            "NotImplemented",
            501,
            "A header or query you provided implies functionality that is not implemented.",
        ),
        # The object store behind Weir is down, slow or throttling and the backend's bounded
        # retries ran out: SDKs retry SlowDown with backoff (decision 0021). A refusal no retry
        # fixes (credentials, a missing bucket) is a server fault.
        core.StorageError: S3ErrorSpec("SlowDown", 503, "Please reduce your request rate."),
        core.StorageFault: _INTERNAL,
        core.WeirError: _INTERNAL,
        # S3-only
        InvalidRequest: S3ErrorSpec("InvalidRequest", 400, None),
        SignatureDoesNotMatch: S3ErrorSpec(
            "SignatureDoesNotMatch",
            403,
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
        ),
        InvalidAccessKeyId: S3ErrorSpec(
            "InvalidAccessKeyId",
            403,
            "The AWS Access Key Id you provided does not exist in our records.",
        ),
        RequestTimeTooSkewed: S3ErrorSpec(
            "RequestTimeTooSkewed",
            403,
            "The difference between the request time and the current time is too large.",
        ),
        RequestExpired: S3ErrorSpec("AccessDenied", 403, "Request has expired"),
        MissingSecurityHeader: S3ErrorSpec(
            "AccessDenied", 403, "AWS authentication requires a valid Date or x-amz-date header"
        ),
        AuthorizationHeaderMalformed: S3ErrorSpec("AuthorizationHeaderMalformed", 400, None),
        AuthorizationQueryParametersError: S3ErrorSpec(
            "AuthorizationQueryParametersError", 400, None
        ),
        UnsupportedSignature: S3ErrorSpec(
            "InvalidRequest",
            400,
            "The authorization mechanism you have provided is not supported. "
            "Please use AWS4-HMAC-SHA256.",
        ),
        MalformedXML: S3ErrorSpec(
            "MalformedXML",
            400,
            "The XML you provided was not well-formed or did not validate against our published "
            "schema",
        ),
        MaxMessageLengthExceeded: S3ErrorSpec(
            "MaxMessageLengthExceeded", 400, "Your request was too big."
        ),
        MissingContentLength: S3ErrorSpec(
            "MissingContentLength", 411, "You must provide the Content-Length HTTP header."
        ),
        MissingRequestBodyError: S3ErrorSpec(
            "MissingRequestBodyError", 400, "Request Body is empty"
        ),
        InvalidDigest: S3ErrorSpec(
            "InvalidDigest", 400, "The Content-MD5 you specified is not valid."
        ),
        XAmzContentSHA256Mismatch: S3ErrorSpec(
            "XAmzContentSHA256Mismatch",
            400,
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        ),
        ChecksumMismatch: S3ErrorSpec("BadDigest", 400, None),
        InvalidChunkSizeError: S3ErrorSpec(
            "InvalidChunkSizeError",
            400,
            "Only the last chunk is allowed to have a size less than 8192 bytes",
        ),
        MalformedChunkedEncoding: S3ErrorSpec("IncompleteBody", 400, None),
        EntityTooLarge: S3ErrorSpec(
            "EntityTooLarge", 400, "Your proposed upload exceeds the maximum allowed size"
        ),
        MetadataTooLarge: S3ErrorSpec(
            "MetadataTooLarge",
            400,
            "Your metadata headers exceed the maximum allowed metadata size.",
        ),
        MethodNotAllowed: S3ErrorSpec(
            "MethodNotAllowed", 405, "The specified method is not allowed against this resource."
        ),
        InvalidBucketName: S3ErrorSpec(
            "InvalidBucketName", 400, "The specified bucket is not valid."
        ),
        KeyTooLongError: S3ErrorSpec("KeyTooLongError", 400, "Your key is too long"),
        InvalidURI: S3ErrorSpec("InvalidURI", 400, "Couldn't parse the specified URI."),
        InvalidStorageClass: S3ErrorSpec(
            "InvalidStorageClass", 400, "The storage class you specified is not valid"
        ),
        InvalidLocationConstraint: S3ErrorSpec(
            "InvalidLocationConstraint", 400, "The specified location-constraint is not valid"
        ),
        RequestTimeout: S3ErrorSpec(
            "RequestTimeout",
            400,
            "Your socket connection to the server was not read from or written to within the "
            "timeout period.",
        ),
        SlowDown: S3ErrorSpec("SlowDown", 503, "Please reduce your request rate."),
        InvalidArgument: S3ErrorSpec("InvalidArgument", 400, None),
        AccessDenied: S3ErrorSpec("AccessDenied", 403, None),
        BadRequest: S3ErrorSpec(
            "BadRequest", 400, "An error occurred when parsing the HTTP request."
        ),
        RequestHeaderSectionTooLarge: S3ErrorSpec(
            "RequestHeaderSectionTooLarge",
            400,
            "Your request header section exceeds the maximum allowed size.",
        ),
        InvalidPartNumber: S3ErrorSpec(
            "InvalidPartNumber", 416, "The requested partnumber is not satisfiable"
        ),
        InvalidTag: S3ErrorSpec("InvalidTag", 400, None),
        InvalidBucketState: S3ErrorSpec("InvalidBucketState", 409, None),
        core.VersionNotFound: S3ErrorSpec(
            "NoSuchVersion",
            404,
            "The specified version does not exist.",
        ),
    }
)


def s3_error_for(exc: BaseException) -> S3ErrorSpec:
    """The S3 error for ``exc``: the table entry of the nearest class along its MRO.

    Unknown exceptions (bugs, stray OSErrors) are ``InternalError`` 500.
    """
    for cls in type(exc).__mro__:
        spec = _TABLE.get(cls)
        if spec is not None:
            return spec
    return _INTERNAL


def error_message(exc: BaseException, spec: S3ErrorSpec | None = None) -> str:
    """The ``<Message>`` to send.

    S3-only errors carry the message their raiser wrote; core errors use the AWS text of their
    code when the table has one, else their own message. Only ``WeirError`` messages are ever
    echoed, never for a 500: no internal detail (paths, tracebacks) reaches the client.
    """
    spec = spec or s3_error_for(exc)
    if spec.status >= 500 and spec.code == _INTERNAL.code:
        return _INTERNAL.message or spec.code
    own = exc.message if isinstance(exc, core.WeirError) else ""
    if own and isinstance(exc, S3Detail):
        return own
    if spec.message is not None:
        return spec.message
    return own or spec.code


def error_extra(exc: BaseException) -> dict[str, str]:
    """Extra XML elements AWS includes for this error (e.g. ``ActualObjectSize`` for 416)."""
    extra: dict[str, str] = {}
    if isinstance(exc, core.InvalidRange):
        extra["ActualObjectSize"] = str(exc.size)
    if isinstance(exc, S3Detail):
        extra.update(exc.extra)
    return extra


def error_xml(
    spec: S3ErrorSpec,
    *,
    message: str,
    resource: str,
    request_id: str,
    extra: Mapping[str, str] = MappingProxyType({}),
) -> bytes:
    """The S3 error document (no namespace, as AWS sends it).

    Args:
        spec: From ``s3_error_for``.
        message: ``<Message>`` text (``error_message(exc, spec)``).
        resource: The request path (``/bucket/key``).
        request_id: Also sent as the ``x-amz-request-id`` header.
        extra: Additional elements appended after ``<RequestId>`` (element names are trusted
            constants; texts are escaped).
    """
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>',
        spec.code,
        "</Code><Message>",
        escape_safe(message),
        "</Message><Resource>",
        escape_safe(resource),
        "</Resource><RequestId>",
        escape_safe(request_id),
        "</RequestId>",
    ]
    for name, value in extra.items():
        parts.append(f"<{name}>{escape_safe(value)}</{name}>")
    parts.append("</Error>")
    return "".join(parts).encode("utf-8")


def describe(exc: BaseException) -> tuple[S3ErrorSpec, str, dict[str, str]]:
    """Convenience for the error middleware: (spec, message, extra elements)."""
    spec = s3_error_for(exc)
    return spec, error_message(exc, spec), error_extra(exc)
