"""Self-consistency's samples are independent requests, seen on the wire of the fake
providers: a seed of their own where the provider takes one (seed, seed+1, ..., from 0 when
the config sets none), else a nonce line in the prompt; the report says which."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.eval.test_eval_cli import AnswerBrain, massgen_eval
from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.chat_server import FakeChatServer, text_of

ITEM = {"id": "mult", "question": "What is 6 times 7?", "answer": 42}
ARGS = ("data.jsonl", "-c", "team.yaml", "--strategies", "self_consistency", "--samples", "3")
ARGS += ("--no-cache", "--no-matched", "--json", "out.json")


def prepare(tmp_path: Path, backend: str) -> None:
    (tmp_path / "team.yaml").write_text(f"agents:\n  - {{id: a1, backend: {backend}}}\n")
    (tmp_path / "data.jsonl").write_text(json.dumps(ITEM) + "\n")


@pytest.mark.parametrize(("seed", "expected"), [(None, [0, 1, 2]), (7, [7, 8, 9])])
def test_samples_of_a_chat_completions_agent_each_send_their_own_seed(tmp_path, seed, expected):
    with FakeChatServer(brain=AnswerBrain()) as server:
        extra = "" if seed is None else f", seed: {seed}"
        prepare(tmp_path, f"{{type: vllm, model: m1, base_url: '{server.url}'{extra}}}")
        proc = massgen_eval(tmp_path, *ARGS)
        assert proc.returncode == 0, proc.stderr
        seeds = sorted(r.body.get("seed") for r in server.requests)
    assert seeds == expected  # three different requests, not one three times
    report = json.loads((tmp_path / "out.json").read_text())
    sampling = report["sampling"]["self_consistency"]
    assert sampling["independence"] == "seed" and sampling["seeds"] == [expected[0], expected[2]]
    assert report["strategies"]["self_consistency"]["requests"] == 3


def test_samples_of_a_claude_agent_which_takes_no_seed_differ_by_a_nonce(tmp_path):
    key = "sk-ant-test-1"
    with FakeAnthropicServer(brain=AnswerBrain(), api_key=key) as server:
        backend = f"{{type: claude, model: claude-sonnet-4-5, base_url: '{server.url}'"
        prepare(tmp_path, backend + ", temperature: 0}")
        proc = massgen_eval(tmp_path, *ARGS, extra_env={"ANTHROPIC_API_KEY": key})
        assert proc.returncode == 0, proc.stderr
        bodies = [r.body for r in server.requests]
    assert len(bodies) == 3 and all("seed" not in b for b in bodies)
    users = [text_of(b["messages"][-1]["content"]) for b in bodies]
    assert len(set(users)) == 3  # three different requests
    nonces = sorted(n for u in users for n in re.findall(r"\[sample \d\]", u))
    assert nonces == ["[sample 1]", "[sample 2]", "[sample 3]"]
    report = json.loads((tmp_path / "out.json").read_text())
    sampling = report["sampling"]["self_consistency"]
    assert sampling["independence"] == "nonce"
    assert sampling["note"].startswith("temperature 0 and no seed")  # said, not hidden
    assert report["strategies"]["self_consistency"]["accuracy"] == 1.0
