"""massgen: several LLM agents answer in parallel, read each other's answers and vote; the
most-voted agent writes the final answer.

Importing this package is cheap: the API below is imported on first use.

    import massgen
    result = await massgen.run("question", models=["openai/gpt-5-mini", "claude/claude-sonnet-4"])
"""

from __future__ import annotations

from typing import Any

from massgen.__about__ import __version__
from massgen.errors import ConfigurationError, MassGenError, RunFailedError

__all__ = [
    "ConfigurationError",
    "MassGenError",
    "RunFailedError",
    "__version__",
    "build_config",
    "register_with_litellm",
    "run",
    "start",
    "stream",
    "verify_webhook",
]

_LAZY = {
    "run": "massgen.api",
    "start": "massgen.api",
    "stream": "massgen.api",
    "build_config": "massgen.api",
    "register_with_litellm": "massgen.integrations.litellm_provider",
    "verify_webhook": "massgen.server.signing",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'massgen' has no attribute {name!r}")
