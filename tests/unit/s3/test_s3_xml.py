"""S3 XML parsing is hardened; the writer produces what parsers read back."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from gateway.core.errors import InvalidArgument
from gateway.s3.errors import MalformedXML, MaxMessageLengthExceeded
from gateway.s3.xml import (
    S3_NAMESPACE,
    XmlWriter,
    el,
    escape,
    find_text,
    node,
    parse_complete_multipart,
    parse_create_bucket_configuration,
    parse_delete_objects,
    parse_xml,
    xml_doc,
)

BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<Delete><Object><Key>&lol3;</Key></Object></Delete>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Delete><Object><Key>&xxe;</Key></Object></Delete>"""


@pytest.mark.parametrize(
    "body",
    [
        BOMB,
        XXE,
        b'<!DOCTYPE Delete SYSTEM "http://example.com/x.dtd"><Delete/>',
        b"<!DOCTYPE Delete><Delete/>",
        b"<Delete>&undefined;</Delete>",
        b"<Delete><Object></Delete>",
        b"<Delete/><Extra/>",
        b"not xml",
        b"",
        b"   ",
    ],
)
def test_rejected_documents(body: bytes) -> None:
    with pytest.raises(MalformedXML):
        parse_xml(body)


def test_oversize_rejected_before_parsing() -> None:
    with pytest.raises(MaxMessageLengthExceeded):
        parse_xml(b"<a>" + b"x" * 100 + b"</a>", max_bytes=50)


def test_namespaces_and_prefixes_are_ignored() -> None:
    for body in (
        f'<Delete xmlns="{S3_NAMESPACE}"><Quiet>true</Quiet></Delete>'.encode(),
        f'<s3:Delete xmlns:s3="{S3_NAMESPACE}"><s3:Quiet>true</s3:Quiet></s3:Delete>'.encode(),
        b"<Delete><Quiet>true</Quiet></Delete>",
    ):
        root = parse_xml(body)
        assert root.tag == "Delete"
        assert find_text(root, "Quiet") == "true"
        assert find_text(root, "Missing") is None


def test_predefined_entities_and_char_refs_still_work() -> None:
    root = parse_xml(b"<Key>a&amp;b&lt;&#233;</Key>")
    assert root.text == "a&b<é"


def test_parse_delete_objects() -> None:
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?><Delete xmlns="{S3_NAMESPACE}">'
        "<Object><Key>main/a b</Key></Object>"
        "<Object><Key>main/c</Key><VersionId>v1</VersionId></Object>"
        "<Quiet>TRUE</Quiet></Delete>"
    ).encode()
    assert parse_delete_objects(body) == ([("main/a b", None), ("main/c", "v1")], True)
    keys, quiet = parse_delete_objects(b"<Delete><Object><Key>k</Key></Object></Delete>")
    assert keys == [("k", None)] and not quiet


@pytest.mark.parametrize(
    "body",
    [
        b"<Delete></Delete>",
        b"<Delete><Object><VersionId>v</VersionId></Object></Delete>",
        b"<Other><Object><Key>k</Key></Object></Other>",
        b"<Delete><Object><Key>k</Key></Object><Quiet>maybe</Quiet></Delete>",
        b"<Delete>" + b"<Object><Key>k</Key></Object>" * 1001 + b"</Delete>",
    ],
)
def test_parse_delete_objects_rejects(body: bytes) -> None:
    with pytest.raises(MalformedXML):
        parse_delete_objects(body)


def test_parse_delete_objects_accepts_1000() -> None:
    body = b"<Delete>" + b"<Object><Key>k</Key></Object>" * 1000 + b"</Delete>"
    assert len(parse_delete_objects(body)[0]) == 1000


def test_parse_complete_multipart() -> None:
    body = (
        b"<CompleteMultipartUpload>"
        b'<Part><PartNumber>1</PartNumber><ETag>"aa"</ETag></Part>'
        b"<Part><ETag>bb</ETag><PartNumber> 2 </PartNumber></Part>"
        b"</CompleteMultipartUpload>"
    )
    assert parse_complete_multipart(body) == [(1, "aa"), (2, "bb")]
    with pytest.raises(MalformedXML):
        parse_complete_multipart(b"<CompleteMultipartUpload/>")
    with pytest.raises(MalformedXML):
        parse_complete_multipart(
            b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part>"
            b"</CompleteMultipartUpload>"
        )
    with pytest.raises(InvalidArgument):
        parse_complete_multipart(
            b"<CompleteMultipartUpload><Part><PartNumber>10001</PartNumber><ETag>x</ETag>"
            b"</Part></CompleteMultipartUpload>"
        )


def test_parse_create_bucket_configuration() -> None:
    assert parse_create_bucket_configuration(b"") is None
    assert (
        parse_create_bucket_configuration(
            b"<CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint>"
            b"</CreateBucketConfiguration>"
        )
        == "eu-west-1"
    )
    assert parse_create_bucket_configuration(b"<CreateBucketConfiguration/>") is None
    with pytest.raises(MalformedXML):
        parse_create_bucket_configuration(b"<Nope/>")


def test_writer_output_parses_back() -> None:
    key = "main/a&b<c>\"d'\r\né"
    doc = xml_doc(
        "ListBucketResult",
        [
            el("Name", "repo"),
            node("Contents", [el("Key", key), el("Size", 3)]),
            el("IsTruncated", False),
            el("Absent", None),
        ],
    )
    assert doc.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns=')
    root = ET.fromstring(doc)
    ns = {"s3": S3_NAMESPACE}
    assert root.findtext("s3:Contents/s3:Key", namespaces=ns) == key
    assert root.findtext("s3:IsTruncated", namespaces=ns) == "false"
    assert root.find("s3:Absent", ns) is None


def test_xml_writer_incremental() -> None:
    writer = XmlWriter("ListAllMyBucketsResult")
    writer.start("Buckets").raw(node("Bucket", [el("Name", "a")])).end("Buckets")
    root = ET.fromstring(writer.el("Marker", "").finish())
    assert (
        root.findtext(f"{{{S3_NAMESPACE}}}Buckets/{{{S3_NAMESPACE}}}Bucket/{{{S3_NAMESPACE}}}Name")
        == "a"
    )


def test_escape_fast_path_returns_same_object() -> None:
    text = "plain/key.txt"
    assert escape(text) is text
    assert escape("\x01") == "&#x1;"
