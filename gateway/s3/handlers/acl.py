"""ACLs: read as AWS's default, written only where they change nothing, never public.

Weir's permissions are its grants (users, repositories, branch patterns; the admin API), the
same on both APIs. S3 ACLs map onto that model only trivially: every bucket and object is
owned by its account and the owner has FULL_CONTROL, which is exactly AWS's default ACL, so
GetBucketAcl/GetObjectAcl answer that document. Writes are accepted as no-ops where they change
nothing (``private``, the bucket-owner canned ACLs, a policy granting the owner FULL_CONTROL);
anything that would grant access to everyone (``public-read``, ``public-read-write``,
``authenticated-read``, the AllUsers/AuthenticatedUsers groups) is refused with
``AccessDenied``, as AWS refuses it under Block Public Access; grants to other accounts are
``NotImplemented`` (use Weir's grants). The same check applies to the ACL headers of PutObject,
CopyObject, CreateMultipartUpload and CreateBucket.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from gateway.core.access import Action
from gateway.core.errors import InvalidArgument, NotImplementedFeature
from gateway.s3.errors import AccessDenied, MalformedXML
from gateway.s3.handlers.common import S3Context, empty, read_body, xml_response
from gateway.s3.handlers.versions import refuse_version_write, stat_for_read
from gateway.s3.xml import S3_NAMESPACE, XML_DECLARATION, children, find_text, parse_xml
from gateway.s3.xmltext import escape

#: Canned ACLs that change nothing when one account owns everything.
NO_OP_CANNED = frozenset({"private", "bucket-owner-full-control", "bucket-owner-read"})
PUBLIC_CANNED = frozenset({"public-read", "public-read-write", "authenticated-read"})
OTHER_CANNED = frozenset({"aws-exec-read", "log-delivery-write"})
GRANT_HEADERS = (
    "x-amz-grant-read",
    "x-amz-grant-write",
    "x-amz-grant-read-acp",
    "x-amz-grant-write-acp",
    "x-amz-grant-full-control",
)
PUBLIC_GROUPS = ("/groups/global/AllUsers", "/groups/global/AuthenticatedUsers")
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
MAX_ACL_BYTES = 64 * 1024


def _public(what: str) -> AccessDenied:
    return AccessDenied(
        f"Weir does not grant public access: {what} would let requests without Weir "
        "credentials in. Use Weir's grants (admin API) to share a repository."
    )


def check_acl_headers(headers: Mapping[str, str]) -> None:
    """Refuse ACL headers that would change anything (see module doc); accept the rest.

    Raises:
        AccessDenied: a public canned ACL or grant.
        NotImplementedFeature: grants to other accounts, AWS service canned ACLs.
        InvalidArgument: an unknown canned ACL.
    """
    canned = headers.get("x-amz-acl")
    if canned is not None:
        value = canned.strip()
        if value in PUBLIC_CANNED:
            raise _public(f"the canned ACL {value!r}")
        if value in OTHER_CANNED:
            raise NotImplementedFeature(f"the canned ACL {value!r} is not implemented by Weir")
        if value not in NO_OP_CANNED:
            raise InvalidArgument(f"invalid canned ACL {value!r}")
    for name in GRANT_HEADERS:
        grant = headers.get(name)
        if grant is None:
            continue
        if any(group in grant for group in PUBLIC_GROUPS):
            raise _public(f"the {name} header")
        raise NotImplementedFeature(
            f"the {name} header is not implemented by Weir: access is managed with Weir's "
            "grants (admin API)"
        )


def policy_document(owner: str) -> bytes:
    """AWS's default ACL: the owner, with FULL_CONTROL."""
    who = f"<ID>{escape(owner)}</ID><DisplayName>{escape(owner)}</DisplayName>"
    return (
        f'{XML_DECLARATION}<AccessControlPolicy xmlns="{S3_NAMESPACE}">'
        f"<Owner>{who}</Owner><AccessControlList><Grant>"
        f'<Grantee xmlns:xsi="{_XSI}" xsi:type="CanonicalUser">{who}</Grantee>'
        "<Permission>FULL_CONTROL</Permission></Grant></AccessControlList>"
        "</AccessControlPolicy>"
    ).encode()


def check_policy_document(body: bytes, owner: str) -> None:
    """Accept an AccessControlPolicy that grants only the owner (FULL_CONTROL): no change."""
    root = parse_xml(body, max_bytes=MAX_ACL_BYTES)
    if root.tag != "AccessControlPolicy":
        raise MalformedXML(f"Expected root element AccessControlPolicy, got {root.tag}")
    for acl in children(root, "AccessControlList"):
        for grant in children(acl, "Grant"):
            grantee = next(iter(children(grant, "Grantee")), None)
            if grantee is None:
                raise MalformedXML("Every Grant needs a Grantee")
            uri = find_text(grantee, "URI") or ""
            if any(group in uri for group in PUBLIC_GROUPS):
                raise _public("a grant to " + uri.rsplit("/", 1)[-1])
            grantee_id = find_text(grantee, "ID")
            permission = (find_text(grant, "Permission") or "").strip()
            if grantee_id != owner or permission != "FULL_CONTROL":
                raise NotImplementedFeature(
                    "ACL grants other than the owner's FULL_CONTROL are not implemented by Weir: "
                    "access is managed with Weir's grants (admin API)"
                )


async def get_bucket_acl(ctx: S3Context) -> web.StreamResponse:
    ctx.note(repo=ctx.bucket)
    await ctx.allow(Action.READ, ctx.bucket)
    await ctx.lake.get_repository(ctx.bucket)
    return xml_response(policy_document(ctx.principal.user))


async def put_bucket_acl(ctx: S3Context) -> web.StreamResponse:
    ctx.note(repo=ctx.bucket)
    await ctx.allow(Action.ADMIN, ctx.bucket)
    await ctx.lake.get_repository(ctx.bucket)
    await _check_write(ctx)
    return empty(200)


async def get_object_acl(ctx: S3Context) -> web.StreamResponse:
    await stat_for_read(ctx)  # NoSuchKey / NoSuchVersion as for a read
    return xml_response(policy_document(ctx.principal.user))


async def put_object_acl(ctx: S3Context) -> web.StreamResponse:
    refuse_version_write(ctx)
    await stat_for_read(ctx)
    ref, _ = ctx.ref_and_path()
    await ctx.allow(Action.WRITE, ctx.bucket, ref)
    await _check_write(ctx)
    return empty(200)


async def _check_write(ctx: S3Context) -> None:
    check_acl_headers(ctx.headers)
    body = await read_body(ctx, MAX_ACL_BYTES)
    if body.strip():
        check_policy_document(body, ctx.principal.user)
