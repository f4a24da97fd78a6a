"""The HTTP client handed to AG2's (synchronous) OpenAI client: its requests run on the
run's event loop, so cancelling a stream cancels the request itself and AG2's worker thread
returns at once instead of blocking exit until the response comes."""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any

import httpx

from massgen.backends.http_client import shared_ssl_context

#: Headers that describe the body as sent, not the decoded body handed on.
_BODY_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class LoopTransport(httpx.BaseTransport):
    """Sends each request through an ``httpx.AsyncClient`` on ``loop``."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None
        self._pending: set[concurrent.futures.Future[httpx.Response]] = set()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.loop is None or self.loop.is_closed():
            raise httpx.ConnectError("no event loop to send the request on", request=request)
        future = asyncio.run_coroutine_threadsafe(self._send(request), self.loop)
        self._pending.add(future)
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            raise httpx.ReadError("the request was cancelled", request=request) from None
        finally:
            self._pending.discard(future)

    async def _send(self, request: httpx.Request) -> httpx.Response:
        if self._client is None:
            self._client = httpx.AsyncClient(verify=shared_ssl_context(), timeout=None)
        forwarded = httpx.Request(
            request.method,
            request.url,
            headers=request.headers,
            content=request.read(),
            extensions=request.extensions,  # the SDK's timeout
        )
        response = await self._client.send(forwarded)
        try:
            body = await response.aread()
        finally:
            await response.aclose()
        headers = [(k, v) for k, v in response.headers.items() if k.lower() not in _BODY_HEADERS]
        return httpx.Response(response.status_code, headers=headers, content=body)

    def cancel(self) -> None:
        """Cancel every request in flight (their threads get a ``ReadError``)."""
        for future in list(self._pending):
            future.cancel()

    async def aclose(self) -> None:
        self.cancel()
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()


class LoopClient(httpx.Client):
    """An ``httpx.Client`` on a :class:`LoopTransport`. AG2 deep-copies ``llm_config``; the
    copies share this client (as AG2's documentation asks of an ``http_client``)."""

    def __init__(self, transport: LoopTransport, **kwargs: Any) -> None:
        super().__init__(transport=transport, **kwargs)
        self.loop_transport = transport

    def __deepcopy__(self, memo: dict[int, Any]) -> LoopClient:
        return self
