"""DeleteObject and DeleteObjects: stage tombstones on a branch.

DeleteObject answers 204 whether or not the key existed (S3 semantics). DeleteObjects takes at
most 1,000 keys; keys are grouped by their ref segment and each group is tombstoned in one
metadata transaction (``Lake.delete_objects``), so a batch on one branch is all-or-nothing per
key and atomic as a whole; errors are reported per key (``<Error>``), never for the request.
"""

from __future__ import annotations

import contextlib

from aiohttp import web

from gateway.core.access import Action
from gateway.core.errors import InvalidPath, ObjectNotFound, RefNotFound, WeirError
from gateway.core.lake.versions import NULL_VERSION, check_version_id
from gateway.s3.errors import AccessDenied as S3AccessDenied
from gateway.s3.errors import InvalidRequest, describe
from gateway.s3.handlers.common import S3Context, empty, read_body, xml_response
from gateway.s3.handlers.versions import refuse_version_write
from gateway.s3.keys import validate_key
from gateway.s3.responses import delete_result
from gateway.s3.xml import DEFAULT_MAX_XML_BYTES, parse_delete_objects


async def delete_object(ctx: S3Context) -> web.StreamResponse:
    refuse_version_write(ctx)  # a version is a commit: immutable
    try:
        ref, path = ctx.ref_and_path()
    except InvalidPath:
        return empty(204)  # "<ref>" or "<ref>/" names no object: nothing to delete
    await ctx.allow(Action.WRITE, ctx.bucket, ref)
    # Nothing at the key (no object, or no such ref) is success, as S3 answers.
    with contextlib.suppress(ObjectNotFound, RefNotFound):
        await ctx.lake.delete_object(ctx.bucket, ref, path)  # ReadOnlyRef for a tag/commit
    return empty(204)


def _has_integrity_header(ctx: S3Context) -> bool:
    """S3 requires DeleteObjects bodies to carry Content-MD5 or a flexible checksum."""
    headers = ctx.headers
    if "Content-MD5" in headers or "x-amz-trailer" in headers:
        return True
    return any(name.lower().startswith("x-amz-checksum-") for name in headers)


def _error_row(key: str, exc: BaseException) -> tuple[str, str, str]:
    spec, message, _ = describe(exc)
    return key, spec.code, message


async def delete_objects(ctx: S3Context) -> web.StreamResponse:
    ctx.note(repo=ctx.bucket)
    await ctx.lake.get_repository(ctx.bucket)  # NoSuchBucket for the request, not per key
    if not _has_integrity_header(ctx):
        raise InvalidRequest(
            "Missing required header for this request: Content-MD5 or x-amz-checksum-*"
        )
    body = await read_body(ctx, DEFAULT_MAX_XML_BYTES)
    keys, quiet = parse_delete_objects(body)
    deleted: list[str] = []
    errors: list[tuple[str, str, str]] = []
    by_ref: dict[str, list[tuple[str, str]]] = {}
    for key, version in keys:
        try:
            validate_key(key)
            if version is not None and check_version_id(version) != NULL_VERSION:
                raise S3AccessDenied(
                    "Weir keeps history immutable: a version (a commit) cannot be deleted"
                )
        except WeirError as exc:
            errors.append(_error_row(key, exc))
            continue
        ref, sep, path = key.partition("/")
        if not sep or not ref or not path:
            deleted.append(key)  # names no object; S3 reports a delete of nothing as deleted
            continue
        by_ref.setdefault(ref, []).append((key, path))
    for ref, items in by_ref.items():
        try:
            await ctx.allow(Action.WRITE, ctx.bucket, ref)
            results = await ctx.lake.delete_objects(ctx.bucket, ref, [p for _, p in items])
        except RefNotFound:
            deleted.extend(key for key, _ in items)  # no such ref: nothing there to delete
            continue
        except WeirError as exc:
            errors.extend(_error_row(key, exc) for key, _ in items)
            continue
        for (key, _), (_, error) in zip(items, results, strict=True):
            if error is None or isinstance(error, ObjectNotFound):
                deleted.append(key)
            else:
                errors.append(_error_row(key, error))
    return xml_response(delete_result(deleted, errors, quiet=quiet))
