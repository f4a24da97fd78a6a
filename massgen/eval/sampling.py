"""Independent samples of one agent: what self-consistency and the matched-compute baseline
vote over.

A sample is a run of the agent alone on an item. Samples of one item must differ, or a
majority of them is one answer counted several times. Where the agent's provider takes a
sampling seed (``massgen.providers.OPTIONS["seed"]``), sample ``k`` is sent with seed
``seed + k`` (``seed``: the agent's own, else 0): independence ``"seed"``. Where it takes
none (claude, openai's Responses API, ...), sample ``k``'s prompt ends with a line of its own,
``[sample k+1]``, so no two requests are the same and no provider-side cache answers them
alike: independence ``"nonce"`` (the samples then differ by the provider's sampling, its
temperature). Samples are kept in the eval's cache one by one, so strategies that need the
first ``k`` samples of an item share them.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from typing import Any

from massgen.config.schema import AgentConfig, MassGenConfig, OrchestratorConfig
from massgen.coordination.state import AgentSpec
from massgen.eval import scorers
from massgen.eval.cache import ResultCache, result_key
from massgen.eval.items import Item
from massgen.providers import ALIASES, refusal


def independence(agent: AgentConfig) -> str:
    """``"seed"`` when the agent's provider takes a sampling seed, else ``"nonce"``."""
    kind = ALIASES.get(agent.backend.type, agent.backend.type)
    return "seed" if refusal(kind, "seed") is None else "nonce"


def agent_ids(config: MassGenConfig) -> list[str]:
    """The config's agents' ids as a run names them (``agentN`` for one without)."""
    return [agent.id or f"agent{i + 1}" for i, agent in enumerate(config.agents)]


def nonce_prompt(prompt: str, index: int) -> str:
    """Sample ``index``'s prompt where the provider takes no seed."""
    return f"{prompt}\n\n[sample {index + 1}]"


class SamplePool:
    """The samples of one agent, item by item: run when first needed, then cached."""

    def __init__(
        self,
        config: MassGenConfig,
        agent_index: int,
        cache: ResultCache,
        orchestrator: OrchestratorConfig,
        concurrency: int,
    ) -> None:
        self.config = config
        self.agent = config.agents[agent_index]
        self.agent_id = agent_ids(config)[agent_index]
        self.mode = independence(self.agent)
        self.base_seed = self.agent.backend.seed or 0
        self.cache = cache
        self.orchestrator = orchestrator
        self.limit = asyncio.Semaphore(max(1, concurrency))
        self.samples: dict[str, dict[int, dict[str, Any]]] = {}
        self._specs: dict[int, AgentSpec] = {}
        self._plain: AgentSpec | None = None

    def describe(self, count: int) -> dict[str, Any]:
        """How ``count`` samples are made independent, for the report."""
        out: dict[str, Any] = {"member": self.agent_id, "independence": self.mode}
        if self.mode == "seed":
            out["seeds"] = [self.base_seed, self.base_seed + count - 1]
        elif self.agent.backend.temperature == 0:
            out["note"] = "temperature 0 and no seed: the samples may all give one answer"
        return out

    def _spec(self, index: int) -> AgentSpec:
        """The agent as sample ``index`` runs it (its own seed, where seeds apply)."""
        from massgen.runs import build_team

        if self.mode == "nonce":
            if self._plain is None:
                self._plain = build_team(self.config.model_copy(update={"agents": [self.agent]}))[0]
            return self._plain
        if index not in self._specs:
            seed = self.base_seed + index
            copy = self.agent.model_copy(
                update={"backend": self.agent.backend.model_copy(update={"seed": seed})}
            )
            self._specs[index] = build_team(self.config.model_copy(update={"agents": [copy]}))[0]
        return self._specs[index]

    def _key(self, item: Item, index: int) -> str:
        return result_key(item.key(), f"sample:{self.agent_id}:{self.mode}:{index}")

    async def take(self, item: Item, count: int) -> list[dict[str, Any]]:
        """The first ``count`` samples of ``item`` (those missing run now, concurrently)."""
        have = self.samples.setdefault(item.id, {})
        missing = [i for i in range(count) if i not in have]
        for index in list(missing):
            cached = self.cache.get(self._key(item, index))
            if cached is not None:
                have[index] = {**cached, "cached": True}
                missing.remove(index)
        if missing:
            for index, sample in zip(
                missing, await asyncio.gather(*(self._run(item, i) for i in missing)), strict=True
            ):
                have[index] = sample
        return [have[i] for i in range(count)]

    async def _run(self, item: Item, index: int) -> dict[str, Any]:
        from massgen.runs import ActiveRun

        prompt = item.prompt()
        if self.mode == "nonce":
            prompt = nonce_prompt(prompt, index)
        async with self.limit:
            run = ActiveRun.on_agents([self._spec(index)], self.orchestrator, prompt, watch=False)
            result = await run.result()
        usage = result.total_usage
        sample = {
            "answer": result.final_answer,
            "correct": scorers.score(item, result.final_answer),
            "status": result.status,
            "error": result.error,
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "requests": usage.requests,
            "cost_usd": usage.cost,
        }
        if result.status != "failed":
            self.cache.put(self._key(item, index), sample)
        return {**sample, "cached": False}

    async def aclose(self) -> None:
        specs = [*self._specs.values(), *([self._plain] if self._plain else [])]
        for spec in specs:
            await spec.backend.aclose()


def tokens(samples: Sequence[dict[str, Any]]) -> int:
    return sum(s["prompt_tokens"] + s["completion_tokens"] for s in samples)


def majority(item: Item, answers: Sequence[str | None]) -> str | None:
    """The answer most samples give (by the item's scorer; a tie: the earliest); with no
    recognisable answer, the first sample's text."""
    keys = [scorers.vote_key(item, a) for a in answers]
    counted = Counter(k for k in keys if k is not None)
    if not counted:
        return next((a for a in answers if a), None)
    top = max(counted.values())
    winner = next(k for k in keys if k is not None and counted[k] == top)
    return answers[keys.index(winner)]
