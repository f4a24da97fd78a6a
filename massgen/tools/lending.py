"""What the engine lends a backend that runs its own agent loop (Claude Code, AG2).

Such a backend's framework calls tools and touches files itself, so for one call it is lent
massgen's tools (:class:`AgentTurn`) and the agent's files under massgen's rules
(:class:`AgentFiles`). See docs/architecture.md.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from massgen.messages import ToolCall
    from massgen.tools.commands import CommandSettings
    from massgen.workspaces.paths import PathPolicy


@dataclass
class AgentFiles:
    """An agent's files, for a backend whose framework has file and shell tools of its own
    (Claude Code's Read/Write/Bash, AG2's code executors): they must keep the same rules as
    massgen's file tools."""

    #: The agent's view right now (its workspace is ``policy().workspace``); it widens while
    #: the agent presents. ``policy().check(path, write=...)`` refuses what it may not touch.
    policy: Callable[[], PathPolicy]
    #: Call before changing ``path`` (how: ``created``/``changed``/``moved``/``deleted``) so the
    #: change is listed and ``massgen logs restore`` can undo it.
    before_write: Callable[[Path, str], None]
    #: Commands' sandbox (None: commands may not run); see :mod:`massgen.tools.commands`.
    commands: CommandSettings | None = None
    #: Around every shell command (they track a presenter's changes to the user's files).
    before_command: Callable[[], None] = lambda: None
    after_command: Callable[[], None] = lambda: None


@dataclass(frozen=True)
class ToolReply:
    """What one of the agent's own tools answered: its text, and whether it failed (the
    framework marks the result as an error to its model, as MCP's ``isError`` does)."""

    text: str
    is_error: bool = False


@dataclass
class AgentTurn:
    """What the engine lends a backend that runs its own agent loop
    (:attr:`~massgen.backends.base.Backend.runs_own_loop`) for its next ``stream`` call.

    Of the offered tools, those named in ``own_tools`` (MCP, custom, file tools) are the
    backend's to call through ``run_tool`` inside its loop (the engine runs them, bounded, and
    emits their events; a failure comes back as its text, marked ``is_error``). Any other
    offered tool is a workflow action (``new_answer``, ``vote``): the backend yields it as a
    :class:`~massgen.messages.ToolCallChunk` and ends the stream there."""

    run_tool: Callable[[ToolCall], Awaitable[ToolReply]]
    own_tools: frozenset[str] = frozenset()
    files: AgentFiles | None = None
    #: The longest the engine lets one of the own tools run (a video may take ten minutes):
    #: a framework that bounds tool calls itself must wait at least that long for the answer.
    tool_timeout_s: float | None = None
