"""The MCP server itself (``mcp.server.mcpserver.MCPServer``): the ``ask_team`` and
``list_configs`` tools and the session resources, wired to the server's :class:`Team`.
Only wiring: each piece lives in its own module."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, Resource, ToolAnnotations
from pydantic import BaseModel, Field

from massgen.__about__ import __version__
from massgen.mcp_server import ask, sessions
from massgen.mcp_server.ask import TeamAnswer
from massgen.mcp_server.team import Team

INSTRUCTIONS = (
    "massgen runs a team of AI agents on a question: they answer in parallel, read each "
    "other's answers and vote; the most-voted agent writes the final answer. Use ask_team "
    "for questions that deserve several models' judgement (reviews, designs, hard "
    "trade-offs); it takes a while, and reports progress as the agents answer and vote."
)


class ConfigEntry(BaseModel):
    name: str
    kind: str = Field(description="server (this server's own team), saved or built-in")
    description: str


class ConfigList(BaseModel):
    configs: list[ConfigEntry]


class SessionsServer(MCPServer):
    """An MCPServer whose resource listing also names the newest recorded sessions."""

    def __init__(self, root: Path, **settings: Any) -> None:
        super().__init__(**settings)
        self.sessions_root = root

    async def list_resources(self) -> list[Resource]:
        own = await super().list_resources()
        return [*own, *await asyncio.to_thread(sessions.listed, self.sessions_root)]


def build(team: Team) -> MCPServer:
    """The server, its tools and resources bound to ``team``."""
    from massgen.sessions.store import sessions_root

    root = sessions_root(team.options.log_dir)
    server = SessionsServer(
        root,
        name="massgen",
        version=__version__,
        instructions=INSTRUCTIONS,
        log_level="WARNING",
    )

    @server.tool(
        annotations=ToolAnnotations(title="Ask the massgen team", open_world_hint=True),
    )
    async def ask_team(
        question: Annotated[str, Field(description="The question for the team.")],
        ctx: Context,
        config: Annotated[
            str | None,
            Field(description="A config name from list_configs (default: the server's team)."),
        ] = None,
        strategy: Annotated[
            str | None,
            Field(description="vote (default), debate or judge: how the team agrees."),
        ] = None,
        context_paths: Annotated[
            list[str] | None,
            Field(
                description="Files or folders the agents may read (PATH, or PATH:write for "
                "the final answer's author to change it), within the server's own grants; "
                "default: all of them; [] for none."
            ),
        ] = None,
    ) -> Annotated[CallToolResult, TeamAnswer]:
        """Ask a team of AI agents: they answer in parallel, read each other's answers and
        vote, and the winner writes the final answer. Returns the answer with the winner,
        the votes and the cost; progress notifications tell each answer and vote."""

        async def report(progress: float, line: str) -> None:
            await ctx.report_progress(progress, None, line)

        return await ask.ask_team(team, question, config, strategy, context_paths, report)

    @server.tool(annotations=ToolAnnotations(title="massgen configs", read_only_hint=True))
    def list_configs() -> ConfigList:
        """The configs ask_team's config argument can name: this server's team
        ("default"), your saved configs and the built-in examples."""
        return ConfigList(configs=[ConfigEntry(**entry) for entry in team.configs()])

    @server.resource(
        sessions.TEMPLATE,
        name="session",
        title="A massgen session",
        description="A recorded run: its summary, every answer and the final answer.",
        mime_type=sessions.MIME,
    )
    def session(session_id: str) -> str:
        return sessions.read(root, session_id)

    return server
