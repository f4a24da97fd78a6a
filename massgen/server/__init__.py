"""``massgen serve``: an OpenAI-compatible HTTP server (Starlette ASGI app)."""

from massgen.server.app import create_app

__all__ = ["create_app"]
