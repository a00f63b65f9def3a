"""An HTTP proxy for tests that breaks connections in the middle of GET response bodies.

It forwards every request to ``upstream`` (a moto server: it ignores SigV4, so the changed Host
does not matter) and, for the first ``cut_gets`` GETs that answer 200/206, sends ``cut_after``
bytes of the body and then closes the connection, as a flaky network or a restarting S3 node
would. Test-only: request bodies are read whole.
"""

from __future__ import annotations

from aiohttp import ClientSession, web

_HOP_BY_HOP = {"host", "connection", "keep-alive", "transfer-encoding", "content-length"}


class FaultyProxy:
    """Start with ``await proxy.start()`` (returns the endpoint URL); stop with ``close()``."""

    def __init__(self, upstream: str, *, cut_gets: int, cut_after: int) -> None:
        self.upstream = upstream.rstrip("/")
        self.cuts_left = cut_gets
        self.cuts_done = 0
        self.cut_after = cut_after
        self._session: ClientSession | None = None
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        self._session = ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=1 << 30)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        body = await request.read()
        async with self._session.request(
            request.method, self.upstream + request.path_qs, headers=headers, data=body
        ) as upstream:
            resp = web.StreamResponse(status=upstream.status)
            for k, v in upstream.headers.items():
                if k.lower() not in _HOP_BY_HOP - {"content-length"}:
                    resp.headers[k] = v
            await resp.prepare(request)
            cut = request.method == "GET" and upstream.status in (200, 206) and self.cuts_left > 0
            if cut:
                self.cuts_left -= 1
            sent = 0
            async for chunk in upstream.content.iter_chunked(64 * 1024):
                if cut and sent + len(chunk) >= self.cut_after:
                    await resp.write(chunk[: self.cut_after - sent])
                    self.cuts_done += 1
                    assert request.transport is not None
                    request.transport.close()  # mid-body: the client sees a short read
                    return resp
                await resp.write(chunk)
                sent += len(chunk)
            await resp.write_eof()
            return resp
