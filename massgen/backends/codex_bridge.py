"""The MCP server a ``codex`` agent connects to: massgen's tools, relayed to massgen.

Codex starts this module as a stdio MCP server (``python -m massgen.backends.codex_bridge
SOCKET``, written into the agent's own ``config.toml`` by :mod:`massgen.backends.codex_home`).
It holds no tool of its own: it lists the tools massgen offers this turn and forwards each
call over the Unix socket ``SOCKET`` to the massgen process
(:class:`massgen.backends.codex_relay.Relay`), which runs it through the engine (or takes a
workflow action) and answers with the text the model sees.

The socket speaks one JSON line each way per connection: ``{"op": "list"}`` answered with
``{"tools": [{"name", "description", "parameters"}]}``, and ``{"op": "call", "name",
"arguments"}`` answered with ``{"text", "error"}``. It imports nothing of massgen.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

#: The longest line either side sends (a tool's result is bounded by the engine well below).
LINE_LIMIT = 16 * 1024 * 1024


async def ask(socket_path: str, request: dict[str, Any]) -> dict[str, Any]:
    """One request to the massgen process, and its answer."""
    reader, writer = await asyncio.open_unix_connection(socket_path, limit=LINE_LIMIT)
    try:
        writer.write(json.dumps(request).encode() + b"\n")
        await writer.drain()
        line = await reader.readline()
    finally:
        writer.close()
    if not line:
        raise ConnectionError("massgen closed the connection without an answer")
    answer: dict[str, Any] = json.loads(line)
    return answer


async def serve(socket_path: str) -> None:
    """Serve massgen's tools over stdio until Codex closes the pipe."""
    from mcp import types
    from mcp.server.lowlevel import Server
    from mcp.server.stdio import stdio_server

    async def list_tools(context: Any, params: Any) -> types.ListToolsResult:
        listed = await ask(socket_path, {"op": "list"})
        tools = [
            types.Tool(
                name=tool["name"],
                description=tool.get("description") or "",
                input_schema={"type": "object", "properties": {}, **(tool.get("parameters") or {})},
            )
            for tool in listed.get("tools", [])
        ]
        return types.ListToolsResult(tools=tools)

    async def call_tool(context: Any, params: Any) -> types.CallToolResult:
        request = {"op": "call", "name": params.name, "arguments": params.arguments or {}}
        try:
            answer = await ask(socket_path, request)
        except (OSError, ValueError) as exc:
            answer = {"text": f"massgen did not answer: {exc}", "error": True}
        text = types.TextContent(type="text", text=str(answer.get("text", "")))
        return types.CallToolResult(content=[text], is_error=bool(answer.get("error")))

    server: Server[Any] = Server("massgen", on_list_tools=list_tools, on_call_tool=call_tool)
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m massgen.backends.codex_bridge SOCKET\n")
        return 2
    asyncio.run(serve(args[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
