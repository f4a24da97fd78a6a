"""The ``massgen`` command: the Typer app, its main callback (``massgen [OPTIONS]
"question"``) and its subcommands (``doctor``, ``serve``, ``eval``, ``logs``).

Start-up stays fast: this module imports only Typer; configs, backends and their SDKs are
imported when a command needs them. The modules beside it turn flags into typed options
(:class:`massgen.cli.run.RunOptions`) and results into exit codes.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer

from massgen.__about__ import __version__
from massgen.cli.common import UI
from massgen.cli.common import fail as _fail
from massgen.cli.eval import eval_command
from massgen.cli.group import MainGroup
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
            from massgen.cli.configs import init as run_init

            code = run_init(non_interactive, model, models, save)
        elif validate is not None:
            from massgen.cli.configs import validate as run_validate

            code = run_validate(validate)
        else:
            from massgen.cli.run import RunOptions, ask

            options = RunOptions(
                config=config,
                model=model,
                models=models,
                ui=ui,
                timeout=timeout,
                list_examples=list_examples,
                example=example,
                continue_=(continue_session or "latest") if continue_ else None,
                log_dir=log_dir,
                no_log=no_log,
                images=image or [],
                context=context or [],
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


app.command("eval")(eval_command)


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
