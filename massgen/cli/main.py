"""The ``massgen`` command.

``massgen [OPTIONS] "question"`` runs a coordination; subcommands (``massgen NAME ...``) are
added by later features. Start-up stays fast: this module imports only Typer; configs,
backends and their SDKs are imported when a run needs them.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from massgen.__about__ import __version__
from massgen.exitcodes import ExitCode, for_status

if TYPE_CHECKING:
    from massgen.config.schema import MassGenConfig
    from massgen.coordination.engine import RunResult


class UI(StrEnum):
    textual = "textual"
    plain = "plain"
    json = "json"


class MainGroup(TyperGroup):
    """A group whose first positional word is a subcommand if one has that name, and
    otherwise the start of the question (``massgen "question"``)."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Click's main loop, but usage errors exit 1 (click's 2 means "the run failed"
        here) with one ``massgen: error:`` line, and Ctrl+C exits 130."""
        import importlib

        # Typer's own copy of click (or click itself in older Typers), whose errors it raises
        click = importlib.import_module(f"{typer.core._click.__name__}.exceptions")

        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except click.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            message = exc.format_message().replace("Value error, ", "")  # Typer's coercion
            sys.stderr.write(f"massgen: error: {_safe(message)}{hint}\n")
            sys.exit(ExitCode.USAGE)
        except click.ClickException as exc:
            sys.stderr.write(f"massgen: error: {_safe(exc.format_message())}\n")
            sys.exit(ExitCode.USAGE)
        except (click.Abort, KeyboardInterrupt):
            sys.stderr.write("massgen: interrupted\n")
            sys.exit(ExitCode.INTERRUPTED)
        sys.exit(code if isinstance(code, int) else ExitCode.OK)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        args = self._continue_session(args)
        first = self._first_positional(ctx, args)
        if first is not None and first in self.commands:
            return super().parse_args(ctx, args)
        ctx.allow_interspersed_args = True  # options may follow the question
        rest = typer.core._click.Command.parse_args(self, ctx, args)
        ctx.args = rest
        return rest

    @staticmethod
    def _continue_session(args: list[str]) -> list[str]:
        """``--continue`` takes an optional session: ``--continue ID`` (or ``=ID``) when the
        next word looks like one, else the next word starts the question."""
        if not any(a.startswith("--continue") for a in args):
            return args
        from massgen.sessions.store import REF_PATTERN

        out, i = [], 0
        while i < len(args):
            arg = args[i]
            if arg.startswith("--continue="):
                out += ["--continue", f"--continue-session={arg.split('=', 1)[1]}"]
            elif arg == "--continue" and i + 1 < len(args) and REF_PATTERN.match(args[i + 1]):
                out += ["--continue", f"--continue-session={args[i + 1]}"]
                i += 1
            else:
                out.append(arg)
            i += 1
        return out

    def _first_positional(self, ctx: Any, args: list[str]) -> str | None:
        takes_value = {
            opt
            for param in self.get_params(ctx)
            if isinstance(param, typer.core.TyperOption) and not param.is_flag
            for opt in param.opts
        }
        skip = False
        for arg in args:
            if skip:
                skip = False
            elif arg == "--":
                return None
            elif arg.startswith("-"):
                skip = arg in takes_value
            else:
                return arg
        return None


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


def _fail(message: str, code: int) -> typer.Exit:
    sys.stderr.write(f"massgen: error: {_safe(message)}\n")
    return typer.Exit(code)


def _safe(text: str) -> str:
    """A line for the terminal: the environment's secrets replaced, controls made visible."""
    from massgen.redaction import redact_env
    from massgen.terminal import visible

    return visible(redact_env(text))


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
    log_dir: Annotated[
        str | None,
        typer.Option("--log-dir", help="Write the session log here (default: the user data dir)."),
    ] = None,
    no_log: Annotated[bool, typer.Option("--no-log", help="Do not write a session log.")] = False,
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
            code = _init(non_interactive, model, models, save)
        elif validate is not None:
            code = _validate(validate)
        else:
            code = _main(
                ctx,
                config,
                model,
                models,
                ui,
                timeout,
                list_examples,
                example,
                Logging((continue_session or "latest") if continue_ else None, log_dir, no_log),
                image or [],
                context or [],
            )
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


@dataclass
class Logging:
    """The session options of a run: ``--continue [ID]``, ``--log-dir``, ``--no-log``."""

    continue_: str | None = None
    log_dir: str | None = None
    disabled: bool = False


def _main(
    ctx: typer.Context,
    config_name: str | None,
    model: str | None,
    models: str | None,
    ui: UI | None,
    timeout: float | None,
    list_examples: bool,
    example: str | None,
    log_options: Logging | None = None,
    image_specs: list[str] | None = None,
    context_specs: list[str] | None = None,
) -> int:
    log_options = log_options or Logging()
    _check_timeout(timeout)
    from massgen.images import load

    images = load(image_specs or [], allow_paths=True)
    if list_examples:
        return _print_examples()
    if example:
        from massgen.config.resolve import example_text

        sys.stdout.write(example_text(example))
        return ExitCode.OK
    resume, history = None, []
    if log_options.continue_ is not None:
        resume, history = _continued(log_options)
    question = " ".join(_decoded(arg) for arg in ctx.args).strip()
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    if not question and not sys.stdin.isatty():
        question = sys.stdin.buffer.read().decode("utf-8", "replace").strip()
    from massgen.config.env import load_env_files

    load_env_files()
    if resume is not None and not (config_name or model or models):
        config, source = _continued_config(resume)
    else:
        config, source = _resolve_config(config_name, model, models)
    if timeout is not None:
        config.orchestrator.timeout_seconds = timeout  # checked by _check_timeout
    if context_specs:
        _add_context(config, context_specs)
    recorder = None
    if not log_options.disabled and config.ui.logging_enabled:
        from massgen.sessions.recorder import SessionRecorder

        recorder = SessionRecorder(config, source, log_dir=log_options.log_dir, resume=resume)
    mode = ui or UI(config.ui.display_type)
    if mode is UI.textual and not interactive:
        mode = UI.plain  # no terminal to draw on: pipes, CI, scripts
    if mode is not UI.textual and not question:
        raise _fail('no question given: massgen [OPTIONS] "your question"', ExitCode.USAGE)
    code = ExitCode.RUN_FAILED  # what the session records if the run raises
    try:
        if mode is UI.textual:
            code = _run_app(config, question or None, history, recorder, images)
        else:
            import asyncio

            result = asyncio.run(_run(config, question, mode, history, recorder, images))
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


def _add_context(config: MassGenConfig, specs: list[str]) -> None:
    """``--context PATH[:write]`` as context path grants (read unless ``:write``)."""
    from massgen.config.schema import ContextPathConfig
    from massgen.errors import ConfigurationError

    for spec in specs:
        path, permission = spec, "read"
        if spec.endswith((":write", ":read")):
            path, _, permission = spec.rpartition(":")
        if not path.strip():
            raise ConfigurationError(f"--context {spec!r}: give a path, e.g. --context ./src:write")
        full = os.path.abspath(os.path.expanduser(path))
        config.orchestrator.context_paths.append(
            ContextPathConfig(path=full, permission=permission)  # type: ignore[arg-type]
        )


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


def _continued(log_options: Logging) -> tuple[Any, list[tuple[str, str]]]:
    """The session ``--continue`` names and its conversation so far."""
    from massgen.sessions import store

    path = store.find_session(
        store.sessions_root(log_options.log_dir), log_options.continue_ or "latest"
    )
    return path, store.conversation(store.load_summary(path))


def _continued_config(path: Any) -> tuple[MassGenConfig, str]:
    """The config a continued session ran with: its original file when that still exists,
    else its recorded copy (whose redacted keys come from the environment again)."""
    from pathlib import Path

    import yaml

    from massgen.config.loader import load_config, load_config_dict
    from massgen.redaction import REDACTED
    from massgen.sessions import store

    source = str(store.load_summary(path).get("config_source") or "")
    if source and Path(source).is_file():
        return load_config(Path(source)).config, source
    data = yaml.safe_load((path / store.CONFIG).read_text(encoding="utf-8")) or {}
    for agent in data.get("agents") or []:
        if (agent.get("backend") or {}).get("api_key") == REDACTED:
            del agent["backend"]["api_key"]
    return load_config_dict(data, f"{path.name}/config.yaml").config, source or str(path)


def _init(non_interactive: bool, model: str | None, models: str | None, save: str | None) -> int:
    from massgen.config.env import load_env_files
    from massgen.cli.wizard import run_init

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


def _validate(path: str) -> int:
    """Load a config as a run would and check every agent has its key."""
    from massgen.backends.registry import check_can_run
    from massgen.config.env import load_env_files
    from massgen.config.loader import load_config
    from massgen.config.resolve import resolve_config
    from massgen.coordination.files import plan_files
    from massgen.errors import ConfigurationError

    load_env_files()
    loaded = load_config(resolve_config(path))
    for index, agent in enumerate(loaded.config.agents):
        check_can_run(agent.backend, f"agents[{index}] ({agent.id})")
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


@app.command("doctor")
def doctor_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check providers (keys, endpoints, reachability), the local model and the default config."""
    from massgen.cli.doctor import run_doctor

    raise typer.Exit(run_doctor(as_json=as_json))


@app.command("serve")
def serve_command(
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            help="Config the server runs (path or name). Env: MASSGEN_SERVER_DEFAULT_CONFIG.",
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "--default-model",
            help="Run a team on this model. Env: MASSGEN_SERVER_DEFAULT_MODEL.",
        ),
    ] = None,
    host: Annotated[
        str | None,
        typer.Option(
            "--host", help="Address to bind (default 127.0.0.1). Env: MASSGEN_SERVER_HOST."
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", help="Port (default 4000). Env: MASSGEN_SERVER_PORT."),
    ] = None,
    api_key: Annotated[
        list[str] | None,
        typer.Option(
            "--api-key",
            help="Require this key (repeatable). Env: MASSGEN_SERVER_API_KEYS (comma-separated).",
        ),
    ] = None,
    max_concurrency: Annotated[
        int | None,
        typer.Option(
            "--max-concurrency",
            help="Runs at once; more get 429 (default 8). Env: MASSGEN_SERVER_MAX_CONCURRENCY.",
        ),
    ] = None,
    request_timeout: Annotated[
        float | None,
        typer.Option(
            "--request-timeout",
            help="Seconds a client may take to send a request's headers, and again its body "
            "(default 15). Env: MASSGEN_SERVER_REQUEST_TIMEOUT.",
        ),
    ] = None,
    max_connections: Annotated[
        int | None,
        typer.Option(
            "--max-connections",
            help="Open connections at most; past it, the one waiting longest for its request "
            "is closed (default 512). Env: MASSGEN_SERVER_MAX_CONNECTIONS.",
        ),
    ] = None,
    max_request_tokens: Annotated[
        int | None,
        typer.Option(
            "--max-request-tokens",
            help="The largest max_tokens a request may ask of the final answer (default "
            "16384). Env: MASSGEN_SERVER_MAX_REQUEST_TOKENS.",
        ),
    ] = None,
    no_request_sampling: Annotated[
        bool,
        typer.Option(
            "--no-request-sampling",
            help="Refuse a request's temperature and top_p: the config's sampling stands.",
        ),
    ] = False,
    log_dir: Annotated[
        str | None,
        typer.Option("--log-dir", help="Write each run's session log here (default: user data)."),
    ] = None,
    no_log: Annotated[bool, typer.Option("--no-log", help="Do not write session logs.")] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            help="Worker processes sharing the port and the task store (default 1). "
            "Env: MASSGEN_SERVER_WORKERS.",
        ),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Task store: sqlite:///path or postgresql://user@host/db (default: SQLite in "
            "the user data dir). Env: MASSGEN_SERVER_DB.",
        ),
    ] = None,
    webhook_allow: Annotated[
        list[str] | None,
        typer.Option(
            "--webhook-allow",
            help="Let webhooks target this private address range or host, e.g. 10.0.0.0/8 "
            "(repeatable; refused by default). Env: MASSGEN_SERVER_WEBHOOK_ALLOW "
            "(comma-separated).",
        ),
    ] = None,
    secret_key: Annotated[
        list[str] | None,
        typer.Option(
            "--secret-key",
            help="Encrypt webhook secrets in the task store with this Fernet key (32 random "
            "bytes in base64: openssl rand -base64 32); repeatable: the first encrypts, all "
            "decrypt. Without one, webhooks are refused. Env (preferred: not shown by ps): "
            "MASSGEN_SERVER_SECRET_KEY (comma-separated).",
        ),
    ] = None,
    rotate_secrets: Annotated[
        bool,
        typer.Option(
            "--rotate-secrets",
            help="Re-encrypt every webhook secret in the store with the first --secret-key "
            "(plain ones from earlier versions too), then exit.",
        ),
    ] = False,
) -> None:
    """Serve an OpenAI-compatible API (POST /v1/chat/completions, background /v1/tasks,
    /metrics) on 127.0.0.1:4000."""
    from massgen.errors import ConfigurationError

    env = os.environ
    config = config or env.get("MASSGEN_SERVER_DEFAULT_CONFIG") or None
    model = model or env.get("MASSGEN_SERVER_DEFAULT_MODEL") or None
    if config and model:
        sys.stderr.write("massgen: use only one of --config, --model\n")
        raise typer.Exit(ExitCode.USAGE)
    host = host or env.get("MASSGEN_SERVER_HOST") or "127.0.0.1"
    try:
        port = int(_setting(port, "MASSGEN_SERVER_PORT", 4000, "--port", low=0))
        limit = int(
            _setting(max_concurrency, "MASSGEN_SERVER_MAX_CONCURRENCY", 8, "--max-concurrency")
        )
        receive = _setting(
            request_timeout, "MASSGEN_SERVER_REQUEST_TIMEOUT", 15.0, "--request-timeout"
        )
        connections = int(
            _setting(max_connections, "MASSGEN_SERVER_MAX_CONNECTIONS", None, "--max-connections")
            or 0
        )
        processes = int(_setting(workers, "MASSGEN_SERVER_WORKERS", 1, "--workers"))
        request_tokens = _setting(
            max_request_tokens,
            "MASSGEN_SERVER_MAX_REQUEST_TOKENS",
            None,
            "--max-request-tokens",
        )
    except ConfigurationError as exc:
        raise _fail(str(exc), ExitCode.USAGE) from None
    keys = list(api_key or []) or [
        k.strip() for k in env.get("MASSGEN_SERVER_API_KEYS", "").split(",") if k.strip()
    ]
    allow = list(webhook_allow or []) or [
        a.strip() for a in env.get("MASSGEN_SERVER_WEBHOOK_ALLOW", "").split(",") if a.strip()
    ]
    db = db or env.get("MASSGEN_SERVER_DB") or None
    secret_keys = list(secret_key or []) or [
        k.strip() for k in env.get("MASSGEN_SERVER_SECRET_KEY", "").split(",") if k.strip()
    ]
    if rotate_secrets:
        _rotate_secrets(db, secret_keys)
        return
    try:
        import uvicorn

        from massgen.server import create_app
        from massgen.server.protocol import (
            accept_backlog,
            default_max_connections,
            guarded_protocol,
        )
    except ImportError as exc:
        sys.stderr.write(
            f"massgen: the server needs the 'server' extra ({exc.name} is missing): "
            "pip install 'massgen[server]'\n"
        )
        raise typer.Exit(ExitCode.USAGE) from None
    from massgen.server.store import check_url

    spec = {
        "config": config,
        "model": model,
        "api_keys": keys,
        "max_concurrency": limit,
        "enable_logging": not no_log,
        "log_dir": log_dir,
        "body_timeout": receive,
        "db": db,
        "webhook_allow": allow,
        "secret_keys": secret_keys,
        "request_sampling": not no_request_sampling,
    }
    if request_tokens is not None:  # else create_app's default
        spec["max_request_tokens"] = int(request_tokens)
    try:
        if db:
            check_url(db)
        asgi = create_app(**spec)  # type: ignore[arg-type]
        asgi.state.massgen.check_store()
    except (ConfigurationError, ValueError) as exc:  # SecretKeyError is a ValueError
        raise _fail(str(exc), ExitCode.USAGE) from None
    connections = connections or default_max_connections()
    auth = f"{len(keys)} API key(s)" if keys else "no API key"
    auth += f", up to {limit} runs at once"
    if processes > 1:
        auth += f" per worker, {processes} workers"
    if not secret_keys:
        auth += "; webhooks off: no --secret-key"
    sys.stderr.write(f"massgen: serving on http://{host}:{port}/v1 ({auth})\n")
    common: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "warning",
        "backlog": accept_backlog(connections),
        "timeout_graceful_shutdown": 5,
    }
    if processes <= 1:
        uvicorn.run(asgi, http=guarded_protocol(receive, connections), **common)
        return
    from massgen.server.worker import serve_workers

    server = asgi.state.massgen
    if server.store is not None:  # checked above; each worker opens its own
        server.store.close()
    options = {k: v for k, v in common.items() if k not in ("host", "port")}
    limits = {"request_timeout": receive, "max_connections": connections}
    try:
        serve_workers(spec, processes, host, port, limits, options)
    except OSError as exc:
        raise _fail(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}", ExitCode.USAGE
        ) from None


def _rotate_secrets(db: str | None, keys: list[str]) -> None:
    """``massgen serve --rotate-secrets``: re-encrypt the store's webhook secrets."""
    if not keys:
        raise _fail(
            "--rotate-secrets needs --secret-key: the new key first, then the old ones",
            ExitCode.USAGE,
        )
    try:
        from massgen.server.sealing import Sealer
        from massgen.server.store import Store, check_url, default_url
    except ImportError as exc:
        raise _fail(
            f"the server needs the 'server' extra ({exc.name} is missing): "
            "pip install 'massgen[server]'",
            ExitCode.USAGE,
        ) from None
    url = db or default_url()
    try:
        check_url(url)
        store = Store(url, Sealer(keys))
    except ValueError as exc:  # SecretKeyError is a ValueError
        raise _fail(str(exc), ExitCode.USAGE) from None
    try:
        count = store.reseal()
    except ValueError as exc:  # a secret that none of the keys opens
        raise _fail(str(exc), ExitCode.USAGE) from None
    finally:
        store.close()
    sys.stderr.write(f"massgen: re-encrypted {count} webhook secret(s) with the first key\n")


@app.command("eval")
def eval_command(
    data: Annotated[
        str | None,
        typer.Argument(
            help='A JSONL file: one {"question", "answer", "choices"?, "scorer"?} per line.'
        ),
    ] = None,
    builtin: Annotated[
        str | None,
        typer.Option("--builtin", help="A built-in set instead of a file: arithmetic."),
    ] = None,
    config: Annotated[
        str | None, typer.Option("--config", "-c", help="The team (as for a run).")
    ] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="One agent on MODEL.")] = None,
    models: Annotated[
        str | None, typer.Option("--models", help="One agent per model: A,B,C.")
    ] = None,
    strategies: Annotated[
        str,
        typer.Option(
            "--strategies", help="Comma-separated: single, vote, debate, judge, self_consistency."
        ),
    ] = "single,vote,debate,judge,self_consistency",
    limit: Annotated[int | None, typer.Option("--limit", help="The first N items only.")] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", help="Items run at once (default 4).")
    ] = 4,
    samples: Annotated[
        int,
        typer.Option(
            "--samples", help="self_consistency's samples (default: the number of agents)."
        ),
    ] = 0,
    size: Annotated[int, typer.Option("--size", help="Items of a built-in set (default 20).")] = 20,
    seed: Annotated[int, typer.Option("--seed", help="A built-in set's seed (default 0).")] = 0,
    json_out: Annotated[str | None, typer.Option("--json", help="Write the report here.")] = None,
    csv_out: Annotated[
        str | None, typer.Option("--csv", help="Write one row per item and strategy here.")
    ] = None,
    plot_out: Annotated[
        str | None,
        typer.Option("--plot", help="Draw accuracy against cost here (PNG; the 'eval' extra)."),
    ] = None,
    cache_dir: Annotated[
        str | None,
        typer.Option("--cache-dir", help="Where results are kept (default: the user cache)."),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Keep no results: nothing to resume.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    """Compare strategies on a dataset: accuracy, tokens, cost and latency per strategy."""
    from massgen.errors import ConfigurationError

    try:
        from massgen.config.env import load_env_files
        from massgen.eval.main import Options, run

        load_env_files()
        team, source = _resolve_config(config, model, models)
        options = Options(
            data=data,
            builtin=builtin,
            strategies=strategies,
            limit=limit,
            concurrency=concurrency,
            samples=samples,
            size=size,
            seed=seed,
            json_out=json_out,
            csv_out=csv_out,
            plot_out=plot_out,
            cache_dir=cache_dir,
            no_cache=no_cache,
        )
        code = run(team, source, options)
    except ConfigurationError as exc:
        if debug:
            raise
        raise _fail(str(exc), ExitCode.USAGE) from None
    except Exception as exc:
        if debug:
            raise
        raise _fail(
            f"{type(exc).__name__}: {exc} (run with --debug for details)", ExitCode.RUN_FAILED
        ) from None
    raise typer.Exit(code)


def _setting(
    given: float | None, variable: str, default: float | None, flag: str, *, low: float = 1
) -> float | None:
    """An option from its flag, else its environment variable, else ``default``; a value
    below ``low`` (or not a number) is a usage error naming where it came from."""
    import math

    from massgen.errors import ConfigurationError

    if given is not None:
        value, where = float(given), flag
    elif os.environ.get(variable):
        where = variable
        try:
            value = float(os.environ[variable])
        except ValueError:
            raise ConfigurationError(f"{variable}: expected a number") from None
    else:
        return default
    if not math.isfinite(value) or value < low:
        raise ConfigurationError(f"{where}: must be at least {low:g}, got {value:g}")
    return value


def _run_app(
    config: MassGenConfig,
    question: str | None,
    history: list[tuple[str, str]] | None = None,
    recorder: Any = None,
    images: Any = (),
) -> int:
    """The terminal app; it stays open for follow-up questions until the user quits.

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

    def agents() -> list[Any]:
        from massgen.coordination.build import build_agents

        return build_agents(config)

    app = MassGenApp(
        agents,
        config.orchestrator,
        question=question,
        history=history or (),
        recorder=recorder,
        images=images,
    )
    app.run()
    if app.startup_error is not None:
        raise app.startup_error
    if app.crash is not None:
        raise app.crash
    final = next((r.final_answer for r in reversed(app.results) if r.final_answer), None)
    if final:  # leave the last answer in the terminal's scrollback
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
        print(f"{e.name.ljust(width)}  {e.description}")
    if mine:
        print(f"\nYour configs ({user_config_dir() / 'agents'}):")
        for e in mine:
            print(f"{e.name.ljust(width)}  {e.description}")
    return ExitCode.OK


def _resolve_config(
    name: str | None, model: str | None, models: str | None
) -> tuple[MassGenConfig, str]:
    """The config to run and where it came from (a path, a model list, or the keys)."""
    from massgen.errors import ConfigurationError

    chosen = [
        flag
        for flag, value in (("--config", name), ("--model", model), ("--models", models))
        if value
    ]
    if len(chosen) > 1:
        raise ConfigurationError(f"use only one of {', '.join(chosen)}")
    if model or models:
        from massgen.config.models import config_for_models

        names = [model] if model else [m for m in (models or "").split(",") if m.strip()]
        return config_for_models(names), ",".join(names)
    if name is None:
        from massgen.config.resolve import resolve_default

        default = resolve_default()
        if default.notice:
            sys.stderr.write(f"massgen: {default.notice}\n")
        if default.data is not None:
            from massgen.config.loader import load_config_dict

            return load_config_dict(
                default.data, "team from your keys"
            ).config, "team from your keys"
        name = str(default.path)
    from massgen.config.loader import load_config
    from massgen.config.resolve import resolve_config

    path = resolve_config(name)
    return load_config(path).config, str(path)


async def _run(
    config: MassGenConfig,
    question: str,
    mode: UI,
    history: list[tuple[str, str]] | None = None,
    recorder: Any = None,
    images: Any = (),
) -> RunResult:
    import asyncio

    from massgen.coordination.build import build_coordinator
    from massgen.events import EventBus

    bus = EventBus()
    coordinator = build_coordinator(config, bus)  # a config error: no session is started
    try:
        await coordinator.prepare()  # MCP servers start; a tool name they lack: no session
    except BaseException:
        for agent in coordinator.specs:
            await agent.backend.aclose()
        raise
    if recorder is not None:
        log = recorder.attach(bus, images)
        coordinator.workspace_root = log.path if log is not None else None
    if mode is UI.json:
        from massgen.output.json_lines import print_events as printer
    else:
        from massgen.output.plain import print_progress as printer
    printing = asyncio.create_task(printer(bus.subscribe()))
    try:
        return await coordinator.run(question, tuple(history or ()), images)
    finally:
        bus.close()
        await printing
        for agent in coordinator.specs:
            await agent.backend.aclose()


def _report(result: RunResult, mode: UI) -> int:
    if mode is not UI.json and result.final_answer is not None:
        answer = result.final_answer.rstrip("\n")
        if sys.stdout.isatty():  # a model's text must not drive the user's terminal
            from massgen.terminal import visible

            answer = visible(answer)
        sys.stdout.write(answer + "\n")
        sys.stdout.flush()
    if result.status != "ok" and result.error:
        sys.stderr.write(f"massgen: {_safe(result.error)}\n")
    return for_status(result.status)


from massgen.cli.logs import logs_app  # noqa: E402 (after the main command's options)

app.add_typer(logs_app, name="logs")


def main() -> None:
    """Console-script entry point."""
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    try:
        app(prog_name="massgen")
    finally:
        # Skip the collector's pass over every SDK object at interpreter exit (~0.3 s).
        import gc

        gc.freeze()
