"""Issue 17's whole team: one ``claude_code`` agent (the real Claude Code CLI against the fake
Anthropic server), one ``ag2`` agent (AG2 and its OpenAI client against a fake Chat
Completions server) and one ``chatcompletion`` agent, through the ``massgen`` command, with a
read-only context path. Each answers and votes, the session records it, a winner presents,
and no key reaches the output or the session."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.chat_server import FakeChatServer

pytest.importorskip("autogen", reason="the ag2 extra is not installed")
pytest.importorskip("claude_agent_sdk", reason="the claude-code extra is not installed")

CLAUDE_KEY, AG2_KEY, CHAT_KEY = "sk-ant-team-1111", "sk-ag2-team-2222", "sk-chat-team-3333"
AGENTS = ("coder", "ag2_agent", "chatter")


def test_claude_code_ag2_and_chatcompletion_finish_a_run_together(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "README.md").write_text("The answer is 4.\n")
    with (
        FakeAnthropicServer(api_key=CLAUDE_KEY) as anthropic,
        FakeChatServer(api_key=AG2_KEY) as ag2_server,
        FakeChatServer(api_key=CHAT_KEY) as chat,
    ):
        config = tmp_path / "team.yaml"
        config.write_text(
            f"""
agents:
  - id: coder
    backend: {{type: claude_code, model: claude-sonnet-4-5}}
  - id: ag2_agent
    backend:
      type: ag2
      agent_type: ConversableAgent
      llm_config:
        config_list:
          - {{model: gpt-4o, api_key: {AG2_KEY}, base_url: "{ag2_server.url}"}}
  - id: chatter
    backend: {{type: chatcompletion, model: gpt-4o-mini, base_url: "{chat.url}",
               api_key: {CHAT_KEY}}}
orchestrator:
  max_new_answers_per_agent: 1
  context_paths:
    - {{path: "{project}", permission: read}}
"""
        )
        env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
        env.update(
            CLAUDE_CODE_API_KEY=CLAUDE_KEY,
            ANTHROPIC_BASE_URL=anthropic.url,
            HOME=str(tmp_path / "home"),
            XDG_CONFIG_HOME=str(tmp_path / "xdg"),
            MASSGEN_LOG_DIR=str(tmp_path / "sessions"),
        )
        proc = subprocess.run(
            [sys.executable, "-m", "massgen", "--config", str(config), "--ui", "plain",
             "What is 2+2?"],
            env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path,
        )  # fmt: skip
        claude_requests = len(anthropic.requests)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()
    assert claude_requests >= 2  # the real CLI reached the fake: an answer and a vote
    for agent in AGENTS:
        assert re.search(rf"\[{agent}\] new answer agent\d\.1", proc.stderr), proc.stderr
        assert re.search(rf"\[{agent}\] voted for agent\d", proc.stderr), proc.stderr
        assert f"  {agent}: " in proc.stderr  # its tokens and cost in the summary
    assert "winner:" in proc.stderr
    events = [
        json.loads(line)
        for log in (tmp_path / "sessions").rglob("events.jsonl")
        for line in log.read_text().splitlines()
    ]
    recorded = {(e["type"], e.get("agent_id")) for e in events}
    for agent in AGENTS:
        assert {("answer_submitted", agent), ("vote_cast", agent), ("usage", agent)} <= recorded
    assert any(e["type"] == "final_answer" for e in events)
    session_text = "".join(p.read_text() for p in (tmp_path / "sessions").rglob("*") if p.is_file())
    for key in (CLAUDE_KEY, AG2_KEY, CHAT_KEY):
        assert key not in proc.stdout + proc.stderr + session_text
    assert (project / "README.md").read_text() == "The answer is 4.\n"  # read-only: unchanged
