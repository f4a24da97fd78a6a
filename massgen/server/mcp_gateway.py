"""The MCP servers of the server's config, for callers over HTTP (``/v1/mcp/...``,
:mod:`massgen.server.mcp_routes`).

The servers are the agents' (``agents[].backend.mcp_servers``; an entry's ``allowed_tools``
and ``exclude_tools`` apply), run by the engine's own :class:`~massgen.tools.mcp.MCPHub`:
started at the first request that needs them, kept for the next ones, stopped when the server
stops. A server that stopped or never started is tried again at a later request (at most
every :data:`RETRY_AFTER_S`). A tool runs only when the operator named it
(``massgen serve --mcp-allow-tool``), within the config's bounds of an agent's call
(``tool_timeout_seconds``, ``tool_result_max_chars``: :func:`massgen.tools.base.run_call`),
and is published as an agent's call is (``tool_call_started``, ``tool_call_finished``),
recorded in a session of its own when the server writes session logs.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from massgen.events import Event, EventBus, RunFinished, ToolCallFinished, ToolCallStarted
from massgen.messages import ToolCall
from massgen.server.http import BadRequest
from massgen.server.writer import SessionRelay
from massgen.tools.base import MCP_PREFIX, Tool, ToolLimits, run_call
from massgen.tools.mcp import MCPHub

if TYPE_CHECKING:
    from massgen.config.schema import MassGenConfig
    from massgen.config.tool_config import MCPServerConfig
    from massgen.server.runs import RunListener, RunService

log = logging.getLogger("massgen.server")

#: A server that is not running is started again at most this often (seconds).
RETRY_AFTER_S = 5.0
#: Pages of prompts or resources read from one server, at most.
MAX_PAGES = 20
#: The ``agent_id`` of the calls made over HTTP, in their events.
CALLER = "http"
#: The fields of ``POST /v1/mcp/tools/call``.
CALL_FIELDS = ("name", "arguments", "server")
ALLOW_HINT = "massgen serve --mcp-allow-tool {name} (or MASSGEN_SERVER_MCP_ALLOW_TOOLS)"


class Gone(BadRequest):
    """An MCP server that cannot answer (502) or a call out of time (504)."""

    def __init__(self, status: int, message: str) -> None:
        code = "mcp_server_unavailable" if status == 502 else "mcp_tool_timeout"
        super().__init__(status, message, "server_error", code)


def configured_servers(config: MassGenConfig) -> list[MCPServerConfig]:
    """The config's MCP servers by name, each once (the first entry of a name stands)."""
    servers: dict[str, MCPServerConfig] = {}
    for agent in config.agents:
        for server in agent.backend.mcp_servers:
            first = servers.setdefault(server.name, server)
            if first is not server and first != server:
                log.warning(
                    "massgen: MCP server '%s' is configured twice, differently; HTTP callers "
                    "get the first",
                    server.name,
                )
    return list(servers.values())


def check_allowed(allow: Sequence[str], servers: Sequence[MCPServerConfig]) -> None:
    """``--mcp-allow-tool`` names that cannot name a tool of ``servers``: a ValueError."""
    if allow and not servers:
        raise ValueError("--mcp-allow-tool: the server's config has no MCP servers")
    names = {server.name for server in servers}
    for name in allow:
        if name.startswith(MCP_PREFIX):
            server = name.removeprefix(MCP_PREFIX).split("__", 1)[0]
            if server not in names or "__" not in name.removeprefix(MCP_PREFIX):
                listed = ", ".join(sorted(names))
                raise ValueError(
                    f"--mcp-allow-tool {name}: the config has no MCP server '{server}' "
                    f"(it has: {listed}); give a tool's name, or mcp__<server>__<tool>"
                )


class MCPGateway:
    """See the module. ``allow``: the tools callers may run (a tool's name, for that tool of
    any server, or ``mcp__<server>__<tool>``); ``listeners`` are made at the first call and
    get every call's events."""

    def __init__(
        self,
        config: MassGenConfig,
        allow: Sequence[str] = (),
        listeners: Callable[[], Sequence[Callable[[Event], None]]] | None = None,
    ) -> None:
        self.servers = configured_servers(config)
        check_allowed(allow, self.servers)
        self.allow = frozenset(allow)
        orchestrator = config.orchestrator
        self.limits = ToolLimits(
            timeout_s=orchestrator.tool_timeout_seconds,
            result_chars=orchestrator.tool_result_max_chars,
        )
        self.make_listeners = listeners
        self.bus: EventBus | None = None
        self.listeners: Sequence[Callable[[Event], None]] = ()
        self.hub: MCPHub | None = None
        self.started_at = time.monotonic()
        self.tried: dict[str, float] = {}
        self.notices: set[str] = set()
        self.ids = itertools.count(1)
        self.lock = asyncio.Lock()

    # ------------------------------------------------------------------ the servers

    def notice(self, agents: list[str], text: str) -> None:
        if text not in self.notices:  # once, not at every request
            self.notices.add(text)
            log.warning("massgen: %s", text)

    async def started(self) -> MCPHub:
        async with self.lock:
            if self.hub is None:
                self.hub = MCPHub(self.notice, max_restarts=1_000_000)
                for server in self.servers:
                    self.hub.add(CALLER, server)
                self.hub.start()
            return self.hub

    async def client(self, server: MCPServerConfig) -> Any:
        """The server's SDK client (started again when it is down and was last tried long
        enough ago); None when it does not run."""
        hub = await self.started()
        client = await hub.session(server)
        last = self.tried.get(server.name, 0.0)
        if client is None and time.monotonic() - last >= RETRY_AFTER_S:
            self.tried[server.name] = time.monotonic()
            await hub.restart(server)
            client = await hub.session(server)
        return client

    async def problem(self, server: MCPServerConfig) -> str | None:
        hub = await self.started()
        return hub.problem(server) or "it is not running"

    async def close(self) -> None:
        """Stop the servers; end the calls' session."""
        if self.hub is not None:
            await self.hub.close()
        if self.bus is not None:
            self.bus.publish(RunFinished(status="ok", duration_s=self.elapsed()))
            for listener in self.listeners:
                closer = getattr(listener, "close", None)
                if closer is not None:
                    closer()

    def elapsed(self) -> float:
        return round(time.monotonic() - self.started_at, 3)

    # ------------------------------------------------------------------ what they offer

    async def capabilities(self) -> dict[str, Any]:
        from mcp_types.version import LATEST_PROTOCOL_VERSION

        providers = await asyncio.gather(*(self.provider(s) for s in self.servers))
        return {
            "object": "mcp.capabilities",
            "version": LATEST_PROTOCOL_VERSION,
            "providers": list(providers),
        }

    async def provider(self, server: MCPServerConfig) -> dict[str, Any]:
        client = await self.client(server)
        entry: dict[str, Any] = {"name": server.name, "type": server.type}
        if client is None:
            return {**entry, "status": "error", "error": await self.problem(server)}
        info = client.server_info
        offered = client.server_capabilities
        return {
            **entry,
            "status": "ok",
            "protocol_version": client.protocol_version,
            "server_info": {"name": info.name, "version": info.version} if info else None,
            "capabilities": {
                kind: getattr(offered, kind, None) is not None
                for kind in ("tools", "prompts", "resources", "logging", "completions")
            },
        }

    async def tool_list(self) -> list[tuple[MCPServerConfig, Tool]]:
        """Every tool the config gives agents, with its server (running servers only)."""
        hub = await self.started()
        found: list[tuple[MCPServerConfig, Tool]] = []
        for server in self.servers:
            if await self.client(server) is None:
                continue
            found += [(server, tool) for tool in await hub.tools_for(CALLER, [server])]
        return found

    async def tools(self) -> dict[str, Any]:
        return {
            "object": "list",
            "tools": [self.describe(server, tool) for server, tool in await self.tool_list()],
        }

    def describe(self, server: MCPServerConfig, tool: Tool) -> dict[str, Any]:
        name = bare(server, tool)
        return {
            "name": name,
            "server": server.name,
            "full_name": tool.name,
            "description": tool.spec.description,
            "input_schema": tool.spec.parameters,
            "read_only": not tool.side_effects,
            "allowed": self.allowed(server, name),
        }

    def allowed(self, server: MCPServerConfig, name: str) -> bool:
        return name in self.allow or f"{MCP_PREFIX}{server.name}__{name}" in self.allow

    async def listing(self, kind: str) -> dict[str, Any]:
        """``prompts`` or ``resources`` of every running server that offers them."""
        items: list[dict[str, Any]] = []
        for server in self.servers:
            client = await self.client(server)
            if client is None or getattr(client.server_capabilities, kind, None) is None:
                continue
            try:
                cursor = None
                for _ in range(MAX_PAGES):
                    if kind == "prompts":
                        listed = await client.list_prompts(cursor=cursor)
                        items += [prompt_entry(server, p) for p in listed.prompts]
                    else:
                        listed = await client.list_resources(cursor=cursor)
                        items += [resource_entry(server, r) for r in listed.resources]
                    cursor = listed.next_cursor
                    if not cursor:
                        break
            except Exception as exc:
                why = f"MCP server '{server.name}': cannot list its {kind}: {exc}"
                raise Gone(502, why) from None
        return {"object": "list", kind: items}

    # ------------------------------------------------------------------ a call

    async def call(self, body: dict[str, Any]) -> dict[str, Any]:
        """Run the tool ``body`` names (see the module); a :class:`BadRequest` (400, 403,
        404) or :class:`Gone` (502, 504) when it cannot."""
        for key in body:
            if key not in CALL_FIELDS:
                raise BadRequest(
                    400, f"unknown field '{key}' (fields: {', '.join(CALL_FIELDS)})", param=key
                )
        name, arguments = body.get("name"), body.get("arguments", {})
        if not isinstance(name, str) or not name:
            raise BadRequest(400, "'name' must be a tool's name", param="name")
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, dict):
            raise BadRequest(400, "'arguments' must be a JSON object", param="arguments")
        where = body.get("server")
        if where is not None and not isinstance(where, str):
            raise BadRequest(400, "'server' must be an MCP server's name", param="server")
        server, tool = await self.find(name, where)
        short = bare(server, tool)
        if not self.allowed(server, short):
            raise BadRequest(
                403,
                f"tool '{short}' of MCP server '{server.name}' is not callable over HTTP; the "
                f"server's operator allows it with {ALLOW_HINT.format(name=short)}",
                "permission_error",
                "mcp_tool_not_allowed",
                param="name",
            )
        check_arguments(tool.spec.parameters, arguments)
        return await self.run(server, tool, arguments)

    async def find(self, name: str, where: str | None) -> tuple[MCPServerConfig, Tool]:
        if not self.servers:
            raise BadRequest(404, "this server's config has no MCP servers", code="not_found")
        if where is not None and where not in {s.name for s in self.servers}:
            raise BadRequest(404, f"no MCP server '{where}'", code="not_found", param="server")
        chosen = [
            (server, tool)
            for server, tool in await self.tool_list()
            if (where is None or server.name == where) and name in (tool.name, bare(server, tool))
        ]
        if len(chosen) == 1:
            return chosen[0]
        if chosen:
            full = ", ".join(tool.name for _, tool in chosen)
            raise BadRequest(
                400, f"'{name}' is a tool of several MCP servers: name one ({full})", param="name"
            )
        for server in self.servers:  # the tool may be a server's that is down
            if where in (None, server.name) and await self.client(server) is None:
                why = await self.problem(server)
                raise Gone(502, f"MCP server '{server.name}' is not running: {why}")
        raise BadRequest(404, f"no MCP tool '{name}'", code="not_found", param="name")

    async def run(
        self, server: MCPServerConfig, tool: Tool, arguments: dict[str, Any]
    ) -> dict[str, Any]:
        call = ToolCall(f"http_{next(self.ids)}", tool.name, json.dumps(arguments))
        self.publish(
            ToolCallStarted(
                agent_id=CALLER, call_id=call.id, name=call.name, arguments=call.arguments
            )
        )
        result = await run_call(tool, call, self.limits)
        self.publish(
            ToolCallFinished(
                agent_id=CALLER,
                call_id=call.id,
                name=call.name,
                result=result.preview,
                is_error=result.is_error,
                duration_s=round(result.duration_s, 4),
                output=result.text,
            )
        )
        line = result.text.removeprefix("Error: ").split("\n", 1)[0]  # one line, not the cap's
        if result.failure in ("unavailable", "crash"):
            raise Gone(502, line)
        if result.failure == "timeout":
            raise Gone(504, line)
        return {
            "object": "mcp.tool_result",
            "name": bare(server, tool),
            "server": server.name,
            "result": result.text,
            "is_error": result.is_error,
            "truncated": result.full_chars > self.limits.result_chars,
            "duration_s": round(result.duration_s, 4),
        }

    def publish(self, event: Event) -> None:
        if self.bus is None:
            self.bus = EventBus("mcp-http")
            self.listeners = list(self.make_listeners()) if self.make_listeners else []
            for listener in self.listeners:
                self.bus.add_listener(listener)
        self.bus.publish(event)


def bare(server: MCPServerConfig, tool: Tool) -> str:
    return tool.name.removeprefix(f"{MCP_PREFIX}{server.name}__")


def check_arguments(schema: dict[str, Any], arguments: dict[str, Any]) -> None:
    """A 400 naming the first argument that does not fit the tool's input schema."""
    import jsonschema

    try:
        validator = jsonschema.validators.validator_for(schema)(schema)
        error = jsonschema.exceptions.best_match(validator.iter_errors(arguments))
    except jsonschema.exceptions.SchemaError:  # the server's own mistake: it judges
        return
    if error is not None:
        where = "".join(f".{part}" for part in error.absolute_path)
        raise BadRequest(400, f"arguments{where}: {error.message}", param=f"arguments{where}")


def prompt_entry(server: MCPServerConfig, prompt: Any) -> dict[str, Any]:
    return {
        "name": prompt.name,
        "server": server.name,
        "title": getattr(prompt, "title", None),
        "description": prompt.description,
        "arguments": [
            {"name": a.name, "description": a.description, "required": bool(a.required)}
            for a in prompt.arguments or []
        ],
    }


def resource_entry(server: MCPServerConfig, resource: Any) -> dict[str, Any]:
    return {
        "name": resource.name,
        "server": server.name,
        "uri": str(resource.uri),
        "title": getattr(resource, "title", None),
        "description": resource.description,
        "mime_type": getattr(resource, "mime_type", None),
    }


def session_listeners(runs: RunService) -> Callable[[], list[RunListener]]:
    """The listeners of the calls' events: their session, when the server writes session
    logs (as a run's: redacted, written in the writer thread, results in files of their own)."""

    def make() -> list[RunListener]:
        if not runs.enable_logging:
            return []
        from massgen.sessions import recorder as sessions

        prepared = runs.prepared
        runs.header = runs.header or sessions.SessionHeader.of(prepared.config)
        recorder = sessions.SessionRecorder(
            prepared.config,
            f"{prepared.source} (MCP tool calls over HTTP)",
            log_dir=runs.log_dir,
            header=runs.header,
        )
        return [SessionRelay(recorder, runs.sessions)]

    return make
