"""The files side of a run: which user paths are granted, whether commands can run (and
where), each agent's file and command tools, and the ``<FILES>`` note of its prompt.

:func:`plan_files` checks everything a config asks for before a run starts (a missing context
path or an unavailable sandbox that was asked for is a config error, before any session
exists); :class:`RunFiles` is one run's workspaces and the tools made on them.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from massgen.config.schema import OrchestratorConfig
from massgen.coordination import prompts
from massgen.errors import ConfigurationError
from massgen.tools.lending import AgentFiles

# The file and command tools and the workspaces are imported by the runs that have files
# (a run without them starts faster: docs/architecture.md, "Start-up").
if TYPE_CHECKING:
    from massgen.tools.base import Tool
    from massgen.tools.commands import CommandSettings
    from massgen.workspaces.manager import Grant
    from massgen.workspaces.paths import PathPolicy


@dataclass(frozen=True)
class FilesPlan:
    """What a config asks for, checked: the grants, and the commands' sandbox (or why
    ``run_command`` is not offered)."""

    grants: list[Grant]
    commands: CommandSettings | None
    command_problem: str | None


def plan_files(cfg: OrchestratorConfig) -> FilesPlan | None:
    """The run's files, or None when it has none: ``enable_filesystem: false``, or neither
    ``enable_filesystem: true`` nor context paths nor commands."""
    wants_commands = cfg.enable_command_line or cfg.use_docker
    if cfg.enable_filesystem is False:
        return None
    if not (cfg.enable_filesystem or cfg.context_paths or wants_commands):
        return None
    from massgen.tools.commands import CommandSettings, choose_sandbox
    from massgen.workspaces.manager import grants_from

    grants = grants_from(cfg.context_paths)
    commands, problem = None, None
    if wants_commands:
        sandbox, problem = choose_sandbox(cfg.sandbox, cfg.use_docker)
        if problem and (cfg.use_docker or cfg.sandbox != "auto"):
            raise ConfigurationError(problem)  # asked for by name, and not there
        if sandbox is not None:
            commands = CommandSettings(
                sandbox,
                timeout_s=cfg.command_timeout_seconds,
                output_chars=cfg.tool_result_max_chars,
                docker_image=cfg.docker_image,
            )
    return FilesPlan(grants, commands, problem)


class RunFiles:
    """One run's workspaces (under ``root``, or a temporary folder removed by
    :meth:`close`) and the agents' file and command tools on them."""

    def __init__(self, plan: FilesPlan, cfg: OrchestratorConfig, root: Path | None) -> None:
        from massgen.workspaces.manager import Workspaces

        self.plan = plan
        self.temporary = root is None
        if root is None:
            root = Path(tempfile.mkdtemp(prefix="massgen-files-"))
        self.workspaces = Workspaces(
            root,
            plan.grants,
            workspaces_dir=_path(cfg.agent_temporary_workspace),
            snapshots_dir=_path(cfg.snapshot_storage),
        )

    def agent_files(self, label: str, presenting: Callable[[], bool]) -> AgentFiles:
        """Agent ``label``'s files; ``presenting()`` says whether it is writing the final
        answer right now (only then are write grants open, and commands tracked)."""
        files = self.workspaces

        def policy() -> PathPolicy:
            return files.policy(label, presenting=presenting())

        def before() -> None:
            if presenting():
                files.before_command()

        def after() -> None:
            if presenting():
                files.after_command()

        return AgentFiles(policy, files.before_write, self.plan.commands, before, after)

    def tools(self, label: str, presenting: Callable[[], bool]) -> list[Tool]:
        """The file tools (and ``run_command`` when commands can run) of agent ``label``."""
        from massgen.tools.commands import CommandTool
        from massgen.tools.files import FileTools

        view = self.agent_files(label, presenting)
        tools = FileTools(view.policy, view.before_write).tools()
        if view.commands is not None:
            command = CommandTool(
                view.policy, view.commands, view.before_command, view.after_command
            )
            tools.append(command.tool())
        return tools

    def note(self, label: str, presenting: bool = False) -> str:
        """The ``<FILES>`` block of the agent's prompt."""
        policy = self.workspaces.policy(label, presenting=presenting)
        writable = [str(p) for p in policy.writable if p != policy.workspace]
        readable = [str(p) for p in policy.readable if p not in policy.writable]
        return prompts.files_block(str(policy.workspace), readable, writable, presenting)

    def close(self) -> None:
        """The run is over: record what it left in the user's files (for ``massgen logs
        restore`` to tell later edits apart), and remove what only the run needed."""
        if self.temporary:
            shutil.rmtree(self.workspaces.root, ignore_errors=True)
        else:  # copies of answers that were never taken (a turn cancelled meanwhile)
            self.workspaces.seal()
            shutil.rmtree(self.workspaces.staging, ignore_errors=True)


async def open_run_files(
    plan: FilesPlan | None, cfg: OrchestratorConfig, root: Path | None
) -> RunFiles | None:
    """The run's :class:`RunFiles`, its folders made in a thread so that concurrent runs'
    set-ups never wait on the disk in the event loop (docs/architecture.md, "The server").
    A caller cancelled meanwhile leaves nothing behind: the folders are removed."""
    if plan is None:
        return None
    making = asyncio.ensure_future(asyncio.to_thread(RunFiles, plan, cfg, root))
    try:
        return await asyncio.shield(making)
    except asyncio.CancelledError:
        making.add_done_callback(_close_unused)
        raise


def _close_unused(making: asyncio.Future[RunFiles]) -> None:
    if not making.cancelled() and making.exception() is None:
        with contextlib.suppress(OSError):
            making.result().close()


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None
