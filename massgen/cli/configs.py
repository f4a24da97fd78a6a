"""``massgen --init`` and ``massgen --validate``: set up a config, check one."""

from __future__ import annotations

import sys
from typing import Any

from massgen.exitcodes import ExitCode


def init(non_interactive: bool, model: str | None, models: str | None, save: str | None) -> int:
    """``massgen --init``: the wizard (or, with ``--non-interactive``, a config from
    ``--models``); exit 0 when a config was saved, 130 when the user cancelled."""
    from massgen.cli.wizard import run_init
    from massgen.config.env import load_env_files

    load_env_files()
    if not non_interactive and not (sys.stdin.isatty() and sys.stdout.isatty()):
        from massgen.errors import ConfigurationError

        raise ConfigurationError(
            "massgen --init asks questions and needs a terminal; in a script use "
            "massgen --init --non-interactive --models PROVIDER/MODEL,... [--save NAME]"
        )
    names = [model] if model else [m.strip() for m in (models or "").split(",") if m.strip()]
    saved = run_init(non_interactive=non_interactive, models=names or None, save=save)
    return ExitCode.OK if saved is not None else ExitCode.INTERRUPTED


def validate(path: str) -> int:
    """``massgen --validate PATH``: load a config as a run would and check every agent has
    its key, its MCP tool names and its file options."""
    from massgen.backends.registry import check_can_run
    from massgen.config.env import load_env_files
    from massgen.config.loader import load_config
    from massgen.config.resolve import resolve_config
    from massgen.config.understanding import effective
    from massgen.coordination.files import plan_files
    from massgen.coordination.media import check_understanding
    from massgen.errors import ConfigurationError

    load_env_files()
    loaded = load_config(resolve_config(path))
    team = loaded.config.orchestrator.understanding
    for index, agent in enumerate(loaded.config.agents):
        check_can_run(agent.backend, f"agents[{index}] ({agent.id})")
        understanding = effective(agent.understanding, team)
        if understanding is not None:  # the keys of the models behind the tools
            check_understanding(understanding, f"agents[{index}]")
    _check_mcp_tool_names(loaded.config)
    try:
        plan_files(loaded.config.orchestrator)  # context paths exist, an asked-for sandbox runs
    except ConfigurationError as exc:
        raise ConfigurationError(f"{loaded.source}: orchestrator.{exc}") from None
    agents = ", ".join(f"{a.id} ({a.backend.type})" for a in loaded.config.agents)
    print(f"{loaded.source}: ok · {len(loaded.config.agents)} agent(s): {agents}")
    return ExitCode.OK


def _check_mcp_tool_names(config: Any) -> None:
    """The tool names MCP entries give exist on their servers (started for the check); a
    server that cannot start is a note, as at run time, and its names go unchecked."""
    import asyncio

    from massgen.tools.mcp import check_tool_names

    entries = [
        (
            str(agent.id),
            server,
            f"agents[{index}] ({agent.id}): mcp_servers[{number}] ({server.name})",
        )
        for index, agent in enumerate(config.agents)
        for number, server in enumerate(agent.backend.mcp_servers)
    ]
    for notice in asyncio.run(check_tool_names(entries)):
        sys.stderr.write(f"massgen: note: {notice}; its tool names were not checked\n")
