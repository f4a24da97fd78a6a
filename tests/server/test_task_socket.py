"""A task's events over a WebSocket (``/v1/tasks/{id}/ws``), against a real server on
127.0.0.1 through :mod:`massgen.client`: the same events and resume as the SSE stream, the
same credentials (headers, or a browser's first message; an API key or a JWT), one clear
close for what is refused, and a socket that outlives ``massgen serve --request-timeout``."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import yaml
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError

from massgen.client import (
    AsyncClient,
    AuthenticationError,
    Client,
    NotFoundError,
    ValidationError,
)
from massgen.server.app import create_app
from tests.fakes.chat_server import FakeChatServer
from tests.server.conftest import massgen_serve
from tests.server.support import ask, serving, team

KEY, OTHER = "sk-socket-test-0123456789", "sk-socket-other-0123456789"
SECRET = "a-socket-test-secret-of-32-bytes-or-more-000"


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeChatServer]:
    with FakeChatServer() as fake:
        yield fake


@pytest.fixture(scope="module")
def url(provider: FakeChatServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("socket")
    app = create_app(
        config=team(provider),
        api_keys=[KEY, OTHER],
        enable_logging=False,
        db=f"sqlite:///{folder / 'tasks.db'}",
        jwt={"secret": SECRET},
    )
    with serving(app) as served:
        yield served


async def _read(socket: Any) -> list[dict[str, Any]]:
    return [json.loads(message) async for message in socket]


def test_the_socket_sends_the_stream_s_events_and_resumes_after_an_id(url: str) -> None:
    with Client(base_url=url, api_key=KEY) as c:
        task = c.tasks.create(ask())
        streamed = list(c.tasks.stream_events(task.id))

        async def read(after: int | None = None) -> list[dict[str, Any]]:
            async with c.tasks.websocket(task.id, last_event_id=after) as socket:
                return await _read(socket)

        events = asyncio.run(read())
        resumed = asyncio.run(read(events[2]["id"]))
    assert [e["id"] for e in events] == [e.id for e in streamed]
    assert [e["type"] for e in events] == [e.type for e in streamed]
    assert events[-1]["type"] == "completed" and events[-1]["task"]["status"] == "completed"
    assert "vote_cast" in [e["type"] for e in events]
    assert resumed == events[3:]


async def test_an_async_client_follows_a_running_task_live(
    url: str, provider: FakeChatServer
) -> None:
    provider.hold_after(0)
    try:
        async with AsyncClient(base_url=url, api_key=KEY) as c:
            task = await c.tasks.create(ask())
            async with c.tasks.websocket(task.id) as socket:
                seen: list[str] = []
                async for message in socket:
                    seen.append(json.loads(message)["type"])
                    if seen[-1] == "running":  # it is live: now let the agents answer
                        provider.release()
    finally:
        provider.release()
    assert seen[0] == "queued" and "running" in seen and seen[-1] == "completed"


def test_a_browser_sends_its_credentials_as_the_first_message(url: str) -> None:
    with Client(base_url=url, token=jwt.encode(_claims("web"), SECRET)) as c:
        task = c.tasks.create(ask())
    socket_url = url.replace("http://", "ws://") + f"/v1/tasks/{task.id}/ws"

    async def browser(first: str) -> tuple[list[dict[str, Any]], Any]:
        async with connect(socket_url) as ws:  # no headers, as a browser's socket
            await ws.send(first)
            got: list[dict[str, Any]] = []
            try:
                got = [json.loads(m) async for m in ws]
            except ConnectionClosedError as exc:
                return got, exc.rcvd
            return got, ws.close_code

    token = jwt.encode(_claims("web"), SECRET)
    events, code = asyncio.run(browser(json.dumps({"token": token, "last_event_id": 1})))
    assert code == 1000 and events[0]["id"] == 2 and events[-1]["type"] == "completed"
    _, refused = asyncio.run(browser("not json"))
    assert refused.code == 4400 and "first message must be a JSON object" in refused.reason
    _, refused = asyncio.run(browser(json.dumps({"token": KEY})))  # another owner: 404
    assert refused.code == 4404 and refused.reason == "no such task"
    expired = jwt.encode({**_claims("web"), "exp": int(time.time()) - 100}, SECRET)
    _, refused = asyncio.run(browser(json.dumps({"token": expired})))
    assert (refused.code, refused.reason) == (4401, "invalid bearer token: token expired")
    assert expired not in refused.reason


def test_what_the_socket_refuses_is_one_close_the_client_raises(url: str) -> None:
    with Client(base_url=url, api_key=KEY) as c:
        task = c.tasks.create(ask())

    async def read(client: Client, task_id: str, after: int | None = None) -> None:
        async with client.tasks.websocket(task_id, last_event_id=after) as socket:
            await _read(socket)

    wrong, other = Client(base_url=url, api_key="sk-wrong"), Client(base_url=url, api_key=OTHER)
    with pytest.raises(AuthenticationError, match="invalid or missing API key"):
        asyncio.run(read(wrong, task.id))
    with pytest.raises(NotFoundError, match="no such task"):
        asyncio.run(read(other, task.id))
    with Client(base_url=url, api_key=KEY) as c:
        with pytest.raises(ValidationError, match="last_event_id must be an event id"):
            asyncio.run(read(c, task.id, after=2**40))
        with pytest.raises(ValidationError, match="not a task id"):
            c.tasks.websocket("a/b")


def _claims(sub: str) -> dict[str, Any]:
    return {"sub": sub, "exp": int(time.time()) + 600}


def test_a_socket_outlives_the_request_timeout_of_massgen_serve(
    provider: FakeChatServer, tmp_path: Path
) -> None:
    config = tmp_path / "team.yaml"
    config.write_text(yaml.safe_dump(team(provider)))
    args = ["--api-key", KEY, "--request-timeout", "1", "--db", f"sqlite:///{tmp_path / 't.db'}"]
    provider.hold_after(0)
    try:
        with massgen_serve(config, *args) as served, Client(base_url=served.url, api_key=KEY) as c:
            task = c.tasks.create(ask())
            # the agents answer only after the socket has been open longer than the timeout
            threading.Timer(2.5, provider.release).start()

            async def read() -> list[dict[str, Any]]:
                async with c.tasks.websocket(task.id) as socket:
                    return await _read(socket)

            started = time.monotonic()
            events = asyncio.run(read())
            assert time.monotonic() - started > 2
    finally:
        provider.release()
    assert events[-1]["type"] == "completed"
