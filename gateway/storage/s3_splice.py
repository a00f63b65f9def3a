"""GET bodies moved from the object store's socket to the client's socket inside the kernel.

For a store reached over plain HTTP (SeaweedFS, MinIO or Ceph inside a cluster), a large GET
through Weir costs two copies per byte in Python (store socket -> Weir -> client socket), which
on a 2-core machine competes with the store itself: measured at 0.5-0.65x of the store's direct
throughput (docs/decisions/0020-s3-streaming-layout.md). Here the request and the response head
are handled in Python, then ``splice(2)`` moves the body store-socket -> pipe -> client-socket
without the bytes entering user space (~0.2 CPU-s/GB instead of ~0.7). Over HTTPS the bytes must
be decrypted and re-encrypted anyway: the ordinary streaming path is used.

The HTTP exchange with the store is deliberately minimal: one GET per connection (``Connection:
close``), SigV4-signed headers from ``DataClient``, a response with ``Content-Length``. Anything
unexpected (no length, chunked encoding) falls back to the ordinary path before a byte is sent.
A body that breaks or stalls half-way is resumed with a new ranged GET from the last byte moved,
like ``S3BlobStore.read``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import select
import socket
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlsplit

from gateway.core.errors import StorageError

T = TypeVar("T")
F_SETPIPE_SZ = 1031
PIPE_SIZE = 1 << 20
HEAD_LIMIT = 64 << 10
#: A client that takes nothing for this long is gone.
CLIENT_STALL = 120.0


class Unsupported(Exception):
    """The store's answer cannot be spliced (no Content-Length, chunked): read it normally."""


@dataclass
class RawResponse:
    """A store's response head, read; ``sock`` is positioned at the body (``prefix`` holds the
    body bytes that arrived with the head)."""

    status: int
    headers: dict[str, str]
    sock: socket.socket
    prefix: bytes = b""
    error_body: bytes = field(default=b"", repr=False)

    def close(self) -> None:
        self.sock.close()


def open_raw(
    url: str, headers: dict[str, str], connect_timeout: float, read_timeout: float
) -> RawResponse:
    """Blocking (run it in a thread): send a GET, read the response head. For a non-2xx answer
    the (small) error body is read too and the socket closed."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or 80
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    sock = socket.create_connection((host, port), timeout=connect_timeout)
    try:
        sock.settimeout(read_timeout)
        lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() != "host"]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        buf = b""
        while (end := buf.find(b"\r\n\r\n")) < 0:
            if len(buf) > HEAD_LIMIT:
                raise Unsupported("response head too large")
            more = sock.recv(65536)
            if not more:
                raise ConnectionResetError("the store closed the connection before answering")
            buf += more
        head = buf[:end].decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        hdrs = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in head[1:])}
        prefix = buf[end + 4 :]
        response = RawResponse(status, hdrs, sock, prefix)
        if status >= 300:
            want = int(hdrs.get("content-length", "0") or 0)
            body = prefix
            while len(body) < min(want, HEAD_LIMIT):
                more = sock.recv(65536)
                if not more:
                    break
                body += more
            response.error_body = body
            sock.close()
        elif "content-length" not in hdrs or "chunked" in hdrs.get("transfer-encoding", ""):
            raise Unsupported("no Content-Length")
        return response
    except BaseException:
        sock.close()
        raise


def splice_body(src: socket.socket, dst_fd: int, length: int, read_timeout: float) -> int:
    """Blocking (run it in a thread): move up to ``length`` bytes from ``src`` to ``dst_fd``
    through a pipe. Returns how many bytes reached ``dst_fd``; stops early (returns fewer) when
    the store's side ends, breaks or stalls longer than ``read_timeout``. Raises ConnectionError
    when the client's side fails or stalls for good.

    Two threads, one per side: this one drains the pipe into the client while a filler thread
    keeps pulling from the store, so neither side waits for the other (one thread doing both
    measured ~0.75x of the store's direct rate; the kernel does the copying either way)."""
    src.setblocking(False)
    r, w = os.pipe()  # blocking ends: a full or empty pipe waits, the sockets do not
    with contextlib.suppress(OSError):  # the default pipe size works too, with more syscalls
        fcntl.fcntl(w, F_SETPIPE_SZ, PIPE_SIZE)
    filler = threading.Thread(
        target=_fill, args=(src.fileno(), w, length, read_timeout), daemon=True
    )
    filler.start()
    poller = select.poll()
    moved = 0
    finished = False
    try:
        while moved < length:
            try:
                n = os.splice(r, dst_fd, PIPE_SIZE, flags=os.SPLICE_F_MOVE)
            except BlockingIOError:  # the client's socket is full
                if not _wait(poller, dst_fd, select.POLLOUT, CLIENT_STALL):
                    raise ConnectionResetError("the client stopped reading") from None
                continue
            if n == 0:
                break  # the filler stopped (end, break or stall of the store) and all is out
            moved += n
        finished = True
        return moved
    finally:
        if not finished:
            with contextlib.suppress(OSError):
                src.shutdown(socket.SHUT_RD)  # wakes a filler waiting for the store
        os.close(r)  # a filler blocked on a full pipe gets EPIPE
        filler.join()


def _fill(src_fd: int, w: int, length: int, read_timeout: float) -> None:
    """The filler thread: store socket -> pipe until ``length`` bytes, an end, an error or a
    stall of ``read_timeout``; closing the pipe's write end tells the drainer."""
    poller = select.poll()
    read = 0
    try:
        while read < length:
            try:
                n = os.splice(src_fd, w, min(PIPE_SIZE, length - read), flags=os.SPLICE_F_MOVE)
            except BlockingIOError:  # nothing from the store yet
                if not _wait(poller, src_fd, select.POLLIN, read_timeout):
                    return  # stalled: the caller resumes with a new request
                continue
            except OSError:
                return  # reset by the store, or the drainer is gone
            if n == 0:
                return
            read += n
    finally:
        os.close(w)


def _wait(poller: select.poll, fd: int, event: int, timeout: float) -> bool:
    poller.register(fd, event)
    try:
        return bool(poller.poll(timeout * 1000))
    finally:
        poller.unregister(fd)


@dataclass
class SpliceSource:
    """An opened ranged GET whose body can be moved into a socket (``S3BlobStore.open_splice``):
    the store has answered (a failure to do so was raised by the opener), no byte is sent yet."""

    length: int  # body bytes
    _response: RawResponse
    _reopen: Callable[[int, int], Awaitable[RawResponse]]  # (offset in body, bytes) -> response
    _read_timeout: float
    _resumes: int
    what: str

    async def splice_to(self, fd: int) -> None:
        """Move the body into ``fd`` (a connected, non-blocking socket): ``prefix`` first, then
        the rest in the kernel. Resumes a broken store connection up to ``_resumes`` times;
        raises StorageError after that, or ConnectionError when the client goes away."""
        response = self._response
        done = 0
        resumes = 0
        try:
            while True:
                if response.prefix:
                    await _in_thread(response.sock, fd, _send_all, fd, response.prefix)
                    done += len(response.prefix)
                    response.prefix = b""
                if done < self.length:
                    left = self.length - done
                    done += await _in_thread(
                        response.sock, fd, splice_body, response.sock, fd, left, self._read_timeout
                    )
                if done >= self.length:
                    return
                response.close()
                resumes += 1
                if resumes > self._resumes:
                    raise StorageError(
                        f"object store {self.what} broke off {resumes} times at byte {done}"
                    )
                response = await self._reopen(done, self.length - done)
        finally:
            response.close()
            self._response.close()

    def close(self) -> None:
        self._response.close()


async def _in_thread(src: socket.socket, fd: int, fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)`` in a worker thread, moving bytes from ``src`` to ``fd``. If the caller is
    cancelled, both connections are shut down (which ends the thread at once) and the thread is
    waited for before the cancellation goes on: no descriptor is closed while it is in use."""
    job = asyncio.ensure_future(asyncio.to_thread(fn, *args))
    try:
        return await asyncio.shield(job)
    except asyncio.CancelledError:
        with contextlib.suppress(OSError):
            src.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            dst = socket.socket(fileno=os.dup(fd))
            try:
                dst.shutdown(socket.SHUT_RDWR)
            finally:
                dst.close()
        with contextlib.suppress(BaseException):
            await job
        raise


def _send_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    poller = select.poll()
    while view:
        try:
            n = os.write(fd, view)
            view = view[n:]
        except BlockingIOError:
            if not _wait(poller, fd, select.POLLOUT, CLIENT_STALL):
                raise ConnectionResetError("the client stopped reading") from None
