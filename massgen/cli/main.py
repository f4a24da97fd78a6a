"""The ``massgen`` command: the Typer app, its main callback (``massgen [OPTIONS]
"question"``) and its subcommands (``doctor``, ``serve``, ``mcp``, ``eval``, ``logs``).

Start-up stays fast: this module imports only Typer; configs, backends and their SDKs are
imported when a command needs them. The modules beside it turn flags into typed options
(:class:`massgen.cli.run.RunOptions`) and results into exit codes.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from massgen.__about__ import __version__
from massgen.cli import lean_imports
from massgen.cli.common import UI
from massgen.cli.common import fail as _fail
from massgen.cli.eval import eval_command
from massgen.cli.group import MainGroup
from massgen.cli.mcp import mcp_command
from massgen.cli.remote import attach_command
from massgen.cli.serve import serve_command
from massgen.exitcodes import ExitCode

app = typer.Typer(
    cls=MainGroup,
    invoke_without_command=True,
    add_completion=False,
    no_args_is_help=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    subcommand_metavar='"QUESTION" | COMMAND [ARGS]...',
    help=(
        "Several AI agents answer your question in parallel, read each other's answers, "
        "and vote; the most-voted agent writes the final answer.\n\n"
        'Example: massgen --config research_team "What are the trade-offs of RAG?"'
    ),
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        print(f"massgen {__version__}")
        raise typer.Exit(0)


@app.callback()
def main_command(
    ctx: typer.Context,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            "-c",
            help="Config file, built-in example name (see --list-examples) or @examples/NAME.",
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Run one agent on MODEL (PROVIDER/MODEL).")
    ] = None,
    models: Annotated[
        str | None,
        typer.Option("--models", help="Run one agent per model: A,B,C (PROVIDER/MODEL each)."),
    ] = None,
    backend: Annotated[
        str | None,
        typer.Option(
            "--backend",
            help="Run one agent of backend TYPE (e.g. gemini) on --model MODEL (default: "
            "the provider's default model).",
        ),
    ] = None,
    ui: Annotated[
        UI | None,
        typer.Option(
            "--ui",
            help="textual: the terminal app (default on a terminal). plain: progress on "
            "stderr, answer on stdout. json: one event per line.",
        ),
    ] = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Whole-run timeout in seconds.")
    ] = None,
    context: Annotated[
        list[str] | None,
        typer.Option(
            "--context",
            help="Let the agents read PATH (a file or directory; PATH:write: the final "
            "presenter may also change it); repeatable.",
        ),
    ] = None,
    image: Annotated[
        list[str] | None,
        typer.Option(
            "--image",
            help="Attach an image (a file, or an http(s):// URL) to the question; repeatable.",
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    list_examples: Annotated[
        bool, typer.Option("--list-examples", help="List the built-in example configs.")
    ] = False,
    example: Annotated[
        str | None, typer.Option("--example", help="Print a built-in example config.")
    ] = None,
    init: Annotated[bool, typer.Option("--init", help="Set up a config (a wizard).")] = False,
    non_interactive: Annotated[
        bool,
        typer.Option("--non-interactive", help="With --init: no prompts (use --models, --save)."),
    ] = False,
    save: Annotated[
        str | None,
        typer.Option("--save", help="With --init: save as a named config instead of the default."),
    ] = None,
    validate: Annotated[
        str | None,
        typer.Option("--validate", help="Check a config file (exit 0 if it can run, else 1)."),
    ] = None,
    continue_: Annotated[
        bool,
        typer.Option(
            "--continue",
            help="Continue a recorded conversation (the latest, or --continue ID) with its "
            "history.",
        ),
    ] = False,
    continue_session: Annotated[str | None, typer.Option("--continue-session", hidden=True)] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Pick a recorded conversation from a list and go on with it in the app "
            "(--resume ID: that one at once).",
        ),
    ] = False,
    resume_session: Annotated[str | None, typer.Option("--resume-session", hidden=True)] = None,
    log_dir: Annotated[
        str | None,
        typer.Option("--log-dir", help="Write the session log here (default: the user data dir)."),
    ] = None,
    no_log: Annotated[bool, typer.Option("--no-log", help="Do not write a session log.")] = False,
    web: Annotated[
        bool,
        typer.Option("--web", help="Serve the app to a browser (textual-serve) instead."),
    ] = False,
    host: Annotated[
        str | None, typer.Option("--host", help="With --web: address to bind (default 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", help="With --web: port (default 8000).")
    ] = None,
    served: Annotated[bool, typer.Option("--served", hidden=True)] = False,
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            help="Run the question as a task on a massgen serve at URL (default: "
            "$MASSGEN_SERVER_URL) and follow it here; massgen attach TASK_ID reopens one.",
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option("--api-key", help="With --server: its API key (default: $MASSGEN_API_KEY)."),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Ask the agents a QUESTION."""
    if ctx.invoked_subcommand is not None:
        return
    try:
        if init:
            from massgen.cli.configs import init as run_init

            code = run_init(non_interactive, model, models, save)
        elif validate is not None:
            from massgen.cli.configs import validate as run_validate

            code = run_validate(validate)
        else:
            from massgen.cli.run import RunOptions, ask, continued_session

            options = RunOptions(
                config=config,
                model=model,
                models=models,
                backend=backend,
                ui=ui,
                timeout=timeout,
                list_examples=list_examples,
                example=example,
                continue_=continued_session(continue_, continue_session, resume, resume_session),
                pick_session=resume and resume_session is None,
                log_dir=log_dir,
                no_log=no_log,
                images=image or [],
                context=context or [],
                web=web,
                host=host,
                port=port,
                served=served,
                server=server,
                api_key=api_key,
            )
            code = ask(ctx.args, options)
    except KeyboardInterrupt:
        sys.stderr.write("massgen: interrupted\n")
        code = ExitCode.INTERRUPTED
    except typer.Exit:
        raise
    except Exception as exc:
        from massgen.errors import ConfigurationError

        if debug:  # the traceback, and still the exit code of the table
            import traceback

            traceback.print_exc()
            code = ExitCode.USAGE if isinstance(exc, ConfigurationError) else ExitCode.RUN_FAILED
            raise typer.Exit(code) from None
        if isinstance(exc, ConfigurationError):
            raise _fail(str(exc), ExitCode.USAGE) from None
        raise _fail(
            f"{type(exc).__name__}: {exc} (run with --debug for details)", ExitCode.RUN_FAILED
        ) from None
    raise typer.Exit(code)


@app.command("doctor")
def doctor_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check providers (keys, endpoints, reachability), the local model and the default config."""
    from massgen.cli.doctor import run_doctor

    raise typer.Exit(run_doctor(as_json=as_json))


app.command("serve")(serve_command)
app.command("attach")(attach_command)
app.command("eval")(eval_command)
app.command("mcp")(mcp_command)


from massgen.cli.logs import logs_app  # noqa: E402 (after the main command's options)

app.add_typer(logs_app, name="logs")


def main() -> None:
    """Console-script entry point."""
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    lean_imports.leave_out()  # the command's own process only, before anything imports httpx
    try:
        app(prog_name="massgen")
    finally:
        # Skip the collector's pass over every SDK object at interpreter exit (~0.3 s).
        import gc

        gc.freeze()
