"""Conditional-request evaluation (RFC 7232 section 6 order, as S3 applies it).

Order: If-Match, else If-Unmodified-Since (412); then If-None-Match, else If-Modified-Since
(304 for GET/HEAD). When If-Match holds, If-Unmodified-Since is not consulted; when If-None-Match
is present, If-Modified-Since is not consulted. For copy sources S3 answers 412 where a read
would answer 304. Unparseable dates are ignored, as RFC 7232 requires. Pure functions.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from gateway.core.errors import NotModified, PreconditionFailed
from gateway.core.model import Entry
from gateway.s3.handlers.common import etag_matches
from gateway.s3.keys import parse_http_date


def check(
    entry: Entry,
    *,
    if_match: str | None,
    if_none_match: str | None,
    if_modified_since: str | None,
    if_unmodified_since: str | None,
    for_copy: bool = False,
) -> None:
    """Raise PreconditionFailed (412) or NotModified (304) as the headers demand.

    Dates compare at whole-second precision (HTTP dates carry seconds only).
    """
    mtime = int(entry.mtime)
    if if_match is not None:
        if not etag_matches(if_match, entry.etag):
            raise PreconditionFailed(
                "At least one of the pre-conditions you specified did not hold"
            )
    else:
        since = parse_http_date(if_unmodified_since)
        if since is not None and mtime > since:
            raise PreconditionFailed(
                "At least one of the pre-conditions you specified did not hold"
            )
    if if_none_match is not None:
        if etag_matches(if_none_match, entry.etag):
            _not_modified(for_copy)
    else:
        since = parse_http_date(if_modified_since)
        if since is not None and since <= time.time() and mtime <= since:
            _not_modified(for_copy)


def _not_modified(for_copy: bool) -> None:
    if for_copy:
        raise PreconditionFailed("At least one of the pre-conditions you specified did not hold")
    raise NotModified("Not Modified")


def check_read(entry: Entry, headers: Mapping[str, str]) -> None:
    """Conditions of a GET or HEAD."""
    check(
        entry,
        if_match=headers.get("If-Match"),
        if_none_match=headers.get("If-None-Match"),
        if_modified_since=headers.get("If-Modified-Since"),
        if_unmodified_since=headers.get("If-Unmodified-Since"),
    )


def check_copy_source(entry: Entry, headers: Mapping[str, str]) -> None:
    """``x-amz-copy-source-if-*`` conditions of CopyObject and UploadPartCopy."""
    check(
        entry,
        if_match=headers.get("x-amz-copy-source-if-match"),
        if_none_match=headers.get("x-amz-copy-source-if-none-match"),
        if_modified_since=headers.get("x-amz-copy-source-if-modified-since"),
        if_unmodified_since=headers.get("x-amz-copy-source-if-unmodified-since"),
        for_copy=True,
    )
