"""The server's team under another coordination strategy: what the debate and ensemble
endpoints run. The operator's config stays the authority: its agents' endpoints and keys,
its timeouts and budget caps all carry over; only the strategy and its own options change
(the options of the config's strategy that mean nothing under the new one are reset)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from massgen.config.schema import STRATEGY_OPTIONS, AgentConfig, OrchestratorConfig
from massgen.runs import Prepared
from massgen.server.http import BadRequest


def with_strategy(
    prepared: Prepared,
    strategy: str,
    options: dict[str, Any],
    *,
    agents: Sequence[AgentConfig] | None = None,
    field: str = "strategy",
) -> Prepared:
    """``prepared``'s team (or ``agents``, built from it) under ``strategy`` with
    ``options`` (orchestrator fields). A combination the config schema refuses is a 400
    naming ``field``."""
    config = prepared.config
    current = config.orchestrator.model_dump()
    for option, strategies in STRATEGY_OPTIONS.items():
        if strategy not in strategies:  # would mean nothing (and be refused) under strategy
            current[option] = OrchestratorConfig.model_fields[option].default
    current.update(options, strategy=strategy)
    try:
        orchestrator = OrchestratorConfig.model_validate(current)
        team = config.model_copy(
            update={"orchestrator": orchestrator, "agents": list(agents or config.agents)}
        )
        team.check_orchestrator()
    except (ValidationError, ValueError) as exc:
        raise BadRequest(
            400,
            f"{field}: the server's team cannot run this ({_first_line(exc)})",
            "invalid_request_error",
            "invalid_value",
            param=field,
        ) from None
    return Prepared(team, f"{prepared.source} ({strategy})")


def _first_line(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error.get("loc", ()))
        return f"{where}: {error.get('msg', '')}" if where else str(error.get("msg", ""))
    return str(exc).splitlines()[0]
