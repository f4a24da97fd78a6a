"""Running an eval: every item under every strategy, bounded in concurrency, cached.

Strategies:

- ``single``: the config's first agent alone, one call per item;
- ``vote``, ``debate``, ``judge``: the whole team under that strategy (the config's other
  orchestrator options kept);
- ``self_consistency``: the first agent sampled ``samples`` times (default: as many as the
  team has agents), each sample independent (:mod:`massgen.eval.sampling`: its own seed, or
  a nonce line where the provider takes no seed), the majority answer (by the item's scorer)
  taken.

After the strategies, the matched-compute baseline (:mod:`massgen.eval.matched`):
self-consistency of the team's best member with as many samples as match each strategy's
tokens.

Every result keeps, besides the final answer's, whether each agent's first and latest answer
was right (``agents``) and which candidate answers the final one was chosen from
(``candidates``: the agents' latest answers, or the samples), for the oracle and the selection
gap (:mod:`massgen.eval.analysis`).

Strategies run one after another (so each one's wall time is its own); within a strategy,
``concurrency`` items run at once. Provider rate limits are met by the engine's retries
(``Retry-After`` honoured) and by that bound. A finished result is cached at once; a failed
run is not, so running the same eval again retries it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from massgen.config.schema import STRATEGY_OPTIONS, MassGenConfig, OrchestratorConfig
from massgen.coordination.state import AgentSpec
from massgen.eval import scorers
from massgen.eval.cache import ResultCache, result_key
from massgen.eval.items import Item
from massgen.eval.matched import Matched, run_matched
from massgen.eval.sampling import SamplePool, agent_ids, majority

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
    matched: bool = True  # run the matched-compute baseline after the strategies
    results: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    wall_s: dict[str, float] = field(default_factory=dict)
    pools: dict[int, SamplePool] = field(default_factory=dict)
    baseline: Matched | None = None

    def __post_init__(self) -> None:
        if self.samples <= 0:
            self.samples = len(self.config.agents)

    def pool(self, agent_index: int) -> SamplePool:
        """The samples of the config's agent ``agent_index`` (made once)."""
        if agent_index not in self.pools:
            orchestrator = orchestrator_for(self.config, "single")
            self.pools[agent_index] = SamplePool(
                self.config, agent_index, self.cache, orchestrator, self.concurrency
            )
        return self.pools[agent_index]

    async def run(self) -> None:
        """Every strategy over every item (results in :attr:`results`, by strategy then
        item id), then the matched baseline (:attr:`baseline`). Raises on a config problem;
        a failed run is a result, not an error."""
        from massgen.runs import build_team

        team = build_team(self.config)
        try:
            for strategy in self.strategies:
                await self._strategy(strategy, team)
            if self.matched:
                started = time.monotonic()
                ids = agent_ids(self.config)
                self.baseline = await run_matched(self, ids, self.on_result)
                self.wall_s["matched"] = time.monotonic() - started
        finally:
            for spec in team:
                await spec.backend.aclose()
            for pool in self.pools.values():
                await pool.aclose()

    async def _strategy(self, strategy: str, team: list[AgentSpec]) -> None:
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
                async with limit:  # items at once; an item's samples run together
                    if strategy == "self_consistency":
                        result = await self._sampled(item)
                    else:
                        result = await self._run_item(strategy, item, team, orchestrator)
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
        orchestrator: OrchestratorConfig,
    ) -> dict[str, Any]:
        started = time.monotonic()
        agents = team[:1] if strategy == "single" else team
        run = await _ask(agents, orchestrator, item)
        usage = run.total_usage
        members = agent_answers(item, run)
        return {
            "prediction": run.final_answer,
            "correct": scorers.score(item, run.final_answer),
            "status": run.status,
            "error": run.error,
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "requests": usage.requests,
            "cost_usd": None if usage.cost is None else round(usage.cost, 8),
            "latency_s": round(time.monotonic() - started, 4),
            "agents": members,
            "candidates": [m["latest"] for m in members.values()],
        }

    async def _sampled(self, item: Item) -> dict[str, Any]:
        """Self-consistency: the majority of the first agent's samples."""
        started = time.monotonic()
        samples = await self.pool(0).take(item, self.samples)
        prediction = majority(item, [s["answer"] for s in samples])
        statuses = [s["status"] for s in samples]
        status = "ok" if all(s == "ok" for s in statuses) else _worst(statuses)
        if prediction is not None and status == "failed":
            status = "ok"  # some samples failed, the others answered
        costs = [s["cost_usd"] for s in samples]
        first = samples[0]["correct"]
        return {
            "prediction": prediction,
            "correct": scorers.score(item, prediction),
            "status": status,
            "error": next((s["error"] for s in samples if s["error"]), None),
            "prompt_tokens": sum(s["prompt_tokens"] for s in samples),
            "completion_tokens": sum(s["completion_tokens"] for s in samples),
            "requests": sum(s["requests"] for s in samples),
            "cost_usd": None if None in costs else round(sum(c or 0.0 for c in costs), 8),
            "latency_s": round(time.monotonic() - started, 4),
            "agents": {agent_ids(self.config)[0]: {"first": first, "latest": first}},
            "candidates": [s["correct"] for s in samples],
        }


async def _ask(agents: list[AgentSpec], orchestrator: OrchestratorConfig, item: Item) -> Any:
    """One run of ``item`` on ``agents`` (kept open for the next item)."""
    from massgen.runs import ActiveRun

    run = ActiveRun.on_agents(agents, orchestrator, item.prompt(), watch=False)
    return await run.result()


def agent_answers(item: Item, run: Any) -> dict[str, dict[str, bool]]:
    """Per agent of a run (by id, every agent of the run): whether its first answer and its
    latest answer were right (no answer: not right)."""
    out = {agent_id: {"first": False, "latest": False} for agent_id in run.labels}
    for agent_id in out:
        own = sorted((a for a in run.answers if a.agent_id == agent_id), key=lambda a: a.version)
        if own:
            out[agent_id] = {
                "first": scorers.score(item, own[0].content),
                "latest": scorers.score(item, own[-1].content),
            }
    return out


def _worst(statuses: list[str]) -> str:
    for status in ("failed", "cancelled", "budget", "timeout"):
        if status in statuses:
            return status
    return "ok"
