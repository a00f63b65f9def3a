"""A small raw HTTP client with AWS Signature Version 4, for requests SDKs will not send.

The conformance suite uses boto3 for ordinary calls. This module exists for the edge cases: a
payload hash that lies, a chunk signature that is wrong, a clock that is off, a presigned URL that
has expired, a body shorter than its ``Content-Length``, a trailing checksum that does not match,
XML bodies with entities. Every byte on the wire is decided here, nothing is added behind the
caller's back (no automatic ``Content-Length``, no checksums, no retries).

Each request opens its own connection and closes it, so a test never inherits a half-read response
from another. The client is synchronous and holds no shared mutable state: one instance may be used
from several threads.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from email.utils import format_datetime
from urllib.parse import urlsplit
from xml.etree import ElementTree

from conformance.signing import (
    ALGORITHM,
    EMPTY_SHA256,
    STREAMING_SIGNED,
    STREAMING_UNSIGNED_TRAILER,
    UNSIGNED_PAYLOAD,
    Credentials,
    Query,
    amz_timestamp,
    canonical_query,
    checksum,
    content_md5,
    object_path,
    signing_key,
    uri_encode,
    v2_signature,
    v2_string_to_sign,
)

__all__ = [
    "CLOSED",
    "TIMED_OUT",
    "UNSIGNED_PAYLOAD",
    "Credentials",
    "RawClient",
    "Response",
    "Signed",
    "checksum",
    "content_md5",
    "object_path",
    "uri_encode",
]

CLOSED = 0  # Response.status when the server closed the connection without an answer
TIMED_OUT = -1  # Response.status when the server sent nothing within the timeout


@dataclass(frozen=True, slots=True)
class Response:
    """A fully read HTTP response (``status`` is CLOSED or TIMED_OUT when there was none)."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        """Return a response header by case-insensitive name, or None."""
        return self.headers.get(name.lower())

    def xml(self) -> ElementTree.Element:
        """Parse the body as XML, with any namespace stripped from every tag."""
        root = ElementTree.fromstring(self.body)
        for element in root.iter():
            if "}" in element.tag:
                element.tag = element.tag.split("}", 1)[1]
        return root

    def error_code(self) -> str | None:
        """Return the ``<Code>`` of an S3 XML error body, or None if there is none."""
        try:
            return self.xml().findtext("Code")
        except ElementTree.ParseError:
            return None


@dataclass(frozen=True, slots=True)
class Signed:
    """A request ready to put on the wire, plus what chunk signing needs to continue."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    signature: str
    amz_date: str
    scope: str
    key: bytes


@dataclass(slots=True)
class RawClient:
    """Send hand-built, SigV4-signed requests to one S3 endpoint (path-style addressing).

    Args:
        endpoint_url: ``http://host:port`` of the S3 endpoint.
        credentials: the key pair used to sign, unless a call passes its own.
        timeout: socket timeout in seconds for connect and every read.
    """

    endpoint_url: str
    credentials: Credentials
    timeout: float = 15.0
    _host: str = field(init=False)
    _port: int = field(init=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.endpoint_url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError("rawhttp speaks plain http to host:port only")
        self._host = parts.hostname
        self._port = parts.port or 80

    @property
    def host_header(self) -> str:
        """The ``Host`` header value this client sends (and signs)."""
        return f"{self._host}:{self._port}"

    # -- signing -----------------------------------------------------------------------------

    def sign(
        self,
        method: str,
        path: str,
        query: Query = (),
        headers: Mapping[str, str] | None = None,
        *,
        payload_hash: str = UNSIGNED_PAYLOAD,
        when: dt.datetime | None = None,
        credentials: Credentials | None = None,
        service: str = "s3",
        date_header: bool = False,
        host: str | None = None,
    ) -> Signed:
        """Sign a request in the ``Authorization`` header.

        Every header given is signed, together with ``host``, ``x-amz-date`` and
        ``x-amz-content-sha256`` (set to ``payload_hash``, which may deliberately lie).
        ``service`` goes into the credential scope; with ``date_header`` the request time is
        sent (and signed) as an HTTP ``Date`` header instead of ``x-amz-date``; ``host``
        replaces the ``Host`` header (virtual-hosted style).
        """
        creds = credentials or self.credentials
        now = when or dt.datetime.now(dt.UTC)
        amz_date = amz_timestamp(now)
        day = amz_date[:8]
        scope = f"{day}/{creds.region}/{service}/aws4_request"
        all_headers: dict[str, str] = {k.lower(): v for k, v in (headers or {}).items()}
        all_headers["host"] = host or self.host_header
        if date_header:
            all_headers["date"] = format_datetime(now.astimezone(dt.UTC), usegmt=True)
        else:
            all_headers["x-amz-date"] = amz_date
        all_headers.setdefault("x-amz-content-sha256", payload_hash)
        names = sorted(all_headers)
        canonical_headers = "".join(f"{n}:{' '.join(all_headers[n].split())}\n" for n in names)
        signed_names = ";".join(names)
        canonical = "\n".join(
            [
                method,
                path,
                canonical_query(query),
                canonical_headers,
                signed_names,
                all_headers["x-amz-content-sha256"],
            ]
        )
        to_sign = "\n".join(
            [ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        key = signing_key(creds.secret_key, day, creds.region, service)
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        authorization = (
            f"{ALGORITHM} Credential={creds.access_key}/{scope}, "
            f"SignedHeaders={signed_names}, Signature={signature}"
        )
        wire_headers = [(k, v) for k, v in all_headers.items()]
        wire_headers.append(("Authorization", authorization))
        target = path + ("?" + canonical_query(query) if query else "")
        return Signed(method, target, wire_headers, signature, amz_date, scope, key)

    def presign(
        self,
        method: str,
        path: str,
        *,
        expires: int = 300,
        when: dt.datetime | None = None,
        query: Query = (),
        credentials: Credentials | None = None,
        service: str = "s3",
    ) -> str:
        """Return a presigned URL (query-string SigV4, ``host`` signed, payload unsigned)."""
        creds = credentials or self.credentials
        now = when or dt.datetime.now(dt.UTC)
        amz_date = amz_timestamp(now)
        scope = f"{amz_date[:8]}/{creds.region}/{service}/aws4_request"
        params = [
            *query,
            ("X-Amz-Algorithm", ALGORITHM),
            ("X-Amz-Credential", f"{creds.access_key}/{scope}"),
            ("X-Amz-Date", amz_date),
            ("X-Amz-Expires", str(expires)),
            ("X-Amz-SignedHeaders", "host"),
        ]
        canonical = "\n".join(
            [
                method,
                path,
                canonical_query(params),
                f"host:{self.host_header}\n",
                "host",
                UNSIGNED_PAYLOAD,
            ]
        )
        to_sign = "\n".join(
            [ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        key = signing_key(creds.secret_key, amz_date[:8], creds.region, service)
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        params.append(("X-Amz-Signature", signature))
        return f"{self.endpoint_url}{path}?{canonical_query(params)}"

    # -- Signature Version 2 -------------------------------------------------------------------

    def sign_v2(
        self,
        method: str,
        path: str,
        query: Query = (),
        headers: Mapping[str, str] | None = None,
        *,
        when: dt.datetime | None = None,
        amz_date: bool = False,
        credentials: Credentials | None = None,
    ) -> Signed:
        """Sign in the ``Authorization: AWS key:signature`` header (SigV2, HMAC-SHA1).

        The request time goes in ``Date``, or with ``amz_date`` in ``x-amz-date`` (the Date
        line of the string to sign is then empty, as AWS documents).
        """
        creds = credentials or self.credentials
        now = (when or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
        all_headers: dict[str, str] = {k.lower(): v for k, v in (headers or {}).items()}
        all_headers["host"] = self.host_header
        stamp = format_datetime(now, usegmt=True)
        if amz_date:
            all_headers["x-amz-date"] = stamp
        else:
            all_headers["date"] = stamp
        date_line = "" if amz_date else stamp
        to_sign = v2_string_to_sign(method, path, query, all_headers, date_line)
        signature = v2_signature(creds.secret_key, to_sign)
        wire = [*all_headers.items(), ("Authorization", f"AWS {creds.access_key}:{signature}")]
        target = path + ("?" + canonical_query(query) if query else "")
        return Signed(method, target, wire, signature, stamp, "", b"")

    def presign_v2(
        self,
        method: str,
        path: str,
        *,
        expires_at: int,
        query: Query = (),
        credentials: Credentials | None = None,
    ) -> str:
        """Return a SigV2 presigned URL (``AWSAccessKeyId``, ``Expires``, ``Signature``)."""
        creds = credentials or self.credentials
        to_sign = v2_string_to_sign(method, path, query, {}, str(expires_at))
        params = [
            *query,
            ("AWSAccessKeyId", creds.access_key),
            ("Expires", str(expires_at)),
            ("Signature", v2_signature(creds.secret_key, to_sign)),
        ]
        return f"{self.endpoint_url}{path}?{canonical_query(params)}"

    # -- transport ---------------------------------------------------------------------------

    def send(
        self,
        method: str,
        target: str,
        headers: Iterable[tuple[str, str]],
        body: bytes | Iterable[bytes] = b"",
        *,
        half_close: bool = False,
    ) -> Response:
        """Write exactly these headers and body bytes, then read the whole response.

        Args:
            method: the HTTP method.
            target: the request target (encoded path and query).
            headers: sent as given; ``Host`` is added if missing, nothing else is.
            body: bytes, or an iterable of byte chunks written one after another.
            half_close: shut down the write side after the body, as a client that disconnects
                before sending everything ``Content-Length`` promised would.

        Returns:
            The response; status ``CLOSED`` (0) if the server closed the connection without
            answering, ``TIMED_OUT`` (-1) if it sent nothing within the timeout.
        """
        conn = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)
        try:
            conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            header_list = list(headers)
            if not any(k.lower() == "host" for k, _ in header_list):
                conn.putheader("Host", self.host_header)
            for name, value in header_list:
                conn.putheader(name, value)
            conn.endheaders()
            chunks = [body] if isinstance(body, bytes) else body
            for chunk in chunks:
                if chunk:
                    conn.send(chunk)
            if half_close and conn.sock is not None:
                conn.sock.shutdown(socket.SHUT_WR)
            resp = conn.getresponse()
            data = resp.read() if method != "HEAD" else b""
            return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
        except TimeoutError:
            return Response(TIMED_OUT, {}, b"")
        except (OSError, http.client.HTTPException):
            return Response(CLOSED, {}, b"")
        finally:
            conn.close()

    def send_bytes(self, data: bytes | Iterable[bytes], *, pause: float = 0.0) -> Response:
        """Write exactly ``data`` (a request, well-formed or not), then read one response.

        ``data`` may be several pieces written ``pause`` seconds apart (a slow client).
        Returns status ``CLOSED`` if the server closed the connection without answering.
        """
        pieces = [data] if isinstance(data, bytes) else list(data)
        with socket.create_connection((self._host, self._port), timeout=self.timeout) as sock:
            try:
                for index, piece in enumerate(pieces):
                    if index and pause:
                        time.sleep(pause)  # pacing the client's bytes, not synchronisation
                    sock.sendall(piece)
                resp = http.client.HTTPResponse(sock, method="GET")
                resp.begin()
                body = resp.read()
            except TimeoutError:
                return Response(TIMED_OUT, {}, b"")
            except (OSError, http.client.HTTPException):
                return Response(CLOSED, {}, b"")
            return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, body)

    def request(
        self,
        method: str,
        path: str,
        query: Query = (),
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        *,
        sign: bool = True,
        payload_hash: str | None = None,
        when: dt.datetime | None = None,
        credentials: Credentials | None = None,
        content_length: int | None = None,
        half_close: bool = False,
    ) -> Response:
        """Sign (unless ``sign`` is False) and send one request.

        ``payload_hash`` defaults to the body's real SHA-256; ``content_length`` defaults to the
        body's length and may be set larger to send a truncated body.
        """
        hdrs = dict(headers or {})
        length = len(body) if content_length is None else content_length
        if method in ("PUT", "POST") or body or content_length is not None:
            hdrs["content-length"] = str(length)
        if sign:
            digest = payload_hash or hashlib.sha256(body).hexdigest()
            signed = self.sign(
                method, path, query, hdrs, payload_hash=digest, when=when, credentials=credentials
            )
            return self.send(method, signed.target, signed.headers, body, half_close=half_close)
        target = path + ("?" + canonical_query(query) if query else "")
        return self.send(method, target, hdrs.items(), body, half_close=half_close)

    def get_url(self, url: str, method: str = "GET") -> Response:
        """Send an unsigned request to a full URL on this endpoint (for presigned URLs)."""
        parts = urlsplit(url)
        target = parts.path + ("?" + parts.query if parts.query else "")
        headers = [("content-length", "0")] if method == "PUT" else []
        return self.send(method, target, headers)

    def put_expect_continue(
        self,
        path: str,
        data: bytes,
        *,
        wait: float = 5.0,
        headers: Mapping[str, str] | None = None,
        content_length: int | None = None,
        expect: str = "100-continue",
    ) -> tuple[int | None, Response]:
        """PUT with ``Expect: 100-continue``, sending the body only after the interim answer.

        Args:
            path: encoded object path.
            data: the body.
            wait: seconds to wait for ``100 Continue`` before sending the body anyway (as
                curl and the AWS CLI do).
            headers: extra headers to sign and send.
            content_length: announce this length instead of ``len(data)`` (the payload is then
                declared ``UNSIGNED-PAYLOAD``) and send no body at all; the final response is
                then whatever the server answers within ``wait`` (status 0 if nothing).

        Returns:
            The status of the first response line the server sent after the headers (100 for
            a proper interim response, None if it sent nothing within ``wait``), and the
            final response.
        """
        length = len(data) if content_length is None else content_length
        hdrs = dict(headers or {})
        hdrs.update({"content-length": str(length), "expect": expect})
        digest = hashlib.sha256(data).hexdigest() if content_length is None else UNSIGNED_PAYLOAD
        signed = self.sign("PUT", path, (), hdrs, payload_hash=digest)
        lines = [f"PUT {signed.target} HTTP/1.1"]
        lines += [f"{k}: {v}" for k, v in signed.headers]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode()
        with socket.create_connection((self._host, self._port), timeout=self.timeout) as sock:
            sock.sendall(head)
            sock.settimeout(wait)
            first: int | None = None
            try:
                interim = _read_head(sock)
                first = int(interim.split(b" ", 2)[1])
            except TimeoutError:
                interim = b""
            sock.settimeout(self.timeout)
            if first is not None and first != 100:
                # A final answer before the body: the server refused the upload up front.
                fields = _parse_headers(interim)
                body = _read_exact(sock, int(fields.get("content-length", "0")))
                return first, Response(first, fields, body)
            if length == len(data):
                sock.sendall(data)
            else:
                # Asked for a body we will not send: a final answer may still come at once.
                sock.settimeout(wait)
            resp = http.client.HTTPResponse(sock, method="PUT")
            try:
                resp.begin()
                body = resp.read()
            except (OSError, http.client.HTTPException):
                return first, Response(0, {}, b"")
            final = Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, body)
            return first, final

    # -- aws-chunked uploads -----------------------------------------------------------------

    def put_streaming_signed(
        self,
        path: str,
        data: bytes,
        *,
        chunk_size: int = 64 * 1024,
        corrupt_chunk: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """PUT ``data`` as ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD`` (one signature per chunk).

        Args:
            path: encoded object path.
            data: the decoded body.
            chunk_size: bytes of payload per chunk (the final empty chunk is added).
            corrupt_chunk: index of a chunk whose signature is replaced by a wrong one.
            headers: extra headers to sign and send.
        """
        chunks = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)] + [b""]
        framed_len = sum(len(_signed_chunk_frame(c, "0" * 64)) for c in chunks)
        hdrs = dict(headers or {})
        hdrs.update(
            {
                "content-encoding": "aws-chunked",
                "x-amz-decoded-content-length": str(len(data)),
                "content-length": str(framed_len),
            }
        )
        signed = self.sign("PUT", path, (), hdrs, payload_hash=STREAMING_SIGNED)
        frames: list[bytes] = []
        previous = signed.signature
        for index, chunk in enumerate(chunks):
            to_sign = "\n".join(
                [
                    "AWS4-HMAC-SHA256-PAYLOAD",
                    signed.amz_date,
                    signed.scope,
                    previous,
                    EMPTY_SHA256,
                    hashlib.sha256(chunk).hexdigest(),
                ]
            )
            signature = hmac.new(signed.key, to_sign.encode(), hashlib.sha256).hexdigest()
            previous = signature
            if index == corrupt_chunk:
                signature = ("0" if signature[0] != "0" else "1") + signature[1:]
            frames.append(_signed_chunk_frame(chunk, signature))
        return self.send("PUT", signed.target, signed.headers, frames)

    def put_unsigned_trailer(
        self,
        path: str,
        data: bytes,
        *,
        algorithm: str = "crc32",
        checksum_value: str | None = None,
        chunk_size: int = 64 * 1024,
    ) -> Response:
        """PUT ``data`` as ``STREAMING-UNSIGNED-PAYLOAD-TRAILER`` with a trailing checksum.

        ``checksum_value`` defaults to the correct checksum; pass another to send a bad one.
        """
        trailer_name = f"x-amz-checksum-{algorithm.lower()}"
        value = checksum_value if checksum_value is not None else checksum(algorithm, data)
        frames = [
            f"{len(data[i : i + chunk_size]):x}\r\n".encode() + data[i : i + chunk_size] + b"\r\n"
            for i in range(0, len(data), chunk_size)
        ]
        frames.append(f"0\r\n{trailer_name}:{value}\r\n\r\n".encode())
        hdrs = {
            "content-encoding": "aws-chunked",
            "x-amz-decoded-content-length": str(len(data)),
            "x-amz-trailer": trailer_name,
            "x-amz-sdk-checksum-algorithm": algorithm.upper(),
            "content-length": str(sum(len(f) for f in frames)),
        }
        signed = self.sign("PUT", path, (), hdrs, payload_hash=STREAMING_UNSIGNED_TRAILER)
        return self.send("PUT", signed.target, signed.headers, frames)

    def with_credentials(self, credentials: Credentials) -> RawClient:
        """Return a client for the same endpoint signing with other credentials."""
        return replace(self, credentials=credentials)


def _read_head(sock: socket.socket) -> bytes:
    """Read one response head (status line and headers) byte by byte, nothing beyond it."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)
        if not byte:
            raise ConnectionError("connection closed while reading a response head")
        head += byte
        if len(head) > 65536:
            raise ConnectionError("response head too large")
    return head


def _read_exact(sock: socket.socket, count: int) -> bytes:
    """Read ``count`` bytes, or fewer if the peer closes first."""
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _parse_headers(head: bytes) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            fields[name.strip().lower()] = value.strip()
    return fields


def _signed_chunk_frame(chunk: bytes, signature: str) -> bytes:
    return f"{len(chunk):x};chunk-signature={signature}\r\n".encode() + chunk + b"\r\n"
