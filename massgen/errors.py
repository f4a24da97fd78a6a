"""User-facing error types shared by the CLI, the Python API and the server."""

from __future__ import annotations


class MassGenError(Exception):
    """Base of massgen's own errors. ``str(err)`` is one readable line for the user."""


class ConfigurationError(MassGenError, ValueError):
    """The config, a CLI option or an API argument is wrong. The message says where and how
    to fix it, e.g. ``configs/x.yaml:7: agents[1].backend.type: unknown backend 'gpt' (did
    you mean 'openai'?)``."""


class RunFailedError(MassGenError):
    """The run ended without any answer (every agent failed)."""


def describe(exc: BaseException) -> str:
    """``exc`` as a cause a user can read, never empty: its message, else what it is
    (``TimeoutError()`` has no message; "timed out" says what happened)."""
    text = " ".join(str(exc).split())
    if text:
        return text
    if isinstance(exc, TimeoutError):
        return "timed out"
    return type(exc).__name__
