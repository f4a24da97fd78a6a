"""The massgen side of a ``codex`` agent's MCP bridge (:mod:`massgen.backends.codex_bridge`).

For one agent turn, :class:`Relay` listens on a Unix socket inside the agent's own Codex home
(a folder only massgen's user can enter) and answers the bridge: the tools offered this turn,
and each call. The agent's own tools (MCP, custom, file tools) run through the engine
(:attr:`~massgen.tools.lending.AgentTurn.run_tool`); the first workflow action (``new_answer``,
``vote``) is kept as the turn's action, and Codex is told to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from massgen.messages import ToolCall, ToolSpec

if TYPE_CHECKING:
    from massgen.tools.lending import AgentTurn

#: What Codex is told after a workflow action.
TAKEN = "Received: massgen takes it from here. End your turn now, calling no other tool."
_LINE_LIMIT = 16 * 1024 * 1024


class Relay:
    """Answers the bridge for one turn: lists ``tools``, runs the own ones, keeps the action."""

    def __init__(self, socket_path: Path, tools: list[ToolSpec], turn: AgentTurn | None) -> None:
        self.socket_path = socket_path
        self.tools = {spec.name: spec for spec in tools}
        self.turn = turn
        self.action: ToolCall | None = None
        #: Set when the action is taken: the backend ends Codex's turn.
        self.acted = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._calls = 0

    async def __aenter__(self) -> Relay:
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        self._server = await asyncio.start_unix_server(
            self._answer, path=str(self.socket_path), limit=_LINE_LIMIT
        )
        os.chmod(self.socket_path, 0o600)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            request = json.loads(line) if line else {}
            answer = await self.handle(request if isinstance(request, dict) else {})
            writer.write(json.dumps(answer).encode() + b"\n")
            await writer.drain()
        except (OSError, ValueError):
            pass
        finally:
            writer.close()

    async def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        """One request of the bridge: ``list`` or ``call``."""
        if request.get("op") == "list":
            tools = [
                {"name": s.name, "description": s.description, "parameters": s.parameters}
                for s in self.tools.values()
            ]
            return {"tools": tools}
        if request.get("op") != "call":
            return {"text": "unknown request", "error": True}
        name = str(request.get("name") or "")
        arguments = request.get("arguments") if isinstance(request.get("arguments"), dict) else {}
        if name not in self.tools:
            return {"text": f"{name} is not one of massgen's tools", "error": True}
        self._calls += 1
        call = ToolCall(f"cx-{self._calls}-{os.urandom(4).hex()}", name, json.dumps(arguments))
        own = self.turn is not None and name in self.turn.own_tools
        if not own:  # a workflow action: the first one is the turn's
            if self.action is None:
                self.action = call
                self.acted.set()
            return {"text": TAKEN, "error": False}
        if self.action is not None:
            return {"text": "The turn is over: " + TAKEN, "error": True}
        assert self.turn is not None
        reply = await self.turn.run_tool(call)
        return {"text": reply.text, "error": reply.is_error}
