"""``client.mcp``: the MCP servers of the server's config (``/v1/mcp/...``): their
capabilities, tools, prompts and resources, and ``mcp.tools.call(name, arguments)`` for the
tools the server's operator lets callers run (``massgen serve --mcp-allow-tool``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from massgen.client.transport import Call
from massgen.client.types import (
    MCPCapabilities,
    MCPPromptList,
    MCPResourceList,
    MCPToolList,
    MCPToolResult,
)

if TYPE_CHECKING:
    from massgen.client.async_client import AsyncClient
    from massgen.client.client import Client

CAPABILITIES = Call("mcp.capabilities", "GET", "/v1/mcp/capabilities")
TOOLS = Call("mcp.tools", "GET", "/v1/mcp/tools")
PROMPTS = Call("mcp.prompts", "GET", "/v1/mcp/prompts")
RESOURCES = Call("mcp.resources", "GET", "/v1/mcp/resources")


def call_tool(name: str, arguments: dict[str, Any] | None, server: str | None) -> Call:
    body: dict[str, Any] = {"name": name, "arguments": arguments or {}}
    if server is not None:
        body["server"] = server
    return Call("mcp.tools.call", "POST", "/v1/mcp/tools/call", json=body)


class MCPTools:
    """``mcp.tools()`` lists the tools; ``mcp.tools.call(name=, arguments=)`` runs one."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def __call__(self) -> MCPToolList:
        return self.client.fetch(TOOLS, MCPToolList)

    def call(
        self, name: str, arguments: dict[str, Any] | None = None, *, server: str | None = None
    ) -> MCPToolResult:
        """Run tool ``name`` (``server``: which server's, when several have it). A tool the
        operator did not allow is refused (403: ``PermissionDeniedError``, code
        ``mcp_tool_not_allowed``), saying how the operator allows it."""
        return self.client.fetch(call_tool(name, arguments, server), MCPToolResult)


class MCP:
    def __init__(self, client: Client) -> None:
        self.client = client
        self.tools = MCPTools(client)

    def capabilities(self) -> MCPCapabilities:
        return self.client.fetch(CAPABILITIES, MCPCapabilities)

    def prompts(self) -> MCPPromptList:
        return self.client.fetch(PROMPTS, MCPPromptList)

    def resources(self) -> MCPResourceList:
        return self.client.fetch(RESOURCES, MCPResourceList)


class AsyncMCPTools:
    def __init__(self, client: AsyncClient) -> None:
        self.client = client

    async def __call__(self) -> MCPToolList:
        return await self.client.fetch(TOOLS, MCPToolList)

    async def call(
        self, name: str, arguments: dict[str, Any] | None = None, *, server: str | None = None
    ) -> MCPToolResult:
        return await self.client.fetch(call_tool(name, arguments, server), MCPToolResult)


class AsyncMCP:
    def __init__(self, client: AsyncClient) -> None:
        self.client = client
        self.tools = AsyncMCPTools(client)

    async def capabilities(self) -> MCPCapabilities:
        return await self.client.fetch(CAPABILITIES, MCPCapabilities)

    async def prompts(self) -> MCPPromptList:
        return await self.client.fetch(PROMPTS, MCPPromptList)

    async def resources(self) -> MCPResourceList:
        return await self.client.fetch(RESOURCES, MCPResourceList)
