"""The rules Claude Code's own tools keep inside massgen, decided before each tool runs.

Claude Code's Read/Write/Edit/Grep/Glob/Bash act on the machine directly, so every call is
checked here first (the backend wires :meth:`ToolGuard.decide` into the SDK's ``PreToolUse``
hook and ``can_use_tool`` callback):

* reads (Read, Grep, Glob) only where the agent's :class:`~massgen.workspaces.paths.PathPolicy`
  lets it read: its workspace, peers' snapshots, granted context paths; a Grep or Glob over a
  folder that holds massgen's own (hidden) files is refused, as it would list their names;
* writes (Write, Edit, NotebookEdit) only where it may write — its workspace, and write grants
  while it presents — after ``before_write`` recorded the change for ``massgen logs restore``;
* Bash only inside the bubblewrap sandbox: the command is rewritten into the ``bwrap`` command
  line of :func:`~massgen.tools.bubblewrap.bubblewrap_args` (with the placeholders of protected
  paths that do not exist held until it ends), or refused when there is none;
* massgen's own tools (``mcp__massgen__*``) always; any other tool never.

In a run without files the policy is the backend's ``cwd``: read and write there, nothing else.
Nothing here imports the SDK.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from massgen.workspaces.paths import PathPolicy, PathRefused
from massgen.workspaces.placeholders import PlaceholderError, Placeholders

if TYPE_CHECKING:
    from massgen.tools.lending import AgentFiles

#: The SDK MCP server massgen's tools are offered through (Claude Code names them
#: ``mcp__massgen__<tool>``).
SERVER = "massgen"
PREFIX = f"mcp__{SERVER}__"

_READS = {"Read": "file_path", "Grep": "path", "Glob": "path"}
_WRITES = {"Write": "file_path", "Edit": "file_path", "NotebookEdit": "notebook_path"}
_HARMLESS = frozenset({"TodoWrite"})  # Claude Code's own to-do list, no files


@dataclass
class Decision:
    """Allow (with ``updated_input`` replacing the tool's input, if set) or deny with ``reason``,
    which Claude Code shows the model."""

    allow: bool
    reason: str = ""
    updated_input: dict[str, Any] | None = None


class ToolGuard:
    """Decides each of Claude Code's tool calls for one agent turn."""

    def __init__(self, files: AgentFiles | None, cwd: Path) -> None:
        self.files = files
        self.cwd = cwd
        self.running: list[Placeholders] = []  # one per Bash call allowed, until it ends

    def policy(self) -> PathPolicy:
        """The agent's current view (it widens while the agent presents)."""
        if self.files is not None:
            return self.files.policy()
        return PathPolicy(workspace=self.cwd, readable=[self.cwd], writable=[self.cwd])

    def decide(self, tool: str, tool_input: dict[str, Any]) -> Decision:
        if tool.startswith(PREFIX) or tool in _HARMLESS:
            return Decision(True)
        try:
            if tool in _READS:
                return self._read(tool, tool_input)
            if tool in _WRITES:
                return self._write(tool, tool_input)
        except PathRefused as refused:
            return Decision(False, f"{tool} refused: {refused}")
        if tool == "Bash":
            return self._bash(tool_input)
        return Decision(False, f"{tool} is not available to massgen agents")

    def _read(self, tool: str, tool_input: dict[str, Any]) -> Decision:
        policy = self.policy()
        given = tool_input.get(_READS[tool]) or str(policy.workspace)
        resolved = policy.check(str(given))
        if tool in ("Grep", "Glob") and policy.hides_inside(resolved):
            # Claude Code lists the names itself, so none could be left out afterwards
            return Decision(
                False,
                f"{tool} refused: {given} holds massgen's own files (other agents' workspaces, "
                "the event log); search a folder inside it, or use search_files, which leaves "
                "them out",
            )
        if tool == "Glob":  # the pattern itself may climb out ("../*", "/etc/*")
            pattern = str(tool_input.get("pattern") or "")
            fixed = _fixed_prefix(pattern)
            if fixed:
                base = Path(str(given))
                base = base if base.is_absolute() else policy.workspace / base
                policy.check(str(base / fixed))
        return Decision(True)

    def _write(self, tool: str, tool_input: dict[str, Any]) -> Decision:
        policy = self.policy()
        given = str(tool_input.get(_WRITES[tool]) or "")
        resolved = policy.check_writable_file(given)
        if self.files is not None:
            self.files.before_write(resolved, "changed" if resolved.exists() else "created")
        return Decision(True)

    def _bash(self, tool_input: dict[str, Any]) -> Decision:
        from massgen.tools.bubblewrap import bubblewrap_args, bubblewrap_works

        if tool_input.get("run_in_background"):
            return Decision(False, "Bash refused: background commands are not allowed here")
        if self.files is not None:
            settings = self.files.commands
            if settings is None or settings.sandbox != "bubblewrap":
                how = "use the run_command tool" if settings is not None else "commands are off"
                return Decision(
                    False, f"Bash refused: it runs only in a bubblewrap sandbox here ({how})"
                )
        else:
            problem = bubblewrap_works()
            if problem:
                return Decision(False, f"Bash refused: it runs only in a sandbox, and {problem}")
        command = str(tool_input.get("command") or "")
        policy = self.policy()
        if self.files is not None:
            self.files.before_command()
        try:
            placeholders = Placeholders(policy).hold()  # before the mounts are decided
        except PlaceholderError as exc:
            if self.files is not None:
                self.files.after_command()
            return Decision(False, f"Bash refused: {exc}")
        self.running.append(placeholders)
        sandboxed = shlex.join(bubblewrap_args(policy, command))
        return Decision(True, updated_input={**tool_input, "command": sandboxed})

    def command_finished(self) -> None:
        """After a Bash call this guard allowed: the placeholders of protected paths it held
        go, then a presenter's changes are tracked."""
        if self.running:
            self.running.pop(0).release()
            if self.files is not None:
                self.files.after_command()

    def finish(self) -> None:
        """End of the turn: close any command whose end was not reported."""
        while self.running:
            self.command_finished()


def _fixed_prefix(pattern: str) -> str:
    """The part of a glob pattern before its first wildcard, as a path ("../x/*" -> "../x")."""
    parts: list[str] = []
    for part in pattern.split("/"):
        if any(c in part for c in "*?[{"):
            break
        parts.append(part)
    else:
        parts = parts[:-1]  # the last part names files, not a folder
    return "/".join(parts) if pattern.startswith("/") else "/".join(p for p in parts if p)
