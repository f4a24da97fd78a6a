"""The code an AG2 agent writes, run the way massgen runs commands: an AG2 ``CodeExecutor``
whose blocks go through :class:`massgen.tools.commands.CommandTool`, so ``executor: local``
means massgen's bubblewrap sandbox (no network, only the workspace writable), never the host.

With run files (context paths, commands) the code runs in the agent's workspace under the
run's file rules; without, in ``code_execution_config.work_dir`` (relative to where massgen
runs), the only folder it may write.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from massgen.tools.base import ToolError
from massgen.tools.commands import CommandSettings, CommandTool
from massgen.workspaces.paths import PathPolicy

if TYPE_CHECKING:
    from massgen.config.schema import AG2CodeExecution
    from massgen.tools.lending import AgentFiles

PYTHON = frozenset({"python", "py", "python3"})
SHELL = frozenset({"sh", "bash", "shell", "console"})
#: Ends a Python block fed to ``python3 -`` through a here-document.
_END = "__MASSGEN_AG2_CODE__"


def command_for(language: str, code: str) -> str | None:
    """The /bin/sh command running one block, or None for a language not run here."""
    language = language.strip().lower()
    if language in PYTHON:
        return f"python3 - <<'{_END}'\n{code}\n{_END}"
    if language in SHELL:
        return code
    return None


class SandboxCodeExecutor:
    """AG2's ``CodeExecutor`` protocol (``code_extractor``, ``execute_code_blocks``,
    ``restart``), running each block in massgen's sandbox."""

    def __init__(self, settings: AG2CodeExecution) -> None:
        from autogen.coding import MarkdownCodeExtractor

        self.settings = settings
        self._extractor = MarkdownCodeExtractor()

    @property
    def code_extractor(self) -> Any:
        return self._extractor

    def restart(self) -> None:
        """Nothing persists between blocks."""

    def execute_code_blocks(self, code_blocks: list[Any]) -> Any:
        """AG2's synchronous entry point (outside an event loop)."""
        from autogen.coding import CodeResult

        exit_code, output = asyncio.run(self.run(code_blocks, None))
        return CodeResult(exit_code=exit_code, output=output)

    def blocks(self, text: str) -> list[Any]:
        return self._extractor.extract_code_blocks(text)

    def _tool(self, files: AgentFiles | None) -> CommandTool:
        sandbox = "docker" if self.settings.executor == "docker" else "bubblewrap"
        base = files.commands if files and files.commands else None
        settings = CommandSettings(
            sandbox,
            timeout_s=self.settings.timeout,
            output_chars=base.output_chars if base else 20_000,
            docker_image=self.settings.docker_image,
        )
        if files is not None:
            return CommandTool(files.policy, settings, files.before_command, files.after_command)
        work_dir = Path(self.settings.work_dir).expanduser().resolve()
        work_dir.mkdir(parents=True, exist_ok=True)
        policy = PathPolicy(workspace=work_dir, writable=[work_dir])
        return CommandTool(lambda: policy, settings)

    async def run(self, code_blocks: list[Any], files: AgentFiles | None) -> tuple[int, str]:
        """Run the blocks in order, stopping at the first that fails: ``(exit code, output)``
        as AG2 reports it back to the model. With the turn's ``files`` they run in the
        agent's workspace under its grants; without, in ``work_dir``."""
        tool = self._tool(files)
        outputs: list[str] = []
        for block in code_blocks:
            command = command_for(block.language, block.code)
            if command is None:
                outputs.append(f"unknown language {block.language!r} (python and sh run here)")
                return 1, "\n".join(outputs)
            try:
                result = await tool.run({"command": command})
            except ToolError as exc:
                outputs.append(str(exc))
                return 1, "\n".join(outputs)
            head, _, body = result.partition("\n")
            status = head.removeprefix("exit code ")
            code = int(status) if status.lstrip("-").isdigit() else 1
            outputs.append(body)
            if code != 0:
                return code, "\n".join(outputs)
        return 0, "\n".join(outputs)
