"""``massgen mcp --http``: the server's streamable HTTP app under uvicorn, behind an API key
check when keys are given (``Authorization: Bearer KEY``)."""

from __future__ import annotations

import hmac
import json
import socket
import sys
from collections.abc import Sequence
from typing import Any

from mcp.server.mcpserver import MCPServer

from massgen.mcp_server.options import HTTP_PATH, McpOptions

Scope = dict[str, Any]


class BearerGuard:
    """An ASGI wrapper that answers 401 (a JSON error) to an HTTP request without one of
    ``keys`` as its bearer token; keys are compared in constant time."""

    def __init__(self, app: Any, keys: Sequence[str]) -> None:
        self.app = app
        self.keys = [key.encode() for key in keys]

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not self.allowed(scope):
            await _unauthorized(send)
            return
        await self.app(scope, receive, send)

    def allowed(self, scope: Scope) -> bool:
        given = b""
        for name, value in scope.get("headers") or []:
            if name == b"authorization":
                scheme, _, token = bytes(value).partition(b" ")
                if scheme.lower() == b"bearer":
                    given = token.strip()
        found = False
        for key in self.keys:  # every key compared: the time says nothing of which matched
            found |= hmac.compare_digest(given, key)
        return found and bool(given)


async def _unauthorized(send: Any) -> None:
    body = json.dumps(
        {
            "error": {
                "type": "unauthorized",
                "message": "missing or wrong API key: send 'Authorization: Bearer KEY'",
            }
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", b'Bearer realm="massgen"'),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def serve_http(server: MCPServer, options: McpOptions) -> None:
    """Serve ``server`` on ``options.host``:``options.port`` (0: a free port) until stopped;
    the address it listens on is written to stderr once it does."""
    import uvicorn

    app: Any = server.streamable_http_app(streamable_http_path=HTTP_PATH, host=options.host)
    if options.api_keys:
        app = BearerGuard(app, options.api_keys)
    family = socket.AF_INET6 if ":" in options.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((options.host.strip("[]"), options.port))
    sock.listen(2048)  # connections wait in the backlog from the moment the line below says so
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=2)
    uvicorn_server = uvicorn.Server(config)
    shown = f"[{options.host.strip('[]')}]" if family == socket.AF_INET6 else options.host
    sys.stderr.write(f"massgen mcp: serving on http://{shown}:{port}{HTTP_PATH}\n")
    sys.stderr.flush()
    await uvicorn_server.serve(sockets=[sock])
