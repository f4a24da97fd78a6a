"""The offline default: ``massgen "question"`` with no config and no key runs three agents on
the embedded SmolLM2-135M model. Measures time to the final answer (the whole command, as a
user waits for it) and the process's peak RSS.

Needs the ``local`` extra. From the repo root::

    python benchmarks/bench_local.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from bench_cli_startup import massgen_command, run_many  # noqa: E402

from massgen.providers import PROVIDER_KEY_VARS  # noqa: E402

QUESTION = "What is the capital of France?"
GOAL_S = 30.0


def measure(runs: int = 3) -> dict[str, Any]:
    """``runs`` fresh ``massgen "question"`` processes in a clean environment."""
    saved = dict(os.environ)
    with tempfile.TemporaryDirectory() as home:
        try:
            for var in PROVIDER_KEY_VARS:
                os.environ.pop(var, None)
            os.environ.update(HOME=home, XDG_CONFIG_HOME=str(Path(home) / ".config"))
            measured = run_many([*massgen_command(), QUESTION], runs)
        finally:
            os.environ.clear()
            os.environ.update(saved)
    walls, rss, codes = zip(*measured["runs"], strict=True)
    return {
        "runs": runs,
        "question": QUESTION,
        "wall": {"median": statistics.median(walls), "max": max(walls), "min": min(walls)},
        "peak_rss_bytes": {"median": statistics.median(rss), "max": max(rss)},
        "exit_codes": sorted(set(codes)),
        "cpus": os.cpu_count(),
    }


def markdown(results: dict[str, Any]) -> str:
    wall, rss = results["wall"], results["peak_rss_bytes"]
    ok = wall["max"] <= GOAL_S and results["exit_codes"] == [0]
    return "\n".join(
        [
            "| Command | Time to final answer (median / max) | Peak RSS (median / max) | "
            "Exit codes | Goal ≤ 30 s |",
            "|---|---|---|---|---|",
            f'| `massgen "{results["question"]}"` (no config, no key: 3 local agents) '
            f"| {wall['median']:.1f} s / {wall['max']:.1f} s "
            f"| {rss['median'] / 1e6:.0f} MB / {rss['max'] / 1e6:.0f} MB "
            f"| {results['exit_codes']} | {'pass' if ok else 'MISS'} |",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print raw numbers as JSON")
    args = parser.parse_args()
    results = measure(args.runs)
    print(json.dumps(results, indent=2) if args.json else markdown(results))


if __name__ == "__main__":
    main()
