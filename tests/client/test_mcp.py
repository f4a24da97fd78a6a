"""``client.mcp`` (sync and async) against a real ``massgen serve`` whose config has the
tests' own MCP server: the peer SDK's calls (``mcp.tools()`` and ``mcp.tools.call(...)``),
typed answers, and the server's refusals as the client's exceptions. A call whose MCP server
crashed is not sent again (the tool may have done its work)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from massgen.client import AsyncClient, Client
from massgen.client.exceptions import (
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    ValidationError,
)
from massgen.client.types import MCPToolList, MCPToolResult
from tests.fakes.chat_server import FakeChatServer
from tests.server.conftest import massgen_serve
from tests.server.support import team

KEY = "sk-mcp-client-test"
SERVER = {
    "name": "own",
    "command": sys.executable,
    "args": ["-m", "tests.fakes.mcp_server", "--files"],
}


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("mcp-client")
    with FakeChatServer() as provider:
        data = team(provider)
        data["agents"][1]["backend"]["mcp_servers"] = [SERVER]
        config = folder / "team.yaml"
        config.write_text(yaml.safe_dump(data))
        allow = ["--mcp-allow-tool", "add", "--mcp-allow-tool", "crash"]
        with massgen_serve(config, "--api-key", KEY, *allow) as process:
            yield process.url


def test_the_peer_sdks_calls(url: str) -> None:
    with Client(api_key=KEY, base_url=url) as client:
        capabilities = client.mcp.capabilities()
        assert capabilities.version == "2026-07-28"
        assert [(p.name, p.status) for p in capabilities.providers] == [("own", "ok")]
        tools = client.mcp.tools()
        assert isinstance(tools, MCPToolList)
        add = next(tool for tool in tools.tools if tool.name == "add")
        assert add.allowed and add.full_name == "mcp__own__add"
        result = client.mcp.tools.call(name="add", arguments={"a": 2, "b": 40})
        assert isinstance(result, MCPToolResult)
        assert (result.result, result.is_error, result.server) == ("42", False, "own")
        assert [p.name for p in client.mcp.prompts().prompts] == ["review"]
        assert [r.uri for r in client.mcp.resources().resources] == ["notes://today"]


def test_refusals_are_the_clients_exceptions(url: str) -> None:
    with Client(api_key=KEY, base_url=url, max_retries=0) as client:
        with pytest.raises(PermissionDeniedError) as refused:  # a good key, a refused tool
            client.mcp.tools.call(name="echo", arguments={"text": "hi"})
        assert isinstance(refused.value, AuthenticationError)  # as the SDK document catches
        assert refused.value.status_code == 403 and refused.value.code == "mcp_tool_not_allowed"
        assert "massgen serve --mcp-allow-tool echo" in str(refused.value)
        with pytest.raises(NotFoundError):
            client.mcp.tools.call(name="nope")
        with pytest.raises(ValidationError) as bad:
            client.mcp.tools.call(name="add", arguments={"a": "two", "b": 1})
        assert bad.value.param == "arguments.a"


def test_a_crashed_call_is_not_sent_again(url: str, tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    with Client(api_key=KEY, base_url=url, max_retries=3) as client:
        with pytest.raises(ProviderError) as gone:
            client.mcp.tools.call(name="crash", arguments={"log": str(ran)})
        assert gone.value.status_code == 502
        assert ran.read_text() == "ran\n"  # once: the tool may have done its work
        assert client.mcp.tools.call(name="add", arguments={"a": 1, "b": 1}).result == "2"


async def test_the_async_client(url: str) -> None:
    async with AsyncClient(api_key=KEY, base_url=url) as client:
        assert (await client.mcp.capabilities()).providers[0].name == "own"
        assert "add" in [tool.name for tool in (await client.mcp.tools()).tools]
        result = await client.mcp.tools.call(name="add", arguments={"a": 20, "b": 22})
        assert result.result == "42"
        assert (await client.mcp.prompts()).prompts[0].arguments[0]["name"] == "code"
        assert (await client.mcp.resources()).resources[0].description == "Today's notes."
