"""Debate, judge and budget-capped runs through the ``massgen`` command (real subprocesses)
against the fake Chat Completions server, which records every request it receives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.chat_server import FakeChatServer, Reply


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeChatServer]:
    with FakeChatServer() as server:
        yield server


def write_team(path: Path, url: str, orchestrator: str, *, backend: str = "vllm", model="m"):
    agents = "\n".join(
        f"  - {{id: a{i}, backend: {{type: {backend}, model: {model}{i if model == 'm' else ''}, "
        f"base_url: '{url}', max_tokens: 50}}}}"
        for i in (1, 2, 3)
    )
    path.write_text(f"agents:\n{agents}\norchestrator: {orchestrator}\n", encoding="utf-8")
    return path


def massgen(tmp_path: Path, *args: str, extra: dict[str, str] | None = None):
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(HOME=str(tmp_path / "home"), XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    env.update(PYTHONUNBUFFERED="1", **(extra or {}))
    return subprocess.run(
        [sys.executable, "-m", "massgen", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def heavy_answers(prompt_tokens: int) -> list[Reply]:
    """Three first answers that each report ``prompt_tokens`` prompt and 20 completion
    tokens (the fake's own counts are chars/4: these make the budget's arithmetic plain)."""
    return [
        Reply(
            tool_calls=[("new_answer", json.dumps({"content": f"Heavy answer {i}."}))],
            prompt_tokens=prompt_tokens,
            completion_tokens=20,
        )
        for i in (1, 2, 3)
    ]


def test_a_debate_with_a_judge_runs_its_rounds_and_the_judge_answers(tmp_path, provider):
    provider.reset()
    config = write_team(tmp_path / "t.yaml", provider.url, "{strategy: debate, judge: a3}")
    logs = tmp_path / "logs"
    proc = massgen(tmp_path, "-c", str(config), "--ui", "plain", "--log-dir", str(logs), "2+2?")
    assert proc.returncode == 0, proc.stderr
    shown = massgen(tmp_path, "logs", "show", "latest", "--log-dir", str(logs))
    assert "(strategy debate)" in shown.stdout and "3 round(s) · agreement 33%" in shown.stdout
    # the fake answers differently every time: no consensus, so 1 + 2 rounds, then the judge
    assert len(provider.requests) == 3 * 3 + 1
    for line in ("round 1/3: 3 answer(s) · agreement 33%", "round 3/3", "revising its answer"):
        assert line in proc.stderr
    last = provider.requests[-1]
    assert not last.body.get("tools") and last.model == "m3"  # the judge's synthesis
    assert proc.stdout.startswith("Final answer") and proc.stdout.count("\n") == 1


def test_a_judge_run_streams_layers_as_json_events(tmp_path, provider):
    provider.reset()
    config = write_team(tmp_path / "t.yaml", provider.url, "{strategy: judge, layers: 2}")
    proc = massgen(tmp_path, "-c", str(config), "--ui", "json", "--no-log", "What is 2+2?")
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    layers = [e for e in events if e["type"] == "round_finished"]
    assert [(e["strategy"], e["round"], e["last_round"]) for e in layers] == [
        ("judge", 1, 2),
        ("judge", 2, 2),
    ]
    assert events[0]["options"]["layers"] == 2 and events[0]["options"]["judge"] == "a1"
    final = next(e for e in events if e["type"] == "final_answer")
    assert final["agent_id"] == "a1" and final["presented"] is True
    assert len(provider.requests) == 3 + 3 + 1


def test_a_budget_capped_run_exits_4_and_the_server_received_no_call_past_the_cap(
    tmp_path, provider
):
    provider.reset()
    provider.enqueue(*heavy_answers(1000))
    cap = 3500
    config = write_team(tmp_path / "t.yaml", provider.url, f"{{max_total_tokens: {cap}}}")
    logs = tmp_path / "logs"
    proc = massgen(tmp_path, "-c", str(config), "--ui", "plain", "--log-dir", str(logs), "2+2?")
    assert proc.returncode == 4, proc.stderr
    # the three answers (3 x 1,020 tokens) fit; any vote could not, so none was sent
    assert len(provider.requests) == 3
    assert all(r.completed for r in provider.requests)
    assert not any(
        r.body.get("tools") and "vote" in json.dumps(r.body["tools"]) for r in provider.requests
    )
    assert cap >= 3 * (1000 + 20)
    assert proc.stdout.startswith("Heavy answer")  # the best answer so far
    assert "budget: the run has spent 3,060 tokens of max_total_tokens 3,500 tokens" in proc.stderr
    assert "budget 3,500 tokens (run)" in proc.stderr  # announced at the start
    summary = json.loads(next(logs.rglob("summary.json")).read_text())
    assert summary["status"] == "budget" and summary["exit_status"] == 4
    assert summary["parts"][0]["budget"].startswith("budget: the run has spent")
    assert summary["total_tokens"] == 3060
    shown = massgen(tmp_path, "logs", "show", "latest", "--log-dir", str(logs))
    assert shown.returncode == 0, shown.stderr
    assert "·  budget  ·" in shown.stdout and "exit status 4" in shown.stdout
    assert "budget: the run has spent 3,060 tokens" in shown.stdout


def test_a_cost_cap_on_a_priced_model_stops_before_the_call_that_could_cross_it(tmp_path, provider):
    provider.reset()
    provider.enqueue(*heavy_answers(100_000))  # $0.02 each at grok-4-fast's $0.20 / M input
    config = write_team(
        tmp_path / "t.yaml",
        provider.url,
        "{max_cost_usd: 0.07}",
        backend="grok",
        model="grok-4-fast",
    )
    proc = massgen(
        tmp_path,
        "-c",
        str(config),
        "--ui",
        "json",
        "--no-log",
        "2+2?",
        extra={"XAI_API_KEY": "xai-test"},
    )
    assert proc.returncode == 4, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    refused = [e for e in events if e["type"] == "budget_exceeded"]
    assert len(refused) == 1 and refused[0]["limit"] == "max_cost_usd"
    assert refused[0]["scope"] == "run" and refused[0]["spent"] == pytest.approx(0.06003)
    finished = events[-1]
    assert finished["type"] == "run_finished" and finished["status"] == "budget"
    assert finished["cost_usd"] <= 0.07 and finished["requests"] == 3
    assert len(provider.requests) == 3


def test_a_cost_cap_on_an_unpriced_model_is_a_config_error(tmp_path, provider):
    provider.reset()
    config = write_team(tmp_path / "t.yaml", provider.url, "{max_cost_usd: 1}")
    config.write_text(config.read_text().replace("type: vllm", "type: openrouter"))
    proc = massgen(
        tmp_path,
        "-c",
        str(config),
        "--ui",
        "plain",
        "--no-log",
        "2+2?",
        extra={"OPENROUTER_API_KEY": "or-test"},
    )
    assert proc.returncode == 1
    assert "max_cost_usd: the price of model 'm1' (agent a1)" in proc.stderr
    assert proc.stderr.count("\n") == 1 and not provider.requests


def test_a_priced_model_behind_a_local_gateway_is_priced_and_capped(tmp_path, provider):
    """gpt-4o behind a LiteLLM-style proxy on 127.0.0.1 costs what gpt-4o costs."""
    provider.reset()
    provider.enqueue(*heavy_answers(10_000))  # $0.025 each at gpt-4o's $2.50 / M input
    config = write_team(
        tmp_path / "t.yaml",
        provider.url,
        "{max_cost_usd: 0.06}",
        backend="chatcompletion",
        model="gpt-4o",
    )
    proc = massgen(
        tmp_path, "-c", str(config), "--ui", "json", "--no-log", "2+2?",
        extra={"OPENAI_API_KEY": "sk-test"},
    )  # fmt: skip
    assert proc.returncode == 4, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    refused = [e for e in events if e["type"] == "budget_exceeded"]
    assert len(refused) == 1 and refused[0]["limit"] == "max_cost_usd"
    assert events[-1]["cost_usd"] == pytest.approx(3 * (10_000 * 2.5 + 20 * 10.0) / 1e6)


def test_an_unpriced_model_behind_a_local_gateway_has_an_unknown_cost(tmp_path, provider):
    provider.reset()
    config = write_team(tmp_path / "t.yaml", provider.url, "{}", backend="chatcompletion")
    proc = massgen(
        tmp_path, "-c", str(config), "--ui", "plain", "--no-log", "2+2?",
        extra={"OPENAI_API_KEY": "sk-test"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "cost unknown" in proc.stderr and "$0.0000" not in proc.stderr
    capped = write_team(
        tmp_path / "c.yaml", provider.url, "{max_cost_usd: 1}", backend="chatcompletion"
    )
    proc = massgen(
        tmp_path, "-c", str(capped), "--ui", "plain", "--no-log", "2+2?",
        extra={"OPENAI_API_KEY": "sk-test"},
    )  # fmt: skip
    assert proc.returncode == 1 and "max_cost_usd: the price of model 'm1'" in proc.stderr
    # declared self-hosted: free, and a cost cap has nothing to count
    free = tmp_path / "f.yaml"
    free.write_text(
        config.read_text().replace("max_tokens: 50", "max_tokens: 50, self_hosted: true")
    )
    proc = massgen(
        tmp_path, "-c", str(free), "--ui", "plain", "--no-log", "2+2?",
        extra={"OPENAI_API_KEY": "sk-test"},
    )  # fmt: skip
    assert proc.returncode == 0 and "$0.0000" in proc.stderr


def test_an_unknown_strategy_suggests_the_closest(tmp_path, provider):
    config = write_team(tmp_path / "t.yaml", provider.url, "{strategy: debat}")
    proc = massgen(tmp_path, "-c", str(config), "--ui", "plain", "--no-log", "2+2?")
    assert proc.returncode == 1
    assert (
        "orchestrator.strategy: must be one of: vote, debate, judge (did you mean 'debate'?)"
        in proc.stderr
    )
