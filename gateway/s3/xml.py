"""S3 XML: a hardened parser for request bodies and a string-built writer for responses.

Parsing uses expat directly and refuses any DOCTYPE, entity declaration or external entity, so
entity-expansion bombs and XXE cannot happen (no ``defusedxml`` dependency needed: with no DTD,
expat knows only the five predefined entities and rejects everything else). Element names are
taken without namespace prefix and ``xmlns`` attributes are ignored, so bodies are accepted with
or without the S3 namespace. Every parse error is ``MalformedXML``; a body over the limit is
``MaxMessageLengthExceeded`` (callers should also stop reading the body at the limit).

Writing is plain string building (several times faster than ElementTree for listings); texts are
escaped with ``escape``.

All functions are pure and thread-safe.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from xml.parsers import expat

from gateway.core.errors import InvalidArgument
from gateway.s3.errors import MalformedXML, MaxMessageLengthExceeded
from gateway.s3.xmltext import escape

S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'

#: Default cap for request XML bodies (DeleteObjects with 1000 max-length keys fits).
DEFAULT_MAX_XML_BYTES = 2 * 1024 * 1024
MAX_DELETE_KEYS = 1000
MAX_PART_NUMBER = 10000

# -- parsing -----------------------------------------------------------------------------------


class _Refused(Exception):
    """Raised from expat handlers to abort on a forbidden construct."""


def _refuse(*_args: object) -> int:
    """Handler for every DTD/entity hook (typed to satisfy the strictest hook signature)."""
    raise _Refused("DTDs and entities are not allowed")


def _local(name: str) -> str:
    return name.rpartition(":")[2]


def parse_xml(body: bytes, *, max_bytes: int = DEFAULT_MAX_XML_BYTES) -> ET.Element:
    """Parse an S3 request body into an ElementTree element (tags without namespace).

    Raises:
        MaxMessageLengthExceeded: ``len(body) > max_bytes``.
        MalformedXML: empty, not well-formed, or containing a DOCTYPE / entity declaration.
    """
    if len(body) > max_bytes:
        raise MaxMessageLengthExceeded(
            "Your request was too big.", extra={"MaxMessageLengthBytes": str(max_bytes)}
        )
    if not body.strip():
        raise MalformedXML("The XML you provided was empty.")
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse
    parser.NotationDeclHandler = _refuse
    # Without a DTD an undefined entity is a parse error; never expand anything silently.
    parser.DefaultHandler = None
    parser.buffer_text = True

    def start(name: str, attrs: dict[str, str]) -> None:
        builder.start(_local(name), {k: v for k, v in attrs.items() if not k.startswith("xmlns")})

    def end(name: str) -> None:
        builder.end(_local(name))

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(body, True)
        root = builder.close()
    except (_Refused, expat.ExpatError, AssertionError, ValueError) as exc:
        raise MalformedXML(
            "The XML you provided was not well-formed or did not validate against our "
            "published schema",
            extra={"Detail": str(exc)[:200]},
        ) from None
    return root


def children(el: ET.Element, name: str) -> list[ET.Element]:
    """Direct children named ``name`` (namespace-agnostic: tags carry no namespace here)."""
    return [child for child in el if child.tag == name]


def find_text(el: ET.Element, name: str, default: str | None = None) -> str | None:
    """Text of the first direct child named ``name`` ('' for an empty element), else default."""
    for child in el:
        if child.tag == name:
            return child.text or ""
    return default


def _expect_root(root: ET.Element, name: str) -> None:
    if root.tag != name:
        raise MalformedXML(f"Expected root element {name}, got {root.tag}")


def parse_delete_objects(
    body: bytes, *, max_bytes: int = DEFAULT_MAX_XML_BYTES
) -> tuple[list[tuple[str, str | None]], bool]:
    """Parse a DeleteObjects body.

    Returns:
        ``([(key, version_id or None), ...], quiet)`` in document order.

    Raises:
        MalformedXML: wrong root, no ``<Object>``, an object without ``<Key>``, more than 1000
            objects, or a ``<Quiet>`` that is not a boolean.
    """
    root = parse_xml(body, max_bytes=max_bytes)
    _expect_root(root, "Delete")
    objects = children(root, "Object")
    if not objects:
        raise MalformedXML("The Delete request must name at least one Object")
    if len(objects) > MAX_DELETE_KEYS:
        raise MalformedXML(f"The Delete request names more than {MAX_DELETE_KEYS} objects")
    keys: list[tuple[str, str | None]] = []
    for obj in objects:
        key = find_text(obj, "Key")
        if key is None:
            raise MalformedXML("Every Object in a Delete request needs a Key")
        keys.append((key, find_text(obj, "VersionId")))
    quiet_text = (find_text(root, "Quiet", "false") or "").strip().lower()
    if quiet_text not in ("true", "false"):
        raise MalformedXML("Quiet must be true or false")
    return keys, quiet_text == "true"


def parse_complete_multipart(
    body: bytes, *, max_bytes: int = DEFAULT_MAX_XML_BYTES
) -> list[tuple[int, str]]:
    """Parse a CompleteMultipartUpload body.

    Returns:
        ``[(part_number, etag), ...]`` in document order; ETags without surrounding quotes.
        Ordering and existence are checked by the engine (InvalidPartOrder, InvalidPart).

    Raises:
        MalformedXML: wrong root, no parts, a part without PartNumber or ETag.
        InvalidArgument: a part number outside 1..10000.
    """
    root = parse_xml(body, max_bytes=max_bytes)
    _expect_root(root, "CompleteMultipartUpload")
    parts: list[tuple[int, str]] = []
    for part in children(root, "Part"):
        number_text = find_text(part, "PartNumber")
        etag = find_text(part, "ETag")
        if number_text is None or etag is None:
            raise MalformedXML("Every Part needs a PartNumber and an ETag")
        try:
            number = int(number_text.strip())
        except ValueError:
            raise MalformedXML("PartNumber must be an integer") from None
        if not 1 <= number <= MAX_PART_NUMBER:
            raise InvalidArgument("Part number must be an integer between 1 and 10000, inclusive")
        parts.append((number, etag.strip().strip('"')))
    if not parts:
        raise MalformedXML("The CompleteMultipartUpload request must name at least one Part")
    return parts


def parse_create_bucket_configuration(body: bytes, *, max_bytes: int = 64 * 1024) -> str | None:
    """Parse a CreateBucket body: the LocationConstraint, or None (empty body or element)."""
    if not body.strip():
        return None
    root = parse_xml(body, max_bytes=max_bytes)
    _expect_root(root, "CreateBucketConfiguration")
    location = find_text(root, "LocationConstraint")
    return location.strip() or None if location is not None else None


# -- writing -----------------------------------------------------------------------------------


def el(name: str, text: str | int | bool | None) -> str:
    """One leaf element; ``None`` gives an empty string (element omitted), bools are lower-case."""
    if text is None:
        return ""
    if isinstance(text, bool):
        value = "true" if text else "false"
    elif isinstance(text, int):
        value = str(text)
    else:
        value = escape(text)
    return f"<{name}>{value}</{name}>"


def node(name: str, parts: Iterable[str]) -> str:
    """An element wrapping already-serialised children."""
    return f"<{name}>{''.join(parts)}</{name}>"


def xml_doc(root: str, parts: Iterable[str], *, namespace: bool = True) -> bytes:
    """A complete response document: declaration, root (with the S3 namespace), children."""
    ns = f' xmlns="{S3_NAMESPACE}"' if namespace else ""
    return f"{XML_DECLARATION}<{root}{ns}>{''.join(parts)}</{root}>".encode()


class XmlWriter:
    """Incremental builder for large responses (listings): append pieces, then ``finish()``.

    Not thread-safe (one per response).
    """

    __slots__ = ("_parts", "_root")

    def __init__(self, root: str, *, namespace: bool = True) -> None:
        self._root = root
        ns = f' xmlns="{S3_NAMESPACE}"' if namespace else ""
        self._parts: list[str] = [XML_DECLARATION, f"<{root}{ns}>"]

    def el(self, name: str, text: str | int | bool | None) -> XmlWriter:
        self._parts.append(el(name, text))
        return self

    def raw(self, fragment: str) -> XmlWriter:
        """Append an already-serialised fragment (from ``el``/``node``)."""
        self._parts.append(fragment)
        return self

    def start(self, name: str) -> XmlWriter:
        self._parts.append(f"<{name}>")
        return self

    def end(self, name: str) -> XmlWriter:
        self._parts.append(f"</{name}>")
        return self

    def finish(self) -> bytes:
        self._parts.append(f"</{self._root}>")
        return "".join(self._parts).encode()


__all__ = [
    "DEFAULT_MAX_XML_BYTES",
    "MAX_DELETE_KEYS",
    "S3_NAMESPACE",
    "XML_DECLARATION",
    "XmlWriter",
    "children",
    "el",
    "escape",
    "find_text",
    "node",
    "parse_complete_multipart",
    "parse_create_bucket_configuration",
    "parse_delete_objects",
    "parse_xml",
    "xml_doc",
]
