"""Strategies and status ``budget`` through the Python API, the server (chat, stream, tasks)
and LiteLLM, against the fake Chat Completions server."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

import massgen
from massgen.server import create_app
from tests.fakes.chat_server import FakeChatServer, Reply
from tests.server.support import ask, serving, wait_for_status

CAP = {"max_total_tokens": 3500, "enable_filesystem": False}


@pytest.fixture
def provider() -> Iterator[FakeChatServer]:
    with FakeChatServer() as server:
        yield server


def team(provider: FakeChatServer, **orchestrator: Any) -> dict[str, Any]:
    agents = [
        {
            "id": f"a{i}",
            "backend": {
                "type": "vllm",
                "model": f"m{i}",
                "base_url": provider.url,
                "max_tokens": 50,
            },
        }
        for i in (1, 2, 3)
    ]
    return {"agents": agents, "orchestrator": orchestrator}


def heavy(provider: FakeChatServer) -> None:
    """The next three calls (the first answers) report 1,020 tokens each: under a 3,500
    token cap, no vote fits after them."""
    for i in (1, 2, 3):
        provider.enqueue(
            Reply(
                tool_calls=[("new_answer", json.dumps({"content": f"Heavy answer {i}."}))],
                prompt_tokens=1000,
                completion_tokens=20,
            )
        )


async def test_the_api_reports_budget_and_keeps_the_best_answer(provider):
    heavy(provider)
    result = await massgen.run("2+2?", config=team(provider), **CAP)
    assert result["status"] == "budget"
    assert result["final_answer"].startswith("Heavy answer")
    assert result["usage"]["requests"] == 3 and len(provider.requests) == 3


async def test_the_api_runs_debate_and_judge_and_streams_their_rounds(provider):
    result = await massgen.run("2+2?", config=team(provider), strategy="judge", layers=2)
    assert result["status"] == "ok" and result["usage"]["requests"] == 7
    kinds = [
        e["type"] async for e in massgen.stream("2+2?", config=team(provider, strategy="debate"))
    ]
    assert kinds.count("round_finished") == 3 and kinds[-1] == "run_finished"
    with pytest.raises(massgen.ConfigurationError, match="invalid option judge: no agent 'zz'"):
        await massgen.run("2+2?", config=team(provider), strategy="judge", judge="zz")


def test_the_server_marks_a_budget_run_in_chat_stream_and_tasks(provider, tmp_path: Path):
    app = create_app(config=team(provider, **CAP), db=f"sqlite:///{tmp_path / 't.db'}")
    with serving(app) as base:
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="unused")
        heavy(provider)
        done = client.chat.completions.create(model="massgen", messages=ask())
        assert done.choices[0].message.content.startswith("Heavy answer")
        assert done.model_extra["massgen_status"] == "budget"
        heavy(provider)
        chunks = list(client.chat.completions.create(model="massgen", messages=ask(), stream=True))
        assert chunks[-1].model_extra["massgen_status"] == "budget"
        assert "".join(c.choices[0].delta.content or "" for c in chunks).startswith("Heavy")
        with httpx.Client(base_url=base) as http:
            heavy(provider)
            task = http.post("/v1/tasks", json={"messages": ask()}).json()
            finished = wait_for_status(http, task["id"], ("completed", "failed"))
            assert finished["status"] == "completed"
            assert finished["result"]["massgen_status"] == "budget"
            metrics = http.get("/metrics").text
    assert 'massgen_runs_total{status="budget",strategy="vote"} 3.0' in metrics
    assert len(provider.requests) == 9  # three runs of three answers; no vote was sent


def test_litellm_passes_strategy_and_budget_options_and_reports_the_status(provider):
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    litellm = pytest.importorskip("litellm")
    massgen.register_with_litellm()
    heavy(provider)
    response = litellm.completion(
        model="massgen/build",
        messages=ask(),
        optional_params={"config": team(provider), **CAP},
    )
    assert response._hidden_params["massgen_status"] == "budget"
    assert response.choices[0].message.content.startswith("Heavy answer")
    response = litellm.completion(
        model="massgen/build",
        messages=ask(),
        optional_params={"config": team(provider), "strategy": "judge"},
    )
    assert response._hidden_params["massgen_status"] == "ok"
    assert response._hidden_params["massgen_usage"]["requests"] == 4
