"""The matched-compute baseline: self-consistency of the team's best single member, with as
many samples as make its tokens match a strategy's.

The best member is the agent whose own answers (its first answer in the team strategies' runs,
which it wrote before it saw any other) were right most often; with no team strategy run, the
first agent. One sample of it per item gives its tokens per sample ``t``; a strategy that spent
``T`` tokens on ``n`` items is matched by ``r = T / (n t)`` samples an item. ``r`` is rarely
whole, so ``floor(r)`` samples go to every item and one more to ``round(frac(r) n)`` items
(chosen with a seeded shuffle): the baseline's tokens then match the strategy's to within a
few percent (``token_ratio`` in the report says how close). At most :data:`MAX_SAMPLES` an
item (a baseline held there is marked ``capped``), at least one. The samples are those of
:mod:`massgen.eval.sampling`, shared by every strategy's baseline and with
``self_consistency`` when the best member is the first agent.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from massgen.eval import scorers
from massgen.eval.items import Item
from massgen.eval.sampling import SamplePool, majority, tokens

MAX_SAMPLES = 32
TEAM = ("vote", "debate", "judge")


class EvalRun(Protocol):
    """What the baseline reads of an eval (:class:`massgen.eval.runner.Eval`)."""

    items: Sequence[Item]
    strategies: Sequence[str]
    results: dict[str, dict[str, dict[str, Any]]]

    def pool(self, agent_index: int) -> SamplePool: ...


@dataclass
class Baseline:
    """One strategy's matched baseline: samples and correctness per item (item order)."""

    samples: list[int]
    correct: list[bool]
    tokens: int
    strategy_tokens: int
    capped: bool
    cost_usd: float | None

    def as_dict(self) -> dict[str, Any]:
        n = len(self.samples)
        return {
            "samples_mean": round(sum(self.samples) / n, 3) if n else 0.0,
            "samples_range": [min(self.samples, default=0), max(self.samples, default=0)],
            "tokens": self.tokens,
            "token_ratio": round(self.tokens / self.strategy_tokens, 3)
            if self.strategy_tokens
            else None,
            "capped": self.capped,
            "cost_usd": None if self.cost_usd is None else round(self.cost_usd, 6),
        }


@dataclass
class Matched:
    """The baselines of every strategy, and whose samples they are."""

    member: str
    member_index: int
    alone: dict[str, float]  # each agent's accuracy on its own first answers
    sample_tokens: float  # tokens of one sample, on average
    description: dict[str, Any]
    baselines: dict[str, Baseline] = field(default_factory=dict)


def alone_accuracy(run: EvalRun, agent_ids: Sequence[str]) -> dict[str, float]:
    """Each agent's share of right first answers over the team strategies' runs (the answer
    it wrote before reading any other); agents that ran in none are left out."""
    right: dict[str, list[bool]] = {a: [] for a in agent_ids}
    for strategy in run.strategies:
        if strategy not in TEAM and strategy != "single":
            continue
        for result in run.results[strategy].values():
            for agent_id, answers in (result.get("agents") or {}).items():
                if agent_id in right:
                    right[agent_id].append(bool(answers["first"]))
    return {a: sum(flags) / len(flags) for a, flags in right.items() if flags}


def allocation(ratio: float, n: int, seed: int = 0) -> tuple[list[int], bool]:
    """Samples per item whose mean is ``ratio`` (between 1 and :data:`MAX_SAMPLES`), and
    whether the cap held it down."""
    capped = ratio > MAX_SAMPLES
    ratio = min(max(ratio, 1.0), float(MAX_SAMPLES))
    low = math.floor(ratio)
    extra = min(n, round((ratio - low) * n)) if low < MAX_SAMPLES else 0
    more = set(random.Random(seed).sample(range(n), extra))
    return [low + (1 if i in more else 0) for i in range(n)], capped


async def run_matched(
    run: EvalRun,
    agent_ids: Sequence[str],
    on_result: Callable[[str, Item, dict[str, Any]], None] | None = None,
) -> Matched:
    """Sample the best member as much as each strategy needs, and score the baselines."""
    alone = alone_accuracy(run, agent_ids)
    best = max(alone, key=lambda a: (alone[a], -agent_ids.index(a))) if alone else agent_ids[0]
    index = list(agent_ids).index(best)
    pool = run.pool(index)
    items = list(run.items)
    n = len(items)
    first = await asyncio.gather(*(pool.take(item, 1) for item in items))
    per_sample = tokens([s for samples in first for s in samples]) / n if n else 0.0
    plans: dict[str, tuple[list[int], bool]] = {}
    spent: dict[str, int] = {}
    for strategy in run.strategies:
        results = run.results[strategy]
        spent[strategy] = sum(
            results[i.id]["prompt_tokens"] + results[i.id]["completion_tokens"] for i in items
        )
        ratio = spent[strategy] / (n * per_sample) if per_sample else 1.0
        plans[strategy] = allocation(ratio, n)
    need = [max([plan[0][i] for plan in plans.values()], default=1) for i in range(n)]

    async def fill(item: Item, count: int) -> None:
        samples = await pool.take(item, count)
        if on_result is not None:
            answer = majority(item, [s["answer"] for s in samples])
            on_result("matched", item, {"correct": scorers.score(item, answer)})

    await asyncio.gather(*(fill(item, count) for item, count in zip(items, need, strict=True)))
    matched = Matched(best, index, alone, per_sample, pool.describe(max(need, default=1)))
    for strategy, (counts, capped) in plans.items():
        correct, used, costs = [], 0, []
        for item, count in zip(items, counts, strict=True):
            samples = await pool.take(item, count)  # all there already
            correct.append(scorers.score(item, majority(item, [s["answer"] for s in samples])))
            used += tokens(samples)
            costs += [s["cost_usd"] for s in samples]
        cost = None if None in costs else sum(c or 0.0 for c in costs)
        matched.baselines[strategy] = Baseline(counts, correct, used, spent[strategy], capped, cost)
    return matched
