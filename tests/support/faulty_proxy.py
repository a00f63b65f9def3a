"""An HTTP proxy for tests that injects object-store faults between a client and a real S3 server.

It forwards every request to ``upstream`` and, for requests matching a ``Fault`` rule, misbehaves
the way a failing store or network does:

* ``status``  -- answer an S3 error document (e.g. 503 SlowDown, 500 InternalError) instead;
* ``delay``   -- wait ``seconds`` before forwarding (a slow store);
* ``reset``   -- read ``after`` bytes of the request body, then drop the connection (a reset in
  the middle of an upload);
* ``cut``     -- send ``after`` bytes of the response body, then close the connection (a read
  that stops half-way);
* ``stall``   -- send ``after`` bytes of the response body, then send nothing more (a read that
  hangs half-way until the client's timeout);
* ``refuse``  -- close the connection without an answer.

``down = True`` refuses every request (the store is unreachable). Each rule fires for its next
``count`` matching requests. The proxy keeps the client's ``Host`` header, so SigV4 signatures
made for the proxy's address verify upstream (SeaweedFS checks them; moto ignores them).
Test-only: request bodies are read whole before forwarding.

Start with ``await proxy.start()`` (returns the endpoint URL; pass ``port=`` to reuse a port after
``close()``), stop with ``close()``. Single event loop. Run it in a thread of its own with
``ProxyThread`` when the client under test is another process.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

from aiohttp import ClientSession, ClientTimeout, web

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


@dataclass
class Fault:
    """Misbehave on the next ``count`` requests whose method is ``method`` (any when "") and
    whose path and query contain ``match``."""

    kind: str  # status | delay | reset | cut | stall | refuse
    method: str = ""
    match: str = ""
    count: int = 1
    status: int = 503
    code: str = "SlowDown"
    seconds: float = 0.0
    after: int = 0
    fired: int = 0

    def matches(self, request: web.Request) -> bool:
        if self.fired >= self.count:
            return False
        if self.method and request.method != self.method:
            return False
        return self.match in request.path_qs


@dataclass
class FaultyProxy:
    """See the module docstring."""

    upstream: str
    faults: list[Fault] = field(default_factory=list)
    down: bool = False
    cut_gets: int = 0  # legacy shorthand: cut the next N GET bodies after ``cut_after`` bytes
    cut_after: int = 0
    cuts_done: int = 0
    requests: int = 0
    _session: ClientSession | None = None
    _runner: web.AppRunner | None = None
    _stalled: list[asyncio.Event] = field(default_factory=list)

    @property
    def cuts_left(self) -> int:
        return self.cut_gets

    @cuts_left.setter
    def cuts_left(self, value: int) -> None:
        self.cut_gets = value

    def inject(self, fault: Fault) -> Fault:
        self.faults.append(fault)
        return fault

    def clear(self) -> None:
        self.faults.clear()
        self.down = False
        for event in self._stalled:
            event.set()

    async def start(self, port: int = 0) -> str:
        self.upstream = self.upstream.rstrip("/")
        self._session = ClientSession(auto_decompress=False, timeout=ClientTimeout(total=None))
        app = web.Application(client_max_size=1 << 30)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port, reuse_address=True)
        await site.start()
        bound = self._runner.addresses[0][1]
        return f"http://127.0.0.1:{bound}"

    async def close(self) -> None:
        for event in self._stalled:
            event.set()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def _fault_for(self, request: web.Request) -> Fault | None:
        for fault in self.faults:
            if fault.matches(request):
                fault.fired += 1
                return fault
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        self.requests += 1
        fault = self._fault_for(request)
        if self.down or (fault is not None and fault.kind == "refuse"):
            _drop(request)
            return web.Response(status=503)  # never sent: the connection is gone
        if fault is not None and fault.kind == "status":
            await request.read()
            body = (
                f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{fault.code}</Code>'
                f"<Message>injected by the test proxy</Message></Error>"
            )
            return web.Response(status=fault.status, text=body, content_type="application/xml")
        if fault is not None and fault.kind == "delay":
            await asyncio.sleep(fault.seconds)  # the slow store being simulated
        if fault is not None and fault.kind == "reset":
            await request.content.readexactly(min(fault.after, request.content_length or 0))
            _drop(request)
            return web.Response(status=503)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        body = await request.read()
        async with self._session.request(
            request.method,
            self.upstream + request.path_qs,
            headers=headers,
            data=body,
            allow_redirects=False,
        ) as upstream:
            resp = web.StreamResponse(status=upstream.status)
            for k, v in upstream.headers.items():
                if k.lower() not in _HOP_BY_HOP - {"content-length"}:
                    resp.headers[k] = v
            await resp.prepare(request)
            ok = upstream.status in (200, 206)
            cut_after: int | None = None
            if fault is not None and fault.kind in ("cut", "stall") and ok:
                cut_after = fault.after
            elif request.method == "GET" and ok and self.cut_gets > 0:
                self.cut_gets -= 1
                cut_after = self.cut_after
            sent = 0
            async for chunk in upstream.content.iter_chunked(64 * 1024):
                if cut_after is not None and sent + len(chunk) >= cut_after:
                    await resp.write(chunk[: cut_after - sent])
                    self.cuts_done += 1
                    if fault is not None and fault.kind == "stall":
                        event = asyncio.Event()
                        self._stalled.append(event)
                        await event.wait()  # until the test clears faults or closes the proxy
                    _drop(request)  # mid-body: the client sees a short read
                    return resp
                await resp.write(chunk)
                sent += len(chunk)
            await resp.write_eof()
            return resp


def _drop(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.abort()


class ProxyThread:
    """A ``FaultyProxy`` served by an event loop in a thread of its own, for tests whose client
    is another process (a Weir server). ``call(fn)`` runs ``fn(proxy)`` on the proxy's loop."""

    def __init__(self, upstream: str) -> None:
        self.proxy = FaultyProxy(upstream)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.endpoint = self._run(self.proxy.start())

    def _run(self, coro: object) -> str:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)  # type: ignore[arg-type]
        result: str = future.result(timeout=30)
        return result

    def inject(self, fault: Fault) -> Fault:
        self._loop.call_soon_threadsafe(self.proxy.faults.append, fault)
        return fault

    def set_down(self, down: bool) -> None:
        self._loop.call_soon_threadsafe(setattr, self.proxy, "down", down)

    def clear(self) -> None:
        self._loop.call_soon_threadsafe(self.proxy.clear)

    def close(self) -> None:
        async def stop() -> str:
            await self.proxy.close()
            return ""

        self._run(stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
