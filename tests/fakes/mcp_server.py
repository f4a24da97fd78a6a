"""An MCP server for the tests, written with the official ``mcp`` SDK (``MCPServer``).

    python -m tests.fakes.mcp_server                  # stdio
    python -m tests.fakes.mcp_server --http PORT      # streamable HTTP on 127.0.0.1:PORT/mcp
    python -m tests.fakes.mcp_server --garbage        # writes junk to stdout first (broken)
    python -m tests.fakes.mcp_server --token T        # HTTP: requests need X-Token: T
    python -m tests.fakes.mcp_server --files          # also read_file and sleep

Tools: ``echo`` (marked read-only: ``readOnlyHint``), ``add``, ``pid`` (the server's process
id), ``append`` (adds a line to a file: a side effect) and ``crash`` (counts its runs in a
file, then the process exits mid-call); with ``--files``, ``read_file`` (a file's text) and
``sleep`` (waits, then says so). One prompt (``review``) and one resource (``notes``).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer


def build(files: bool = False) -> MCPServer:
    from mcp.server.mcpserver import MCPServer  # not before --garbage: it says so at once
    from mcp.types import ToolAnnotations

    server = MCPServer("massgen-test")

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    def echo(text: str) -> str:
        """Repeat the text back."""
        return f"echo: {text}"

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two whole numbers."""
        return a + b

    @server.tool()
    def pid() -> int:
        """This server's process id."""
        return os.getpid()

    @server.tool()
    def append(log: str, text: str) -> str:
        """Add a line to the file ``log``."""
        with open(log, "a") as f:
            f.write(text + "\n")
        return f"appended {text!r}"

    @server.tool()
    def crash(log: str) -> str:
        """Append a line to the file ``log``, then exit the server process mid-call."""
        with open(log, "a") as f:
            f.write("ran\n")
        os._exit(3)

    @server.prompt()
    def review(code: str) -> str:
        """Ask for a review of a piece of code."""
        return f"Please review this code:\n{code}"

    @server.resource("notes://today", name="notes", description="Today's notes.")
    def notes() -> str:
        return "nothing yet"

    if files:

        @server.tool(annotations=ToolAnnotations(read_only_hint=True))
        def read_file(path: str) -> str:
            """The text of the file at ``path``."""
            with open(path, encoding="utf-8") as f:
                return f.read()

        @server.tool()
        async def sleep(seconds: float) -> str:
            """Wait ``seconds``, then say so."""
            import anyio

            await anyio.sleep(seconds)
            return f"slept {seconds:g}s"

    return server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", type=int, default=None)
    parser.add_argument("--garbage", action="store_true")
    parser.add_argument("--token", default=None)
    parser.add_argument("--files", action="store_true")
    args = parser.parse_args()
    if args.garbage:  # never speaks the protocol
        sys.stderr.write("mcp_server: writing garbage instead of JSON-RPC\n")
        sys.stderr.flush()
        for _ in sys.stdin:
            sys.stdout.write("this is not JSON-RPC {{{\n")
            sys.stdout.flush()
        return
    server = build(args.files)
    if args.http is None:
        server.run("stdio")
        return
    if args.token:
        import uvicorn
        from starlette.responses import PlainTextResponse

        inner = server.streamable_http_app()

        async def guarded(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                headers = dict(scope.get("headers") or [])
                if headers.get(b"x-token", b"").decode() != args.token:
                    await PlainTextResponse("bad token", status_code=401)(scope, receive, send)
                    return
            await inner(scope, receive, send)

        uvicorn.run(guarded, host="127.0.0.1", port=args.http, log_level="warning")
        return
    server.run("streamable-http", host="127.0.0.1", port=args.http)


if __name__ == "__main__":
    main()
