"""A lightweight raw-HTTP S3 client for benchmarks: asyncio streams + a cached SigV4 signer.

SDK clients (boto3, aiobotocore) spend ~1 ms of client CPU per small request, which on a 2-core
machine is more than a fast server spends answering it. This client spends 0.15-0.25 ms (measured
on the benchmark machine, asyncio included): one persistent HTTP/1.1 connection per in-flight
slot, a hand-rolled response parser (Content-Length, chunked, HEAD), and header-auth SigV4 with
``UNSIGNED-PAYLOAD`` whose signing key is derived once per day. ``blocking_transfer`` moves
large bodies through a plain socket at ~0.2-0.4 CPU-s/GB.

Signatures are byte-for-byte those of ``gateway.s3.sigv4_client.sign_request`` (checked by
``Signer.self_check``), so every S3 server that accepts an AWS SDK accepts this client.

Concurrency: a ``Connection`` serves one request at a time (HTTP/1.1, no pipelining); give each
concurrent worker its own. ``Signer`` is immutable apart from a per-second date cache and is safe
to share between coroutines of one event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from gateway.s3.sigv4_canonical import signing_key
from gateway.s3.sigv4_client import sign_request

UNSIGNED = "UNSIGNED-PAYLOAD"
SIGNED_HEADERS = "host;x-amz-content-sha256;x-amz-date"
READ_LIMIT = 1 << 20  # StreamReader buffer limit; large bodies are read in pieces of this size
MAX_CHUNKS = 1 << 20  # most chunks (or trailer lines) accepted in one chunked response


def _q(value: str) -> str:
    return quote(value, safe="-_.~")


class Signer:
    """SigV4 header auth with ``UNSIGNED-PAYLOAD`` and the three headers AWS SDKs always sign."""

    def __init__(self, access_key: str, secret: str, region: str = "us-east-1") -> None:
        self.access_key = access_key
        self.secret = secret
        self.region = region
        self._second = -1
        self._amz_date = ""
        self._day = ""
        self._key = b""
        self._scope = ""

    def _refresh(self, now: float) -> None:
        second = int(now)
        if second == self._second:
            return
        self._second = second
        self._amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(second))
        day = self._amz_date[:8]
        if day != self._day:
            self._day = day
            self._key = signing_key(self.secret, day, self.region, "s3")
            self._scope = f"{day}/{self.region}/s3/aws4_request"

    def headers(
        self, method: str, path: str, query: Sequence[tuple[str, str]], host: str
    ) -> tuple[str, list[tuple[str, str]]]:
        """Return ``(encoded query string, headers)`` for a request on ``path`` (encoded)."""
        self._refresh(time.time())
        encoded = sorted((_q(k), _q(v)) for k, v in query)
        canonical_query = "&".join(f"{k}={v}" for k, v in encoded)
        canonical = (
            f"{method}\n{path}\n{canonical_query}\n"
            f"host:{host}\nx-amz-content-sha256:{UNSIGNED}\nx-amz-date:{self._amz_date}\n\n"
            f"{SIGNED_HEADERS}\n{UNSIGNED}"
        )
        to_sign = (
            f"AWS4-HMAC-SHA256\n{self._amz_date}\n{self._scope}\n"
            f"{hashlib.sha256(canonical.encode()).hexdigest()}"
        )
        signature = hmac.new(self._key, to_sign.encode(), hashlib.sha256).hexdigest()
        query_string = "&".join(f"{_q(k)}={_q(v)}" for k, v in query)
        return query_string, [
            ("Host", host),
            ("x-amz-content-sha256", UNSIGNED),
            ("x-amz-date", self._amz_date),
            (
                "Authorization",
                f"AWS4-HMAC-SHA256 Credential={self.access_key}/{self._scope}, "
                f"SignedHeaders={SIGNED_HEADERS}, Signature={signature}",
            ),
        ]

    def self_check(self) -> None:
        """Raise AssertionError unless our signature equals the gateway's reference signer."""
        host, path, query = "127.0.0.1:9", "/b/main/a%20b", [("list-type", "2"), ("prefix", "x/")]
        _, ours = self.headers("GET", path, query, host)
        amz_date = dict(ours)["x-amz-date"]
        now = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        ref = sign_request(
            method="GET",
            path=path,
            query=query,
            headers={"host": host},
            access_key=self.access_key,
            secret=self.secret,
            now=now,
            region=self.region,
        )
        assert dict(ours)["Authorization"] == ref.headers["authorization"], "SigV4 mismatch"


@dataclass(slots=True)
class Response:
    """A parsed response; ``body`` is empty when it was streamed to a sink or discarded."""

    status: int
    headers: dict[str, str]
    body: bytes
    received: int


class Connection:
    """One persistent HTTP/1.1 connection to ``host:port`` (reconnects when the server closes)."""

    def __init__(self, host: str, port: int, signer: Signer) -> None:
        self.host = host
        self.port = port
        self.authority = f"{host}:{port}"
        self.signer = signer
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection(
                self.host, self.port, limit=READ_LIMIT
            )
        return self._reader, self._writer

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self._writer.wait_closed()
        self._reader = self._writer = None

    async def request(
        self,
        method: str,
        path: str,
        query: Sequence[tuple[str, str]] = (),
        *,
        body: bytes | memoryview | Iterable[bytes | memoryview] | None = None,
        length: int | None = None,
        keep_body: bool = True,
        extra_headers: Sequence[tuple[str, str]] = (),
    ) -> Response:
        """Send one signed request and read the whole response.

        Args:
            path: Percent-encoded path (``/bucket/key``).
            body: Bytes, or an iterable of chunks streamed with flow control (then ``length``
                is required: the request is sent with Content-Length, never chunked).
            keep_body: When False the response body is read in pieces and discarded (only its
                size is kept): the streaming read for large GETs.
        """
        reader, writer = await self._connect()
        query_string, headers = self.signer.headers(method, path, query, self.authority)
        target = f"{path}?{query_string}" if query_string else path
        if isinstance(body, (bytes, memoryview)):
            length = len(body)
        lines = [f"{method} {target} HTTP/1.1"]
        lines += [f"{k}: {v}" for k, v in headers]
        lines += [f"{k}: {v}" for k, v in extra_headers]
        if length is not None:
            lines.append(f"Content-Length: {length}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode()
        if isinstance(body, (bytes, memoryview)) and len(body) <= 65536:
            writer.write(head + bytes(body))
        else:
            writer.write(head)
            if isinstance(body, (bytes, memoryview)):
                writer.write(body)
            elif body is not None:
                for chunk in body:
                    writer.write(chunk)
                    await writer.drain()
        await writer.drain()
        return await self._read_response(reader, method, keep_body)

    async def _read_response(
        self, reader: asyncio.StreamReader, method: str, keep_body: bool
    ) -> Response:
        raw = await reader.readuntil(b"\r\n\r\n")
        head_lines = raw.decode("latin-1").split("\r\n")
        status = int(head_lines[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in head_lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = b""
        received = 0
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            pass
        elif "content-length" in headers:
            n = int(headers["content-length"])
            if keep_body:
                body = await reader.readexactly(n)
                received = n
            else:
                while received < n:
                    piece = await reader.read(min(READ_LIMIT, n - received))
                    if not piece:
                        raise ConnectionError("connection closed mid-body")
                    received += len(piece)
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            parts: list[bytes] = []
            for _ in range(MAX_CHUNKS):  # bounded: a server streaming forever is an error
                size_line = await reader.readuntil(b"\r\n")
                size = int(size_line.split(b";", 1)[0], 16)
                if size == 0:
                    for _ in range(MAX_CHUNKS):  # trailers, up to the empty line
                        if await reader.readuntil(b"\r\n") == b"\r\n":
                            break
                    break
                chunk = await reader.readexactly(size + 2)
                received += size
                if keep_body:
                    parts.append(chunk[:-2])
            else:
                raise ConnectionError(f"more than {MAX_CHUNKS} chunks in one response")
            body = b"".join(parts)
        else:
            body = await reader.read()  # delimited by connection close
            received = len(body)
            await self.close()
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return Response(status=status, headers=headers, body=body, received=received)


def blocking_transfer(
    host: str,
    port: int,
    signer: Signer,
    method: str,
    path: str,
    *,
    body: Sequence[bytes | memoryview] = (),
    length: int = 0,
    timeout: float = 600.0,
) -> Response:
    """One large PUT (``body`` chunks, ``length`` bytes) or GET (body discarded) on a fresh
    blocking socket: ``sendall`` from the caller's buffers and ``recv_into`` one reused 1 MiB
    buffer, so the client adds no copies (0.2-0.4 CPU-s/GB here, against ~1.3 for asyncio streams).
    Run it in a thread (``asyncio.to_thread``); the GIL is released in the socket calls.
    Needs a Content-Length response (every S3 server answers PUT/GET with one).
    """
    authority = f"{host}:{port}"
    query_string, headers = signer.headers(method, path, (), authority)
    target = f"{path}?{query_string}" if query_string else path
    lines = [f"{method} {target} HTTP/1.1", *(f"{k}: {v}" for k, v in headers)]
    if method == "PUT":
        lines.append(f"Content-Length: {length}")
    lines.append("Connection: close")
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        for chunk in body:
            sock.sendall(chunk)
        buf = bytearray(READ_LIMIT)
        view = memoryview(buf)
        got = 0
        while (end := bytes(view[:got]).find(b"\r\n\r\n")) < 0:
            if got == len(buf):
                raise ConnectionError("response header too large")
            n = sock.recv_into(view[got:])
            if n == 0:
                raise ConnectionError("connection closed before the response header")
            got += n
        head_lines = bytes(view[:end]).decode("latin-1").split("\r\n")
        status = int(head_lines[0].split(" ", 2)[1])
        resp_headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in head_lines[1:] if line)
        }
        want = int(resp_headers.get("content-length", "0"))
        first = got - (end + 4)
        kept = bytes(view[end + 4 : got]) if method != "GET" else b""
        received = first
        while received < want:
            n = sock.recv_into(view)
            if n == 0:
                raise ConnectionError("connection closed mid-body")
            if method != "GET":
                kept += bytes(view[:n])
            received += n
        return Response(status=status, headers=resp_headers, body=kept, received=received)


def build_request(
    signer: Signer, authority: str, method: str, path: str, body: bytes = b""
) -> bytes:
    """One complete, signed HTTP/1.1 request (head and body) for ``FastConnection.send``.

    Signed when built: build them before the clock starts (a signature stays valid for 15 min).
    """
    query_string, headers = signer.headers(method, path, (), authority)
    target = f"{path}?{query_string}" if query_string else path
    lines = [f"{method} {target} HTTP/1.1", *(f"{k}: {v}" for k, v in headers)]
    if body or method == "PUT":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class _ResponseProtocol(asyncio.Protocol):
    """Collects one response at a time: status and body length, from Content-Length."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[tuple[int, int]] | None = None
        self.head_only = False
        self.error: BaseException | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: BaseException | None) -> None:
        self.error = exc or ConnectionError("connection closed by the server")
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(self.error)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buf[:end]).lower()
        status = int(head[9:12])
        need = 0
        if not self.head_only:
            at = head.find(b"\r\ncontent-length:")
            if at < 0:
                waiter.set_exception(ConnectionError("FastConnection needs Content-Length"))
                return
            stop = head.find(b"\r\n", at + 2)
            need = int(head[at + 17 : stop if stop >= 0 else None])
        total = end + 4 + need
        if len(self.buf) < total:
            return
        del self.buf[:total]
        waiter.set_result((status, need))


class FastConnection:
    """One keep-alive connection sending pre-built requests (``build_request``) and reading the
    answers with a bare ``asyncio.Protocol``: no per-request signing, no StreamReader. A few
    tens of microseconds of client CPU per small request, so that on a 2-core machine the client
    does not take the CPU a second server worker needs (``bench/s3.py --workers``).
    """

    def __init__(self, transport: asyncio.Transport, protocol: _ResponseProtocol) -> None:
        self._transport = transport
        self._protocol = protocol

    @classmethod
    async def open(cls, host: str, port: int) -> FastConnection:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_connection(_ResponseProtocol, host, port)
        return cls(transport, protocol)

    async def send(self, request: bytes, *, head: bool = False) -> tuple[int, int]:
        """Send one request; return (status, body bytes received). ``head``: a HEAD request."""
        p = self._protocol
        if p.error is not None:
            raise p.error
        p.head_only = head
        p.waiter = asyncio.get_running_loop().create_future()
        self._transport.write(request)
        return await p.waiter

    def close(self) -> None:
        self._transport.close()


def encode_key_path(bucket: str, key: str) -> str:
    """``/bucket/key`` percent-encoded as AWS SDKs do (``/`` kept)."""
    return "/" + quote(bucket, safe="") + "/" + quote(key, safe="/~")


__all__ = [
    "Connection",
    "FastConnection",
    "Response",
    "Signer",
    "blocking_transfer",
    "build_request",
    "encode_key_path",
]
