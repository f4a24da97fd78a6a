"""The eval report in the terminal: the strategies' table, their comparisons with ``single``
and the matched baseline, each member's accuracy, and one verdict line per strategy."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text


def _pct(share: float) -> str:
    return f"{share * 100:.1f}%"


def _interval(pair: list[float], signed: bool = False) -> str:
    if signed:
        return f"[{pair[0] * 100:+.1f}, {pair[1] * 100:+.1f}]"
    return f"[{pair[0] * 100:.1f}, {pair[1] * 100:.1f}]"


def _paired(paired: dict[str, Any] | None) -> str:
    if not paired:
        return "—"
    return (
        f"{paired['difference'] * 100:+.1f} {_interval(paired['ci95'], signed=True)} "
        f"p={paired['p_value']:.3g}"
    )


def strategies(report: dict[str, Any], title: str) -> Table:
    """Accuracy with its interval, the oracle, the selection gap and the spend."""
    out = Table(title=title)
    out.add_column("strategy", no_wrap=True)
    for column in ("accuracy [95% CI]", "oracle", "sel. gap", "tokens", "cost", "wall", "p50"):
        out.add_column(column, justify="right")
    for name, row in report["strategies"].items():
        cost = "unknown" if row["cost_usd"] is None else f"${row['cost_usd']:.4f}"
        gap = row["selection_gap"]
        out.add_row(
            name,
            f"{_pct(row['accuracy'])} {_interval(row['accuracy_ci95'])}",
            _pct(row["oracle"]["value"]),
            _pct(gap["value"]) if gap else "—",
            f"{row['prompt_tokens'] + row['completion_tokens']:,}",
            cost,
            f"{row['wall_s']:.1f}s",
            f"{row['p50_latency_s']:.2f}s",
        )
    return out


def comparisons(report: dict[str, Any]) -> Table:
    """Each strategy against ``single`` and against its matched baseline, item by item."""
    out = Table(title="against the baselines (points, 95% CI, McNemar p)")
    out.add_column("strategy", no_wrap=True)
    for column in ("vs single", "matched SC", "samples", "tokens ×", "vs matched SC"):
        out.add_column(column, justify="right")
    for name, row in report["strategies"].items():
        matched = row["matched"]
        out.add_row(
            name,
            _paired(row["vs_single"]),
            _pct(matched["accuracy"]["value"]) if matched else "—",
            f"{matched['samples_mean']:.3g}" if matched else "—",
            f"{matched['token_ratio']:.2f}" if matched and matched["token_ratio"] else "—",
            _paired(row["vs_matched"]),
        )
    return out


def members(report: dict[str, Any]) -> Table:
    """Each agent's accuracy per strategy: alone (its first answer) / final (its latest)."""
    names = [n for n, r in report["strategies"].items() if r["agents"]]
    agents = list(dict.fromkeys(a for n in names for a in report["strategies"][n]["agents"]))
    out = Table(title="members: accuracy alone (first answer) / final (latest)")
    out.add_column("agent", no_wrap=True)
    for name in names:
        out.add_column(name, justify="right")
    for agent in agents:
        cells = []
        for name in names:
            seen = report["strategies"][name]["agents"].get(agent)
            cells.append(f"{_pct(seen['alone'])} / {_pct(seen['final'])}" if seen else "—")
        out.add_row(agent, *cells)
    return out


def sampling(report: dict[str, Any]) -> Text:
    """How the samples were made independent, and whose they are."""
    lines = []
    for name, what in (report.get("sampling") or {}).items():
        if not what:
            continue
        how = what["independence"]
        if how == "seed":
            how = f"seeds {what['seeds'][0]}..{what['seeds'][1]}"
        else:
            how = "a nonce line per sample (the provider takes no seed)"
        alone = what.get("alone_accuracy", {}).get(what["member"])
        best = f" (best alone: {_pct(alone)})" if alone is not None else ""
        note = f"; {what['note']}" if what.get("note") else ""
        lines.append(f"{name} samples: {what['member']}{best}, independent by {how}{note}")
    return Text("\n".join(lines))


def verdicts(report: dict[str, Any]) -> Text:
    lines = [row["verdict"] for row in report["strategies"].values() if row["verdict"]]
    return Text("\n".join(lines))


def render(report: dict[str, Any], title: str) -> Group:
    """The whole report, as printed."""
    parts: list[Any] = [strategies(report, title)]
    if any(r["vs_single"] or r["matched"] for r in report["strategies"].values()):
        parts.append(comparisons(report))
    parts += [members(report), sampling(report), verdicts(report)]
    return Group(*parts)
