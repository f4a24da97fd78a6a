"""``massgen eval`` on fake agents of known accuracy: the report, beside the true figures.

The fake Chat Completions server's brain (``tests/eval/test_simulation.py``) answers item
``#k`` right with probability 0.7, 0.6 and 0.5 for agents a1, a2, a3, independently per
agent, item and seed; voters back the right answer with probability 0.7 where the answers
differ. One command::

    python benchmarks/eval_known_accuracy.py [--items 200] [--samples 3] [--salt demo]
        [--json out.json] [--plot out.png]

prints ``massgen eval``'s table (the README's example), then the true figures to hold it to.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.eval.test_simulation import KnownAccuracy, P, majority_right, truth  # noqa: E402
from tests.fakes.chat_server import FakeChatServer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--salt", default="demo")
    parser.add_argument("--strategies", default="single,vote,self_consistency")
    parser.add_argument("--json", dest="json_out")
    parser.add_argument("--plot", dest="plot_out")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as folder,
        FakeChatServer(brain=KnownAccuracy(args.salt)) as server,
    ):
        work = Path(folder)
        rows = [
            {"id": f"p{k}", "question": f"Puzzle #{k}: the number?", "answer": 1000 + k}
            for k in range(args.items)
        ]
        (work / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        agents = "".join(
            f"  - {{id: a{i}, backend: {{type: vllm, model: {m}, base_url: '{server.url}'}}}}\n"
            for i, m in enumerate(P, 1)
        )
        (work / "team.yaml").write_text(f"agents:\n{agents}orchestrator: {{final_answer: reuse}}\n")
        command = [sys.executable, "-m", "massgen", "eval", "data.jsonl", "-c", "team.yaml"]
        command += ["--strategies", args.strategies, "--samples", str(args.samples)]
        command += ["--no-cache", "--concurrency", "16", "--json", str(work / "out.json")]
        if args.plot_out:
            command += ["--plot", str(Path(args.plot_out).resolve())]
        env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "160"}
        subprocess.run(command, cwd=work, env=env, check=True)
        report = json.loads((work / "out.json").read_text())
        if args.json_out:
            Path(args.json_out).write_text(json.dumps(report, indent=2) + "\n")
    true = truth()
    true["self_consistency"] = majority_right(args.samples, P["m1"])
    counts = [i["matched"]["vote"]["samples"] for i in report["items"] if "matched" in i]
    if counts:
        true["matched SC (vote's tokens)"] = sum(majority_right(k, P["m1"]) for k in counts) / len(
            counts
        )
    print("\ntrue figures: " + ", ".join(f"{k} {v:.1%}" for k, v in true.items()))


if __name__ == "__main__":
    main()
