"""``massgen mcp``: flags and environment into :class:`massgen.mcp_server.options.McpOptions`
(the serving itself is :func:`massgen.mcp_server.serve.serve`)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from massgen.cli.common import fail as _fail
from massgen.exitcodes import ExitCode


def mcp_command(
    config: Annotated[
        str | None,
        typer.Option("--config", "-c", help="The team ask_team runs (a file or config name)."),
    ] = None,
    context_path: Annotated[
        list[str] | None,
        typer.Option(
            "--context-path",
            "--context",
            help="Let the agents read PATH (PATH:write: the final answer's author may change "
            "it); repeatable. A call may narrow these grants, never widen them.",
        ),
    ] = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Each run's timeout in seconds.")
    ] = None,
    max_concurrency: Annotated[
        int,
        typer.Option(
            "--max-concurrency", help="Runs at once (default 4); more ask_team calls wait."
        ),
    ] = 4,
    log_dir: Annotated[
        str | None,
        typer.Option("--log-dir", help="Record sessions here (default: the user data dir)."),
    ] = None,
    no_log: Annotated[bool, typer.Option("--no-log", help="Do not record sessions.")] = False,
    http: Annotated[
        bool, typer.Option("--http", help="Serve streamable HTTP at /mcp instead of stdio.")
    ] = False,
    host: Annotated[
        str | None,
        typer.Option("--host", help="With --http: address to bind (default 127.0.0.1)."),
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", help="With --http: port (default 8765; 0: any).")
    ] = None,
    api_key: Annotated[
        list[str] | None,
        typer.Option(
            "--api-key",
            help="With --http: require 'Authorization: Bearer KEY' (repeatable; needed "
            "beyond loopback). Env: MASSGEN_MCP_API_KEY (comma-separated).",
        ),
    ] = None,
) -> None:
    """Serve the team as an MCP server (stdio, or --http) for Claude Code, Cursor and other
    MCP clients: the ask_team and list_configs tools, and the sessions as resources."""
    from massgen.errors import ConfigurationError
    from massgen.mcp_server.options import DEFAULT_HOST, DEFAULT_PORT, McpOptions
    from massgen.mcp_server.serve import serve

    keys = list(api_key or [])
    if not keys and os.environ.get("MASSGEN_MCP_API_KEY"):
        keys = [k.strip() for k in os.environ["MASSGEN_MCP_API_KEY"].split(",") if k.strip()]
    options = McpOptions(
        config=config,
        context_paths=tuple(context_path or ()),
        timeout=timeout,
        max_concurrency=max_concurrency,
        log_dir=log_dir,
        no_log=no_log,
        http=http,
        host=host if host is not None else DEFAULT_HOST,
        port=port if port is not None else DEFAULT_PORT,
        api_keys=tuple(keys),
    )
    try:
        serve(options)
    except ConfigurationError as exc:
        raise _fail(str(exc), ExitCode.USAGE) from None
    except KeyboardInterrupt:
        raise typer.Exit(ExitCode.INTERRUPTED) from None
    raise typer.Exit(ExitCode.OK)
