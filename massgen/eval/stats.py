"""The statistics of an eval report, in pure Python: bootstrap intervals over items (seeded),
paired comparisons (McNemar's exact test and a paired bootstrap) and the verdict line.

Every interval is a 95% percentile bootstrap over the items, with :data:`RESAMPLES`
resamples drawn from ``random.Random(SEED)``, so the same results give the same report.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

RESAMPLES = 2000
SEED = 0
LEVEL = 0.95


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def bootstrap(values: Sequence[float], seed: int = SEED) -> tuple[float, float]:
    """The 95% percentile interval of the mean of ``values`` (per-item figures: 1/0 for
    right/wrong, or a paired difference in -1/0/1), resampled over the items."""
    n = len(values)
    if n == 0:
        return (0.0, 0.0)
    rng = random.Random(seed)
    population = list(values)
    means = sorted(sum(rng.choices(population, k=n)) / n for _ in range(RESAMPLES))
    tail = (1 - LEVEL) / 2
    low = means[math.floor(tail * (RESAMPLES - 1))]
    high = means[math.ceil((1 - tail) * (RESAMPLES - 1))]
    return (low, high)


def mcnemar(wins: int, losses: int) -> float:
    """McNemar's exact two-sided p-value: ``wins`` items only the first got right, ``losses``
    items only the second did (a binomial test of the discordant items at 1/2)."""
    n = wins + losses
    if n == 0:
        return 1.0
    k = min(wins, losses)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


@dataclass(frozen=True)
class Paired:
    """``a`` against ``b`` on the same items: the difference in accuracy (a - b, as a
    share), its 95% interval, McNemar's p-value, and the discordant counts."""

    difference: float
    low: float
    high: float
    p_value: float
    wins: int  # items a got right and b wrong
    losses: int  # items b got right and a wrong
    items: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "difference": round(self.difference, 4),
            "ci95": [round(self.low, 4), round(self.high, 4)],
            "p_value": round(self.p_value, 4),
            "wins": self.wins,
            "losses": self.losses,
            "items": self.items,
        }


def paired(a: Sequence[bool], b: Sequence[bool], seed: int = SEED) -> Paired:
    """Compare two strategies' per-item correctness (same items, same order)."""
    if len(a) != len(b):
        raise ValueError("paired comparison of different item lists")
    deltas = [int(x) - int(y) for x, y in zip(a, b, strict=True)]
    low, high = bootstrap(deltas, seed)
    wins, losses = deltas.count(1), deltas.count(-1)
    return Paired(mean(deltas), low, high, mcnemar(wins, losses), wins, losses, len(deltas))


def points(share: float) -> str:
    """A share as signed percentage points: ``+4.0``."""
    return f"{share * 100:+.1f}"


def p_text(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}".rstrip("0").rstrip(".")


def verdict(name: str, against: str, comparison: Paired) -> str:
    """One line: the gain (or loss) of ``name`` over ``against`` when its interval excludes
    zero, else "no evidence of a gain"."""
    figures = (
        f"95% CI [{points(comparison.low)}, {points(comparison.high)}], "
        f"{p_text(comparison.p_value)}"
    )
    if comparison.low > 0:
        return f"{name}: {points(comparison.difference)} points over {against}, {figures}"
    if comparison.high < 0:
        return f"{name}: {points(comparison.difference)} points, worse than {against}, {figures}"
    return (
        f"{name}: no evidence of a gain over {against} "
        f"({points(comparison.difference)} points, {figures})"
    )
