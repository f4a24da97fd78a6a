"""``massgen mcp --http``: streamable HTTP on loopback, the same tools, progress and
cancellation as over stdio, and an API key required beyond loopback."""

from __future__ import annotations

import json
import subprocess

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.mcp_server.clients import http_server, until
from tests.mcp_server.conftest import MASSGEN


async def test_ask_team_over_http_with_progress_and_a_strategy(env, tmp_path, fake, team_file):
    progress: list[str] = []

    async def heard(value: float, total: float | None, message: str | None) -> None:
        progress.append(message or "")

    with http_server(["--config", str(team_file)], env, tmp_path) as url:
        assert url.startswith("http://127.0.0.1:") and url.endswith("/mcp")
        async with Client(url) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            result = await client.call_tool(
                "ask_team",
                {"question": "Tabs or spaces?", "strategy": "debate"},
                progress_callback=heard,
            )
            session = await client.read_resource(result.structured_content["session"])
    assert names == {"ask_team", "list_configs"}
    assert not result.is_error, result.content
    assert result.structured_content["final_answer"]
    assert any(line.startswith("round 1 of") for line in progress)  # the debate's rounds
    assert json.loads(session.contents[0].text)["summary"]["strategy"] == "debate"


@pytest.mark.parametrize("mode", ["auto", "legacy"])  # legacy: the handshake clients speak
async def test_cancelling_over_http_stops_the_provider_calls(env, tmp_path, fake, team_file, mode):
    fake.hold_after(2)
    with http_server(["--config", str(team_file)], env, tmp_path) as url:
        async with Client(url, mode=mode) as client:
            with anyio.CancelScope() as scope:

                async def cancel_when_voting() -> None:
                    await until(lambda: len(fake.requests) >= 3)
                    scope.cancel()

                async with anyio.create_task_group() as group:
                    group.start_soon(cancel_when_voting)
                    await client.call_tool("ask_team", {"question": "Long one?"})
            held = fake.requests[2:]
            await until(lambda: all(r.client_closed for r in held), within=5)
            count = len(fake.requests)
            await anyio.sleep(1.0)
            assert len(fake.requests) == count
            assert not (await client.call_tool("list_configs", {})).is_error


async def test_calls_past_max_concurrency_wait_their_turn(env, tmp_path, fake, team_file):
    fake.hold_after(2)  # the first run's answers, then its votes are held
    heard: list[str] = []

    async def second_heard(value: float, total: float | None, message: str | None) -> None:
        heard.append(message or "")

    args = ["--config", str(team_file), "--max-concurrency", "1"]
    with http_server(args, env, tmp_path) as url:
        async with Client(url) as first, Client(url) as second:
            results = {}

            async def ask(client: Client, name: str, **kw: object) -> None:
                results[name] = await client.call_tool("ask_team", {"question": name}, **kw)

            async with anyio.create_task_group() as group:
                group.start_soon(ask, first, "First?")
                await until(lambda: len(fake.requests) >= 3)  # the first run, held
                group.start_soon(lambda: ask(second, "Second?", progress_callback=second_heard))
                await until(lambda: bool(heard))
                count = len(fake.requests)
                await anyio.sleep(1.0)
                assert len(fake.requests) == count  # the second run has not started
                fake.release()
    assert heard[0] == "waiting: 1 run(s) going, the server's --max-concurrency"
    assert not results["First?"].is_error and not results["Second?"].is_error
    assert results["Second?"].structured_content["final_answer"]


async def test_an_api_key_is_required_once_given(env, tmp_path, fake, team_file):
    args = ["--config", str(team_file), "--api-key", "s3cret-key"]
    with http_server(args, env, tmp_path) as url:
        async with httpx2.AsyncClient() as plain:
            refused = await plain.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
            wrong = await plain.post(url, json={}, headers={"Authorization": "Bearer not-the-key"})
        keyed = httpx2.AsyncClient(headers={"Authorization": "Bearer s3cret-key"})
        async with Client(streamable_http_client(url, http_client=keyed)) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
    assert refused.status_code == 401 and wrong.status_code == 401
    assert "Authorization: Bearer" in refused.json()["error"]["message"]
    assert refused.headers["www-authenticate"].startswith("Bearer")
    assert names == {"ask_team", "list_configs"}


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--http", "--host", "0.0.0.0"], "needs --api-key"),
        (["--host", "0.0.0.0"], "are for --http"),
        (["--http", "--timeout", "0"], "--timeout"),
        (["--max-concurrency", "0"], "--max-concurrency: must be 1 or more, got 0"),
    ],
)
def test_unsafe_or_wrong_options_stop_it_before_it_serves(env, tmp_path, args, says):
    proc = subprocess.run(
        [*MASSGEN, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("massgen: error: ") and says in proc.stderr
    assert proc.stderr.count("\n") == 1 and "serving on" not in proc.stderr


def test_a_config_that_cannot_load_stops_it_before_it_serves(env, tmp_path):
    proc = subprocess.run(
        [*MASSGEN, "--config", "no_such_team"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 1 and "no_such_team" in proc.stderr and "not found" in proc.stderr
