"""``massgen mcp``: the team as a tool of an MCP client (Claude Code, Cursor, ...).

An MCP server built on the official ``mcp`` SDK: the ``ask_team`` and ``list_configs``
tools, and the recorded sessions as ``massgen://sessions/<id>`` resources, over stdio or
streamable HTTP. A front end like ``massgen serve``: it resolves its team as the CLI does
and runs it as a :class:`massgen.runs.ActiveRun`.
"""
