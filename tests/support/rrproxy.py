"""A round-robin HTTP/1.1 load balancer for tests: each request goes to the next backend.

It stands in front of several Weir gateways the way a load balancer does, and passes bytes
through untouched: the request line, the headers (``Host`` included, so SigV4 signatures stay
valid), the body exactly as sent (by ``Content-Length`` or chunked), and the answer back, with
interim ``100 Continue`` answers. It parses only what it needs to find where a request and a
response end. Each request gets a fresh connection to its backend; a client connection is kept
alive across requests, which therefore land on different gateways in turn.

    proxy = RoundRobinProxy(["127.0.0.1:9001", "127.0.0.1:9002"])
    endpoint = proxy.start()          # "http://127.0.0.1:PORT"
    ...
    proxy.stop()

Runs its own event loop in a daemon thread; ``served`` counts requests per backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections import Counter

_HEAD_LIMIT = 1 << 16
_COPY = 1 << 16


class _Closed(Exception):
    """A peer closed its connection in the middle of a message."""


async def _read_head(reader: asyncio.StreamReader) -> bytes | None:
    """One message head (start line and headers, with the blank line), or None at a clean EOF."""
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise _Closed from exc
    except asyncio.LimitOverrunError as exc:
        raise _Closed from exc


def _headers(head: bytes) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in head.split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if sep:
            out.setdefault(name.strip().lower().decode("latin-1"), []).append(
                value.strip().decode("latin-1")
            )
    return out


def _framing(headers: dict[str, list[str]]) -> tuple[str, int]:
    """("chunked", 0), ("length", n), or ("none", 0) / ("eof", 0) decided by the caller."""
    if any("chunked" in v.lower() for v in headers.get("transfer-encoding", [])):
        return "chunked", 0
    lengths = headers.get("content-length", [])
    if lengths:
        try:
            return "length", int(lengths[0])
        except ValueError:
            return "length", 0
    return "none", 0


async def _copy_exact(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
    while n > 0:
        chunk = await reader.read(min(n, _COPY))
        if not chunk:
            raise _Closed
        writer.write(chunk)
        await writer.drain()
        n -= len(chunk)


async def _copy_chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        line = await reader.readuntil(b"\r\n")
        writer.write(line)
        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while True:  # trailers, then the blank line
                trailer = await reader.readuntil(b"\r\n")
                writer.write(trailer)
                if trailer == b"\r\n":
                    await writer.drain()
                    return
        await _copy_exact(reader, writer, size + 2)


async def _copy_body(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, framing: tuple[str, int]
) -> None:
    kind, n = framing
    if kind == "chunked":
        await _copy_chunked(reader, writer)
    elif kind == "length":
        await _copy_exact(reader, writer, n)


async def _upload(
    creader: asyncio.StreamReader, bwriter: asyncio.StreamWriter, framing: tuple[str, int]
) -> None:
    """The request body to the backend; a client that half-closes early half-closes it too."""
    try:
        await _copy_body(creader, bwriter, framing)
    except (_Closed, asyncio.IncompleteReadError):
        with contextlib.suppress(Exception):
            bwriter.write_eof()
        raise


class RoundRobinProxy:
    """Round-robin HTTP/1.1 pass-through proxy on 127.0.0.1 (a free port)."""

    def __init__(self, backends: list[str]) -> None:
        self.backends = list(backends)  # "host:port"
        self.served: Counter[str] = Counter()
        self._next = itertools.cycle(self.backends)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self.port = 0

    def start(self) -> str:
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        fut.result(timeout=30)
        return f"http://127.0.0.1:{self.port}"

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0, limit=_HEAD_LIMIT)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    async def _client(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await _read_head(creader)
                if head is None:
                    return
                if not await self._one(head, creader, cwriter):
                    return
        except (_Closed, ConnectionError, asyncio.IncompleteReadError, ValueError):
            return
        finally:
            cwriter.close()
            with contextlib.suppress(Exception):
                await cwriter.wait_closed()

    async def _one(
        self, head: bytes, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter
    ) -> bool:
        """Relay one request and its response; return whether the client connection lives on."""
        method = head.split(b" ", 1)[0].upper()
        backend = next(self._next)
        self.served[backend] += 1
        host, port = backend.rsplit(":", 1)
        breader, bwriter = await asyncio.open_connection(host, int(port), limit=_HEAD_LIMIT)
        try:
            bwriter.write(head)
            await bwriter.drain()
            upload = asyncio.ensure_future(_upload(creader, bwriter, _framing(_headers(head))))
            keep = await self._relay_response(method, breader, cwriter)
            if not upload.done():
                # The backend answered before reading the whole body (an early error): the
                # client's connection is out of step now; close it, as the backend would.
                upload.cancel()
                with contextlib.suppress(BaseException):
                    await upload
                return False
            with contextlib.suppress(_Closed, ConnectionError, asyncio.IncompleteReadError):
                await upload
            return keep and upload.exception() is None
        finally:
            bwriter.close()
            with contextlib.suppress(Exception):
                await bwriter.wait_closed()

    async def _relay_response(
        self, method: bytes, breader: asyncio.StreamReader, cwriter: asyncio.StreamWriter
    ) -> bool:
        while True:
            head = await _read_head(breader)
            if head is None:
                return False
            cwriter.write(head)
            await cwriter.drain()
            status = int(head.split(b" ", 2)[1])
            if 100 <= status < 200:
                continue  # interim (100 Continue): the final answer follows
            headers = _headers(head)
            close = any("close" in v.lower() for v in headers.get("connection", []))
            if method == b"HEAD" or status in (204, 304):
                return not close
            framing = _framing(headers)
            if framing[0] == "none":
                while chunk := await breader.read(_COPY):  # until the backend closes
                    cwriter.write(chunk)
                    await cwriter.drain()
                return False
            await _copy_body(breader, cwriter, framing)
            return not close
