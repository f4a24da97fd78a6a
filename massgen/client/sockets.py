"""``tasks.websocket(task_id)``: a task's events over the server's WebSocket
(``/v1/tasks/{id}/ws``), on the ``websockets`` library (which ``massgen[server]`` brings).

:class:`TaskSocket` is an async context manager; ``async for message in socket`` yields
each event as the JSON text the server sent (``json.loads`` it: ``type``, ``id``, ...) and
ends after the task's terminal event. A refusal (its close code is 4000 + an HTTP status)
is raised as the client's error for that status (docs/architecture.md, "The Python client")."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

from massgen.client.exceptions import (
    MassGenClientError,
    NetworkError,
    ProviderError,
    error_from_response,
)


def socket_url(base_url: str, path: str, last_event_id: int | None) -> str:
    """The ``ws://`` (``wss://``) URL of ``path`` on the server at ``base_url``."""
    scheme, _, rest = base_url.partition("://")
    url = f"{'wss' if scheme == 'https' else 'ws'}://{rest}{path}"
    if last_event_id is not None:
        url += "?" + urlencode({"last_event_id": int(last_event_id)})
    return url


def close_error(code: int | None, reason: str) -> MassGenClientError:
    """The error of a socket the server closed with ``code`` (4000 + an HTTP status)."""
    if code is not None and 4400 <= code < 4600:
        body = {"error": {"message": reason or f"closed ({code})"}}
        return error_from_response(code - 4000, body)
    return ProviderError(f"the server closed the socket ({code}): {reason or 'no reason'}")


def open_timeout(timeout: Any) -> float | None:
    """The seconds to open a socket in, from a client's ``timeout`` (a number or an
    ``httpx.Timeout``)."""
    if isinstance(timeout, int | float):
        return float(timeout)
    return getattr(timeout, "connect", None)


def task_socket(client: Any, task_id: str, last_event_id: int | None) -> TaskSocket:
    """The socket of ``task_id``'s events for ``client`` (a sync or async client)."""
    from massgen.client.calls import task_path

    url = socket_url(client.base_url, task_path(task_id, "/ws"), last_event_id)
    return TaskSocket(url, dict(client.headers), open_timeout(client.timeout))


class TaskSocket:
    """See module. ``headers``: the client's (its credentials); ``open_timeout`` in seconds."""

    def __init__(self, url: str, headers: dict[str, str], open_timeout: float | None) -> None:
        self.url, self.open_timeout = url, open_timeout
        self.user_agent = headers.get("User-Agent")
        self.headers = {k: v for k, v in headers.items() if k not in ("User-Agent", "Accept")}
        self.connection: Any = None

    async def __aenter__(self) -> TaskSocket:
        try:
            from websockets.asyncio.client import connect
            from websockets.exceptions import InvalidHandshake, InvalidStatus
        except ImportError:
            raise MassGenClientError(
                "tasks.websocket needs the websockets package: pip install websockets"
            ) from None
        try:
            self.connection = await connect(
                self.url,
                additional_headers=self.headers,
                user_agent_header=self.user_agent,
                open_timeout=self.open_timeout,
                proxy=None,
            )
        except InvalidStatus as exc:  # refused before the upgrade: an HTTP answer
            response = exc.response
            try:
                body: Any = json.loads(response.body or b"")
            except ValueError:
                body = (response.body or b"").decode("utf-8", "replace")
            raise error_from_response(response.status_code, body) from None
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            raise NetworkError(f"cannot open {self.url}: {exc}") from exc
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.close()

    def __aiter__(self) -> AsyncIterator[str]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[str]:
        from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK

        if self.connection is None:
            raise MassGenClientError("use the socket inside 'async with'")
        while True:
            try:
                message = await self.connection.recv()
            except ConnectionClosedOK:
                return
            except ConnectionClosedError as exc:
                rcvd = exc.rcvd
                if rcvd is None:
                    raise NetworkError(f"the socket broke: {exc}") from exc
                raise close_error(rcvd.code, rcvd.reason) from None
            yield message if isinstance(message, str) else message.decode("utf-8", "replace")
