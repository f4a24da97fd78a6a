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
import math
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


class FakeServer:
    """``benchmarks/fake_server_proc.py`` as a child process, with its request log."""

    def __init__(self, answer_tokens: int) -> None:
        cmd = [sys.executable, str(REPO / "benchmarks" / "fake_server_proc.py")]
        cmd += ["--answer-tokens", str(answer_tokens)]
        self.proc = subprocess.Popen(
            cmd, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http"):
            self.close()
            raise RuntimeError(f"fake server did not start (got {self.url!r})")

    def requests(self) -> list[dict[str, Any]]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("requests\n")
        self.proc.stdin.flush()
        return list(json.loads(self.proc.stdout.readline()))

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write("quit\n")
                self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


async def one_run(server: FakeServer, setting: Setting, agents: int) -> dict[str, Any] | None:
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
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    b = sum((x - mx) * (y - my) for x, y in zip(lx, ly, strict=True)) / sum(
        (x - mx) ** 2 for x in lx
    )
    return math.exp(my - b * mx), b


def quadratic_fit(xs: list[float], ys: list[float]) -> tuple[float, float, float]:
    """``c0, c1, c2`` of ``y = c0 + c1 x + c2 x^2``, least squares (normal equations)."""
    sums = [sum(x**k for x in xs) for k in range(5)]
    rows = [
        [sums[i + j] for j in range(3)] + [sum(y * x**i for x, y in zip(xs, ys, strict=True))]
        for i in range(3)
    ]
    for col in range(3):  # Gauss-Jordan with partial pivoting
        pivot = max(range(col, 3), key=lambda r: abs(rows[r][col]))
        rows[col], rows[pivot] = rows[pivot], rows[col]
        for r in range(3):
            if r != col:
                factor = rows[r][col] / rows[col][col]
                rows[r] = [a - factor * b for a, b in zip(rows[r], rows[col], strict=True)]
    c0, c1, c2 = (rows[i][3] / rows[i][i] for i in range(3))
    return c0, c1, c2


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


COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2")


def svg_plot(series: dict[str, dict[int, dict[str, Any]]], title: str) -> str:
    """Prompt tokens against N, one line per series, as a small standalone SVG."""
    width, height, left, right, top, bottom = 760, 440, 70, 290, 40, 50
    drawn = {name: pts for name, pts in series.items() if pts}
    sizes = sorted({n for pts in drawn.values() for n in pts})
    most = max(p["prompt_tokens"] for pts in drawn.values() for p in pts.values())
    scale = 10 ** math.floor(math.log10(most)) if most else 1
    ymax = next(m * scale for m in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if m * scale >= most)
    xmax = max(sizes)
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(n: float) -> float:
        return left + plot_w * n / xmax

    def y(v: float) -> float:
        return top + plot_h * (1 - v / ymax)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="22" font-size="14">{title}</text>',
    ]
    for i in range(5):
        value = ymax * i / 4
        out.append(
            f'<line x1="{left}" y1="{y(value):.1f}" x2="{left + plot_w}" y2="{y(value):.1f}" '
            'stroke="#ddd"/>'
        )
        out.append(
            f'<text x="{left - 6}" y="{y(value) + 4:.1f}" text-anchor="end">{value:,.0f}</text>'
        )
    for n in sizes:
        out.append(f'<text x="{x(n):.1f}" y="{top + plot_h + 18}" text-anchor="middle">{n}</text>')
    out.append(
        f'<text x="{left + plot_w / 2}" y="{height - 10}" text-anchor="middle">agents (N)</text>'
    )
    out.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        'stroke="black"/>'
    )
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="black"/>')
    for index, (name, pts) in reversed(list(enumerate(drawn.items()))):
        colour = COLOURS[index % len(COLOURS)]
        path = " ".join(f"{x(n):.1f},{y(pts[n]['prompt_tokens']):.1f}" for n in sorted(pts))
        dash = ' stroke-dasharray="6,4"' if index else ""  # the first series, solid, on top
        out.append(
            f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>'
        )
        for n in sorted(pts):
            out.append(
                f'<circle cx="{x(n):.1f}" cy="{y(pts[n]["prompt_tokens"]):.1f}" r="3" '
                f'fill="{colour}"/>'
            )
        ly = top + 10 + index * 20
        out.append(
            f'<line x1="{width - right + 15}" y1="{ly}" x2="{width - right + 40}" y2="{ly}" '
            f'stroke="{colour}" stroke-width="2"{dash}/>'
        )
        label = name.replace("&", "&amp;").replace("<", "&lt;")
        out.append(f'<text x="{width - right + 46}" y="{ly + 4}">{label}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------- the run


def measure(sizes: list[int], answer_tokens: int) -> dict[str, Any]:
    import massgen

    server = FakeServer(answer_tokens)
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
        args.svg.write_text(svg_plot(series, title))
    print(markdown(results))


if __name__ == "__main__":
    sys.path.append(str(REPO))  # after PYTHONPATH: another checkout's massgen comes first
    main()
