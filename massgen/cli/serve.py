"""``massgen serve``: flags and environment variables into
:class:`massgen.server.options.ServeOptions` (the serving itself is
:func:`massgen.server.serve.serve`)."""

from __future__ import annotations

import os
import sys
from typing import Annotated, overload

import typer

from massgen.cli.common import fail as _fail
from massgen.exitcodes import ExitCode


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
    webhook_signature_header: Annotated[
        str | None,
        typer.Option(
            "--webhook-signature-header",
            help="Also send each webhook's signature under this header (X-Massgen-Signature "
            "is always sent), for receivers written for another platform, e.g. "
            "X-HelixAgent-Signature. Env: MASSGEN_SERVER_WEBHOOK_SIGNATURE_HEADER.",
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
    embeddings: Annotated[
        list[str] | None,
        typer.Option(
            "--embeddings",
            help="Serve POST /v1/embeddings with this model: PROVIDER/MODEL (e.g. "
            "openai/text-embedding-3-small; endpoint and key from the provider's variables) "
            "or 'local' (the embedded model, offline); repeatable. Env: "
            "MASSGEN_SERVER_EMBEDDINGS (comma-separated).",
        ),
    ] = None,
    jwt_secret: Annotated[
        str | None,
        typer.Option(
            "--jwt-secret",
            help="Accept bearer JWTs signed with this HS256 secret (32+ bytes) beside the API "
            "keys; a token's sub owns its tasks. Env (preferred: not shown by ps): "
            "MASSGEN_SERVER_JWT_SECRET.",
        ),
    ] = None,
    jwt_public_key: Annotated[
        str | None,
        typer.Option(
            "--jwt-public-key",
            help="Accept bearer JWTs signed by this RSA, EC or Ed25519 key (a PEM file, or "
            "its text). Env: MASSGEN_SERVER_JWT_PUBLIC_KEY.",
        ),
    ] = None,
    jwt_jwks_url: Annotated[
        str | None,
        typer.Option(
            "--jwt-jwks-url",
            help="Accept bearer JWTs signed by a key of this JWKS (https; fetched every 5 "
            "minutes). Env: MASSGEN_SERVER_JWT_JWKS_URL.",
        ),
    ] = None,
    jwt_audience: Annotated[
        str | None,
        typer.Option(
            "--jwt-audience",
            help="A JWT's aud must name this. Env: MASSGEN_SERVER_JWT_AUDIENCE.",
        ),
    ] = None,
    jwt_issuer: Annotated[
        str | None,
        typer.Option(
            "--jwt-issuer", help="A JWT's iss must be this. Env: MASSGEN_SERVER_JWT_ISSUER."
        ),
    ] = None,
    mcp_allow_tool: Annotated[
        list[str] | None,
        typer.Option(
            "--mcp-allow-tool",
            help="Let callers run this tool of the config's MCP servers over HTTP (POST "
            "/v1/mcp/tools/call): a tool's name, or mcp__SERVER__TOOL; repeatable; none by "
            "default. Env: MASSGEN_SERVER_MCP_ALLOW_TOOLS (comma-separated).",
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
    from massgen.server.options import (
        DEFAULT_HOST,
        DEFAULT_MAX_CONCURRENCY,
        DEFAULT_MAX_REQUEST_TOKENS,
        DEFAULT_PORT,
        DEFAULT_REQUEST_TIMEOUT,
        ServeOptions,
    )

    env = os.environ
    config = config or env.get("MASSGEN_SERVER_DEFAULT_CONFIG") or None
    model = model or env.get("MASSGEN_SERVER_DEFAULT_MODEL") or None
    if config and model:
        sys.stderr.write("massgen: use only one of --config, --model\n")
        raise typer.Exit(ExitCode.USAGE)
    try:
        port = int(_setting(port, "MASSGEN_SERVER_PORT", DEFAULT_PORT, "--port", low=0))
        limit = int(
            _setting(
                max_concurrency,
                "MASSGEN_SERVER_MAX_CONCURRENCY",
                DEFAULT_MAX_CONCURRENCY,
                "--max-concurrency",
            )
        )
        receive = _setting(
            request_timeout,
            "MASSGEN_SERVER_REQUEST_TIMEOUT",
            DEFAULT_REQUEST_TIMEOUT,
            "--request-timeout",
        )
        connections = _setting(
            max_connections, "MASSGEN_SERVER_MAX_CONNECTIONS", None, "--max-connections"
        )
        processes = int(_setting(workers, "MASSGEN_SERVER_WORKERS", 1, "--workers"))
        request_tokens = _setting(
            max_request_tokens,
            "MASSGEN_SERVER_MAX_REQUEST_TOKENS",
            DEFAULT_MAX_REQUEST_TOKENS,
            "--max-request-tokens",
        )
    except ConfigurationError as exc:
        raise _fail(str(exc), ExitCode.USAGE) from None

    def listed(given: list[str] | None, variable: str) -> tuple[str, ...]:
        """Repeated flags, else the variable's comma-separated values."""
        if given:
            return tuple(given)
        return tuple(v.strip() for v in env.get(variable, "").split(",") if v.strip())

    db = db or env.get("MASSGEN_SERVER_DB") or None
    secret_keys = listed(secret_key, "MASSGEN_SERVER_SECRET_KEY")
    if rotate_secrets:
        _rotate_secrets(db, list(secret_keys))
        return
    options = ServeOptions(
        config=config,
        model=model,
        host=host or env.get("MASSGEN_SERVER_HOST") or DEFAULT_HOST,
        port=port,
        api_keys=listed(api_key, "MASSGEN_SERVER_API_KEYS"),
        max_concurrency=limit,
        request_timeout=float(receive or DEFAULT_REQUEST_TIMEOUT),
        max_connections=int(connections) if connections else None,
        max_request_tokens=int(request_tokens or DEFAULT_MAX_REQUEST_TOKENS),
        request_sampling=not no_request_sampling,
        enable_logging=not no_log,
        log_dir=log_dir,
        workers=processes,
        db=db,
        webhook_allow=listed(webhook_allow, "MASSGEN_SERVER_WEBHOOK_ALLOW"),
        webhook_signature_header=webhook_signature_header
        or env.get("MASSGEN_SERVER_WEBHOOK_SIGNATURE_HEADER")
        or None,
        secret_keys=secret_keys,
        embeddings=listed(embeddings, "MASSGEN_SERVER_EMBEDDINGS"),
        jwt_secret=jwt_secret or env.get("MASSGEN_SERVER_JWT_SECRET") or None,
        jwt_public_key=jwt_public_key or env.get("MASSGEN_SERVER_JWT_PUBLIC_KEY") or None,
        jwt_jwks_url=jwt_jwks_url or env.get("MASSGEN_SERVER_JWT_JWKS_URL") or None,
        jwt_audience=jwt_audience or env.get("MASSGEN_SERVER_JWT_AUDIENCE") or None,
        jwt_issuer=jwt_issuer or env.get("MASSGEN_SERVER_JWT_ISSUER") or None,
        mcp_allow_tools=listed(mcp_allow_tool, "MASSGEN_SERVER_MCP_ALLOW_TOOLS"),
    )
    from massgen.server.serve import MissingExtra, ServeError, serve

    try:
        serve(options)
    except MissingExtra as exc:
        sys.stderr.write(f"massgen: {exc}\n")
        raise typer.Exit(ExitCode.USAGE) from None
    except ServeError as exc:
        raise _fail(str(exc), ExitCode.USAGE) from None


def _rotate_secrets(db: str | None, keys: list[str]) -> None:
    """``massgen serve --rotate-secrets``: re-encrypt the store's webhook secrets."""
    from massgen.server.serve import ServeError, rotate_secrets

    try:
        count = rotate_secrets(db, keys)
    except ServeError as exc:
        raise _fail(str(exc), ExitCode.USAGE) from None
    sys.stderr.write(f"massgen: re-encrypted {count} webhook secret(s) with the first key\n")


@overload
def _setting(
    given: float | None, variable: str, default: float, flag: str, *, low: float = 1
) -> float: ...
@overload
def _setting(
    given: float | None, variable: str, default: None, flag: str, *, low: float = 1
) -> float | None: ...
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
