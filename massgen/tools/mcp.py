"""MCP servers as tool sources, with the official ``mcp`` SDK.

One :class:`MCPHub` per run starts every configured server once — agents whose servers have
the same command, arguments and environment (or URL and headers) share one process — and
closes them when the run ends, however it ends. Each server lives in its own task (the SDK's
contexts must be entered and left in one task); agents' turns call its tools through the
session it opened. A server that fails to start leaves its agents without its tools, with
one notice naming it and the tail of its stderr; one that dies mid-run is started again,
once, for the calls that come after. A call that was in flight when its server died comes
back as an error and is never sent again: the tool may have done its work before the server
died. Tools are offered as ``mcp__<server>__<tool>``.

A stdio server is started through a two-line launcher that asks Linux to stop it when
massgen itself dies (``PR_SET_PDEATHSIG``), so not even a killed massgen leaves it behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import importlib
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from massgen.errors import ConfigurationError
from massgen.messages import ToolSpec
from massgen.tools.base import MCP_PREFIX, Tool, ToolError, ToolUnavailable

if TYPE_CHECKING:
    from massgen.config.tool_config import MCPServerConfig

log = logging.getLogger("massgen")

#: How long a server may take to start and list its tools.
START_TIMEOUT_S = 30.0
#: Starts a command so that it gets SIGTERM when its parent (massgen) dies.
_LAUNCHER = (
    "import ctypes, os, signal, sys\n"
    "if sys.platform.startswith('linux'):\n"
    "    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)\n"
    "    if os.getppid() != int(sys.argv[1]): sys.exit(1)\n"
    "try:\n"
    "    os.execvp(sys.argv[2], sys.argv[2:])\n"
    "except OSError as e:\n"
    "    sys.stderr.write(f'cannot run {sys.argv[2]!r}: {e.strerror}\\n'); sys.exit(127)\n"
)


def tool_name(server: str, tool: str) -> str:
    return f"{MCP_PREFIX}{server}__{tool}"


def server_key(config: MCPServerConfig) -> tuple[Any, ...]:
    """Servers with equal keys are one process (the name is only how agents call it)."""
    if config.type == "stdio":
        return (
            "stdio",
            config.command,
            tuple(config.args),
            tuple(sorted(config.env.items())),
            config.cwd,
        )
    return ("http", config.url, tuple(sorted(config.headers.items())))


def _attr(obj: Any, *names: str) -> Any:
    """A field of an SDK object under its mcp 2 (snake_case) or mcp 1 (camelCase) name."""
    for name in names:
        value = getattr(obj, name, None)
        if value is not None:
            return value
    return None


def _text_of(result: Any) -> str:
    """A ``CallToolResult``'s content as text."""
    parts: list[str] = []
    for item in getattr(result, "content", None) or []:
        kind = getattr(item, "type", "")
        if kind == "text":
            parts.append(item.text)
        elif kind == "image":
            parts.append(f"[image: {_attr(item, 'mime_type', 'mimeType') or 'image'}]")
        elif kind == "resource":
            resource = getattr(item, "resource", None)
            parts.append(
                getattr(resource, "text", None) or f"[resource: {getattr(resource, 'uri', '')}]"
            )
        else:
            parts.append(f"[{kind or 'content'}]")
    structured = _attr(result, "structured_content", "structuredContent")
    if not parts and structured is not None:
        import json

        parts.append(json.dumps(structured, ensure_ascii=False, default=str))
    return "\n".join(parts)


@dataclass
class _Server:
    """One running (or failed) server and what it offers."""

    config: MCPServerConfig
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    client: Any = None
    tools: list[Any] = field(default_factory=list)
    error: str | None = None
    task: asyncio.Task[None] | None = None
    restarts: int = 0
    stderr: Any = None
    #: The connection ended while the server was meant to run (it died, or hung up).
    lost: bool = False
    #: Bumped by every start, so a stale connection's end is not taken for this one's.
    generation: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def mark_lost(self, generation: int) -> None:
        if generation == self.generation and not self.stop.is_set():
            self.lost = True

    def stderr_tail(self, lines: int = 3) -> str:
        if self.stderr is None:
            return ""
        with contextlib.suppress(OSError, ValueError):
            self.stderr.flush()
            self.stderr.seek(0)
            tail = [line.strip() for line in self.stderr.read().splitlines() if line.strip()]
            return " | ".join(tail[-lines:])[-400:]
        return ""


class MCPHub:
    """The MCP servers of one run. ``notice(agent_ids, text)`` reports a server problem (a
    public attribute: a hub started before its run reports to the run once it exists).
    ``max_restarts``: how often a server whose connection was lost is started again (a
    run's hub: once; a long-lived one, such as the server's, may allow more)."""

    def __init__(
        self,
        notice: Callable[[list[str], str], object] | None = None,
        *,
        max_restarts: int = 1,
    ) -> None:
        self.max_restarts = max_restarts
        self._servers: dict[tuple[Any, ...], _Server] = {}
        self._users: dict[tuple[Any, ...], list[str]] = {}
        self._named: list[tuple[MCPServerConfig, str]] = []  # entries that name tools
        self.notice = notice or (lambda agents, text: log.warning("massgen: %s", text))
        # the SDK logs a traceback for every line a broken server prints; the notices say
        # what matters, and an application that configures logging still gets the records
        sdk_log = logging.getLogger("mcp")
        if not sdk_log.handlers:
            sdk_log.addHandler(logging.NullHandler())

    def add(self, agent_id: str, config: MCPServerConfig, where: str = "") -> None:
        """``agent_id`` uses the server ``config`` describes (``where``: the entry's place in
        the config, for errors)."""
        key = server_key(config)
        self._servers.setdefault(key, _Server(config))
        self._users.setdefault(key, []).append(agent_id)
        if _named_tools(config):
            self._named.append((config, where or f"{agent_id}: MCP server '{config.name}'"))

    def is_running(self, config: MCPServerConfig) -> bool:
        """Whether the server is up and its connection open (as far as the hub knows)."""
        server = self._servers.get(server_key(config))
        return server is not None and server.client is not None and not server.lost

    async def session(self, config: MCPServerConfig) -> Any:
        """The SDK client of ``config``'s server once it is up (started again first when its
        connection was lost), for what the hub does not wrap (prompts, resources, the
        server's capabilities); None when it is not running (:meth:`problem` says why)."""
        server = self._servers[server_key(config)]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(config.startup_timeout_seconds + 5):
                await server.ready.wait()
        await self._revive(server)
        return None if server.lost else server.client

    def problem(self, config: MCPServerConfig) -> str | None:
        """Why ``config``'s server is not running (None: it is, or is still starting)."""
        server = self._servers.get(server_key(config))
        if server is None:
            return "it is not configured"
        if server.error is not None:
            return server.error
        if server.ready.is_set() and (server.client is None or server.lost):
            return "it stopped"
        return None

    async def restart(self, config: MCPServerConfig) -> None:
        """Start ``config``'s server afresh when it did not start or stopped for good (a
        long-lived hub's second chance; a run's hub never calls this)."""
        server = self._servers[server_key(config)]
        async with server.lock:
            if server.task is not None and not server.task.done() and not server.lost:
                return  # running, or still starting
            await self._stop(server)
            server.ready, server.stop = asyncio.Event(), asyncio.Event()
            server.client, server.error, server.lost = None, None, False
            server.task = asyncio.create_task(self._serve(server), name=f"mcp:{config.name}")

    async def check_tool_names(self) -> None:
        """Wait for the servers whose entries name tools (``allowed_tools``,
        ``exclude_tools``, ``read_only_tools``) and refuse a name the server does not have:
        a :class:`ConfigurationError` naming the entry and listing the tools it has. A
        server that did not start cannot be checked (its notice says it did not start)."""
        servers = [self._servers[server_key(config)] for config, _ in self._named]
        await asyncio.gather(*(server.ready.wait() for server in servers))
        for (config, where), server in zip(self._named, servers, strict=True):
            if server.client is None:
                continue
            problem = name_problem(config, [tool.name for tool in server.tools])
            if problem:
                raise ConfigurationError(f"{where}: {problem}")

    def start(self) -> None:
        """Start every server in the background (model calls need not wait for them)."""
        for server in self._servers.values():
            if server.task is None:
                server.task = asyncio.create_task(
                    self._serve(server), name=f"mcp:{server.config.name}"
                )

    async def tools_for(self, agent_id: str, configs: Sequence[MCPServerConfig]) -> list[Tool]:
        """The tools ``agent_id`` gets from its servers, once they are up (a server that
        failed contributes nothing; its notice was given when it failed)."""
        tools: list[Tool] = []
        for config in configs:
            server = self._servers[server_key(config)]
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(config.startup_timeout_seconds + 5):
                    await server.ready.wait()
            if server.error is not None or server.client is None:
                continue
            for tool in server.tools:
                if config.allowed_tools is not None and tool.name not in config.allowed_tools:
                    continue
                if tool.name in config.exclude_tools:
                    continue
                schema = _attr(tool, "input_schema", "inputSchema")
                schema = schema if isinstance(schema, dict) else None
                if not schema or schema.get("type") != "object":
                    self.notice(
                        [agent_id],
                        f"MCP server '{config.name}': tool '{tool.name}' left out: its input "
                        "schema is not a JSON object",
                    )
                    continue
                spec = ToolSpec(
                    tool_name(config.name, tool.name), tool.description or tool.name, schema
                )
                tools.append(
                    Tool(
                        spec,
                        self._caller(server, tool.name),
                        f"mcp:{config.name}",
                        side_effects=not read_only(config, tool),
                    )
                )
        return tools

    def _caller(self, server: _Server, name: str) -> Callable[[dict[str, Any]], Any]:
        async def call(arguments: dict[str, Any]) -> str:
            await self._revive(server)  # a server that died before this call: start it again
            client = server.client
            if client is None:
                raise ToolUnavailable(f"MCP server '{server.config.name}' is not running")
            try:
                result = await client.call_tool(name, arguments)
            except Exception as exc:
                if server.lost or _looks_closed(exc):
                    # it may have run (in part): sending it again could do its work twice
                    server.lost = True
                    raise ToolUnavailable(
                        f"MCP server '{server.config.name}' stopped during the call to {name} "
                        f"({_reason(exc)}); the call was not sent again, so it may or may not "
                        "have taken effect"
                    ) from None
                raise ToolError(
                    f"MCP server '{server.config.name}': {name} failed: {_reason(exc)}"
                ) from None
            text = _text_of(result)
            if _attr(result, "is_error", "isError"):
                raise ToolError(text or f"{name} reported an error")
            return text

        return call

    async def _revive(self, server: _Server) -> None:
        """Start a server whose connection was lost again, once per run, for the calls that
        come after; after that it stays stopped."""
        if not server.lost:
            return
        async with server.lock:  # concurrent calls: one restart
            if not server.lost:
                return
            users = self._users[server_key(server.config)]
            if server.restarts >= self.max_restarts:
                server.lost = False
                await self._stop(server)
                self.notice(
                    users,
                    f"MCP server '{server.config.name}' stopped again; going on without its tools",
                )
                return
            server.restarts += 1
            self.notice(users, f"MCP server '{server.config.name}' stopped; restarting it")
            await self._stop(server)
            server.ready, server.stop = asyncio.Event(), asyncio.Event()
            server.client, server.error, server.lost = None, None, False
            server.task = asyncio.create_task(self._serve(server), name=f"mcp:{server.config.name}")
            await server.ready.wait()

    async def _serve(self, server: _Server) -> None:
        # the SDK's first import takes 0.5 s or more: in a thread, so the agents' streams go
        # on, and before the deadline starts (it is the server's time, not the SDK's)
        mcp = await asyncio.to_thread(importlib.import_module, "mcp")
        config = server.config
        limit = config.startup_timeout_seconds
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit  # one deadline for the start, handshake and tool list
        # the SDK takes up to a few seconds to stop a server that does not answer: the notice
        # is given at the deadline all the same, and the stopping goes on meanwhile
        overdue = loop.call_at(deadline, self._not_started, server, f"no answer within {limit:g}s")
        try:
            async with asyncio.timeout_at(deadline):
                client = await mcp.Client(self._transport(server), mode="auto").__aenter__()
            try:
                async with asyncio.timeout_at(deadline):
                    listed = await client.list_tools()
                overdue.cancel()
                server.tools = list(listed.tools)
                server.client = client
                server.ready.set()
                await server.stop.wait()
            finally:
                server.client = None
                with contextlib.suppress(Exception):
                    await client.__aexit__(None, None, None)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self._not_started(server, _reason(exc, limit))
        finally:
            overdue.cancel()
            server.ready.set()

    def _not_started(self, server: _Server, reason: str) -> None:
        """The one notice of a server that could not start (unless it was given already)."""
        if server.ready.is_set():
            return
        tail = server.stderr_tail()
        server.error = reason + (f"; its stderr: {tail}" if tail else "")
        self.notice(
            self._users[server_key(server.config)],
            f"MCP server '{server.config.name}' did not start: {server.error}"
            "; going on without its tools",
        )
        server.ready.set()

    def _transport(self, server: _Server) -> Any:
        """The server's transport, watched: its end marks the server lost."""
        server.generation += 1
        generation = server.generation

        @contextlib.asynccontextmanager
        async def watched() -> Any:
            async with self._raw_transport(server) as (read, write):
                yield _Watched(read, lambda: server.mark_lost(generation)), write

        return watched()

    def _raw_transport(self, server: _Server) -> Any:
        config = server.config
        if config.type == "stdio":
            from mcp.client.stdio import StdioServerParameters, stdio_client

            server.stderr = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")  # noqa: SIM115 - closed by _stop
            params = StdioServerParameters(
                command=sys.executable,
                args=["-c", _LAUNCHER, str(os.getpid()), config.command or "", *config.args],
                env={**os.environ, **config.env},
                cwd=config.cwd,
                encoding_error_handler="replace",
            )
            return stdio_client(params, errlog=server.stderr)
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        client = httpx2.AsyncClient(
            headers=dict(config.headers), timeout=config.startup_timeout_seconds
        )
        return streamable_http_client(config.url or "", http_client=client)

    async def _stop(self, server: _Server) -> None:
        server.stop.set()
        if server.task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                async with asyncio.timeout(10):
                    await asyncio.shield(server.task)
            if not server.task.done():
                server.task.cancel()
                with contextlib.suppress(BaseException):
                    await server.task
        if server.stderr is not None:
            with contextlib.suppress(OSError):
                server.stderr.close()
            server.stderr = None

    async def close(self) -> None:
        """Stop every server (their processes end); safe to call more than once."""
        await asyncio.gather(*(self._stop(s) for s in self._servers.values()))


class _Watched:
    """A transport's read stream that calls ``on_end`` when the other side hangs up (the
    SDK's reader sees the end of the stream before it fails the calls in flight)."""

    def __init__(self, inner: Any, on_end: Callable[[], None]) -> None:
        self._inner = inner
        self._on_end = on_end

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __aiter__(self) -> _Watched:
        return self

    async def __anext__(self) -> Any:
        import anyio

        try:
            return await self._inner.__anext__()
        except (StopAsyncIteration, anyio.ClosedResourceError):
            self._on_end()
            raise

    async def receive(self) -> Any:
        import anyio

        try:
            return await self._inner.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            self._on_end()
            raise

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> _Watched:
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> Any:
        return await self._inner.__aexit__(*exc)


def read_only(config: MCPServerConfig, tool: Any) -> bool:
    """Whether a server's tool only reads (planning mode lets it run while the agents
    coordinate): the entry's ``read_only`` for all its tools, else ``read_only_tools``, else
    the server's own ``readOnlyHint``. Unmarked tools may change things."""
    if config.read_only is not None:
        return config.read_only
    if tool.name in config.read_only_tools:
        return True
    annotations = getattr(tool, "annotations", None)
    return bool(annotations is not None and _attr(annotations, "read_only_hint", "readOnlyHint"))


def _named_tools(config: MCPServerConfig) -> bool:
    return bool(config.allowed_tools or config.exclude_tools or config.read_only_tools)


def name_problem(config: MCPServerConfig, available: Sequence[str]) -> str | None:
    """The first tool name ``config`` gives that a server offering ``available`` lacks, as
    one line listing what it has; None when every name is there."""
    have = sorted(available)
    for key in ("allowed_tools", "exclude_tools", "read_only_tools"):
        for name in getattr(config, key) or ():
            if name in have:
                continue
            close = difflib.get_close_matches(name, have, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'? " if close else ""
            listed = ", ".join(have) or "no tools at all"
            return (
                f"{key}: MCP server '{config.name}' has no tool '{name}' ({hint}it has: {listed})"
            )
    return None


async def check_tool_names(entries: Sequence[tuple[str, MCPServerConfig, str]]) -> list[str]:
    """``massgen --validate``: start the servers of the ``(agent id, server, where)`` entries
    that name tools, check the names (:class:`ConfigurationError` as at a run's start) and
    stop them; the notices of servers that could not start, which were not checked."""
    named = [entry for entry in entries if _named_tools(entry[1])]
    if not named:
        return []
    notices: list[str] = []
    hub = MCPHub(lambda agents, text: notices.append(text))
    for agent_id, config, where in named:
        hub.add(agent_id, config, where)
    hub.start()
    try:
        await hub.check_tool_names()
    finally:
        await hub.close()
    return notices


def _looks_closed(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    return any(word in text for word in ("closed", "broken", "eof", "terminated", "reset"))


def _reason(exc: BaseException, limit: float = START_TIMEOUT_S) -> str:
    """One line for an exception (an exception group's first leaf)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, TimeoutError):
        return f"no answer within {limit:g}s"
    if isinstance(exc, FileNotFoundError):
        return f"command not found: {exc.filename or exc}"
    errors = getattr(exc, "errors", None)
    if callable(errors) and type(exc).__name__ == "ValidationError":  # the server's reply
        first = errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        return f"it sent an invalid reply: {where}: {first.get('msg')}"
    message = " ".join(str(exc).split()) or type(exc).__name__
    return message[:300]
