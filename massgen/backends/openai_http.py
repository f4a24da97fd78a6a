"""The base of backends that speak OpenAI's HTTP APIs themselves (Chat Completions, Responses,
Azure): one POST per call, JSON or server-sent events back, errors mapped onto
:mod:`massgen.backends.errors`.

These protocols are small, and the ``openai`` SDK costs half a second to import on the way to
a run's first request; so they are spoken here over a pooled ``httpx`` client
(:mod:`massgen.backends.http_pool`). The fakes in ``tests/fakes`` check their wire format
against the SDK's own types. See docs/architecture.md, "Backends".
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import httpx

from massgen.__about__ import __version__
from massgen.backends import http_pool
from massgen.backends.base import Backend
from massgen.backends.errors import BackendConnectionError, BackendError, ProviderError
from massgen.backends.http_errors import message_and_code, status_error
from massgen.messages import Chunk, Message, ToolSpec

if TYPE_CHECKING:
    from massgen.config.schema import BackendConfig
    from massgen.tools.lending import AgentTurn


async def sse_data(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """The ``data`` of each server-sent event (multi-line data joined; comments skipped)."""
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
                data = []
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    if data:
        yield "\n".join(data)


#: What a request meets on a connection the server closed before answering it.
CLOSED_UNANSWERED = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)

ACCOUNT_HEADERS = (
    ("OpenAI-Organization", "OPENAI_ORG_ID"),
    ("OpenAI-Project", "OPENAI_PROJECT_ID"),
)


class Fields(SimpleNamespace):
    """A decoded JSON object read by attribute; a field the object lacks reads as None (as
    an SDK model's unset optional field does)."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return None


def decode(text: str | bytes) -> Any:
    """JSON with its objects as :class:`Fields`."""
    return json.loads(text, object_hook=lambda d: Fields(**d))


class OpenAIHTTPBackend(Backend):
    """A backend on one OpenAI-style endpoint. Subclasses give :meth:`url`,
    :meth:`request_params`, ``_streamed`` and ``_complete``; :meth:`call` does the rest."""

    def __init__(self, config: BackendConfig, api_key: str | None = None) -> None:
        super().__init__(config, api_key)
        self._client_loop: asyncio.AbstractEventLoop | None = None

    @property
    def provider(self) -> str:
        return self.config.type

    # ---- what subclasses give

    def url(self) -> str:
        raise NotImplementedError

    def request_params(
        self,
        messages: list[Message],
        tools: list[ToolSpec] | None = None,
        response_format: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The request's JSON fields (``extra_body``'s go to the top level)."""
        raise NotImplementedError

    def _streamed(self, params: dict[str, Any]) -> AsyncGenerator[Chunk, None]:
        raise NotImplementedError

    def _complete(self, params: dict[str, Any]) -> AsyncGenerator[Chunk, None]:
        raise NotImplementedError

    # ---- the wire: where requests go and with what headers (Azure changes these)

    #: Whether requests go to OpenAI's own service, which reads the account headers
    #: (``OPENAI_ORG_ID``, ``OPENAI_PROJECT_ID``, as the SDK sends them).
    @property
    def openai_account(self) -> bool:
        return False

    def query(self) -> dict[str, str]:
        return {}

    def headers(self) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"massgen/{__version__}",
        }
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        if self.openai_account:
            for header, variable in ACCOUNT_HEADERS:
                if os.environ.get(variable):
                    headers[header] = os.environ[variable]
        return headers

    def body(self, params: dict[str, Any]) -> bytes:
        """The request's JSON: ``params`` with ``extra_body``'s fields at the top level."""
        body = {k: v for k, v in params.items() if k != "extra_body"}
        body.update(params.get("extra_body") or {})
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()

    @property
    def client(self) -> httpx.AsyncClient:
        """The running loop's pooled client for this endpoint (leased on first use)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            self._client, self._client_loop = http_pool.lease(self.base_url), loop
        return self._client

    async def _close_client(self, client: Any) -> None:
        if self._client_loop is asyncio.get_running_loop():
            http_pool.release(client, self.base_url)

    # ---- one call

    async def stream(
        self,
        messages: list[Message],
        tools: list[ToolSpec] | None = None,
        *,
        response_format: dict[str, Any] | None = None,
        turn: AgentTurn | None = None,
    ) -> AsyncGenerator[Chunk, None]:
        async with aclosing(self.call(messages, tools, response_format)) as chunks:
            async for chunk in chunks:
                yield chunk

    async def call(
        self,
        messages: list[Message],
        tools: list[ToolSpec] | None,
        response_format: dict[str, Any] | None,
    ) -> AsyncGenerator[Chunk, None]:
        """One request, streamed or not, its transport errors mapped onto massgen's."""
        params = self.request_params(messages, tools, response_format)
        call = self._streamed(params) if self.config.stream else self._complete(params)
        try:
            async with aclosing(call) as chunks:  # close now, not at garbage collection
                async for chunk in chunks:
                    yield chunk
        except BackendError:
            raise
        except httpx.TimeoutException:
            raise self.timeout_error(self.provider) from None
        except json.JSONDecodeError as exc:
            raise ProviderError(
                f"malformed data in the stream: {exc.msg}", provider=self.provider
            ) from exc
        except httpx.HTTPError as exc:  # could not connect, or the connection dropped
            raise self.connection_error(exc, self.provider) from exc

    async def send(self, params: dict[str, Any], *, stream: bool) -> httpx.Response:
        """POST one request; a response with an error status is raised as its error."""
        request = self.client.build_request(
            "POST",
            self.url(),
            params=self.query(),
            headers=self.headers(),
            content=self.body(params),
            timeout=httpx.Timeout(self.config.timeout),
        )
        # headers only, here: a failure after them is a dropped answer, not a stale connection
        try:
            response = await self.client.send(request, stream=True)
        except CLOSED_UNANSWERED:
            # A kept-alive connection the server closed just as the request went out (servers
            # close idle ones after a few seconds): no byte of an answer came, and the broken
            # connection has left the pool, so the request goes once more on a new one. This
            # is the transport's reconnect, not a retry of the call (retry.py does those).
            try:
                response = await self.client.send(request, stream=True)
            except CLOSED_UNANSWERED as exc:
                raise BackendConnectionError(
                    self.scrub(f"{self.base_url} closed the connection without answering: {exc}"),
                    provider=self.provider,
                    answered=False,
                ) from exc
        if response.status_code >= 400:
            try:
                raw = await response.aread()
            finally:
                await response.aclose()
            message, code = message_and_code(raw, response.reason_phrase)
            raise status_error(
                response.status_code,
                self.scrub(message),
                code,
                response.headers,
                provider=self.provider,
            )
        if not stream:
            try:
                await response.aread()
            finally:
                await response.aclose()
        return response
