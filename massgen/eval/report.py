"""An eval's reports: the summary per strategy, the JSON and CSV files, the table and the
plot of accuracy against cost."""

from __future__ import annotations

import csv
import json
import os
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from massgen.eval.runner import Eval

PLOT_HINT = "--plot needs matplotlib: pip install 'massgen[eval]'"


def summary(results: dict[str, dict[str, Any]], wall_s: float) -> dict[str, Any]:
    """One strategy's numbers. ``cost_usd`` is None when some model's price is unknown;
    ``wall_s`` is the time this invocation spent on it (cached items take none)."""
    rows = list(results.values())
    correct = sum(1 for r in rows if r["correct"])
    costs = [r["cost_usd"] for r in rows]
    latencies = [r["latency_s"] for r in rows]
    return {
        "accuracy": round(correct / len(rows), 4) if rows else 0.0,
        "correct": correct,
        "total": len(rows),
        "prompt_tokens": sum(r["prompt_tokens"] for r in rows),
        "completion_tokens": sum(r["completion_tokens"] for r in rows),
        "cost_usd": None if None in costs else round(sum(costs), 6),
        "wall_s": round(wall_s, 3),
        "p50_latency_s": round(statistics.median(latencies), 3) if latencies else 0.0,
        "requests": sum(r.get("requests", 0) for r in rows),
        "failed": sum(1 for r in rows if r["status"] == "failed"),
        "cached": sum(1 for r in rows if r.get("cached")),
    }


def build(run: Eval, meta: dict[str, Any]) -> dict[str, Any]:
    """The report: ``{"strategies": {NAME: summary}, "items": [...]}`` and what ran."""
    strategies = {
        name: summary(run.results[name], run.wall_s.get(name, 0.0)) for name in run.strategies
    }
    items = [
        {
            "id": item.id,
            "question": item.question,
            "answer": item.answer,
            "scorer": item.scorer,
            **({"choices": list(item.choices)} if item.choices else {}),
            "results": {name: run.results[name][item.id] for name in run.strategies},
        }
        for item in run.items
    ]
    return {**meta, "strategies": strategies, "items": items}


def _atomic(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("w", encoding="utf-8", newline="") as handle:
        write(handle)
    temporary.replace(path)


def write_json(report: dict[str, Any], path: Path) -> None:
    _atomic(path, lambda f: f.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n"))


CSV_FIELDS = (
    "id",
    "strategy",
    "correct",
    "status",
    "prediction",
    "answer",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "latency_s",
    "cached",
    "error",
)


def write_csv(report: dict[str, Any], path: Path) -> None:
    """One row per item and strategy."""

    def write(handle: Any) -> None:
        out = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        out.writeheader()
        for item in report["items"]:
            for strategy, result in item["results"].items():
                row = {k: result.get(k) for k in CSV_FIELDS}
                row.update(id=item["id"], strategy=strategy, answer=item["answer"])
                out.writerow(row)

    _atomic(path, write)


def check_plot() -> None:
    """Raise :class:`ConfigurationError` now, before the eval runs, if a plot cannot be
    drawn."""
    from massgen.errors import ConfigurationError

    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ConfigurationError(PLOT_HINT) from None


def write_plot(report: dict[str, Any], path: Path, title: str) -> None:
    """Accuracy against cost per strategy (against tokens when no cost is known or every
    model is free)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["strategies"]
    costs = [r["cost_usd"] for r in rows.values()]
    by_cost = all(c is not None for c in costs) and any(costs)
    figure, axes = plt.subplots(figsize=(8, 5), dpi=100)
    for name, row in rows.items():
        x = row["cost_usd"] if by_cost else row["prompt_tokens"] + row["completion_tokens"]
        axes.scatter([x], [row["accuracy"] * 100], s=60)
        axes.annotate(name, (x, row["accuracy"] * 100), textcoords="offset points", xytext=(6, 6))
    axes.set_xlabel("cost (USD)" if by_cost else "tokens (prompt + completion)")
    axes.set_ylabel("accuracy (%)")
    axes.set_ylim(-5, 105)
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    figure.tight_layout()
    _atomic_binary(path, figure)
    plt.close(figure)


def _atomic_binary(path: Path, figure: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp.png")
    figure.savefig(temporary, format="png")
    temporary.replace(path)


def table(report: dict[str, Any], title: str) -> Any:
    """A Rich table of the strategies."""
    from rich.table import Table

    out = Table(title=title)
    for column in ("strategy", "accuracy", "correct", "tokens", "cost", "wall", "p50"):
        if column == "strategy":
            out.add_column(column, no_wrap=True, min_width=16)
        else:
            out.add_column(column, justify="right", no_wrap=True)
    for name, row in report["strategies"].items():
        cost = "unknown" if row["cost_usd"] is None else f"${row['cost_usd']:.4f}"
        tokens = row["prompt_tokens"] + row["completion_tokens"]
        out.add_row(
            name,
            f"{row['accuracy']:.1%}",
            f"{row['correct']}/{row['total']}",
            f"{tokens:,}",
            cost,
            f"{row['wall_s']:.1f}s",
            f"{row['p50_latency_s']:.2f}s",
        )
    return out


def line(strategy: str, results: Sequence[dict[str, Any]], total: int) -> str:
    """A progress line for a terminal that is not one (a pipe, CI)."""
    correct = sum(1 for r in results if r["correct"])
    return f"massgen eval: {strategy}: {len(results)}/{total} done, {correct} correct"
