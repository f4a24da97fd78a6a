"""What a command that floods its output costs: when ``run_command`` returns, and how much
memory massgen grows by meanwhile.

    python benchmarks/bench_commands.py [--timeout 4] [--repeat 3] [--sandbox bubblewrap]

Two probes, each through the engine's own tool call (``run_call`` with the default 60 s tool
limit), in the real sandbox:

1. ``yes AAAA…``, endless: the call must return at ``command_timeout_seconds`` (target:
   within 0.5 s of it) with the output capped;
2. 300 MB of output, then the command ends: the call returns when it ends, output capped.

Memory: massgen's resident set is sampled every 5 ms during the call; the growth is the
highest sample minus the resident set just before the call (target: under 100 MB for both).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from massgen.messages import ToolCall  # noqa: E402
from massgen.tools.base import ToolLimits, run_call  # noqa: E402
from massgen.tools.commands import CommandSettings, CommandTool  # noqa: E402
from massgen.workspaces.paths import PathPolicy  # noqa: E402

ENDLESS = "yes " + "A" * 60
FINITE = "yes " + "A" * 60 + " | head -c 300000000"
TIME_SLACK_S = 0.5
MEMORY_TARGET_MB = 100


class PeakRSS:
    """The highest resident set of this process while it is running, sampled in a thread."""

    def __init__(self, every_s: float = 0.005) -> None:
        self.process = psutil.Process()
        self.every_s = every_s
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.every_s)

    def __enter__(self) -> PeakRSS:
        self.baseline = self.process.memory_info().rss
        self.peak = self.baseline
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.baseline) / 1e6


def probe(command: str, sandbox: str, timeout_s: float) -> dict[str, float | int | bool]:
    """One tool call of ``command``: elapsed seconds, RSS growth, result size."""
    workspace = Path(tempfile.mkdtemp(prefix="bench-commands-"))
    policy = PathPolicy(workspace, [workspace], [workspace])
    tool = CommandTool(lambda: policy, CommandSettings(sandbox, timeout_s=timeout_s)).tool()
    call = ToolCall("c1", "run_command", json.dumps({"command": command}))
    with PeakRSS() as memory:
        started = time.perf_counter()
        result = asyncio.run(run_call(tool, call, ToolLimits()))
        elapsed = time.perf_counter() - started
    os.rmdir(workspace)
    return {
        "elapsed_s": elapsed,
        "rss_growth_mb": memory.growth_mb,
        "result_chars": len(result.text),
        "stopped": "was stopped" in result.text,
    }


def measure(timeout_s: float, repeat: int, sandbox: str) -> dict[str, list[dict]]:
    return {
        name: [probe(command, sandbox, timeout_s) for _ in range(repeat)]
        for name, command in (("endless", ENDLESS), ("300 MB", FINITE))
    }


def report(results: dict[str, list[dict]], timeout_s: float) -> bool:
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("| probe | elapsed s (median, max) | RSS growth MB (max) | result chars | stopped |")
    print("|---|---|---|---|---|")
    for name, runs in results.items():
        times = [r["elapsed_s"] for r in runs]
        print(
            f"| {name} | {statistics.median(times):.2f}, {max(times):.2f} "
            f"| {max(r['rss_growth_mb'] for r in runs):.1f} "
            f"| {max(r['result_chars'] for r in runs):,} "
            f"| {all(r['stopped'] for r in runs)} |"
        )
    endless = results["endless"]
    checks = {
        f"endless returns at {timeout_s:g} s ± {TIME_SLACK_S} s": all(
            abs(r["elapsed_s"] - timeout_s) <= TIME_SLACK_S for r in endless
        ),
        "endless is stopped, not left running": all(r["stopped"] for r in endless),
        f"RSS growth under {MEMORY_TARGET_MB} MB": all(
            r["rss_growth_mb"] < MEMORY_TARGET_MB for runs in results.values() for r in runs
        ),
    }
    for what, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}: {what}")
    return all(checks.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=4.0, help="command_timeout_seconds")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sandbox", default="bubblewrap", choices=["bubblewrap", "none"])
    args = parser.parse_args()
    results = measure(args.timeout, args.repeat, args.sandbox)
    sys.exit(0 if report(results, args.timeout) else 1)


if __name__ == "__main__":
    main()
