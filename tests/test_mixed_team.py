"""One agent of every backend type, each SDK over HTTP to its own local server (the local
model in-process), through the ``massgen`` command: a final answer, tokens and cost per agent."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.chat_server import FakeChatServer
from tests.fakes.gemini_server import FakeGeminiServer
from tests.fakes.responses_server import FakeResponsesServer

KEYS = {
    "OPENAI_API_KEY": "sk-openai-test-1111",
    "AZURE_OPENAI_API_KEY": "azure-test-2222",
    "ANTHROPIC_API_KEY": "sk-ant-test-3333",
    "GEMINI_API_KEY": "gemini-test-4444",
    "XAI_API_KEY": "xai-test-5555",
}


def test_one_agent_of_each_type_reaches_a_final_answer_with_usage_and_cost(tmp_path: Path):
    with (
        FakeResponsesServer(api_key=KEYS["OPENAI_API_KEY"]) as openai_server,
        FakeChatServer(api_key=KEYS["AZURE_OPENAI_API_KEY"]) as azure_server,
        FakeAnthropicServer(api_key=KEYS["ANTHROPIC_API_KEY"]) as anthropic_server,
        FakeGeminiServer(api_key=KEYS["GEMINI_API_KEY"]) as gemini_server,
        FakeChatServer(api_key=KEYS["XAI_API_KEY"]) as xai_server,
    ):
        config = tmp_path / "every_type.yaml"
        config.write_text(
            f"""
agents:
  - id: gpt
    backend: {{type: openai, model: gpt-5-mini, base_url: "{openai_server.url}"}}
  - id: azure
    backend: {{type: azure_openai, model: gpt-4o, deployment_name: team-gpt4o,
               base_url: "{azure_server.url.removesuffix("/v1")}"}}
  - id: claude
    backend: {{type: claude, model: claude-sonnet-4-5, base_url: "{anthropic_server.url}"}}
  - id: gemini
    backend: {{type: gemini, model: gemini-2.5-flash, base_url: "{gemini_server.url}"}}
  - id: grok
    backend: {{type: grok, model: grok-4, base_url: "{xai_server.url}"}}
  - id: smol
    backend: {{type: local, max_tokens: 64, temperature: 0.2, seed: 1}}
orchestrator:
  max_new_answers_per_agent: 1
"""
        )
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        env.update(KEYS, HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "xdg"))
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "massgen",
                "--config",
                str(config),
                "--ui",
                "plain",
                "Name a prime number.",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
        )
        served = {
            "openai": len(openai_server.requests),
            "azure": len(azure_server.requests),
            "claude": len(anthropic_server.requests),
            "gemini": len(gemini_server.requests),
            "grok": len(xai_server.requests),
        }
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()
    assert all(n >= 2 for n in served.values()), served  # each answered and voted
    # per-agent usage and cost, as the summary prints them
    usage = dict(re.findall(r"^  (\w+): (.*)$", proc.stderr, re.M))
    assert set(usage) == {"gpt", "azure", "claude", "gemini", "grok", "smol"}
    for agent_id, line in usage.items():
        prompt, completion = (
            int(n.replace(",", "")) for n in re.findall(r"([\d,]+) (?:prompt|completion)", line)
        )
        assert prompt > 0 and completion > 0, (agent_id, line)
        cost = float(re.search(r"\$(\d+\.\d+)", line).group(1))
        assert (cost == 0.0) == (agent_id == "smol"), (
            agent_id,
            line,
        )  # local is free, the rest priced
    # no key ever appears in the output
    for key in KEYS.values():
        assert key not in proc.stdout + proc.stderr
