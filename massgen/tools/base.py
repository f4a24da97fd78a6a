"""An agent's own tools, as the engine's tool loop sees them (docs/architecture.md, "Tools").

A :class:`Tool` is a spec the model is offered and a coroutine that runs a call. Where the
tool comes from (a custom Python function, an MCP server, the file tools) is the source's
business; :func:`run_call` applies the bounds every call has — a time limit, a cap on the
result's size — and turns every failure into an error result for the model, never an
exception for the engine.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from massgen.errors import describe
from massgen.messages import ToolCall, ToolSpec

#: The name prefix of tools from an MCP server: ``mcp__<server>__<tool>`` (upstream's form).
MCP_PREFIX = "mcp__"
PREVIEW_CHARS = 300
#: The kinds of failed call: no such tool, arguments that are not a JSON object, out of time,
#: the tool's own error, its source not there (:class:`ToolUnavailable`), a tool's bug.
FAILURES = ("missing", "arguments", "timeout", "tool", "unavailable", "crash")


class ToolError(Exception):
    """A tool call that failed in a way the model should be told about (its message is
    the result the model sees)."""


class ToolUnavailable(ToolError):
    """The tool's source could not take the call: its server is not running, or stopped
    during the call (the model is told as for any :class:`ToolError`)."""


@dataclass
class Tool:
    """One tool an agent may call. ``run`` takes the parsed arguments and returns text;
    ``close``, when there is one, releases what the tool holds between runs (worker
    processes); ``side_effects``: an MCP tool not marked read-only, whose calls planning mode
    holds back until the final presentation; ``timeout_s``: a limit of its own."""

    spec: ToolSpec
    run: Callable[[dict[str, Any]], Awaitable[str]]
    source: str = "custom"  # "custom", "mcp:<server>", "files", ...
    close: Callable[[], Awaitable[None]] | None = None
    side_effects: bool = False
    #: its own time limit in seconds, in place of the run's (a video takes minutes)
    timeout_s: float | None = None

    @property
    def name(self) -> str:
        return self.spec.name


async def close_tools(tools: Iterable[Tool]) -> None:
    """Release what ``tools`` hold, once per distinct ``close`` (a run's end)."""
    closers = {id(tool.close): tool.close for tool in tools if tool.close is not None}
    await asyncio.gather(*(close() for close in closers.values()))


@dataclass
class ToolResult:
    """What one call produced: the text sent back to the model (capped), whether it is an
    error, how long it took, and how long the uncapped result was. ``failure`` says what
    kind of error (:data:`FAILURES`; None when the call succeeded)."""

    call: ToolCall
    text: str
    is_error: bool
    duration_s: float
    full_chars: int
    failure: str | None = None

    @property
    def preview(self) -> str:
        flat = " ".join(self.text.split())
        return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"


@dataclass(frozen=True)
class ToolLimits:
    """The bounds on an agent's tool use in one turn."""

    calls_per_turn: int = 25
    timeout_s: float = 60.0
    result_chars: int = 20_000


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


def cap(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, saying so, so the model knows it is partial."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[truncated: the result had {len(text):,} characters; {limit:,} shown]"


async def run_call(tool: Tool | None, call: ToolCall, limits: ToolLimits) -> ToolResult:
    """Run one call within the limits. A tool that does not exist, arguments that are not a
    JSON object, a tool that raises or runs out of time: each is an error result."""
    started = time.monotonic()

    def result(text: str, failure: str | None = None) -> ToolResult:
        return ToolResult(
            call=call,
            text=cap(text, limits.result_chars),
            is_error=failure is not None,
            duration_s=time.monotonic() - started,
            full_chars=len(text),
            failure=failure,
        )

    if tool is None:
        return result(f"Error: there is no tool named '{call.name}'", "missing")
    try:
        arguments = call.parsed_arguments()
    except ValueError as exc:
        return result(f"Error: {call.name}: {exc}", "arguments")
    limit = tool.timeout_s or limits.timeout_s
    try:
        async with asyncio.timeout(limit):
            output = await tool.run(arguments)
    except TimeoutError:
        text = f"Error: {call.name} did not finish within {limit:g}s"
        return result(text, "timeout")
    except ToolUnavailable as exc:
        return result(f"Error: {exc}", "unavailable")
    except ToolError as exc:
        return result(f"Error: {exc}", "tool")
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a tool's own bug is the model's information, not a crash
        text = f"Error: {call.name} failed: {type(exc).__name__}: {describe(exc)}"
        return result(text, "crash")
    return result(_text(output))
