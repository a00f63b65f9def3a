"""S3 names, byte ranges and dates at the protocol edge: parsed and validated once.

Pure functions, safe from any thread.

Range semantics (as S3 behaves, documented in docs/decisions/0004-s3-auth-and-checksums.md):

* One ``bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` range is honoured (206).
* A header that is not a syntactically valid single byte range (``items=0-1``, ``bytes=x-y``,
  ``bytes=5-2``) is ignored: the whole object is served (200), per RFC 7233 section 3.1.
* Several ranges (``bytes=0-1,5-6``): S3 does not support multipart/byteranges and serves the
  whole object; so do we (``parse_range`` returns None).
* A valid range that does not overlap the object (``bytes=10-`` on 5 bytes, ``bytes=-0``) raises
  ``InvalidRange`` (416).
"""

from __future__ import annotations

import calendar
import email.utils
import re
import time
from urllib.parse import quote_plus, unquote_to_bytes

from gateway.core.errors import InvalidArgument, InvalidRange
from gateway.core.model import ByteRange
from gateway.s3.errors import InvalidBucketName, InvalidURI, KeyTooLongError

#: S3's limit on a key, in UTF-8 bytes.
MAX_KEY_BYTES = 1024

#: Bucket names S3 clients can never use here: ``api`` is where the admin API is mounted.
RESERVED_BUCKETS = frozenset({"api"})

_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IPV4_RE = re.compile(r"\d{1,3}(\.\d{1,3}){3}")
_BAD_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BAD_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_RANGE_RE = re.compile(r"bytes=(\d*)-(\d*)", re.ASCII)


def decode_path_segment(raw: str) -> str:
    """Percent-decode a raw URL path piece as strict UTF-8.

    Raises:
        InvalidURI: the bytes are not valid UTF-8 (S3 answers InvalidURI 400).
    """
    if "%" not in raw:
        return raw
    try:
        return unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidURI("Couldn't parse the specified URI.") from None


def validate_key(key: str) -> None:
    """Check an object key (what follows the bucket, including the ref segment).

    Raises:
        KeyTooLongError: more than 1024 UTF-8 bytes.
        InvalidURI: not encodable as UTF-8 (lone surrogates from a lax decoder).
        InvalidArgument: empty, or contains NUL.
    """
    if not key:
        raise InvalidArgument("Object key must not be empty")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidURI("Couldn't parse the specified URI.") from None
    if size > MAX_KEY_BYTES:
        raise KeyTooLongError("Your key is too long", extra={"Size": str(size)})
    if "\x00" in key:
        raise InvalidArgument("Object key must not contain NUL characters")


def validate_bucket(name: str) -> None:
    """Check a bucket (repository) name against the S3 general-purpose bucket rules.

    3-63 characters of ``a-z 0-9 . -``, starting and ending with a letter or digit, no ``..``,
    not an IPv4 address, none of the prefixes/suffixes AWS reserves; ``api`` is reserved here.

    Raises:
        InvalidBucketName: otherwise.
    """
    if (
        not _BUCKET_RE.fullmatch(name)
        or ".." in name
        or ".-" in name
        or "-." in name
        or _IPV4_RE.fullmatch(name)
        or name.startswith(_BAD_BUCKET_PREFIXES)
        or name.endswith(_BAD_BUCKET_SUFFIXES)
    ):
        raise InvalidBucketName("The specified bucket is not valid.", extra={"BucketName": name})
    if name in RESERVED_BUCKETS:
        raise InvalidBucketName(
            f"The bucket name {name!r} is reserved by this server.", extra={"BucketName": name}
        )


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """Parse a ``Range`` header for an object of ``size`` bytes (see module doc for semantics).

    Returns:
        The range to serve, or None to serve the whole object with 200.

    Raises:
        InvalidRange: a valid single range that the object cannot satisfy (416).
    """
    if not header:
        return None
    match = _RANGE_RE.fullmatch(header.strip().replace(" ", ""))
    if match is None:
        return None  # not a single byte range: ignored, as S3 does
    first, last = match.group(1), match.group(2)
    if first:
        start = int(first)
        end = int(last) if last else None
        if end is not None and end < start:
            return None  # syntactically invalid per RFC 7233: ignore
        rng = ByteRange(start, end)
    elif last:
        rng = ByteRange(None, None, int(last))
    else:
        return None  # "bytes=-"
    rng.resolve(size)  # raises InvalidRange when unsatisfiable
    return rng


def content_range(offset: int, length: int, size: int) -> str:
    """The ``Content-Range`` value of a 206 response."""
    return f"bytes {offset}-{offset + length - 1}/{size}"


def unsatisfiable_content_range(size: int) -> str:
    """The ``Content-Range`` value of a 416 response."""
    return f"bytes */{size}"


def url_encode_key(key: str) -> str:
    """Encode a key or prefix for ``encoding-type=url`` listings, as S3 does.

    Spaces become ``+`` and ``+`` becomes ``%2B``; clients decode with ``unquote_plus``.
    """
    return quote_plus(key, safe="/")


def format_http_date(ts: float) -> str:
    """RFC 7231 IMF-fixdate, e.g. ``Wed, 21 Oct 2015 07:28:00 GMT`` (Last-Modified)."""
    return email.utils.formatdate(ts, usegmt=True)


def parse_http_date(value: str | None) -> float | None:
    """Parse an HTTP date (IMF-fixdate, RFC 850 or asctime); None when absent or invalid.

    Invalid dates make S3 ignore If-Modified-Since / If-Unmodified-Since, so callers treat None
    as "no condition".
    """
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_tz(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    try:
        return float(email.utils.mktime_tz(parsed))
    except (OverflowError, ValueError):
        return None


def format_iso8601(ts: float) -> str:
    """ISO 8601 with milliseconds and ``Z``, as in ListObjects ``<LastModified>``."""
    whole = int(ts)
    millis = round((ts - whole) * 1000)
    if millis >= 1000:
        whole, millis = whole + 1, 0
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"


def parse_iso8601(value: str) -> float:
    """Inverse of ``format_iso8601`` (also accepts no fraction). Raises InvalidArgument."""
    text = value.strip()
    if not text.endswith("Z"):
        raise InvalidArgument(f"Invalid timestamp: {value!r}")
    text = text[:-1]
    frac = 0.0
    if "." in text:
        text, _, digits = text.partition(".")
        if not digits.isdigit():
            raise InvalidArgument(f"Invalid timestamp: {value!r}")
        frac = float("0." + digits)
    try:
        parsed = time.strptime(text, "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        raise InvalidArgument(f"Invalid timestamp: {value!r}") from None
    return calendar.timegm(parsed) + frac


__all__ = [
    "MAX_KEY_BYTES",
    "RESERVED_BUCKETS",
    "InvalidRange",
    "content_range",
    "decode_path_segment",
    "format_http_date",
    "format_iso8601",
    "parse_http_date",
    "parse_iso8601",
    "parse_range",
    "unsatisfiable_content_range",
    "url_encode_key",
    "validate_bucket",
    "validate_key",
]
