"""A minimal raw-HTTP SigV4 client for requests SDKs never send (edge cases, bad input)."""

from __future__ import annotations

import hashlib
import http.client
import re
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.s3 import sigv4
from tests.functional.conftest import WeirServer

_CODE = re.compile(rb"<Code>([^<]*)</Code>")


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def code(self) -> str | None:
        match = _CODE.search(self.body)
        return match.group(1).decode() if match else None


def sign(
    server: WeirServer,
    method: str,
    path: str,
    *,
    query: Sequence[tuple[str, str]] = (),
    headers: Mapping[str, str] | None = None,
    payload_hash: str = sigv4.UNSIGNED_PAYLOAD,
    presign_expires: int | None = None,
    now: datetime | None = None,
    secret: str | None = None,
    access_key: str | None = None,
) -> sigv4.SignedRequest:
    """Sign a request for ``server`` (``path`` already percent-encoded)."""
    all_headers = {"host": server.hostport, **(headers or {})}
    return sigv4.sign_request(
        method=method,
        path=path,
        query=query,
        headers=all_headers,
        access_key=access_key or server.access_key,
        secret=secret or server.secret_key,
        now=now or datetime.now(UTC),
        payload_hash=payload_hash,
        presign_expires=presign_expires,
    )


def send_signed(
    server: WeirServer, method: str, signed: sigv4.SignedRequest, body: bytes = b""
) -> RawResponse:
    headers = dict(signed.headers)
    return send_raw(server, method, signed.url_path, headers=headers, body=body)


def send_raw(
    server: WeirServer,
    method: str,
    url_path: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
) -> RawResponse:
    """Send exactly this request (no signing) and read the whole response."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        conn.putrequest(method, url_path, skip_host=True, skip_accept_encoding=True)
        sent = {k.lower() for k in (headers or {})}
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        if "host" not in sent:
            conn.putheader("Host", server.hostport)
        if "content-length" not in sent and (body or method in ("PUT", "POST")):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body or None)
        response = conn.getresponse()
        data = response.read()
        return RawResponse(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        conn.close()


def request(
    server: WeirServer,
    method: str,
    path: str,
    *,
    query: Sequence[tuple[str, str]] = (),
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    signed_payload: bool = True,
) -> RawResponse:
    """Sign (header auth) and send; the payload hash is the body's SHA-256 unless unsigned."""
    payload_hash = hashlib.sha256(body).hexdigest() if signed_payload else sigv4.UNSIGNED_PAYLOAD
    signed = sign(server, method, path, query=query, headers=headers, payload_hash=payload_hash)
    return send_signed(server, method, signed, body)


def send_truncated(
    server: WeirServer, signed: sigv4.SignedRequest, method: str, declared: int, body: bytes
) -> bytes:
    """Declare ``declared`` bytes, send ``body`` (shorter), half-close; return what came back."""
    lines = [f"{method} {signed.url_path} HTTP/1.1"]
    lines += [f"{k}: {v}" for k, v in signed.headers.items()]
    lines += [f"Content-Length: {declared}", "Connection: close", "", ""]
    with socket.create_connection((server.host, server.port), timeout=30) as sock:
        sock.sendall("\r\n".join(lines).encode() + body)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received
