"""Running an eval: every item under every strategy, bounded in concurrency, cached.

Strategies:

- ``single``: the config's first agent alone, one call per item;
- ``vote``, ``debate``, ``judge``: the whole team under that strategy (the config's other
  orchestrator options kept);
- ``self_consistency``: the first agent sampled ``samples`` times (default: as many as the
  team has agents; seeds ``seed``, ``seed+1``, ... when the backend sets one), the majority
  answer (by the item's scorer) taken: the equal-compute baseline.

Strategies run one after another (so each one's wall time is its own); within a strategy,
``concurrency`` items run at once. Provider rate limits are met by the engine's retries
(``Retry-After`` honoured) and by that bound. A finished result is cached at once; a failed
run is not, so running the same eval again retries it.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from massgen.config.schema import STRATEGY_OPTIONS, MassGenConfig, OrchestratorConfig
from massgen.coordination.state import AgentSpec
from massgen.eval import scorers
from massgen.eval.cache import ResultCache, result_key
from massgen.eval.items import Item

STRATEGIES = ("single", "vote", "debate", "judge", "self_consistency")

OnResult = Callable[[str, Item, dict[str, Any]], None]


def parse_strategies(text: str) -> list[str]:
    """``single,vote,...`` as a list; an unknown name suggests the closest."""
    import difflib

    from massgen.errors import ConfigurationError

    names = [n.strip().replace("-", "_") for n in text.split(",") if n.strip()]
    if not names:
        raise ConfigurationError(f"--strategies: none given (choose from {', '.join(STRATEGIES)})")
    for name in names:
        if name not in STRATEGIES:
            close = difflib.get_close_matches(name, STRATEGIES, n=1, cutoff=0.5)
            hint = f"did you mean '{close[0]}'?" if close else f"one of {', '.join(STRATEGIES)}"
            raise ConfigurationError(f"--strategies: unknown strategy '{name}' ({hint})")
    return list(dict.fromkeys(names))


def orchestrator_for(config: MassGenConfig, strategy: str) -> OrchestratorConfig:
    """The config's orchestrator under ``strategy`` (single and self-consistency: one agent,
    so ``vote`` with nothing to vote on)."""
    options = config.orchestrator.model_dump(exclude_unset=True)
    engine = "vote" if strategy in ("single", "self_consistency") else strategy
    for option, strategies in STRATEGY_OPTIONS.items():  # another strategy's options
        if engine not in strategies:
            options.pop(option, None)
    if strategy in ("single", "self_consistency"):
        options.pop("min_agents", None)
    options["strategy"] = engine
    if engine == "vote" and options.get("max_rounds") == 1:
        options.pop("max_rounds")  # a debate's single revision round
    return OrchestratorConfig.model_validate(options)


def strategy_key(strategy: str, samples: int) -> str:
    return f"{strategy}:{samples}" if strategy == "self_consistency" else strategy


@dataclass
class Eval:
    """One eval: what runs, on what, and where its results go."""

    config: MassGenConfig
    items: Sequence[Item]
    strategies: Sequence[str]
    cache: ResultCache
    samples: int = 0  # self_consistency's samples; 0: the number of agents
    concurrency: int = 4
    on_result: OnResult | None = None
    results: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    wall_s: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.samples <= 0:
            self.samples = len(self.config.agents)

    async def run(self) -> None:
        """Every strategy over every item (results in :attr:`results`, by strategy then
        item id). Raises on a config problem; a failed run is a result, not an error."""
        from massgen.runs import build_team

        team = build_team(self.config)
        samplers = self._samplers(team) if "self_consistency" in self.strategies else []
        try:
            for strategy in self.strategies:
                await self._strategy(strategy, team, samplers)
        finally:
            for spec in {id(s): s for s in [*team, *samplers]}.values():
                await spec.backend.aclose()

    def _samplers(self, team: list[AgentSpec]) -> list[AgentSpec]:
        """The first agent once per sample, each with its own seed when it has one."""
        from massgen.runs import build_team

        first = self.config.agents[0]
        if first.backend.seed is None:
            return [team[0]] * self.samples
        copies = [
            first.model_copy(
                update={
                    "id": f"{first.id}.{i + 1}",
                    "backend": first.backend.model_copy(update={"seed": first.backend.seed + i}),
                }
            )
            for i in range(self.samples)
        ]
        return build_team(self.config.model_copy(update={"agents": copies}))

    async def _strategy(
        self, strategy: str, team: list[AgentSpec], samplers: list[AgentSpec]
    ) -> None:
        orchestrator = orchestrator_for(self.config, strategy)
        done: dict[str, dict[str, Any]] = {}
        self.results[strategy] = done
        limit = asyncio.Semaphore(max(1, self.concurrency))
        name = strategy_key(strategy, self.samples)
        started = time.monotonic()

        async def one(item: Item) -> None:
            key = result_key(item.key(), name)
            cached = self.cache.get(key)
            if cached is not None:
                result = {**cached, "cached": True}
            else:
                async with limit:
                    result = await self._run_item(strategy, item, team, samplers, orchestrator)
                if result["status"] != "failed":
                    self.cache.put(key, result)
                result = {**result, "cached": False}
            done[item.id] = result
            if self.on_result is not None:
                self.on_result(strategy, item, result)

        async with asyncio.TaskGroup() as group:
            for item in self.items:
                group.create_task(one(item))
        self.wall_s[strategy] = time.monotonic() - started

    async def _run_item(
        self,
        strategy: str,
        item: Item,
        team: list[AgentSpec],
        samplers: list[AgentSpec],
        orchestrator: OrchestratorConfig,
    ) -> dict[str, Any]:
        started = time.monotonic()
        if strategy == "self_consistency":
            runs = await asyncio.gather(*(_ask([s], orchestrator, item) for s in samplers))
            prediction = majority(item, [r.final_answer for r in runs])
        else:
            agents = team[:1] if strategy == "single" else team
            runs = [await _ask(agents, orchestrator, item)]
            prediction = runs[0].final_answer
        latency = time.monotonic() - started
        costs = [r.total_usage.cost for r in runs]
        statuses = [r.status for r in runs]
        status = "ok" if all(s == "ok" for s in statuses) else _worst(statuses)
        if prediction is not None and status == "failed":
            status = "ok"  # self-consistency: some samples failed, the others answered
        return {
            "prediction": prediction,
            "correct": scorers.score(item, prediction),
            "status": status,
            "error": next((r.error for r in runs if r.error), None),
            "prompt_tokens": sum(r.total_usage.prompt_tokens for r in runs),
            "completion_tokens": sum(r.total_usage.completion_tokens for r in runs),
            "requests": sum(r.total_usage.requests for r in runs),
            "cost_usd": None if None in costs else round(sum(c or 0.0 for c in costs), 8),
            "latency_s": round(latency, 4),
        }


async def _ask(agents: list[AgentSpec], orchestrator: OrchestratorConfig, item: Item) -> Any:
    """One run of ``item`` on ``agents`` (kept open for the next item)."""
    from massgen.runs import ActiveRun

    run = ActiveRun.on_agents(agents, orchestrator, item.prompt(), watch=False)
    return await run.result()


def majority(item: Item, answers: list[str | None]) -> str | None:
    """The answer most samples give (by the item's scorer; a tie: the earliest); with no
    recognisable answer, the first sample's text."""
    keys = [scorers.vote_key(item, a) for a in answers]
    counted = Counter(k for k in keys if k is not None)
    if not counted:
        return next((a for a in answers if a), None)
    top = max(counted.values())
    winner = next(k for k in keys if k is not None and counted[k] == top)
    return answers[keys.index(winner)]


def _worst(statuses: list[str]) -> str:
    for status in ("failed", "cancelled", "budget", "timeout"):
        if status in statuses:
            return status
    return "ok"
