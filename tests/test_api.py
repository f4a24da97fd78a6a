"""The Python API against the suite's local provider server."""

from __future__ import annotations

import asyncio

import pytest

import massgen
from tests.fakes.chat_server import FakeChatServer


@pytest.fixture(scope="module")
def provider():
    with FakeChatServer() as server:
        yield server


def team(url: str, n: int = 3) -> dict:
    return {
        "agents": [
            {"id": f"a{i}", "backend": {"type": "vllm", "model": "m", "base_url": url}}
            for i in range(1, n + 1)
        ]
    }


async def test_run_returns_the_documented_dict(provider, tmp_path):
    out = tmp_path / "answer.md"
    result = await massgen.run("What is 2+2?", config=team(provider.url), output_file=out)
    assert (
        result["final_answer"].startswith("Final answer")
        and out.read_text() == result["final_answer"]
    )
    assert result["selected_agent"] == result["vote_results"]["winner"] == "a1"
    assert result["vote_results"]["vote_counts"] == {"a1": 3}
    assert {v["voter"] for v in result["vote_results"]["voters"]["a1"]} == {"a1", "a2", "a3"}
    assert result["vote_results"]["is_tie"] is False
    assert sorted(a["label"] for a in result["answers"]) == ["agent1.1", "agent2.1", "agent3.1"]
    assert result["usage"]["requests"] == 7 and result["usage"]["prompt_tokens"] > 0
    assert result["usage"]["cost_usd"] == 0.0  # a self-hosted server
    assert result["config_used"] == "<dict>" and result["session_id"]


async def test_concurrent_runs_are_independent(provider):
    first, second = await asyncio.gather(
        massgen.run("First question?", config=team(provider.url, 2)),
        massgen.run("Second question?", config=team(provider.url, 3), final_answer="reuse"),
    )
    assert "First question?" in first["final_answer"]
    assert "Second question?" in second["final_answer"] and len(second["answers"]) == 3


async def test_stream_yields_events_and_the_history_reaches_the_agents(provider):
    provider.reset()
    history = [
        {"role": "user", "content": "Earlier question"},
        {"role": "assistant", "content": "Earlier answer"},
    ]
    types = [
        e["type"]
        async for e in massgen.stream(
            "Now?", config=team(provider.url, 2), conversation_history=history
        )
    ]
    assert types[0] == "run_started" and types[-1] == "run_finished"
    assert "vote_cast" in types and "final_answer" in types
    first_prompt = provider.requests[0].body["messages"][-1]["content"]
    assert "Earlier question" in first_prompt and "Earlier answer" in first_prompt


async def test_closing_a_stream_early_cancels_the_run():
    with FakeChatServer(ttft=5) as slow:
        events = massgen.stream("q", config=team(slow.url, 2))
        assert (await anext(events))["type"] == "run_started"
        await slow.await_for(lambda: len(slow.requests) == 2)
        await events.aclose()
        await slow.await_for(lambda: all(r.client_closed for r in slow.requests), timeout=5)


def test_build_config_infers_providers():
    config = massgen.build_config(
        models=["openai/gpt-5-mini", "claude-sonnet-4", "grok/grok-4"], timeout_seconds=90
    )
    assert [(a["backend"]["type"], a["backend"]["model"]) for a in config["agents"]] == [
        ("openai", "gpt-5-mini"),
        ("claude", "claude-sonnet-4"),
        ("grok", "grok-4"),
    ]
    assert config["orchestrator"]["timeout_seconds"] == 90
    assert len(massgen.build_config(model="gemini-2.5-flash", num_agents=3)["agents"]) == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"config": {"agents": [{"backend": {"type": "gpt"}}]}}, "did you mean 'openai'"),
        ({"model": "mystery-model"}, "cannot tell its provider"),
        ({"config": "no_such_config"}, "not found"),
        ({"models": ["vllm/m"], "max_roundz": 3}, "unknown option(s): max_roundz"),
        (
            {"models": ["vllm/m"], "context_paths": ["/nonexistent/project"]},
            "/nonexistent/project does not exist",
        ),
        (
            {"models": ["vllm/m"], "context_paths": [{"path": "/tmp", "permission": "all"}]},
            "context_paths",
        ),
    ],
)
async def test_bad_input_raises_configuration_error(kwargs, message):
    with pytest.raises(
        massgen.ConfigurationError, match=message.replace("(", r"\(").replace(")", r"\)")
    ):
        await massgen.run("q", **kwargs)
    assert issubclass(massgen.ConfigurationError, ValueError)


async def test_no_answer_at_all_raises_run_failed():
    config = {
        "agents": [
            {
                "backend": {
                    "type": "vllm",
                    "model": "m",
                    "base_url": "http://127.0.0.1:9/v1",
                    "max_retries": 0,
                }
            }
        ]
    }
    with pytest.raises(massgen.RunFailedError, match="no agent produced an answer"):
        await massgen.run("q", config=config)


def test_importing_massgen_stays_light():
    import subprocess
    import sys

    code = "import sys, massgen; print(sorted(m for m in ('openai','anthropic','textual','pydantic','massgen.api') if m in sys.modules))"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip()
        == "[]"
    )


async def test_enable_logging_records_a_session(provider, tmp_path):
    from pathlib import Path

    from massgen.sessions import store

    quiet = await massgen.run("Not logged?", config=team(provider.url, 2), log_dir=tmp_path)
    assert "session_dir" not in quiet and not store.session_dirs(tmp_path)
    result = await massgen.run(
        "Logged?", config=team(provider.url, 2), enable_logging=True, log_dir=tmp_path
    )
    (session,) = store.session_dirs(tmp_path)
    assert result["session_id"] == session.name and Path(result["session_dir"]) == session
    summary = store.load_summary(session)
    assert summary["status"] == "ok" and summary["exit_status"] == 0 and summary["closed"]
    assert (session / "final.md").read_text() == result["final_answer"]


async def test_caller_values_are_never_expanded_from_the_environment(provider, monkeypatch):
    monkeypatch.setenv("MASSGEN_API_SECRET_TOKEN", "sk-must-not-leak-123456")
    config = team(provider.url, 1)
    config["agents"][0]["backend"]["model"] = "${MASSGEN_API_SECRET_TOKEN}"
    result = await massgen.run("Say ${MASSGEN_API_SECRET_TOKEN}", config=config)
    assert "sk-must-not-leak" not in str(result)
    sent = [r.body for r in provider.requests[-1:]]
    assert sent[0]["model"] == "${MASSGEN_API_SECRET_TOKEN}"
    built = massgen.build_config(model="vllm/${MASSGEN_API_SECRET_TOKEN}")
    assert built["agents"][0]["backend"]["model"] == "${MASSGEN_API_SECRET_TOKEN}"


def _tools_sent(provider: FakeChatServer) -> set[str]:
    return {
        tool["function"]["name"]
        for request in provider.requests
        for tool in request.body.get("tools") or ()
    }


async def test_the_default_gives_every_agent_its_workspace_and_file_tools(provider):
    provider.reset()
    result = await massgen.run("What is 2+2?", config=team(provider.url, 2))
    assert result["final_answer"]
    assert {"read_text_file", "write_file", "list_directory"} <= _tools_sent(provider)
    first_prompt = provider.requests[0].body["messages"][-1]["content"]
    assert "Your workspace, where you may write:" in first_prompt

    provider.reset()
    await massgen.run("What is 2+2?", config=team(provider.url, 2), enable_filesystem=False)
    assert _tools_sent(provider) == {"new_answer", "vote"}  # the lightweight mode


async def test_a_config_that_turns_files_off_keeps_them_off(provider):
    provider.reset()
    config = {**team(provider.url, 2), "orchestrator": {"enable_filesystem": False}}
    await massgen.run("What is 2+2?", config=config)
    assert _tools_sent(provider) == {"new_answer", "vote"}
