"""The server's team under another coordination strategy: what the debate and ensemble
endpoints run. The operator's config stays the authority: its agents' endpoints and keys,
its timeouts and budget caps all carry over; only the strategy and its own options change.
Under the config's own strategy its strategy options are kept (a request's override them);
under another, they start from that strategy's defaults, since one strategy's option means
something else, or nothing, under another. A judge the operator named who is not among a
request's participants is replaced by the first of them."""

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
    same = config.orchestrator.strategy == strategy
    for option, strategies in STRATEGY_OPTIONS.items():
        # another strategy's options mean something else (vote's rounds are not debate's),
        # or nothing (and would be refused): the new strategy starts from its defaults
        if not same or strategy not in strategies:
            current[option] = OrchestratorConfig.model_fields[option].default
    current.update(options, strategy=strategy)
    team_agents = list(agents or config.agents)
    ids = [str(a.id) for a in team_agents]
    if current.get("judge") is not None and current["judge"] not in ids:
        current["judge"] = ids[0]  # the operator's judge is not among them: the first judges
    try:
        orchestrator = OrchestratorConfig.model_validate(current)
        team = config.model_copy(update={"orchestrator": orchestrator, "agents": team_agents})
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
