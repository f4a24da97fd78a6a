"""An eval's reports: the summary per strategy (totals, and the figures of
:mod:`massgen.eval.analysis`), the JSON and CSV files and the plot of accuracy against cost
(the terminal's tables: :mod:`massgen.eval.tables`)."""

from __future__ import annotations

import csv
import json
import os
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from massgen.eval import analysis, stats
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
    """The report: ``{"strategies": {NAME: summary and figures}, "items": [...]}``, what
    ran, and how the samples and intervals were made."""
    strategies = {
        name: {
            **summary(run.results[name], run.wall_s.get(name, 0.0)),
            **analysis.figures(name, run.items, run.results, run.baseline),
        }
        for name in run.strategies
    }
    baseline = run.baseline
    index = {item.id: i for i, item in enumerate(run.items)}
    items = []
    for item in run.items:
        entry: dict[str, Any] = {
            "id": item.id,
            "question": item.question,
            "answer": item.answer,
            "scorer": item.scorer,
            **({"choices": list(item.choices)} if item.choices else {}),
            "results": {name: run.results[name][item.id] for name in run.strategies},
        }
        if baseline is not None:
            entry["matched"] = {
                name: {
                    "samples": b.samples[index[item.id]],
                    "correct": b.correct[index[item.id]],
                }
                for name, b in baseline.baselines.items()
            }
        items.append(entry)
    sampling: dict[str, Any] = {
        "self_consistency": {
            **run.pool(0).describe(run.samples),
            "samples": run.samples,
        }
        if "self_consistency" in run.strategies
        else None,
        "matched": None
        if baseline is None
        else {
            **baseline.description,
            "alone_accuracy": {k: round(v, 4) for k, v in baseline.alone.items()},
            "tokens_per_sample": round(baseline.sample_tokens, 1),
            "wall_s": round(run.wall_s.get("matched", 0.0), 3),
        },
    }
    intervals = {"method": "percentile bootstrap over items", "level": stats.LEVEL}
    intervals.update(resamples=stats.RESAMPLES, seed=stats.SEED, paired_test="McNemar exact")
    return {
        **meta,
        "sampling": sampling,
        "intervals": intervals,
        "strategies": strategies,
        "items": items,
    }


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
    "some_agent_right",
    "matched_samples",
    "matched_correct",
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


SUMMARY_FIELDS = (
    "strategy",
    "accuracy",
    "accuracy_low",
    "accuracy_high",
    "oracle",
    "selection_gap",
    "tokens",
    "cost_usd",
    "vs_single",
    "vs_single_low",
    "vs_single_high",
    "vs_single_p",
    "matched_samples_mean",
    "matched_token_ratio",
    "matched_accuracy",
    "vs_matched",
    "vs_matched_low",
    "vs_matched_high",
    "vs_matched_p",
    "agents_alone",
    "verdict",
)


def summary_path(path: Path) -> Path:
    """Where ``--csv PATH``'s per-strategy figures go: ``PATH``'s stem + ``.summary.csv``."""
    return path.with_name(f"{path.stem}.summary.csv")


def summary_row(name: str, row: dict[str, Any]) -> dict[str, Any]:
    """One strategy's figures as a flat CSV row (shares, not percentages)."""
    out: dict[str, Any] = {
        "strategy": name,
        "accuracy": row["accuracy"],
        "accuracy_low": row["accuracy_ci95"][0],
        "accuracy_high": row["accuracy_ci95"][1],
        "oracle": row["oracle"]["value"],
        "selection_gap": row["selection_gap"]["value"] if row["selection_gap"] else None,
        "tokens": row["prompt_tokens"] + row["completion_tokens"],
        "cost_usd": row["cost_usd"],
        "agents_alone": " ".join(f"{a}={v['alone']}" for a, v in row["agents"].items()),
        "verdict": row["verdict"],
    }
    for key in ("vs_single", "vs_matched"):
        paired = row[key]
        if paired:
            out[key], (out[f"{key}_low"], out[f"{key}_high"]) = paired["difference"], paired["ci95"]
            out[f"{key}_p"] = paired["p_value"]
    if row["matched"]:
        out["matched_samples_mean"] = row["matched"]["samples_mean"]
        out["matched_token_ratio"] = row["matched"]["token_ratio"]
        out["matched_accuracy"] = row["matched"]["accuracy"]["value"]
    return out


def write_csv(report: dict[str, Any], path: Path) -> None:
    """One row per item and strategy at ``path``; one row per strategy (every figure of the
    table) at :func:`summary_path`."""

    def write(handle: Any) -> None:
        out = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        out.writeheader()
        for item in report["items"]:
            for strategy, result in item["results"].items():
                row = {k: result.get(k) for k in CSV_FIELDS}
                row.update(id=item["id"], strategy=strategy, answer=item["answer"])
                row["some_agent_right"] = any(result.get("candidates") or [result["correct"]])
                matched = (item.get("matched") or {}).get(strategy)
                if matched:
                    row["matched_samples"] = matched["samples"]
                    row["matched_correct"] = matched["correct"]
                out.writerow(row)

    def write_summary(handle: Any) -> None:
        out = csv.DictWriter(handle, fieldnames=SUMMARY_FIELDS)
        out.writeheader()
        for name, row in report["strategies"].items():
            out.writerow(summary_row(name, row))

    _atomic(path, write)
    _atomic(summary_path(path), write_summary)


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
        tokens = row["prompt_tokens"] + row["completion_tokens"]
        x = row["cost_usd"] if by_cost else tokens
        y, (low, high) = row["accuracy"] * 100, row["accuracy_ci95"]
        bar = axes.errorbar(
            [x], [y], yerr=[[y - low * 100], [high * 100 - y]], fmt="o", capsize=4, ms=7
        )
        axes.annotate(name, (x, y), textcoords="offset points", xytext=(6, 6))
        matched = row.get("matched")
        if matched and name not in ("single", "self_consistency"):
            share = matched["accuracy"]
            mx = matched["cost_usd"] if by_cost else matched["tokens"]
            my, (mlow, mhigh) = share["value"] * 100, share["ci95"]
            axes.errorbar(
                [mx],
                [my],
                yerr=[[my - mlow * 100], [mhigh * 100 - my]],
                fmt="s",
                mfc="none",
                capsize=3,
                color=bar.lines[0].get_color(),
            )
            axes.annotate(
                f"{name}'s matched SC ×{matched['samples_mean']:.2g}",
                (mx, my),
                textcoords="offset points",
                xytext=(-8, 4),
                ha="right",
                fontsize=8,
            )
    from matplotlib.lines import Line2D

    axes.legend(
        handles=[
            Line2D([], [], marker="o", ls="", color="grey", label="strategy (95% CI)"),
            Line2D([], [], marker="s", ls="", mfc="none", color="grey", label="its matched SC"),
        ],
        loc="lower right",
        fontsize=8,
    )
    axes.margins(x=0.12)
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


def line(strategy: str, results: Sequence[dict[str, Any]], total: int) -> str:
    """A progress line for a terminal that is not one (a pipe, CI)."""
    correct = sum(1 for r in results if r["correct"])
    return f"massgen eval: {strategy}: {len(results)}/{total} done, {correct} correct"
