"""Run every benchmark and print the results as markdown, each against its target.

From the repo root, with the dev extra installed (``pip install -e '.[dev]'``)::

    python benchmarks/run_all.py                  # print the tables
    python benchmarks/run_all.py --update-readme  # also write them into benchmarks/README.md
    python benchmarks/run_all.py --json out.json  # and/or keep the raw numbers

Takes about a minute and a half.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(HERE), str(REPO)]

import bench_cli_startup  # noqa: E402
import bench_coordination  # noqa: E402
import bench_server  # noqa: E402

README = HERE / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"

HELP_WALL_S = 0.3
HELP_RSS_BYTES = 60_000_000  # 60 MB
OVERHEAD_S = 0.050
PROMPT_TOKENS = 6_000
REQUESTS = 7  # 2N + 1 with N = 3
SERVER_ADDED_P99_S = 0.250  # p99 added latency, all requests sent at once
SERVER_ADDED_SINGLE_S = 0.100  # added latency of one request alone


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "?"

    return {
        "cpus": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "cpu": cpu or platform.processor(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "massgen": version("massgen"),
        "openai": version("openai"),
        "httpx": version("httpx"),
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _verdict(ok: bool, partial: bool = False) -> str:
    if ok:
        return "pass"
    return "**miss** (median passes, max does not)" if partial else "**MISS**"


def targets(
    cli: dict[str, Any], coord: dict[str, Any], server: dict[str, Any] | None = None
) -> str:
    help_ = cli["commands"]["massgen --help"]
    mods = cli["imports"]["massgen --help"]
    listing = cli["imports"]["massgen --list-examples"]
    rows = [
        (
            "`massgen --help` wall time",
            f"≤ {HELP_WALL_S * 1000:.0f} ms",
            f"{help_['wall']['median'] * 1000:.0f} ms median, "
            f"{help_['wall']['max'] * 1000:.0f} ms max ({help_['runs']} runs)",
            _verdict(help_["wall"]["max"] <= HELP_WALL_S, help_["wall"]["median"] <= HELP_WALL_S),
        ),
        (
            "`massgen --help` peak RSS",
            f"≤ {HELP_RSS_BYTES / 1e6:.0f} MB",
            f"{help_['peak_rss_bytes']['max'] / 1e6:.1f} MB max",
            _verdict(help_["peak_rss_bytes"]["max"] <= HELP_RSS_BYTES),
        ),
        (
            "`massgen --help` imports no provider SDK, Textual, litellm",
            "none of " + ", ".join(bench_cli_startup.FORBIDDEN),
            ", ".join(mods["forbidden_loaded"]) or "none imported",
            _verdict(not mods["forbidden_loaded"]),
        ),
        (
            "`massgen --list-examples` imports no provider SDK, Textual, litellm",
            "none of " + ", ".join(bench_cli_startup.FORBIDDEN),
            ", ".join(listing["forbidden_loaded"]) or "none imported",
            _verdict(not listing["forbidden_loaded"]),
        ),
    ]
    for s in coord["scenarios"]:
        if s["scenario"].get("prebuilt_clients") or s["scenario"].get("answer_words"):
            continue
        o = s["overhead"]
        rows.append(
            (
                f"Coordination overhead beyond the critical path, {s['scenario']['name']}",
                f"≤ {OVERHEAD_S * 1000:.0f} ms",
                f"{o['median'] * 1000:.0f} ms median, {o['max'] * 1000:.0f} ms max "
                f"({s['runs']} runs; wall {s['wall']['median'] * 1000:.0f} ms, "
                f"critical path {s['critical_path']['median'] * 1000:.0f} ms)",
                _verdict(o["max"] <= OVERHEAD_S, o["median"] <= OVERHEAD_S),
            )
        )
    main = coord["scenarios"][0]
    rows.append(
        (
            "Prompt tokens, 3-agent run, one-line question",
            f"≤ {PROMPT_TOKENS:,}",
            f"{main['prompt_tokens']['max']:,.0f} as the provider reports them; "
            f"{main['prompt_tokens_with_tools']['max']:,.0f} counting tool schemas (est.)",
            _verdict(main["prompt_tokens_with_tools"]["max"] <= PROMPT_TOKENS),
        )
    )
    seen = sorted(
        {n for s in coord["scenarios"] for n in (*s["requests"], *s["server_requests"])}
        | set((coord.get("cli") or {}).get("requests", []))
    )
    statuses = sorted({st for s in coord["scenarios"] for st in s["statuses"]})
    rows.append(
        (
            "Model requests, 3 agents each answer then vote",
            f"exactly {REQUESTS}",
            f"{', '.join(map(str, seen))} in every run (run usage and server log); "
            f"run status {', '.join(statuses)}",
            _verdict(seen == [REQUESTS] and statuses == ["ok"]),
        )
    )
    if server:
        rows += server_targets(server)
    lines = ["| Target | Goal | Measured | Result |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines)


def server_targets(server: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    n = server["requests"]
    added, alone = server["burst"]["summary"]["added"], server["single"]["added"]
    tps = f"{server['tps']:g} tok/s" if server["tps"] else "unthrottled"
    checked, calls = server["checked"], server["model_calls"]
    return [
        (
            f"Server added latency (time to `[DONE]` − critical path), {n} streamed requests "
            f"sent at once, ttft {server['ttft']:g} s, {tps}",
            f"p99 ≤ {SERVER_ADDED_P99_S * 1000:.0f} ms",
            f"p99 {added['p99'] * 1000:.0f} ms, p50 {added['p50'] * 1000:.0f} ms, "
            f"max {added['max'] * 1000:.0f} ms ({added['n']} requests)"
            if added
            else "not measured",
            _verdict(bool(added) and added["p99"] <= SERVER_ADDED_P99_S),
        ),
        (
            "Server added latency, 1 request alone",
            f"≤ {SERVER_ADDED_SINGLE_S * 1000:.0f} ms",
            f"{alone['p50'] * 1000:.0f} ms median, {alone['max'] * 1000:.0f} ms max "
            f"({alone['n']} runs)"
            if alone
            else "not measured",
            _verdict(
                bool(alone) and alone["max"] <= SERVER_ADDED_SINGLE_S,
                bool(alone) and alone["p50"] <= SERVER_ADDED_SINGLE_S,
            ),
        ),
        (
            "Server: every streamed request completes",
            f"200, `[DONE]`, content, {REQUESTS} model calls each",
            f"{checked - len(server['failed'])}/{checked} ok; model calls per run "
            f"{', '.join(map(str, calls))}",
            _verdict(not server["failed"] and calls == [REQUESTS]),
        ),
    ]


def report(results: dict[str, Any]) -> str:
    m = results["machine"]
    return "\n".join(
        [
            f"Measured {m['date']} on {m['cpus']} CPUs ({m['cpu']}), {m['platform']}, "
            f"Python {m['python']}, massgen {m['massgen']}, openai {m['openai']}, "
            f"httpx {m['httpx']}; load average at start {m['load_average'][0]}.",
            "",
            "### Targets",
            "",
            targets(results["cli_startup"], results["coordination"], results.get("server")),
            "",
            "### CLI start-up",
            "",
            bench_cli_startup.markdown(results["cli_startup"]),
            "",
            "### 3-agent coordination against the fake server",
            "",
            bench_coordination.markdown(results["coordination"]),
            "",
            "### OpenAI-compatible server (`massgen serve`) under concurrent requests",
            "",
            bench_server.markdown(results["server"]),
        ]
    )


def update_readme(text: str) -> None:
    readme = README.read_text(encoding="utf-8")
    head, sep, rest = readme.partition(START)
    _, sep2, tail = rest.partition(END)
    if not sep or not sep2:
        raise SystemExit(f"{README}: markers {START} / {END} not found")
    README.write_text(f"{head}{START}\n{text}\n{END}{tail}", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description="Run all massgen benchmarks.")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per coordination scenario")
    parser.add_argument("--cli-runs", type=int, default=3, help="end-to-end CLI coordination runs")
    parser.add_argument("--startup-runs", type=int, default=10, help="runs per CLI command")
    parser.add_argument(
        "--server-requests", type=int, default=32, help="concurrent requests to massgen serve"
    )
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--update-readme", action="store_true", help="write into README.md")
    args = parser.parse_args()
    results = {
        "machine": machine(),
        "cli_startup": bench_cli_startup.measure(args.startup_runs),
        "coordination": bench_coordination.measure(args.runs, args.cli_runs),
        "server": bench_server.measure(args.server_requests),
    }
    text = report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if args.update_readme:
        update_readme(text)
    print(text)


if __name__ == "__main__":
    main()
