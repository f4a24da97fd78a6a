"""``massgen eval`` as a real subprocess against the fake Chat Completions server."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.chat_server import FakeChatServer, Reply, _tool_named, text_of
from tests.support.signals import FAULTHANDLER, interrupt, wait_until

ITEMS = [
    {"id": "mult", "question": "What is 6 times 7?", "answer": 42},
    {"id": "capital", "question": "What is the capital of France?", "answer": "Paris"},
    {"id": "minus", "question": "What is 10 minus 3?", "answer": "7"},
]
#: What every model answers: right for two of the three items.
REPLIES = {
    "6 times 7": "6 times 7 is 42.",
    "capital of France": "Paris.",
    "10 minus 3": "It is 8.",
}
ALL = "single,vote,debate,judge,self_consistency"


class AnswerBrain:
    """Answers each question from :data:`REPLIES`, in whatever form the request asks for:
    ``new_answer`` (the same content for every agent, so a debate agrees at once), a vote for
    the first label, or text (a presentation or a synthesis)."""

    def __call__(self, body: dict[str, Any]) -> Reply:
        text = " ".join(text_of(m.get("content")) for m in body.get("messages") or ())
        reply = next((r for q, r in REPLIES.items() if q in text), "I do not know.")
        vote = _tool_named(body, "vote")
        if vote is not None:
            labels = sorted(vote["parameters"]["properties"]["agent_id"]["enum"])
            return Reply(tool_calls=[("vote", json.dumps({"agent_id": labels[0], "reason": "r"}))])
        if _tool_named(body, "new_answer") is not None:
            return Reply(tool_calls=[("new_answer", json.dumps({"content": reply}))])
        return Reply(text=reply)


@pytest.fixture
def provider() -> Iterator[FakeChatServer]:
    with FakeChatServer(brain=AnswerBrain()) as server:
        yield server


@pytest.fixture
def workdir(tmp_path: Path, provider: FakeChatServer) -> Path:
    agents = "\n".join(
        f"  - {{id: a{i}, backend: {{type: vllm, model: m{i}, base_url: '{provider.url}'}}}}"
        for i in (1, 2, 3)
    )
    (tmp_path / "team.yaml").write_text(f"agents:\n{agents}\n", encoding="utf-8")
    (tmp_path / "data.jsonl").write_text(
        "".join(json.dumps(item) + "\n" for item in ITEMS), encoding="utf-8"
    )
    return tmp_path


def env(tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    base.update(HOME=str(tmp_path / "home"), XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    base.update(XDG_CACHE_HOME=str(tmp_path / "cache"), PYTHONUNBUFFERED="1")
    return base


def massgen_eval(workdir: Path, *args: str, extra_env: dict[str, str] | None = None, **kw):
    return subprocess.run(
        [sys.executable, "-m", "massgen", "eval", *args],
        cwd=workdir,
        env={**env(workdir), **(extra_env or {})},
        capture_output=True,
        text=True,
        timeout=180,
        **kw,
    )


def test_all_five_strategies_run_end_to_end_and_report_json_csv_and_a_plot(workdir, provider):
    proc = massgen_eval(
        workdir,
        "data.jsonl",
        "-c",
        "team.yaml",
        "--strategies",
        ALL,
        "--json",
        "out.json",
        "--csv",
        "out.csv",
        "--plot",
        "out.png",
        "--cache-dir",
        "cache",
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads((workdir / "out.json").read_text())
    assert list(report["strategies"]) == ALL.split(",")
    for name, row in report["strategies"].items():
        assert {
            "accuracy",
            "correct",
            "total",
            "prompt_tokens",
            "completion_tokens",
            "cost_usd",
            "wall_s",
            "p50_latency_s",
        } <= set(row), name
        assert (row["correct"], row["total"], row["accuracy"]) == (2, 3, 0.6667), name
        assert row["prompt_tokens"] > 0 and row["cost_usd"] == 0.0  # a self-hosted server
        # every figure of the issue: the interval, the oracle, the selection gap, members,
        # the matched baseline, the paired comparisons and the verdict
        low, high = row["accuracy_ci95"]
        assert low <= row["accuracy"] <= high
        assert row["oracle"]["value"] == 0.6667 and row["selection_gap"]["value"] == 1.0
        assert row["agents"]["a1"] == {"alone": 0.6667, "final": 0.6667}
        assert row["matched"]["member"] == "a1" and row["matched"]["independence"] == "seed"
        assert 0.9 <= row["matched"]["token_ratio"] <= 1.1 or name == "debate", row["matched"]
        assert row["vs_matched"]["difference"] == 0.0 and row["vs_matched"]["p_value"] == 1.0
        assert (row["vs_single"] is None) == (name == "single")
        assert row["verdict"].startswith(f"{name}: no evidence of a gain over matched")
    assert set(report["strategies"]["vote"]["agents"]) == {"a1", "a2", "a3"}
    # each strategy really ran its protocol: model calls per item
    requests = {n: r["requests"] // 3 for n, r in report["strategies"].items()}
    assert requests == {"single": 1, "vote": 7, "debate": 3, "judge": 4, "self_consistency": 3}
    # the matched baseline: the best member's samples (a1: all tie), one request each, shared
    # with self_consistency's 3
    sampled = sum(
        max(0, max(m["samples"] for m in i["matched"].values()) - 3) for i in report["items"]
    )
    assert report["sampling"]["matched"]["member"] == "a1"
    assert len(provider.requests) == 3 * sum(requests.values()) + sampled
    minus = next(i for i in report["items"] if i["id"] == "minus")
    assert minus["scorer"] == "number" and minus["results"]["vote"]["correct"] is False
    assert minus["results"]["single"]["prediction"] == "It is 8."
    capital = next(i for i in report["items"] if i["id"] == "capital")
    assert capital["scorer"] == "exact" and capital["results"]["judge"]["correct"] is True
    # the terminal table
    assert "self_consistency" in proc.stdout and "66.7%" in proc.stdout
    assert "against the baselines" in proc.stdout and "members:" in proc.stdout
    assert "self_consistency samples: a1, independent by seeds 0..2" in proc.stdout
    assert "vote: no evidence of a gain over matched self-consistency" in proc.stdout
    # CSV: one row per item and strategy, and one per strategy beside it
    rows = (workdir / "out.csv").read_text().splitlines()
    assert rows[0].startswith("id,strategy,correct,some_agent_right") and len(rows) == 1 + 3 * 5
    summary = (workdir / "out.summary.csv").read_text().splitlines()
    assert summary[0].startswith("strategy,accuracy,accuracy_low") and len(summary) == 1 + 5
    # PNG: a real image of the plot
    png = (workdir / "out.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (800, 500)


def test_a_second_run_is_served_from_the_cache(workdir, provider):
    args = ("data.jsonl", "-c", "team.yaml", "--strategies", "single,vote", "--cache-dir", "c")
    args += ("--no-matched",)
    first = massgen_eval(workdir, *args, "--json", "one.json")
    assert first.returncode == 0, first.stderr
    sent = len(provider.requests)
    assert sent == 3 * (1 + 7)
    second = massgen_eval(workdir, *args, "--json", "two.json")
    assert second.returncode == 0, second.stderr
    assert len(provider.requests) == sent  # nothing asked again
    one = json.loads((workdir / "one.json").read_text())
    two = json.loads((workdir / "two.json").read_text())
    assert two["strategies"]["vote"]["cached"] == 3
    # no matched baseline: the verdict is against single
    assert two["sampling"]["matched"] is None and two["strategies"]["vote"]["matched"] is None
    assert two["strategies"]["vote"]["verdict"].startswith(
        "vote: no evidence of a gain over single"
    )
    assert two["strategies"]["vote"]["accuracy"] == one["strategies"]["vote"]["accuracy"]
    # another config is another cache: a changed option runs everything again
    (workdir / "team.yaml").write_text(
        (workdir / "team.yaml").read_text() + "orchestrator: {final_answer: reuse}\n"
    )
    third = massgen_eval(workdir, *args, "--json", "three.json")
    assert third.returncode == 0, third.stderr
    assert len(provider.requests) == sent + 3 * (1 + 6)


def test_the_matched_baseline_s_samples_are_cached_too(workdir, provider):
    args = ("data.jsonl", "-c", "team.yaml", "--strategies", "vote", "--cache-dir", "c")
    first = massgen_eval(workdir, *args, "--json", "one.json")
    assert first.returncode == 0, first.stderr
    one = json.loads((workdir / "one.json").read_text())
    samples = sum(i["matched"]["vote"]["samples"] for i in one["items"])
    assert samples >= 3 * 3  # vote's tokens buy several samples an item
    assert len(provider.requests) == 3 * 7 + samples
    sent = len(provider.requests)
    second = massgen_eval(workdir, *args, "--json", "two.json")
    assert second.returncode == 0, second.stderr
    assert len(provider.requests) == sent  # nothing asked again
    two = json.loads((workdir / "two.json").read_text())
    assert two["strategies"]["vote"]["verdict"] == one["strategies"]["vote"]["verdict"]


def test_an_interrupted_eval_continues_where_it_stopped(workdir, provider):
    provider.hold_after(2)  # two items answered, the third waits: surely mid-way when signalled
    items = [{"question": f"What is 6 times 7? (variant {i})", "answer": 42} for i in range(8)]
    (workdir / "many.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items))
    args = ["many.jsonl", "-c", "team.yaml", "--strategies", "single", "--concurrency", "1"]
    args += ["--no-matched"]
    args += ["--cache-dir", "c", "--json", "out.json"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "massgen", "eval", *args],
        cwd=workdir,
        env={**env(workdir), **FAULTHANDLER},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def cached() -> int:
        caches = list((workdir / "c").glob("*.jsonl"))
        return len(caches[0].read_text().splitlines()) if caches else 0

    try:
        wait_until(lambda: len(provider.requests) >= 3 and cached() >= 2, "the third item asked")
        _, stderr = interrupt(proc)
    finally:
        proc.kill()
        provider.release()
    assert proc.returncode == 130, stderr
    assert "run the same command again to continue" in stderr
    kept = cached()
    assert kept == 2 and not (workdir / "out.json").exists()
    before = len(provider.requests)
    done = massgen_eval(workdir, *args)
    assert done.returncode == 0, done.stderr
    report = json.loads((workdir / "out.json").read_text())
    assert report["strategies"]["single"]["total"] == 8
    assert report["strategies"]["single"]["cached"] == kept
    assert len(provider.requests) - before == 8 - kept  # only what was missing


def test_a_malformed_line_names_the_file_and_line_and_nothing_runs(workdir, provider):
    (workdir / "bad.jsonl").write_text('{"question": "q1", "answer": 1}\n{"question": "q2",\n')
    proc = massgen_eval(workdir, "bad.jsonl", "-c", "team.yaml")
    assert proc.returncode == 1
    assert proc.stderr.startswith("massgen: error: bad.jsonl:2: not valid JSON (")
    assert proc.stderr.count("\n") == 1 and not provider.requests


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"question": "q"}', "bad.jsonl:1: missing 'answer'"),
        ('{"question": "q", "answer": "a", "scorer": "numbr"}', "(did you mean 'number'?)"),
        ('{"question": "q", "answer": "(", "scorer": "regex"}', "not a valid regex"),
        ('{"question": "q", "answer": 7, "choices": ["a", "b"]}', "not a choice's index"),
    ],
)
def test_bad_items_are_one_line_each(workdir, provider, line, message):
    (workdir / "bad.jsonl").write_text(line + "\n")
    proc = massgen_eval(workdir, "bad.jsonl", "-c", "team.yaml")
    assert proc.returncode == 1 and message in proc.stderr, proc.stderr
    assert not provider.requests


def test_an_unknown_strategy_suggests_the_closest(workdir, provider):
    proc = massgen_eval(workdir, "data.jsonl", "-c", "team.yaml", "--strategies", "single,debat")
    assert proc.returncode == 1
    assert "unknown strategy 'debat' (did you mean 'debate'?)" in proc.stderr
    assert not provider.requests


def test_a_plot_without_matplotlib_is_refused_before_anything_runs(workdir, provider):
    shim = workdir / "shim" / "matplotlib"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError('no matplotlib here')\n")
    proc = massgen_eval(
        workdir,
        "data.jsonl",
        "-c",
        "team.yaml",
        "--plot",
        "p.png",
        extra_env={
            "PYTHONPATH": os.pathsep.join([str(workdir / "shim"), os.environ["PYTHONPATH"]])
        },
    )
    assert proc.returncode == 1
    assert "--plot needs matplotlib: pip install 'massgen[eval]'" in proc.stderr
    assert not provider.requests


def test_the_builtin_arithmetic_set_is_the_same_for_a_seed(workdir, provider):
    args = ("--builtin", "arithmetic", "--size", "4", "-c", "team.yaml", "--strategies", "single")
    args += ("--no-matched",)
    one = massgen_eval(workdir, *args, "--seed", "3", "--no-cache", "--json", "a.json")
    two = massgen_eval(workdir, *args, "--seed", "3", "--no-cache", "--json", "b.json")
    other = massgen_eval(workdir, *args, "--seed", "4", "--no-cache", "--json", "c.json")
    assert one.returncode == two.returncode == other.returncode == 0, one.stderr
    a, b, c = (
        json.loads((workdir / n).read_text())["items"] for n in ("a.json", "b.json", "c.json")
    )
    assert [i["question"] for i in a] == [i["question"] for i in b]
    assert [i["question"] for i in a] != [i["question"] for i in c]
    assert all(i["answer"].lstrip("-").isdigit() and i["scorer"] == "number" for i in a)
