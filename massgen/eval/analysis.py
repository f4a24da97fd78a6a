"""The figures of each strategy, from its per-item results: accuracy with its interval, the
oracle and the selection gap, per-agent accuracy, the matched baseline and the paired
comparisons behind the verdict.

- ``oracle``: the share of items where at least one candidate answer was right (a team's:
  each agent's latest answer; self-consistency's: its samples; single's: its answer);
- ``selection_gap``: P(final right | some candidate right), over those items: how often the
  strategy picked the right answer when one was there;
- ``agents``: per agent, ``alone`` (its first answer, written before it read any other) and
  ``final`` (its latest answer) accuracy in this strategy's runs;
- ``vs_single`` / ``vs_matched``: this strategy minus ``single`` / minus its matched baseline on
  the same items (:func:`massgen.eval.stats.paired`);
- ``verdict``: against the matched baseline (else against ``single``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from massgen.eval import stats
from massgen.eval.items import Item
from massgen.eval.matched import Matched


def _share(flags: Sequence[bool]) -> dict[str, Any]:
    low, high = stats.bootstrap([float(f) for f in flags])
    return {
        "value": round(stats.mean([float(f) for f in flags]), 4),
        "ci95": [round(low, 4), round(high, 4)],
        "items": len(flags),
    }


def agents_accuracy(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per agent: the share of its first (``alone``) and latest (``final``) answers right."""
    seen: dict[str, list[dict[str, bool]]] = {}
    for row in rows:
        for agent_id, answers in (row.get("agents") or {}).items():
            seen.setdefault(agent_id, []).append(answers)
    return {
        agent_id: {
            "alone": round(stats.mean([float(a["first"]) for a in answers]), 4),
            "final": round(stats.mean([float(a["latest"]) for a in answers]), 4),
        }
        for agent_id, answers in seen.items()
    }


def figures(
    strategy: str,
    items: Sequence[Item],
    results: dict[str, dict[str, dict[str, Any]]],
    matched: Matched | None,
) -> dict[str, Any]:
    """Everything the report says of ``strategy`` beyond its totals."""
    rows = [results[strategy][item.id] for item in items]
    correct = [bool(r["correct"]) for r in rows]
    some = [any(r.get("candidates") or [r["correct"]]) for r in rows]
    picked = [c for c, s in zip(correct, some, strict=True) if s]
    accuracy = _share(correct)
    out: dict[str, Any] = {
        "accuracy_ci95": accuracy["ci95"],
        "oracle": _share(some),
        "selection_gap": _share(picked) if picked else None,
        "agents": agents_accuracy(rows),
    }
    comparisons: dict[str, stats.Paired] = {}
    if "single" in results and strategy != "single":
        single = [bool(results["single"][item.id]["correct"]) for item in items]
        comparisons["single"] = stats.paired(correct, single)
    out["vs_single"] = comparisons["single"].as_dict() if "single" in comparisons else None
    baseline = matched.baselines.get(strategy) if matched is not None else None
    if baseline is not None and matched is not None:
        out["matched"] = {
            "member": matched.member,
            "independence": matched.description["independence"],
            **baseline.as_dict(),
            "accuracy": _share(baseline.correct),
        }
        comparisons["matched"] = stats.paired(correct, baseline.correct)
        out["vs_matched"] = comparisons["matched"].as_dict()
    else:
        out["matched"] = out["vs_matched"] = None
    if "matched" in comparisons and baseline is not None:
        mean = baseline.as_dict()["samples_mean"]
        against = f"matched self-consistency ({mean:.3g} sample{'' if mean == 1 else 's'})"
        out["verdict"] = stats.verdict(strategy, against, comparisons["matched"])
    elif "single" in comparisons:
        out["verdict"] = stats.verdict(strategy, "single", comparisons["single"])
    else:
        out["verdict"] = None
    return out
