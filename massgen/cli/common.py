"""What every ``massgen`` command shares: one-line errors, the output modes, and the team
its ``--config`` / ``--model`` / ``--models`` flags name."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from massgen.config.schema import MassGenConfig


class UI(StrEnum):
    textual = "textual"
    plain = "plain"
    json = "json"


def fail(message: str, code: int) -> typer.Exit:
    """Write ``massgen: error: MESSAGE`` and return the exit to raise."""
    sys.stderr.write(f"massgen: error: {safe(message)}\n")
    return typer.Exit(code)


def safe(text: str) -> str:
    """A line for the terminal: the environment's secrets replaced, controls made visible."""
    from massgen.redaction import redact_env
    from massgen.terminal import visible

    return visible(redact_env(text))


def team_for(
    name: str | None, model: str | None, models: str | None, backend: str | None = None
) -> tuple[MassGenConfig, str]:
    """The config to run and where it came from (a path, a model list, or the keys), from
    ``--config``, ``--model`` and ``--models`` (one of them at most), or ``--backend TYPE``
    with an optional ``--model`` (one agent of that type)."""
    from massgen.config.resolve import resolve_team
    from massgen.errors import ConfigurationError

    if backend is not None:
        clash = [flag for flag, value in (("--config", name), ("--models", models)) if value]
        if clash:
            raise ConfigurationError(f"use --backend without {' and '.join(clash)}")
        from massgen.config.models import config_for_backend

        config = config_for_backend(backend, model)
        return config, f"{config.agents[0].backend.type}/{config.agents[0].backend.model}"

    chosen = [
        flag
        for flag, value in (("--config", name), ("--model", model), ("--models", models))
        if value
    ]
    if len(chosen) > 1:
        raise ConfigurationError(f"use only one of {', '.join(chosen)}")
    names = None
    if model or models:
        names = [model] if model else [m for m in (models or "").split(",") if m.strip()]
    return resolve_team(name, names, notice=lambda text: sys.stderr.write(f"massgen: {text}\n"))
