"""An agent's own tools: custom Python functions, MCP servers, file tools and commands."""
