"""``run_command``: an agent's shell command, run in its workspace inside an OS sandbox.

- **bubblewrap** (``bwrap``, Debian's ``bubblewrap``; :mod:`massgen.tools.bubblewrap`): new
  namespaces with no network, an unprivileged user; the system's programs (``/usr``) and a
  minimal ``/etc`` read-only; the agent's workspace read-write; the peers' snapshots and the
  context paths read-only (those granted ``write`` read-write for the presenter only);
  nothing else of the machine — no home directory, no other files.
- **Docker** (``use_docker: true``): the same binds in a container of ``docker_image``
  without network, through the Docker SDK, when a daemon answers.
- With no sandbox and none asked for, ``run_command`` is not offered (the run says why once),
  unless ``sandbox: none`` asks for commands to run unconfined on purpose.

Every command has a time limit, at which its whole process group is killed, and only the
first and last parts of its output are kept (:mod:`massgen.tools.processes`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from massgen.messages import ToolSpec
from massgen.tools.base import Tool, ToolError, cap
from massgen.tools.bubblewrap import bubblewrap_args, bubblewrap_works, mounts
from massgen.tools.processes import run_bounded
from massgen.workspaces.paths import PathPolicy
from massgen.workspaces.placeholders import PlaceholderError, Placeholders

#: Characters of ``output_chars`` left for the exit code line and the note on dropped output.
OUTPUT_RESERVE = 300


@dataclass(frozen=True)
class CommandSettings:
    sandbox: str  # "bubblewrap", "docker" or "none"
    timeout_s: float = 120.0
    output_chars: int = 20_000
    docker_image: str = "python:3.12-slim"


def docker_problem() -> str | None:
    """None when a Docker daemon answers, else one line saying why not."""
    try:
        import docker
    except ImportError:
        return "use_docker needs the Docker SDK: pip install 'massgen[docker]'"
    where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    if where.startswith("unix://") and not os.path.exists(where.removeprefix("unix://")):
        return (
            f"use_docker: no Docker daemon here ({where} does not exist; "
            "start Docker or set DOCKER_HOST)"
        )
    try:
        docker.from_env(timeout=3).ping()
    except Exception as exc:
        reason = " ".join(str(exc).split())[:160]
        return f"use_docker: the Docker daemon at {where} does not answer ({reason})"
    return None


def choose_sandbox(requested: str, use_docker: bool) -> tuple[str | None, str | None]:
    """``(sandbox, None)`` to use, or ``(None, why run_command is not offered)``."""
    if use_docker or requested == "docker":
        problem = docker_problem()
        return (None, problem) if problem else ("docker", None)
    if requested == "none":
        return "none", None
    problem = bubblewrap_works()
    if problem is None:
        return "bubblewrap", None
    return (
        None,
        f"run_command is not offered: {problem} (or set sandbox: none to run commands unconfined)",
    )


class CommandTool:
    """``run_command`` for one agent; ``policy()`` is its current view of the files."""

    def __init__(
        self,
        policy: Callable[[], PathPolicy],
        settings: CommandSettings,
        before: Callable[[], None] | None = None,
        after: Callable[[], None] | None = None,
    ) -> None:
        """``before`` / ``after`` run around every command (the presenter's are tracked so
        that what they change in the user's files is listed and can be undone)."""
        self.policy = policy
        self.settings = settings
        self.before = before or (lambda: None)
        self.after = after or (lambda: None)

    async def run(self, arguments: dict[str, Any]) -> str:
        command = arguments.get("command")
        if not isinstance(command, str) or not command.strip():
            raise ToolError("run_command needs a non-empty 'command' string")
        policy = self.policy()
        try:
            await asyncio.to_thread(self.before)
        except Exception as exc:
            raise ToolError(f"run_command: {exc}") from None
        try:
            if self.settings.sandbox == "none":
                return await self._run(policy, command)
            try:
                placeholders = Placeholders(policy).hold()
            except PlaceholderError as exc:
                raise ToolError(f"run_command: {exc}") from None
            try:
                return await self._run(policy, command)
            finally:
                placeholders.release()  # before ``after`` looks for what the command changed
        finally:
            await asyncio.to_thread(self.after)

    async def _run(self, policy: PathPolicy, command: str) -> str:
        if self.settings.sandbox == "docker":
            return await asyncio.to_thread(self._docker, policy, command)
        if self.settings.sandbox == "bubblewrap":
            argv = bubblewrap_args(policy, command)
        else:
            argv = ["/bin/sh", "-c", command]
        finished = await run_bounded(
            argv,
            cwd=policy.workspace,
            timeout_s=self.settings.timeout_s,
            output_bytes=max(self.settings.output_chars - OUTPUT_RESERVE, 0),
        )
        if finished.timed_out:
            raise ToolError(
                f"the command did not finish within {self.settings.timeout_s:g}s and was "
                f"stopped; its output so far:\n{finished.output}"
            )
        return f"exit code {finished.exit_code}\n{finished.output}"

    def _docker(self, policy: PathPolicy, command: str) -> str:
        import docker

        volumes: dict[str, dict[str, str]] = {}
        hidden: dict[str, str] = {}
        for kind, path in mounts(policy):  # Docker mounts parents before children
            if kind == "hide":
                hidden[str(path)] = ""
            else:
                volumes[str(path)] = {"bind": str(path), "mode": kind}
        client = docker.from_env()
        container = client.containers.run(
            self.settings.docker_image,
            ["/bin/sh", "-c", command],
            working_dir=str(policy.workspace),
            volumes=volumes,
            tmpfs=hidden,
            network_disabled=True,
            detach=True,
        )
        try:
            outcome = container.wait(timeout=self.settings.timeout_s)
            text = container.logs().decode("utf-8", "replace")
        except Exception:
            raise ToolError(
                f"the command did not finish within {self.settings.timeout_s:g}s"
            ) from None
        finally:
            with contextlib.suppress(Exception):
                container.remove(force=True)
        return cap(f"exit code {outcome.get('StatusCode')}\n{text}", self.settings.output_chars)

    def tool(self) -> Tool:
        where = {
            "bubblewrap": "in a sandbox without network",
            "docker": "in a Docker container without network",
            "none": "unconfined",
        }[self.settings.sandbox]
        spec = ToolSpec(
            "run_command",
            f"Run a shell command in your workspace ({where}); returns its exit code and "
            "output. Only your workspace is writable.",
            {
                "type": "object",
                "properties": {"command": {"type": "string", "description": "A /bin/sh command."}},
                "required": ["command"],
            },
        )
        return Tool(spec, self.run, "commands")
