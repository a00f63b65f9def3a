"""S3 object tags at the protocol edge: the ``x-amz-tagging`` header, the ``<Tagging>`` document,
and S3's limits on a tag set.

Limits (AWS "Categorizing your storage using tags"): at most 10 tags per object, keys unique,
a key 1-128 and a value 0-256 Unicode characters. A tag set that breaks them is ``InvalidTag``;
an ``x-amz-tagging`` header that is not URL-encoded query parameters (or repeats a key) is
``InvalidArgument``, as AWS answers. Pure functions, thread-safe.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl

from gateway.s3.errors import InvalidArgument, InvalidTag, MalformedXML
from gateway.s3.xml import children, find_text, parse_xml, xml_doc
from gateway.s3.xmltext import escape

MAX_TAGS = 10
MAX_KEY_CHARS = 128
MAX_VALUE_CHARS = 256
#: A tagging document is tiny: 10 tags of at most 128 + 256 characters.
MAX_TAGGING_BYTES = 64 * 1024


def validate(tags: list[tuple[str, str]]) -> dict[str, str]:
    """Check S3's limits and return the tag set as a mapping.

    Raises:
        InvalidTag: too many tags, a repeated key, an empty or over-long key, a long value.
    """
    if len(tags) > MAX_TAGS:
        raise InvalidTag(f"Object tags cannot be greater than {MAX_TAGS}")
    out: dict[str, str] = {}
    for key, value in tags:
        if not key:
            raise InvalidTag("The TagKey you have provided is invalid")
        if len(key) > MAX_KEY_CHARS:
            raise InvalidTag(
                f"The TagKey you have provided is too long, max {MAX_KEY_CHARS}",
                extra={"TagKey": key[:200]},
            )
        if len(value) > MAX_VALUE_CHARS:
            raise InvalidTag(
                f"The TagValue you have provided is too long, max {MAX_VALUE_CHARS}",
                extra={"TagKey": key[:200]},
            )
        if key in out:
            raise InvalidTag("Cannot provide multiple Tags with the same key")
        out[key] = value
    return out


def parse_header(value: str | None) -> dict[str, str]:
    """The tag set of an ``x-amz-tagging`` header (``k1=v1&k2=v2``, URL-encoded); {} if absent.

    Raises:
        InvalidArgument: not decodable, or a key given twice.
        InvalidTag: S3's limits (see ``validate``).
    """
    if value is None or not value.strip():
        return {}
    try:
        pairs = parse_qsl(value, keep_blank_values=True, errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise _bad_header(value) from None
    if len({k for k, _ in pairs}) != len(pairs):
        raise _bad_header(value)
    return validate(pairs)


def _bad_header(value: str) -> InvalidArgument:
    return InvalidArgument(
        "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query "
        "parameters without tag name duplicates.",
        extra={"ArgumentName": "x-amz-tagging", "ArgumentValue": value[:512]},
    )


def parse_document(body: bytes) -> dict[str, str]:
    """The tag set of a PutObjectTagging body.

    Raises:
        MalformedXML: not a ``<Tagging><TagSet><Tag>...`` document, or a tag without ``Key``.
        InvalidTag: S3's limits.
    """
    root = parse_xml(body, max_bytes=MAX_TAGGING_BYTES)
    if root.tag != "Tagging":
        raise MalformedXML(f"Expected root element Tagging, got {root.tag}")
    tag_sets = children(root, "TagSet")
    if len(tag_sets) != 1:
        raise MalformedXML("A Tagging document holds exactly one TagSet")
    tags: list[tuple[str, str]] = []
    for tag in children(tag_sets[0], "Tag"):
        key = find_text(tag, "Key")
        if key is None:
            raise MalformedXML("Every Tag needs a Key")
        tags.append((key, find_text(tag, "Value", "") or ""))
    return validate(tags)


def document(tags: Mapping[str, str]) -> bytes:
    """The GetObjectTagging answer."""
    rows = "".join(
        f"<Tag><Key>{escape(k)}</Key><Value>{escape(tags[k])}</Value></Tag>" for k in sorted(tags)
    )
    return xml_doc("Tagging", [f"<TagSet>{rows}</TagSet>"])


__all__ = [
    "MAX_TAGGING_BYTES",
    "MAX_TAGS",
    "document",
    "parse_document",
    "parse_header",
    "validate",
]
