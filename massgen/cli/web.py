"""``massgen --web [--host H] [--port P]``: the flags of a run turned back into the command
line of the app each browser gets (:mod:`massgen.tui.web` serves it)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from massgen.cli.common import fail, team_for
from massgen.exitcodes import ExitCode

if TYPE_CHECKING:
    from massgen.cli.run import RunOptions


def app_args(words: list[str], options: RunOptions) -> list[str]:
    """The ``massgen`` arguments of the served app: the run's own flags and question."""
    args: list[str] = []
    for flag, value in (
        ("--config", options.config),
        ("--model", options.model),
        ("--models", options.models),
        ("--backend", options.backend),
        ("--log-dir", options.log_dir),
    ):
        if value is not None:
            args += [flag, value]
    if options.timeout is not None:
        args += ["--timeout", repr(options.timeout)]
    for path in options.context:
        args += ["--context", path]
    for image in options.images:
        args += ["--image", image]
    if options.continue_ is not None:
        args.append("--continue")
        if options.continue_ != "latest":
            args.append(f"--continue-session={options.continue_}")
    if options.no_log:
        args.append("--no-log")
    question = " ".join(words).strip()
    if question:
        args += ["--", question]  # never read as a flag or a command
    return args


def serve_web(words: list[str], options: RunOptions) -> int:
    """Check the team, then serve the app until Ctrl+C."""
    if not options.web:
        raise fail("--host and --port go with --web", ExitCode.USAGE)
    if options.served or options.ui is not None:
        raise fail("--web serves the terminal app: use it without --ui", ExitCode.USAGE)
    port = 8000 if options.port is None else options.port
    if not 0 < port < 65536:
        raise fail(f"--port: {port} is not a port (1-65535)", ExitCode.USAGE)
    import importlib.util

    if importlib.util.find_spec("textual_serve") is None:
        raise fail("massgen --web needs textual-serve: pip install 'massgen[web]'", ExitCode.USAGE)
    from massgen.backends.registry import check_can_run
    from massgen.config.env import load_env_files
    from massgen.tui.web import DEFAULT_HOST, serve

    load_env_files()
    if options.continue_ is None:  # a bad config or a missing key shows here, not per tab
        config, _ = team_for(options.config, options.model, options.models, options.backend)
        for index, agent in enumerate(config.agents):
            check_can_run(agent.backend, f"agents[{index}] ({agent.id})")
    try:
        serve(app_args(words, options), options.host or DEFAULT_HOST, port)
    except OSError as exc:  # the port is taken, the address is not this machine's
        where = f"{options.host or DEFAULT_HOST}:{port}"
        raise fail(f"--web: cannot serve on {where}: {exc}", ExitCode.USAGE) from None
    except KeyboardInterrupt:
        sys.stderr.write("massgen: stopped serving\n")
    return ExitCode.OK
