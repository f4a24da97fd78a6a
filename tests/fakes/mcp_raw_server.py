"""A hand-written MCP stdio server (JSON-RPC lines, no SDK) whose only tool has an input
schema that is not a JSON object: what a broken third-party server might send."""

from __future__ import annotations

import json
import sys


def reply(message_id: object, result: object = None, error: object = None) -> None:
    body: dict[str, object] = {"jsonrpc": "2.0", "id": message_id}
    body["error" if error is not None else "result"] = error if error is not None else result
    sys.stdout.write(json.dumps(body) + "\n")
    sys.stdout.flush()


def main() -> None:
    for line in sys.stdin:
        try:
            message = json.loads(line)
        except ValueError:
            continue
        method, message_id = message.get("method"), message.get("id")
        if message_id is None:
            continue  # a notification
        if method == "initialize":
            reply(
                message_id,
                {
                    "protocolVersion": message.get("params", {}).get(
                        "protocolVersion", "2025-06-18"
                    ),
                    "capabilities": {"tools": {}},
                    "serverInfo": {"name": "raw", "version": "0"},
                },
            )
        elif method == "tools/list":
            tools = [
                {
                    "name": "odd",
                    "description": "a string schema",
                    "inputSchema": {"type": "string"},
                },
                {
                    "name": "fine",
                    "description": "an object schema",
                    "inputSchema": {"type": "object"},
                },
            ]
            reply(message_id, {"tools": tools})
        else:
            reply(message_id, error={"code": -32601, "message": f"no method {method}"})


if __name__ == "__main__":
    main()
