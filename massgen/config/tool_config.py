"""An agent's own tools in the config: MCP servers and custom (Python) tools."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, model_validator

from massgen.config.fields import FieldProblem, Strict


class MCPServerConfig(Strict):
    """An MCP server whose tools an agent gets (``mcp__<name>__<tool>``)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,40}$", description="Names the tools.")
    type: Literal["stdio", "streamable-http"] = "stdio"
    command: str | None = Field(default=None, description="stdio: the program to start.")
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict, description="stdio: extra variables.")
    cwd: str | None = None
    url: str | None = Field(default=None, description="streamable-http: the endpoint.")
    headers: dict[str, str] = Field(default_factory=dict, description="streamable-http.")
    allowed_tools: list[str] | None = Field(
        default=None, description="Only these tools (bare names or mcp__<server>__<tool>)."
    )
    exclude_tools: list[str] = Field(
        default_factory=list, description="Not these tools (bare or mcp__<server>__<tool>)."
    )
    startup_timeout_seconds: float = Field(
        default=30.0, gt=0, description="How long it may take to start and list its tools."
    )
    read_only: bool | None = Field(
        default=None,
        description="Planning mode: true, every tool of this server only reads (it runs while "
        "the agents coordinate); false, every tool may change something (planned, run by the "
        "final presenter); unset: read_only_tools and the tools the server marks readOnlyHint.",
    )
    read_only_tools: list[str] = Field(
        default_factory=list,
        description="Planning mode: these tools only read, and run while the agents coordinate.",
    )

    @model_validator(mode="after")
    def _bare_tool_names(self) -> MCPServerConfig:
        """Tool names as the server knows them: ``mcp__<this server>__<tool>`` (the name the
        model sees) is taken as ``<tool>``; another server's prefix is a mistake."""
        prefix = f"mcp__{self.name}__"
        for key in ("allowed_tools", "exclude_tools", "read_only_tools"):
            names = getattr(self, key)
            if names is None:
                continue
            bare = []
            for index, name in enumerate(names):
                if name.startswith(prefix):
                    name = name.removeprefix(prefix)
                elif name.startswith("mcp__"):
                    other = name.removeprefix("mcp__").split("__", 1)[0]
                    raise FieldProblem(
                        (key, index),
                        f"'{name}' names MCP server '{other}'; this server is '{self.name}' "
                        f"(write '{prefix}<tool>' or just the tool's name)",
                    )
                bare.append(name)
            setattr(self, key, bare)
        if self.read_only is not None and self.read_only_tools:
            raise FieldProblem(
                ("read_only_tools",),
                f"read_only: {str(self.read_only).lower()} already says it for every tool; "
                "give one or the other",
            )
        return self

    @model_validator(mode="after")
    def _transport_given(self) -> MCPServerConfig:
        if self.type == "stdio":
            if not self.command:
                raise ValueError("a stdio server needs 'command' (e.g. npx, uvx, python)")
            if self.url:
                raise ValueError("'url' is for type: streamable-http")
        else:
            parts = urlsplit(self.url or "")
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("a streamable-http server needs 'url': an http(s):// URL")
            if self.command:
                raise ValueError("'command' is for type: stdio")
        return self


class CustomToolConfig(Strict):
    """Python functions an agent may call: from a file (``path``) or a module."""

    path: str | None = Field(default=None, description="A .py file (relative to the config).")
    module: str | None = Field(default=None, description="An importable module instead.")
    function: str | list[str] = Field(description="The function name, or a list of names.")

    @model_validator(mode="after")
    def _one_source(self) -> CustomToolConfig:
        if bool(self.path) == bool(self.module):
            raise ValueError("give either 'path' (a .py file) or 'module', not both or neither")
        return self
