"""Coordination overhead: a 3-agent run against a fake provider with fixed latency.

Starts the fake Chat Completions server (``tests.fakes.chat_server`` via
``benchmarks/fake_server_proc.py``) as a separate process with a fixed time-to-first-token and
tokens/s, then runs the built-in example ``three_agents_local_server`` in this process through
the real engine and the real ``chatcompletion`` backend (openai SDK over HTTP), several times.

For each run it measures (all on one clock, CLOCK_MONOTONIC, shared with the server process):

- **wall**: ``await coordinator.run(question)``, start to return;
- **critical path**: the run's model calls grouped in phases (the 3 first answers, the 3
  votes, the presentation; a call's phase comes from the workflow tools it was offered); a
  call lasts from the server receiving the request to the server sending its last byte; the
  critical path is the sum over phases of the longest call of the phase — the run's duration
  if every phase's calls started together the instant the previous phase's last call ended;
- **overhead** = wall − critical path, split into: before the first request reaches the
  server, stagger inside phases (calls of a phase not starting together), the gaps between
  phases (client reads the last response → engine starts the next turns → requests reach the
  server), and the tail after the last response;
- requests, prompt and completion tokens (the run's ``total_usage``; the fake server counts
  prompt tokens as message characters / 4 and does not count tool schemas, so a
  schema-inclusive estimate is reported too).

Run from the repo root: ``python benchmarks/bench_coordination.py [--runs 5] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
QUESTION = "Why is the sky blue?"
EXAMPLE = "three_agents_local_server"
MODEL = "fake-model"


@dataclass(frozen=True)
class Scenario:
    name: str
    ttft: float
    tps: float | None
    answer_words: int = 0  # 0: the fake brain's one-line answers
    #: diagnostic only: make each backend's SDK client before the timed run (massgen makes
    #: it lazily, on an agent's first model call, i.e. inside the run)
    prebuilt_clients: bool = False


SCENARIOS = (
    Scenario("ttft 0.3 s, 80 tok/s", ttft=0.3, tps=80.0),
    Scenario("no latency (ttft 0, unthrottled)", ttft=0.0, tps=None),
    Scenario("ttft 0.3 s, 80 tok/s, 120-word answers", ttft=0.3, tps=80.0, answer_words=120),
    Scenario(
        "diagnostic: ttft 0.3 s, 80 tok/s, HTTP clients leased before the run",
        ttft=0.3,
        tps=80.0,
        prebuilt_clients=True,
    ),
)


# ----------------------------------------------------------------------------- server


class ServerProcess:
    """``benchmarks/fake_server_proc.py`` as a child process (``args``: its options)."""

    def __init__(self, *args: str) -> None:
        cmd = [sys.executable, str(REPO / "benchmarks" / "fake_server_proc.py"), *args]
        self.proc = subprocess.Popen(
            cmd, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http"):
            self.close()
            raise RuntimeError(f"fake server did not start (got {self.url!r})")

    @classmethod
    def for_scenario(cls, scenario: Scenario) -> ServerProcess:
        args = ["--ttft", str(scenario.ttft)]
        if scenario.tps:
            args += ["--tps", str(scenario.tps)]
        if scenario.answer_words:
            args += ["--answer-words", str(scenario.answer_words)]
        return cls(*args)

    def requests(self) -> list[dict[str, Any]]:
        """Requests received since the last call, in arrival order."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("requests\n")
        self.proc.stdin.flush()
        records = json.loads(self.proc.stdout.readline())
        return sorted(records, key=lambda r: r["started_at"])

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

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ----------------------------------------------------------------------------- one run


@dataclass
class RunMeasure:
    status: str
    wall: float
    critical_path: float
    overhead: float
    requests: int  # from the run's usage
    server_requests: int  # as the server saw them
    prompt_tokens: int
    completion_tokens: int
    tool_schema_tokens: int
    phases: list[dict[str, Any]] = field(default_factory=list)
    breakdown: dict[str, float] = field(default_factory=dict)


def phase_of(tools: list[str]) -> str:
    if "vote" in tools:
        return "vote"
    if "new_answer" in tools:
        return "answer"
    return "present"


PHASES = ("answer", "vote", "present")


async def one_run(scenario: Scenario, url: str, server: ServerProcess) -> RunMeasure:
    from massgen.config.loader import load_config
    from massgen.config.resolve import resolve_config
    from massgen.coordination.build import build_coordinator
    from massgen.events import AgentTurnStarted, EventBus
    from massgen.events import Usage as UsageEvent

    os.environ["MASSGEN_LOCAL_BASE_URL"] = url
    os.environ["MASSGEN_LOCAL_MODEL"] = MODEL
    config = load_config(resolve_config(EXAMPLE)).config
    bus = EventBus()
    marks: list[tuple[float, Any]] = []
    bus.add_listener(lambda event: marks.append((time.monotonic(), event)))
    coordinator = build_coordinator(config, bus)
    if scenario.prebuilt_clients:
        for agent in coordinator.specs:
            getattr(agent.backend, "client", None)
    server.requests()  # start from an empty log
    try:
        start = time.monotonic()
        result = await coordinator.run(QUESTION)
        end = time.monotonic()
    finally:
        bus.close()
        for agent in coordinator.specs:
            await agent.backend.aclose()
    records = server.requests()

    # critical path over the server's own timings
    by_phase: dict[str, list[dict[str, Any]]] = {p: [] for p in PHASES}
    for record in records:
        by_phase[phase_of(record["tools"])].append(record)
    phases = []
    for name in PHASES:
        calls = by_phase[name]
        if not calls:
            continue
        first = min(c["started_at"] for c in calls)
        last = max(c["finished_at"] for c in calls)
        longest = max(c["finished_at"] - c["started_at"] for c in calls)
        phases.append(
            {"phase": name, "calls": len(calls), "first": first, "last": last, "longest": longest}
        )
    critical = sum(p["longest"] for p in phases)

    # where the rest of the wall time went (sums exactly to wall - critical path)
    breakdown: dict[str, float] = {}
    if phases:
        breakdown["before first request"] = phases[0]["first"] - start
        breakdown["stagger inside phases"] = sum(
            p["last"] - p["first"] - p["longest"] for p in phases
        )
        breakdown["between phases"] = sum(
            b["first"] - a["last"] for a, b in itertools.pairwise(phases)
        )
        breakdown["after last response"] = end - phases[-1]["last"]
        # the between-phases gaps, split on the client's side
        turns = [(t, e) for t, e in marks if isinstance(e, AgentTurnStarted)]
        usages = [(t, e) for t, e in marks if isinstance(e, UsageEvent)]
        read = engine = send = 0.0
        for a, b in itertools.pairwise(phases):
            # client got the last response of phase a (its usage event) ...
            got = [t for t, _ in usages if a["last"] - 0.001 <= t <= b["first"]]
            # ... the engine started the turns of phase b ...
            kind = "present" if b["phase"] == "present" else "evaluate"
            began = [t for t, e in turns if e.kind == kind and got and t >= got[0]]
            if got and began:
                read += got[0] - a["last"]
                engine += min(began) - got[0]
                send += b["first"] - min(began)
        breakdown["of which: read last response (client)"] = read
        breakdown["of which: engine (response -> next turn)"] = engine
        breakdown["of which: build + send next request"] = send

    usage = result.total_usage
    return RunMeasure(
        status=result.status,
        wall=end - start,
        critical_path=critical,
        overhead=end - start - critical,
        requests=usage.requests,
        server_requests=len(records),
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        tool_schema_tokens=sum(r["tool_schema_tokens"] for r in records),
        phases=[
            {k: (round(v, 4) if isinstance(v, float) else v) for k, v in p.items()} for p in phases
        ],
        breakdown=breakdown,
    )


# ----------------------------------------------------------------------------- scenarios


def _stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "max": max(values), "min": min(values)}


def run_scenario(scenario: Scenario, runs: int) -> dict[str, Any]:
    with ServerProcess.for_scenario(scenario) as server:

        async def all_runs() -> list[RunMeasure]:
            return [await one_run(scenario, server.url, server) for _ in range(runs + 1)]

        measures = asyncio.run(all_runs())
    cold, timed = measures[0], measures[1:]
    keys = ("wall", "critical_path", "overhead")
    breakdown_keys = list(timed[0].breakdown)
    return {
        "scenario": asdict(scenario),
        "runs": runs,
        "statuses": sorted({m.status for m in measures}),
        **{k: _stats([getattr(m, k) for m in timed]) for k in keys},
        "breakdown_median": {
            k: statistics.median(m.breakdown.get(k, 0.0) for m in timed) for k in breakdown_keys
        },
        "requests": sorted({m.requests for m in measures}),
        "server_requests": sorted({m.server_requests for m in measures}),
        "prompt_tokens": _stats([m.prompt_tokens for m in timed]),
        "completion_tokens": _stats([m.completion_tokens for m in timed]),
        "prompt_tokens_with_tools": _stats([m.prompt_tokens + m.tool_schema_tokens for m in timed]),
        "first_run_in_process": {k: getattr(cold, k) for k in keys},
        "example_phases": timed[0].phases,
    }


def cli_run(scenario: Scenario, runs: int, code: Path | None = None) -> dict[str, Any]:
    """End to end through the ``massgen`` CLI (``--ui json``), a fresh process per run:
    wall time of the process vs the critical path of the model calls it made, split at the
    ``run_started`` / ``run_finished`` events (their ``ts`` is wall-clock time)."""
    massgen = Path(sys.executable).parent / "massgen"
    cmd = [str(massgen)] if massgen.exists() else [sys.executable, "-m", "massgen"]
    walls, critical, overheads, requests = [], [], [], []
    parts: dict[str, list[float]] = {
        "process start -> first model request": [],
        "process start -> run_started": [],
        "run_started -> run_finished, minus critical path": [],
        "run_finished -> process exit": [],
    }
    with ServerProcess.for_scenario(scenario) as server, tempfile.TemporaryDirectory() as logs:
        env = {
            **os.environ,
            "MASSGEN_LOCAL_BASE_URL": server.url,
            "MASSGEN_LOCAL_MODEL": MODEL,
            "MASSGEN_LOG_DIR": logs,  # the session logs each run writes (as a user's would)
            # another checkout's massgen (a baseline to compare), else this one's
            **({"PYTHONPATH": str(code)} if code else {}),
        }
        for _ in range(runs):
            server.requests()
            to_monotonic = time.monotonic() - time.time()
            start = time.monotonic()
            done = subprocess.run(
                [*cmd, "--config", EXAMPLE, "--ui", "json", QUESTION],
                env=env,
                cwd=REPO,
                capture_output=True,
                text=True,
                check=False,
            )
            end = time.monotonic()
            if done.returncode != 0:
                raise RuntimeError(f"massgen exited {done.returncode}: {done.stderr[-2000:]}")
            events = {}
            for line in done.stdout.splitlines():
                event = json.loads(line)
                if event["type"] in ("run_started", "run_finished"):
                    events[event["type"]] = event["ts"] + to_monotonic
            records = server.requests()
            longest: dict[str, float] = {}
            for r in records:
                phase = phase_of(r["tools"])
                duration = r["finished_at"] - r["started_at"]
                longest[phase] = max(longest.get(phase, 0.0), duration)
            path = sum(longest.values())
            walls.append(end - start)
            critical.append(path)
            overheads.append(end - start - path)
            requests.append(len(records))
            began, finished = events["run_started"], events["run_finished"]
            parts["process start -> first model request"].append(
                min(r["started_at"] for r in records) - start
            )
            parts["process start -> run_started"].append(began - start)
            parts["run_started -> run_finished, minus critical path"].append(
                finished - began - path
            )
            parts["run_finished -> process exit"].append(end - finished)
    return {
        "scenario": asdict(scenario),
        "runs": runs,
        "wall": _stats(walls),
        "critical_path": _stats(critical),
        "overhead": _stats(overheads),
        "overhead_parts_median": {k: statistics.median(v) for k, v in parts.items()},
        "requests": sorted(set(requests)),
    }


def measure(runs: int = 5, cli_runs: int = 3, code: Path | None = None) -> dict[str, Any]:
    return {
        "scenarios": [run_scenario(s, runs) for s in SCENARIOS] if runs else [],
        "cli": cli_run(SCENARIOS[0], cli_runs, code) if cli_runs else None,
    }


# ----------------------------------------------------------------------------- report


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "| Scenario | Wall (median / max) | Critical path (median) | Overhead (median / max)"
        " | Requests | Prompt tokens | Prompt + tool schemas | Completion tokens |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in results["scenarios"]:
        status = "" if s["statuses"] == ["ok"] else f" (run status: {', '.join(s['statuses'])})"
        lines.append(
            f"| {s['scenario']['name']}{status} "
            f"| {ms(s['wall']['median'])} / {ms(s['wall']['max'])} "
            f"| {ms(s['critical_path']['median'])} "
            f"| {ms(s['overhead']['median'])} / {ms(s['overhead']['max'])} "
            f"| {', '.join(map(str, s['requests']))} "
            f"| {s['prompt_tokens']['median']:.0f} "
            f"| {s['prompt_tokens_with_tools']['median']:.0f} "
            f"| {s['completion_tokens']['median']:.0f} |"
        )
    cli = results.get("cli")
    if cli:
        lines.append(
            f"| CLI end to end (`massgen --ui json`, new process), {cli['scenario']['name']} "
            f"| {ms(cli['wall']['median'])} / {ms(cli['wall']['max'])} "
            f"| {ms(cli['critical_path']['median'])} "
            f"| {ms(cli['overhead']['median'])} / {ms(cli['overhead']['max'])} "
            f"| {', '.join(map(str, cli['requests']))} | | | |"
        )
    if cli:
        split = ", ".join(f"{k}: {ms(v)}" for k, v in cli["overhead_parts_median"].items())
        lines += ["", f"CLI end-to-end overhead, median parts: {split}."]
    if not results["scenarios"]:
        return "\n".join(lines)
    lines += ["", "Overhead breakdown (median of the timed runs, ms):", ""]
    names = list(results["scenarios"][0]["breakdown_median"])
    lines.append(
        "| Part | " + " | ".join(s["scenario"]["name"] for s in results["scenarios"]) + " |"
    )
    lines.append("|---" * (len(results["scenarios"]) + 1) + "|")
    for name in names:
        cells = [f"{s['breakdown_median'].get(name, 0.0) * 1000:.1f}" for s in results["scenarios"]]
        lines.append(f"| {name.strip()} | " + " | ".join(cells) + " |")
    cells = [f"{ms(s['first_run_in_process']['overhead'])}" for s in results["scenarios"]]
    lines.append(
        "| (untimed warm-up run: overhead; first column: the process's first run) | "
        + " | ".join(cells)
        + " |"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="3-agent coordination overhead benchmark")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per scenario (0: skip)")
    parser.add_argument("--cli-runs", type=int, default=3, help="end-to-end CLI runs (0: skip)")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument(
        "--code", type=Path, help="run the CLI from this checkout instead (e.g. a baseline)"
    )
    args = parser.parse_args()
    results = measure(args.runs, args.cli_runs, args.code)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(markdown(results))


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
