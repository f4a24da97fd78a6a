"""How a run's tokens grow with the team: N agents, each strategy and setting, on the fake
provider (issue 25, "Teams that scale").

Starts the fake Chat Completions server (``benchmarks/fake_server_proc.py``, no latency) as a
separate process whose ``new_answer`` contents are ``--answer-tokens`` tokens long (256: the
issue's setting; the fake counts 4 characters a token), then for each team size N and each
setting runs one question through the real engine and the real ``chatcompletion`` backend and
records the run's requests, prompt and completion tokens (its ``total_usage``), and the prompt
tokens of every request the server received (``sent``: cancelled requests included).

Per series it fits ``prompt tokens = a * N^b`` (least squares on the logarithms: b = 1 is
linear, 2 quadratic) and ``c0 + c1 N + c2 N^2`` (the N^2 term's share at the largest N), and
gives the growth ``tokens(16) / tokens(4)`` against the goal (<= 6x at default settings;
16x would be quadratic). Token counts do not depend on the machine's load.

Settings: vote at its defaults (``peer_view: auto``: a shortlist above 6 agents), vote with
every answer (``peer_view: all``, what massgen did before), vote with a shortlist at every
size, each of the first two with ``stop_when: majority``, debate and judge at their defaults.
A setting the massgen under test does not know (an older checkout) is reported as n/a.

Run from the repo root::

    python benchmarks/bench_scaling.py [--sizes 2,4,6,8,12,16] [--json out.json] [--svg out.svg]

To measure another checkout, put it first on ``PYTHONPATH`` (this script then imports its
``massgen``; the fake server is this checkout's).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_coordination import ServerProcess

REPO = Path(__file__).resolve().parent.parent
QUESTION = "Why is the sky blue?"
GOAL = 6.0  # tokens(16) / tokens(4) at default settings, at most
LARGE = 6  # peer_view_above's default: larger teams read a shortlist by default


@dataclass(frozen=True)
class Setting:
    name: str
    strategy: str
    options: dict[str, Any]


SETTINGS = (
    Setting("vote (default)", "vote", {}),
    Setting("vote, every answer", "vote", {"peer_view": "all"}),
    Setting("vote, shortlist at every size", "vote", {"peer_view": "shortlist"}),
    Setting("vote (default), stop_when: majority", "vote", {"stop_when": "majority"}),
    Setting(
        "vote, every answer, stop_when: majority",
        "vote",
        {"peer_view": "all", "stop_when": "majority"},
    ),
    Setting("debate (default)", "debate", {}),
    Setting("judge (default)", "judge", {}),
)


async def one_run(server: ServerProcess, setting: Setting, agents: int) -> dict[str, Any] | None:
    """One run of ``agents`` agents under ``setting``; None when this massgen refuses it."""
    from massgen.config.loader import load_config_dict
    from massgen.coordination.build import build_coordinator
    from massgen.errors import ConfigurationError
    from massgen.events import EventBus

    config = {
        "agents": [
            {
                "id": f"a{i}",
                "backend": {"type": "vllm", "model": f"m{i}", "base_url": server.url},
            }
            for i in range(1, agents + 1)
        ],
        "orchestrator": {
            "strategy": setting.strategy,
            "restart_debounce_seconds": 0,
            **setting.options,
        },
    }
    try:
        loaded = load_config_dict(config).config
    except ConfigurationError:
        return None
    bus = EventBus()
    coordinator = build_coordinator(loaded, bus)
    server.requests()  # start from an empty log
    try:
        result = await coordinator.run(QUESTION)
    finally:
        bus.close()
        for spec in coordinator.specs:
            await spec.backend.aclose()
    records = server.requests()
    usage = result.total_usage
    return {
        "status": result.status,
        "winner": result.answer_label,
        "requests": usage.requests,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "server_requests": len(records),
        "prompt_tokens_sent": sum(r["prompt_tokens_sent"] for r in records),
    }


# ----------------------------------------------------------------------------- fits


def power_fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """``a, b`` of ``y = a * x^b``, least squares on the logarithms."""
    import numpy as np

    b, log_a = np.polyfit(np.log(xs), np.log(ys), 1)
    return float(np.exp(log_a)), float(b)


def quadratic_fit(xs: list[float], ys: list[float]) -> tuple[float, float, float]:
    """``c0, c1, c2`` of ``y = c0 + c1 x + c2 x^2``, least squares."""
    import numpy as np

    c2, c1, c0 = np.polyfit(xs, ys, 2)
    return float(c0), float(c1), float(c2)


def summarise(points: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Fits and growth of one series' prompt tokens."""
    sizes = sorted(points)
    xs = [float(n) for n in sizes]
    ys = [float(points[n]["prompt_tokens"]) for n in sizes]
    out: dict[str, Any] = {}
    if len(sizes) >= 2:
        a, b = power_fit(xs, ys)
        out["power_fit"] = {"a": round(a, 2), "b": round(b, 3)}
    large = [n for n in sizes if n > LARGE]
    if len(large) >= 2:  # where the default reads a shortlist
        a, b = power_fit(
            [float(n) for n in large], [float(points[n]["prompt_tokens"]) for n in large]
        )
        out["power_fit_large"] = {"a": round(a, 2), "b": round(b, 3), "sizes": large}
    if len(sizes) >= 3:
        c0, c1, c2 = quadratic_fit(xs, ys)
        top = xs[-1]
        total = c0 + c1 * top + c2 * top**2
        out["quadratic_fit"] = {
            "c0": round(c0, 1),
            "c1": round(c1, 1),
            "c2": round(c2, 2),
            f"n2_share_at_{int(top)}": round(c2 * top**2 / total, 3) if total else None,
        }
    if 4 in points and 16 in points:
        out["growth_4_to_16"] = round(points[16]["prompt_tokens"] / points[4]["prompt_tokens"], 2)
    return out


# ----------------------------------------------------------------------------- the plot


def plot(series: dict[str, dict[int, dict[str, Any]]], title: str, path: Path) -> None:
    """Prompt tokens against N: each series' points and its fitted ``a * N^b`` (dotted)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(9.5, 5.2))
    for name, points in series.items():
        if len(points) < 2:
            continue
        sizes = sorted(points)
        tokens = [points[n]["prompt_tokens"] for n in sizes]
        (line,) = ax.plot(sizes, tokens, marker="o", label=name)
        a, b = power_fit([float(n) for n in sizes], [float(t) for t in tokens])
        grid = np.linspace(min(sizes), max(sizes), 50)
        ax.plot(grid, a * grid**b, linestyle=":", color=line.get_color(), linewidth=1)
    ax.set(title=title, xlabel="agents (N)", ylabel="prompt tokens of one run")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title="points; dotted: fitted a·N^b", title_fontsize=8)
    fig.savefig(path, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)


# ----------------------------------------------------------------------------- the run


def measure(sizes: list[int], answer_tokens: int) -> dict[str, Any]:
    import massgen

    server = ServerProcess("--answer-tokens", str(answer_tokens))
    series: dict[str, dict[int, dict[str, Any]]] = {s.name: {} for s in SETTINGS}
    try:

        async def every_run() -> None:
            for setting in SETTINGS:
                for n in sizes:
                    point = await one_run(server, setting, n)
                    if point is None:
                        break  # this massgen does not know the setting
                    series[setting.name][n] = point

        asyncio.run(every_run())
    finally:
        server.close()
    return {
        "massgen": str(Path(massgen.__file__).parent),
        "answer_tokens": answer_tokens,
        "sizes": sizes,
        "load_average": list(os.getloadavg()),
        "series": {
            name: {"points": {str(n): p for n, p in pts.items()}, **summarise(pts)}
            for name, pts in series.items()
        },
    }


def markdown(results: dict[str, Any]) -> str:
    sizes = results["sizes"]
    lines = [
        f"massgen: `{results['massgen']}`; answers of {results['answer_tokens']} tokens; "
        f"load average {', '.join(f'{v:.2f}' for v in results['load_average'])} "
        "(token counts do not depend on it).",
        "",
        "Prompt tokens of one run (requests in brackets):",
        "",
        "| Setting | " + " | ".join(f"N={n}" for n in sizes) + " | b (a·N^b) "
        f"| b, N > {LARGE} | N² share (quadratic fit) | tokens(16)/tokens(4) |",
        "|---" * (len(sizes) + 5) + "|",
    ]
    for name, data in results["series"].items():
        points = data["points"]
        if not points:
            lines.append(f"| {name} | " + " | ".join("n/a" for _ in sizes) + " | | | | |")
            continue
        cells = [
            f"{points[str(n)]['prompt_tokens']:,} ({points[str(n)]['requests']})"
            if str(n) in points
            else "n/a"
            for n in sizes
        ]
        b = data.get("power_fit", {}).get("b", "")
        b_large = data.get("power_fit_large", {}).get("b", "")
        share = next(
            (v for k, v in data.get("quadratic_fit", {}).items() if k.startswith("n2_share")), ""
        )
        growth = data.get("growth_4_to_16", "")
        mark = ""
        if growth and name == "vote (default)":
            mark = " ✓ goal ≤ 6" if growth <= GOAL else " ✗ goal ≤ 6"
        share_text = f"{share:.0%}" if isinstance(share, float) else share
        lines.append(
            f"| {name} | "
            + " | ".join(cells)
            + f" | {b} | {b_large} | {share_text} | {growth}{mark} |"
        )
    lines += ["", "Completion tokens (prompt tokens sent, cancelled requests included):", ""]
    lines.append("| Setting | " + " | ".join(f"N={n}" for n in sizes) + " |")
    lines.append("|---" * (len(sizes) + 1) + "|")
    for name, data in results["series"].items():
        points = data["points"]
        if not points:
            continue
        cells = [
            f"{points[str(n)]['completion_tokens']:,} ({points[str(n)]['prompt_tokens_sent']:,})"
            if str(n) in points
            else "n/a"
            for n in sizes
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="prompt tokens against the team's size")
    parser.add_argument("--sizes", default="2,4,6,8,12,16", help="team sizes, comma-separated")
    parser.add_argument("--answer-tokens", type=int, default=256, help="tokens per answer")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--svg", type=Path, help="also plot prompt tokens against N here")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = measure(sizes, args.answer_tokens)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    if args.svg:
        series = {
            name: {int(n): p for n, p in data["points"].items()}
            for name, data in results["series"].items()
        }
        title = f"Prompt tokens of one run, {args.answer_tokens}-token answers (fake provider)"
        plot(series, title, args.svg)
    print(markdown(results))


if __name__ == "__main__":
    sys.path.append(str(REPO))  # after PYTHONPATH: another checkout's massgen comes first
    main()
