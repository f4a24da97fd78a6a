"""The harness checked against fake agents of known accuracy, whose expected figures are
computed exactly: the reported accuracy of single, vote and self-consistency, the oracle, the
selection gap, each member's accuracy and the matched baseline fall within their intervals of
the truth over repeated seeded runs.

The agents run for real (the whole engine, over HTTP) against the fake Chat Completions
server, whose brain answers each item right with the agent's probability ``p``, independently
per agent, item and sample (a hash of the model, the item, the run's salt and the request's
seed). Voters have a known bias: where the answers differ, each backs the right one with
probability ``b``, independently.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.eval.test_eval_cli import massgen_eval
from tests.fakes.chat_server import FakeChatServer, Reply, _tool_named, text_of

P = {"m1": 0.7, "m2": 0.6, "m3": 0.5}  # each agent's chance of a right answer
BIAS = 0.7  # a voter's chance of backing the right answer when the answers differ
ITEMS = 150
SAMPLES = 3
SALTS = ("a", "b")
STRATEGIES = "single,vote,self_consistency"


def uniform(*parts: object) -> float:
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class KnownAccuracy:
    """Item ``#k``'s answer is ``1000 + k``; a wrong answer is always ``1001 + k``."""

    def __init__(self, salt: str) -> None:
        self.salt = salt

    def answer(self, model: str, item: int, sample: object) -> int:
        right = uniform(self.salt, model, item, sample) < P[model]
        return 1000 + item + (0 if right else 1)

    def __call__(self, body: dict[str, Any]) -> Reply:
        text = " ".join(text_of(m.get("content")) for m in body.get("messages") or ())
        item = int(re.search(r"Puzzle #(\d+)", text).group(1))  # type: ignore[union-attr]
        model = body["model"]
        vote = _tool_named(body, "vote")
        if vote is not None:
            labels = vote["parameters"]["properties"]["agent_id"]["enum"]
            answers = [self.answer(m, item, "none") for m in P]  # agent1..3 in config order
            right = 1000 + item
            if len(set(answers)) == 1:
                pick = answers[0]
            elif uniform(self.salt, model, item, "vote") < BIAS:
                pick = right
            else:
                pick = right + 1
            label = f"agent{answers.index(pick) + 1}"
            label = label if label in labels else sorted(labels)[0]
            return Reply(tool_calls=[("vote", json.dumps({"agent_id": label, "reason": "r"}))])
        content = f"The number is {self.answer(model, item, body.get('seed', 'none'))}."
        if _tool_named(body, "new_answer") is not None:
            return Reply(tool_calls=[("new_answer", json.dumps({"content": content}))])
        return Reply(text=content)


def majority_right(k: int, p: float) -> float:
    """P(the majority of k independent samples is right), two possible answers, a tie going
    to the first sample (right half the time)."""
    win = sum(math.comb(k, i) * p**i * (1 - p) ** (k - i) for i in range(k // 2 + 1, k + 1))
    if k % 2 == 0:
        win += 0.5 * math.comb(k, k // 2) * (p * (1 - p)) ** (k // 2)
    return win


def truth() -> dict[str, float]:
    p1, p2, p3 = P.values()
    all_right, all_wrong = p1 * p2 * p3, (1 - p1) * (1 - p2) * (1 - p3)
    vote = all_right + (1 - all_right - all_wrong) * majority_right(3, BIAS)
    oracle = 1 - all_wrong
    return {
        "single": p1,
        "vote": vote,
        "self_consistency": majority_right(SAMPLES, p1),
        "oracle": oracle,
        "selection_gap": vote / oracle,
        **{f"alone:a{i}": p for i, p in enumerate(P.values(), 1)},
    }


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[dict[str, Any]]]:
    """``massgen eval --json`` once per salt (a process of its own: the fake server's thread
    then has this one to itself)."""
    out = []
    for salt in SALTS:
        work = tmp_path_factory.mktemp(f"salt-{salt}")
        rows = [
            {"id": f"p{k}", "question": f"Puzzle #{k}: the number?", "answer": 1000 + k}
            for k in range(ITEMS)
        ]
        (work / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        with FakeChatServer(brain=KnownAccuracy(salt)) as server:
            agents = "".join(
                f"  - {{id: a{i}, backend: {{type: vllm, model: {m}, base_url: '{server.url}'}}}}\n"
                for i, m in enumerate(P, 1)
            )
            (work / "team.yaml").write_text(
                f"agents:\n{agents}orchestrator: {{final_answer: reuse}}\n"
            )
            proc = massgen_eval(
                work, "data.jsonl", "-c", "team.yaml", "--strategies", STRATEGIES,
                "--samples", str(SAMPLES), "--concurrency", "16", "--no-cache",
                "--json", "out.json",
            )  # fmt: skip
            assert proc.returncode == 0, proc.stderr
        out.append(json.loads((work / "out.json").read_text()))
    yield out


def figure(data: dict[str, Any], name: str) -> tuple[float, list[float]]:
    rows = data["strategies"]
    if name in ("single", "vote", "self_consistency"):
        return rows[name]["accuracy"], rows[name]["accuracy_ci95"]
    if name in ("oracle", "selection_gap"):
        return rows["vote"][name]["value"], rows["vote"][name]["ci95"]
    agent = name.split(":")[1]
    value = rows["vote"]["agents"][agent]["alone"]
    return value, [value - 0.1, value + 0.1]  # not an interval: checked by the mean below


def test_reported_figures_fall_within_their_intervals_of_the_truth(reports):
    expected = truth()
    for name, true in expected.items():
        values = [figure(data, name)[0] for data in reports]
        inside = sum(low <= true <= high for low, high in (figure(d, name)[1] for d in reports))
        assert inside >= len(reports) - 1, (name, true, [figure(d, name) for d in reports])
        # the mean over the runs: within 3 standard errors of the truth
        n = ITEMS * len(reports) * (expected["oracle"] if name == "selection_gap" else 1)
        error = 3 * math.sqrt(true * (1 - true) / n)
        assert abs(sum(values) / len(values) - true) <= error, (name, true, values)


def test_self_consistency_gains_what_independent_samples_give(reports):
    # the collapse the issue found: samples that are one request repeated give single's figure
    for data in reports:
        rows = data["strategies"]
        assert rows["self_consistency"]["accuracy"] > rows["single"]["accuracy"]
        assert data["sampling"]["self_consistency"]["independence"] == "seed"


def test_the_matched_baseline_matches_tokens_and_scores_as_its_sample_counts_predict(reports):
    p1 = P["m1"]
    for data in reports:
        matched = data["strategies"]["vote"]["matched"]
        assert matched["member"] == "a1" and 0.9 <= matched["token_ratio"] <= 1.1
        counts = [item["matched"]["vote"]["samples"] for item in data["items"]]
        assert max(counts) - min(counts) <= 1 and min(counts) >= 2
        true = sum(majority_right(k, p1) for k in counts) / len(counts)
        low, high = matched["accuracy"]["ci95"]
        assert low - 0.02 <= true <= high + 0.02, (true, matched)
        verdict = data["strategies"]["vote"]["verdict"]
        assert verdict.startswith("vote: ") and "matched self-consistency" in verdict
