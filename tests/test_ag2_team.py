"""A team of an ``ag2`` agent (AG2's ConversableAgent and its OpenAI client) and a
``chatcompletion`` agent, through the ``massgen`` command against two fake Chat Completions
servers: both answer and vote, the usage summary names both, no key is printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.chat_server import FakeChatServer

pytest.importorskip("autogen", reason="the ag2 extra is not installed")

AG2_KEY, CHAT_KEY = "sk-ag2-test-7777", "sk-chat-test-8888"


def test_an_ag2_agent_and_a_chat_agent_finish_a_run(tmp_path: Path) -> None:
    with FakeChatServer(api_key=AG2_KEY) as ag2_server, FakeChatServer(api_key=CHAT_KEY) as chat:
        config = tmp_path / "team.yaml"
        config.write_text(
            f"""
agents:
  - id: ag2_agent
    backend:
      type: ag2
      agent_type: ConversableAgent
      llm_config:
        config_list:
          - {{model: gpt-4o, api_key: {AG2_KEY}, base_url: "{ag2_server.url}"}}
      code_execution_config: {{executor: local, work_dir: coding}}
  - id: chat_agent
    backend: {{type: chatcompletion, model: gpt-4o-mini, base_url: "{chat.url}",
               api_key: {CHAT_KEY}}}
orchestrator:
  max_new_answers_per_agent: 1
"""
        )
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        env.update(HOME=str(tmp_path), MASSGEN_LOG_DIR=str(tmp_path / "sessions"))
        env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])  # this checkout
        proc = subprocess.run(
            [sys.executable, "-m", "massgen", "--config", str(config), "--ui", "plain",
             "Name a prime number."],
            env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path,
        )  # fmt: skip
        tools_seen = {
            t["function"]["name"] for r in ag2_server.requests for t in r.body.get("tools", [])
        }
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()
    for agent in ("ag2_agent", "chat_agent"):
        assert f"[{agent}] new answer" in proc.stderr
        assert f"[{agent}] voted for" in proc.stderr
        assert f"  {agent}: " in proc.stderr  # its tokens and cost in the summary
    assert {"new_answer", "vote"} <= tools_seen  # the workflow tools, registered with AG2
    events = [
        json.loads(line)
        for log in (tmp_path / "sessions").rglob("*.jsonl")
        for line in log.read_text().splitlines()
    ]
    recorded = {(e["type"], e["agent_id"]) for e in events}
    for agent in ("ag2_agent", "chat_agent"):  # the session holds each one's answer and vote
        assert {("answer_submitted", agent), ("vote_cast", agent), ("usage", agent)} <= recorded
    for key in (AG2_KEY, CHAT_KEY):
        assert key not in proc.stdout + proc.stderr


async def test_an_ag2_agent_uses_its_own_tools_in_a_run() -> None:
    """A Python tool given to the team: the AG2 agent's model calls it, massgen runs it, and
    the result reaches the model (the fake quotes tool results in its answer)."""
    import massgen
    from tests.fakes.chat_server import CoordinationBrain

    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    brain = CoordinationBrain(tool_plan={"add": {"a": 2, "b": 3}})
    with FakeChatServer(brain=brain) as server:
        entry = {"model": "gpt-4o", "api_key": "sk-x", "base_url": server.url}
        config = {
            "agents": [
                {"id": "solo", "backend": {"type": "ag2", "llm_config": {"config_list": [entry]}}}
            ],
            "orchestrator": {"max_new_answers_per_agent": 1},
        }
        result = await massgen.run("What is 2 + 3?", config=config, tools=[add])
        called = [
            t
            for r in server.requests
            for t in r.body.get("tools", [])
            if t["function"]["name"] == "add"
        ]
    assert called  # offered to AG2's client as a function signature
    assert "[add said: 5]" in result["final_answer"]
