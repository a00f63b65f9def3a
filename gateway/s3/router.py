"""S3 routing: request target parsing and the dispatch table.

The table maps (method, scope, sub-resource) to one operation, where scope is ``service``
(``/``), ``bucket`` (``/repo``) or ``object`` (``/repo/<ref>/<path>``) and the sub-resource is
the one S3 sub-resource query parameter the request carries (``uploads``, ``uploadId``,
``delete``, ``location``) or ``""``. Two operations are told apart by a header instead:
``x-amz-copy-source`` turns PutObject into CopyObject and UploadPart into UploadPartCopy.
Sub-resources Weir does not implement (policy, lifecycle, bucket tagging, ...) route to
``NotImplemented`` for every method, so no client ever gets a silently wrong answer; object
tagging, ACL reads (and no-op writes), bucket versioning and ListObjectVersions are routed.
Pure functions over immutable tables; safe from any thread.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from aiohttp import web

from gateway.core.errors import NotImplementedFeature
from gateway.s3.errors import MethodNotAllowed
from gateway.s3.handlers import (
    acl,
    buckets,
    copy,
    delete,
    listing,
    multipart,
    objects_read,
    objects_write,
    tagging,
    versions,
)
from gateway.s3.handlers.common import S3Context
from gateway.s3.keys import decode_path_segment, validate_key

Handler = Callable[[S3Context], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Route:
    op: str  # S3 operation name, for metrics and the access log
    handler: Handler
    reads_body: bool = False  # the handler consumes the request body (payload verification)


@dataclass(frozen=True, slots=True)
class Target:
    bucket: str  # "" for the service
    key: str | None  # None for service and bucket requests

    @property
    def scope(self) -> str:
        if not self.bucket:
            return "service"
        return "bucket" if self.key is None else "object"

    @property
    def resource(self) -> str:
        if not self.bucket:
            return "/"
        return f"/{self.bucket}" if self.key is None else f"/{self.bucket}/{self.key}"


#: Sub-resources that select an operation, in precedence order.
SELECTING = (
    "uploads",
    "uploadId",
    "delete",
    "location",
    "tagging",
    "acl",
    "versioning",
    "versions",
)
#: Sub-resources implemented for some scopes or methods only (object tagging, but not bucket
#: tagging): any other use is NotImplemented, not MethodNotAllowed.
PARTIAL = frozenset({"tagging", "acl", "versioning", "versions"})

#: S3 sub-resources Weir recognises but does not implement: 501 NotImplemented.
UNSUPPORTED = frozenset(
    {
        "accelerate",
        "analytics",
        "attributes",
        "cors",
        "encryption",
        "intelligent-tiering",
        "inventory",
        "legal-hold",
        "lifecycle",
        "logging",
        "metadataTable",
        "metrics",
        "notification",
        "object-lock",
        "ownershipControls",
        "policy",
        "policyStatus",
        "publicAccessBlock",
        "replication",
        "requestPayment",
        "restore",
        "retention",
        "select",
        "session",
        "torrent",
        "website",
    }
)

#: Request headers asking for features Weir does not have: refused, never silently dropped.
UNSUPPORTED_HEADERS = (
    "x-amz-object-lock-mode",
    "x-amz-object-lock-retain-until-date",
    "x-amz-object-lock-legal-hold",
    "x-amz-website-redirect-location",
    "x-amz-server-side-encryption-customer-algorithm",
    "x-amz-server-side-encryption-aws-kms-key-id",
)

TABLE: Mapping[tuple[str, str, str], Route] = {
    ("GET", "service", ""): Route("ListBuckets", buckets.list_buckets),
    ("PUT", "bucket", ""): Route("CreateBucket", buckets.create_bucket, reads_body=True),
    ("DELETE", "bucket", ""): Route("DeleteBucket", buckets.delete_bucket),
    ("HEAD", "bucket", ""): Route("HeadBucket", buckets.head_bucket),
    ("GET", "bucket", ""): Route("ListObjects", listing.list_objects),
    ("GET", "bucket", "location"): Route("GetBucketLocation", buckets.get_bucket_location),
    ("GET", "bucket", "uploads"): Route("ListMultipartUploads", multipart.list_multipart_uploads),
    ("POST", "bucket", "delete"): Route("DeleteObjects", delete.delete_objects, reads_body=True),
    ("GET", "object", ""): Route("GetObject", objects_read.get_object),
    ("HEAD", "object", ""): Route("HeadObject", objects_read.head_object),
    ("PUT", "object", ""): Route("PutObject", objects_write.put_object, reads_body=True),
    ("DELETE", "object", ""): Route("DeleteObject", delete.delete_object),
    ("POST", "object", "uploads"): Route(
        "CreateMultipartUpload", multipart.create_multipart_upload
    ),
    ("PUT", "object", "uploadId"): Route("UploadPart", multipart.upload_part, reads_body=True),
    ("POST", "object", "uploadId"): Route(
        "CompleteMultipartUpload", multipart.complete_multipart_upload, reads_body=True
    ),
    ("DELETE", "object", "uploadId"): Route(
        "AbortMultipartUpload", multipart.abort_multipart_upload
    ),
    ("GET", "object", "uploadId"): Route("ListParts", multipart.list_parts_handler),
    ("GET", "object", "tagging"): Route("GetObjectTagging", tagging.get_object_tagging),
    ("PUT", "object", "tagging"): Route(
        "PutObjectTagging", tagging.put_object_tagging, reads_body=True
    ),
    ("DELETE", "object", "tagging"): Route("DeleteObjectTagging", tagging.delete_object_tagging),
    ("GET", "object", "acl"): Route("GetObjectAcl", acl.get_object_acl),
    ("PUT", "object", "acl"): Route("PutObjectAcl", acl.put_object_acl, reads_body=True),
    ("GET", "bucket", "acl"): Route("GetBucketAcl", acl.get_bucket_acl),
    ("PUT", "bucket", "acl"): Route("PutBucketAcl", acl.put_bucket_acl, reads_body=True),
    ("GET", "bucket", "versioning"): Route("GetBucketVersioning", versions.get_bucket_versioning),
    ("PUT", "bucket", "versioning"): Route(
        "PutBucketVersioning", versions.put_bucket_versioning, reads_body=True
    ),
    ("GET", "bucket", "versions"): Route("ListObjectVersions", versions.list_object_versions),
}

#: Operations selected by ``x-amz-copy-source`` on top of the table's PUT routes.
COPY_ROUTES: Mapping[str, Route] = {
    "": Route("CopyObject", copy.copy_object),
    "uploadId": Route("UploadPartCopy", multipart.upload_part_copy),
}


def parse_target(raw_path: str) -> Target:
    """Split a raw (still percent-encoded) path-style URL path into bucket and key.

    ``/`` is the service, ``/b`` and ``/b/`` the bucket, ``/b/k...`` an object; the key is
    decoded as strict UTF-8 and validated (length, NUL).

    Raises:
        InvalidURI, KeyTooLongError, InvalidArgument: a key S3 would refuse.
    """
    path = raw_path.lstrip("/")
    bucket_raw, sep, key_raw = path.partition("/")
    bucket = decode_path_segment(bucket_raw)
    if not sep or not key_raw:
        return Target(bucket, None)
    key = decode_path_segment(key_raw)
    validate_key(key)
    return Target(bucket, key)


def virtual_bucket(host: str, domain: str) -> str | None:
    """The bucket a virtual-hosted-style ``Host`` names under ``domain``, else None.

    ``repo.s3.example.com[:port]`` with domain ``s3.example.com`` is bucket ``repo``; the
    domain itself (or any other host) is path style.
    """
    name = host.lower() if host.startswith("[") else host.partition(":")[0].lower()
    name = name.rstrip(".")
    suffix = "." + domain
    if len(name) > len(suffix) and name.endswith(suffix):
        return name[: -len(suffix)]
    return None


def parse_virtual_target(bucket: str, raw_path: str) -> Target:
    """A virtual-hosted request: the bucket came from ``Host``, the whole path is the key."""
    key_raw = raw_path.lstrip("/") if raw_path.startswith("/") else raw_path
    if not key_raw:
        return Target(bucket, None)
    key = decode_path_segment(key_raw)
    validate_key(key)
    return Target(bucket, key)


def _not_implemented_handler(name: str) -> Handler:
    async def handler(ctx: S3Context) -> web.StreamResponse:
        raise NotImplementedFeature(f"the {name!r} sub-resource is not implemented by Weir")

    return handler


def resolve(
    method: str, target: Target, query: Mapping[str, str], headers: Mapping[str, str]
) -> Route:
    """The operation for a request.

    Raises:
        NotImplementedFeature: form POST uploads, or a write asking for object lock, website
            redirects, SSE-C or SSE-KMS.
        MethodNotAllowed: no operation for this method on this kind of resource (with AWS's
            ``Method``/``ResourceType`` elements and ``Allow`` header).
    """
    for name in query:
        if name in UNSUPPORTED:
            return Route(f"NotImplemented:{name}", _not_implemented_handler(name))
    if method in ("PUT", "POST"):
        for header in UNSUPPORTED_HEADERS:
            if header in headers:
                raise NotImplementedFeature(f"the {header} header is not implemented by Weir")
        sse = headers.get("x-amz-server-side-encryption")
        if sse is not None and sse != "AES256":
            raise NotImplementedFeature(f"server-side encryption {sse!r} is not implemented")
    sub = next((name for name in SELECTING if name in query), "")
    scope = target.scope
    if method == "PUT" and scope == "object" and "x-amz-copy-source" in headers:
        copy_route = COPY_ROUTES.get(sub)
        if copy_route is not None:
            return copy_route
    route = TABLE.get((method, scope, sub))
    if route is not None:
        return route
    if sub in PARTIAL:
        return Route(f"NotImplemented:{sub}", _not_implemented_handler(f"{scope} {sub}"))
    if method == "POST" and sub == "":
        raise NotImplementedFeature("POST uploads (browser forms) are not implemented")
    allowed = sorted({m for (m, sc, su) in TABLE if sc == scope and su == sub})
    raise MethodNotAllowed(
        "The specified method is not allowed against this resource.",
        extra={"Method": method, "ResourceType": scope.upper()},
        headers={"Allow": ", ".join(allowed)} if allowed else None,
    )
