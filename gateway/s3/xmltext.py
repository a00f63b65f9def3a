"""Escaping text for S3 XML documents: two policies, one per kind of document.

* ``escape`` (listings, results): markup escaped; CR and the C0 controls written as character
  references (``&#x1;``), exactly as S3 writes keys. A reference to a C0 control is not
  well-formed XML 1.0, which is why S3 clients ask for ``encoding-type=url`` (boto3 always
  does); a key is reported as it is, never altered.
* ``escape_safe`` (error documents, which echo whatever the client sent: keys, header values,
  request targets): always well-formed XML 1.0. Characters XML cannot carry at all (C0
  controls other than tab, LF and CR; U+FFFE and U+FFFF; lone surrogates) are written
  percent-encoded (``%00``), as they would appear in a URL, so the message stays readable and
  the document parses.

Pure functions, safe from any thread.
"""

from __future__ import annotations

import re

# Characters XML 1.0 cannot carry literally in text: markup, CR (parsers normalise it to LF)
# and the C0 controls.
_NEEDS_ESCAPE = re.compile(r"[&<>\"\r\x00-\x08\x0b\x0c\x0e-\x1f]")
_REPLACEMENTS = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}
# Not allowed in XML 1.0 even as a character reference.
_NOT_XML_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_SAFE_NEEDS_ESCAPE = re.compile('[&<>"\r\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]')


def _replace(match: re.Match[str]) -> str:
    char = match.group(0)
    return _REPLACEMENTS.get(char) or f"&#x{ord(char):X};"


def escape(text: str) -> str:
    """Escape text for an XML element or attribute value (S3's own style, see module doc)."""
    if _NEEDS_ESCAPE.search(text) is None:
        return text
    return _NEEDS_ESCAPE.sub(_replace, text)


def _percent(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"%{code - 0xDC00:02X}"
    return "".join(f"%{b:02X}" for b in char.encode("utf-8", "surrogatepass"))


def _replace_safe(match: re.Match[str]) -> str:
    char = match.group(0)
    if char == "\r":
        return "&#xD;"
    return _REPLACEMENTS.get(char) or _percent(char)


def escape_safe(text: str) -> str:
    """Escape text so that the document stays well-formed XML 1.0 whatever ``text`` holds."""
    if _SAFE_NEEDS_ESCAPE.search(text) is None:
        return text
    return _SAFE_NEEDS_ESCAPE.sub(_replace_safe, text)


def is_xml_char_safe(text: str) -> bool:
    """True when every character of ``text`` may appear in an XML 1.0 document."""
    return _NOT_XML_CHAR.search(text) is None


__all__ = ["escape", "escape_safe", "is_xml_char_safe"]
