"""``massgen [OPTIONS] "question"``: a run from the command line, in the terminal app, as
plain progress lines or as JSON lines, recorded as a session; its exit code."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from massgen.cli.common import UI, fail, safe, team_for
from massgen.exitcodes import ExitCode, for_status

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from massgen.config.schema import MassGenConfig
    from massgen.coordination.state import AgentSpec
    from massgen.coordination.strategy import RunResult
    from massgen.images import Image
    from massgen.runs import Prepared
    from massgen.sessions.recorder import SessionRecorder


@dataclass
class RunOptions:
    """The options of ``massgen [OPTIONS] "question"``, typed."""

    config: str | None = None
    model: str | None = None
    models: str | None = None
    backend: str | None = None  # ``--backend TYPE``: one agent of that type (``model`` its model)
    ui: UI | None = None
    timeout: float | None = None
    list_examples: bool = False
    example: str | None = None
    continue_: str | None = None  # ``--continue [ID]``: a session id, or "latest"
    pick_session: bool = False  # ``--resume`` without an id: the user picks one in a list
    log_dir: str | None = None
    no_log: bool = False
    images: list[str] = field(default_factory=list)
    context: list[str] = field(default_factory=list)
    web: bool = False  # ``--web``: serve the app to a browser (``host``, ``port``)
    host: str | None = None
    port: int | None = None
    served: bool = False  # the app of ``--web``, run for one browser by textual-serve
    server: str | None = None  # ``--server URL``: run on a massgen serve (cli/remote.py)
    api_key: str | None = None  # ``--api-key``: that server's key


def ask(words: list[str], options: RunOptions) -> int:
    """Run the question ``words`` make (or stdin's) and return the exit code."""
    _check_timeout(options.timeout)
    from massgen.images import load

    images = load(options.images, allow_paths=True)
    if options.list_examples:
        return _print_examples()
    if options.example:
        from massgen.config.resolve import example_text

        sys.stdout.write(example_text(options.example))
        return ExitCode.OK
    if options.web or options.host is not None or options.port is not None:
        from massgen.cli.web import serve_web

        return serve_web(words, options)
    from massgen.remote import Server

    if Server.chosen(options.server):
        return _on_server(words, options)
    if options.pick_session:
        options.continue_ = _picked_session(options)
        if options.continue_ is None:
            return ExitCode.OK  # the list was closed: nothing to go on with
    resume: Path | None = None
    history: list[tuple[str, str]] = []
    if options.continue_ is not None:
        from massgen.sessions.resume import continued

        resume, history = continued(options.log_dir, options.continue_)
    question = " ".join(_decoded(arg) for arg in words).strip()
    # the served app's stdin and stdout are textual-serve's pipes, its terminal the browser
    interactive = options.served or (sys.stdin.isatty() and sys.stdout.isatty())
    if not question and not options.served and not sys.stdin.isatty():
        question = sys.stdin.buffer.read().decode("utf-8", "replace").strip()
    from massgen.config.env import load_env_files

    load_env_files()
    if resume is not None and not (
        options.config or options.model or options.models or options.backend
    ):
        from massgen.sessions.resume import continued_config

        config, source = continued_config(resume)
    else:
        config, source = team_for(options.config, options.model, options.models, options.backend)
    if options.timeout is not None:
        config.orchestrator.timeout_seconds = options.timeout  # checked by _check_timeout
    if options.context:
        from massgen.config.resolve import add_context

        add_context(config, options.context)
    recorder = None
    if not options.no_log and config.ui.logging_enabled:
        from massgen.sessions.recorder import SessionRecorder

        recorder = SessionRecorder(config, source, log_dir=options.log_dir, resume=resume)
    mode = UI.textual if options.served else options.ui or UI(config.ui.display_type)
    if mode is UI.textual and not interactive:
        mode = UI.plain  # no terminal to draw on: pipes, CI, scripts
    if mode is not UI.textual and not question:
        raise fail('no question given: massgen [OPTIONS] "your question"', ExitCode.USAGE)
    code: ExitCode = ExitCode.RUN_FAILED  # what the session records if the run raises
    try:
        if mode is UI.textual:
            code = _run_app(
                config, question or None, history, recorder, images, served=options.served
            )
        else:
            import asyncio

            from massgen.runs import Prepared

            team = Prepared(config, source)
            result = asyncio.run(_run(team, question, mode, history, recorder, images))
            code = _report(result, mode)
    except KeyboardInterrupt:
        code = ExitCode.INTERRUPTED
        raise
    finally:
        if recorder is not None:
            recorder.close(code)
            for path in recorder.written:
                sys.stderr.write(f"massgen: session saved: {path.name} (massgen logs show)\n")
    return code


def _on_server(words: list[str], options: RunOptions) -> int:
    """``massgen --server URL "question"``: the question as a task on that server."""
    from massgen.cli.remote import LOCAL_ONLY, ask_server
    from massgen.remote import Server

    given = (
        options.config,
        options.model,
        options.models,
        options.backend,
        options.context,
        options.images,
        options.continue_ is not None,
        options.pick_session,
        options.web or options.host is not None or options.port is not None,
    )
    used = [flag for flag, value in zip(LOCAL_ONLY, given, strict=True) if value]
    question = " ".join(_decoded(arg) for arg in words).strip()
    if not question and not sys.stdin.isatty():
        question = sys.stdin.buffer.read().decode("utf-8", "replace").strip()
    server = Server.named(options.server, options.api_key)
    return ask_server(server, question, options.ui, options.timeout, used)


def continued_session(
    continue_: bool, continue_ref: str | None, resume: bool, resume_ref: str | None
) -> str | None:
    """The session ``--continue [ID]`` or ``--resume ID`` names (``--continue``
    alone: the latest); None for neither, or for ``--resume`` without an id (a pick)."""
    from massgen.errors import ConfigurationError

    if continue_ and resume:
        raise ConfigurationError("use only one of --continue, --resume")
    if continue_:
        return continue_ref or "latest"
    return resume_ref if resume else None


def _picked_session(options: RunOptions) -> str | None:
    """``--resume`` without an id: the session the user picks in a list (None: closed
    without a pick). The list needs a terminal: without one this is a usage error."""
    from massgen.errors import ConfigurationError

    terminal = sys.stdin.isatty() and sys.stdout.isatty()
    if not terminal or options.ui in (UI.plain, UI.json):
        raise ConfigurationError(
            "--resume without a session id needs the terminal app to pick one in: "
            "give the id (massgen logs lists them), or --continue for the latest"
        )
    from massgen.sessions.store import sessions_root
    from massgen.tui.sessions_picker import pick_session

    picked = pick_session(sessions_root(options.log_dir))
    return None if picked is None else picked.name


def _check_timeout(timeout: float | None) -> None:
    import math

    from massgen.errors import ConfigurationError

    if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
        raise ConfigurationError(
            f"--timeout: must be a positive number of seconds, got {timeout:g}"
        )


def _decoded(arg: str) -> str:
    """A command-line word as text: bytes that are not UTF-8 (which Python keeps as lone
    surrogates) become U+FFFD instead of breaking every encoder downstream."""
    try:
        arg.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(arg).decode("utf-8", "replace")
    return arg


def _run_app(
    config: MassGenConfig,
    question: str | None,
    history: list[tuple[str, str]] | None = None,
    recorder: SessionRecorder | None = None,
    images: Sequence[Image] = (),
    *,
    served: bool = False,
) -> ExitCode:
    """The terminal app; it stays open for follow-up questions until the user quits.
    ``served``: for a browser (``massgen --web``), whose stdout is no terminal to print to.

    Its first frame comes before any provider SDK is imported: the agents are built in a
    worker once the screen is up. Keys are checked first, so a missing one exits 1 before the
    screen opens. Returns the last run's exit code (130 if the user quit mid-run); a crash
    of the app is raised, for one ``massgen: error:`` line and exit 2."""
    from massgen.backends.registry import check_can_run

    for index, agent in enumerate(config.agents):
        check_can_run(agent.backend, f"agents[{index}] ({agent.id})")
    import gc

    gc.disable()  # no collections while Textual's modules load (~10% of the first frame)
    try:
        from massgen.tui.app import MassGenApp, tune_gc
    finally:
        gc.enable()
    tune_gc()

    def agents() -> list[AgentSpec]:
        from massgen.runs import build_team

        return build_team(config)

    from massgen.cli.reach import reach
    from massgen.tui.welcome import team_of

    app = MassGenApp(
        agents,
        config.orchestrator,
        question=question,
        history=history or (),
        recorder=recorder,
        images=images,
        # the welcome screen checks the agents; with a question their cards come up at once
        team=team_of(config, None if question else reach),
    )
    app.run()
    if app.startup_error is not None:
        raise app.startup_error
    if app.crash is not None:
        raise app.crash
    final = next((r.final_answer for r in reversed(app.results) if r.final_answer), None)
    if final and not served:  # leave the last answer in the terminal's scrollback
        if sys.stdout.isatty():  # a model's text must not drive the user's terminal
            from massgen.terminal import visible

            final = visible(final)
        sys.stdout.write(final.rstrip("\n") + "\n")
        sys.stdout.flush()
    return app.exit_code()


def _print_examples() -> int:
    from massgen.config.resolve import list_examples, list_user_configs, user_config_dir

    examples, mine = list_examples(), list_user_configs()
    width = max((len(e.name) for e in [*examples, *mine]), default=0)
    for e in examples:
        print(_example_line(e.name, e.description, width))
    if mine:
        print(f"\nYour configs ({user_config_dir() / 'agents'}):")
        for e in mine:
            print(_example_line(e.name, e.description, width))
    return ExitCode.OK


def _example_line(name: str, description: str, width: int) -> str:
    """``name`` and its whole description, wrapped to the terminal's width under the
    description column (or, on a narrow terminal, on indented lines below the name)."""
    import shutil
    import textwrap

    columns = shutil.get_terminal_size((100, 24)).columns - 1  # no write in the last column
    indent = width + 2
    if columns - indent < 30:  # too narrow for a column: the description goes below
        below = textwrap.wrap(description, max(columns - 4, 20), break_on_hyphens=False)
        return "\n".join([name, *("    " + line for line in below)])
    lines = textwrap.wrap(description, columns - indent, break_on_hyphens=False) or [""]
    first = f"{name.ljust(width)}  {lines[0]}".rstrip()
    return "\n".join([first, *(" " * indent + line for line in lines[1:])])


async def _run(
    prepared: Prepared,
    question: str,
    mode: UI,
    history: list[tuple[str, str]] | None = None,
    recorder: SessionRecorder | None = None,
    images: Sequence[Image] = (),
) -> RunResult:
    """A run with its progress printed (plain lines on stderr, or JSON lines on stdout)."""
    import asyncio

    from massgen.runs import ActiveRun

    if mode is UI.json:
        from massgen.output.json_lines import print_events as printer
    else:
        from massgen.output.plain import print_progress as printer
    active = ActiveRun(prepared, question, history or (), recorder, images)
    assert active.subscription is not None
    printing = asyncio.create_task(printer(active.subscription))
    try:
        return await active.result()
    finally:
        await active.cancel()  # nothing left to do once it ended: the agents are closed
        await printing


def _report(result: RunResult, mode: UI) -> ExitCode:
    if mode is not UI.json and result.final_answer is not None:
        answer = result.final_answer.rstrip("\n")
        if sys.stdout.isatty():  # a model's text must not drive the user's terminal
            from massgen.terminal import visible

            answer = visible(answer)
        sys.stdout.write(answer + "\n")
        sys.stdout.flush()
    if result.status != "ok" and result.error:
        sys.stderr.write(f"massgen: {safe(result.error)}\n")
    return for_status(result.status)
