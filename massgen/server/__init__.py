"""``massgen serve``: an OpenAI-compatible HTTP server (Starlette ASGI app) with background
tasks, a durable store, signed webhooks, metrics and traces.

Imports lazily: ``massgen.server.signing`` (``massgen.verify_webhook``) needs no server
dependency.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from massgen.server.app import create_app

        return create_app
    raise AttributeError(f"module 'massgen.server' has no attribute {name!r}")
