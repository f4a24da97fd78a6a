"""Run ``massgen mcp``: resolve the team, build the server, serve it over stdio or HTTP."""

from __future__ import annotations

import sys

import anyio

from massgen.mcp_server.options import McpOptions


def serve(options: McpOptions) -> None:
    """Serve until the client closes stdin (stdio) or the process is stopped (HTTP).
    Raises :class:`massgen.errors.ConfigurationError` before serving for bad options or a
    config that cannot be loaded."""
    options.check()
    from massgen.config.env import load_env_files
    from massgen.mcp_server.app import build
    from massgen.mcp_server.team import Team

    load_env_files()
    team = Team.load(options)
    server = build(team)
    if options.http:
        from massgen.mcp_server.http import serve_http

        anyio.run(serve_http, server, options)
        return
    sys.stderr.write(f"massgen mcp: serving {team.source} over stdio\n")
    sys.stderr.flush()
    anyio.run(server.run_stdio_async)
