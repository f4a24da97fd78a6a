"""What a request asks of its run is honoured or refused, never dropped. The peer platform's
SDK calls (``max_tokens``, ``temperature``, ``stop`` in chat and text completions; extra fields
in ``POST /v1/tasks``), made with the openai client, reach the provider's wire and shape the
answer; anything else is a 400 naming the field, before any model call."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

from massgen.server import create_app
from tests.fakes.chat_server import FakeChatServer, RecordedRequest
from tests.server.conftest import massgen_serve
from tests.server.support import ask, serving, team, wait_for_status

QUESTION = "What is machine learning?"


@pytest.fixture
def provider() -> Iterator[FakeChatServer]:
    with FakeChatServer() as fake:
        yield fake


@pytest.fixture
def base(provider: FakeChatServer) -> Iterator[str]:
    with serving(create_app(config=team(provider), enable_logging=False)) as url:
        yield url


def _client(base: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base}/v1", api_key="not-needed", max_retries=0)


def _offers_workflow(request: RecordedRequest) -> bool:
    names = {(t.get("function") or {}).get("name") for t in request.body.get("tools") or ()}
    return bool(names & {"new_answer", "vote"})


def _final_calls(provider: FakeChatServer) -> list[dict[str, Any]]:
    """The bodies of the calls that wrote the final answer (no workflow tool offered)."""
    return [r.body for r in provider.requests if not _offers_workflow(r)]


def _coordination_calls(provider: FakeChatServer) -> list[dict[str, Any]]:
    return [r.body for r in provider.requests if _offers_workflow(r)]


# ---------------------------------------------------------------------------- honoured


def test_chat_max_tokens_temperature_top_p_and_stop_reach_the_wire(
    base: str, provider: FakeChatServer
) -> None:
    response = _client(base).chat.completions.create(
        model="helixagent-ensemble",
        messages=[
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": QUESTION},
        ],
        max_tokens=3,
        temperature=0.7,
        top_p=0.9,
        stop=["\n\n"],
    )
    # the final answer is cut where the provider stopped writing it
    assert response.choices[0].message.content == "Final answer: What"
    (final,) = _final_calls(provider)
    assert final["max_tokens"] == 3 and final["stop"] == ["\n\n"]
    assert all(r.body["temperature"] == 0.7 and r.body["top_p"] == 0.9 for r in provider.requests)
    coordination = _coordination_calls(provider)
    assert len(coordination) == 4  # two answers, two votes: never capped nor stopped
    assert not any("max_tokens" in body or "stop" in body for body in coordination)


def test_max_completion_tokens_is_max_tokens(base: str, provider: FakeChatServer) -> None:
    response = _client(base).chat.completions.create(
        model="massgen", messages=ask(QUESTION), max_completion_tokens=2
    )
    assert response.choices[0].message.content == "Final answer:"
    assert _final_calls(provider)[0]["max_tokens"] == 2


def test_text_completion_stop_streamed(base: str, provider: FakeChatServer) -> None:
    stream = _client(base).completions.create(
        model="qwen-max",
        prompt="The future of technology is",
        max_tokens=100,
        temperature=0.8,
        stop=[":", "."],
        stream=True,
    )
    assert "".join(chunk.choices[0].text for chunk in stream) == "Final answer"
    (final,) = _final_calls(provider)
    assert final["stop"] == [":", "."] and final["max_tokens"] == 100
    assert all(r.body["temperature"] == 0.8 for r in provider.requests)


def test_one_agent_writes_a_capped_final_answer(provider: FakeChatServer) -> None:
    """A team of one presents its answer only when the request shapes the final answer."""
    with serving(create_app(config=team(provider, 1), enable_logging=False)) as base:
        plain = _client(base).chat.completions.create(model="massgen", messages=ask(QUESTION))
        assert plain.choices[0].message.content.startswith("Answer #1 from m")
        assert len(provider.requests) == 1
        capped = _client(base).chat.completions.create(
            model="massgen", messages=ask(QUESTION), max_tokens=2
        )
    assert capped.choices[0].message.content == "Final answer:"
    assert [r.body.get("max_tokens") for r in provider.requests[1:]] == [None, 2]


def test_the_configs_own_limits_still_apply(provider: FakeChatServer) -> None:
    """The presenter's max_tokens bounds a larger request; the config's stop sequences are
    kept beside the request's."""
    config = team(provider)
    for agent in config["agents"]:
        agent["backend"]["max_tokens"] = 2
    config["orchestrator"] = {"final_answer_stop": ["<END>"]}
    with serving(create_app(config=config, enable_logging=False)) as base:
        response = _client(base).chat.completions.create(
            model="massgen", messages=ask(QUESTION), max_tokens=50, stop="\n"
        )
    assert response.choices[0].message.content == "Final answer:"
    (final,) = _final_calls(provider)
    assert final["max_tokens"] == 2 and final["stop"] == ["<END>", "\n"]


def test_a_task_runs_with_its_options(provider: FakeChatServer, tmp_path: Path) -> None:
    app = create_app(config=team(provider), db=f"sqlite:///{tmp_path}/t.db", enable_logging=False)
    with serving(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        created = client.post(
            "/v1/tasks",
            json={
                "messages": ask(QUESTION),
                "max_tokens": 10_000,
                "temperature": 0.2,
                "stop": ":",
                "timeout": 600,
            },
        )
        assert created.status_code == 202, created.text
        done = wait_for_status(client, created.json()["id"], ("completed", "failed"))
    assert done["result"]["choices"][0]["message"]["content"] == "Final answer"
    (final,) = _final_calls(provider)
    assert final["max_tokens"] == 10_000 and final["stop"] == [":"]
    assert all(r.body["temperature"] == 0.2 for r in provider.requests)


# ---------------------------------------------------------------------------- refused

_Q = {"messages": ask()}


@pytest.mark.parametrize(
    ("path", "body", "param", "says"),
    [
        ("/v1/chat/completions", {**_Q, "frequency_penalty": 0.5}, "frequency_penalty", "takes:"),
        ("/v1/chat/completions", {**_Q, "temprature": 0.5}, "temprature", "'temperature'?"),
        ("/v1/chat/completions", {**_Q, "tools": []}, "tools", "cannot add any"),
        ("/v1/chat/completions", {**_Q, "n": 2}, "n", "one answer per request"),
        ("/v1/chat/completions", {**_Q, "stream": "yes"}, "stream", "true or false"),
        ("/v1/chat/completions", {**_Q, "stream_options": {"x": 1}}, "stream_options", "only"),
        ("/v1/chat/completions", {**_Q, "max_tokens": 0}, "max_tokens", "at least 1"),
        ("/v1/chat/completions", {**_Q, "max_tokens": "9"}, "max_tokens", "whole number"),
        ("/v1/chat/completions", {**_Q, "max_tokens": 16_385}, "max_tokens", "at most 16384"),
        (
            "/v1/chat/completions",
            {**_Q, "max_tokens": 5, "max_completion_tokens": 6},
            "max_completion_tokens",
            "give one",
        ),
        ("/v1/chat/completions", {**_Q, "temperature": 2.5}, "temperature", "from 0 to 2"),
        ("/v1/chat/completions", {**_Q, "top_p": 0}, "top_p", "above 0"),
        ("/v1/chat/completions", {**_Q, "stop": ["a"] * 5}, "stop", "at most 4"),
        ("/v1/chat/completions", {**_Q, "stop": [""]}, "stop", "non-empty"),
        ("/v1/completions", {"prompt": "q", "echo": True}, "echo", "POST /v1/completions"),
        ("/v1/tasks", {**_Q, "user": "u"}, "user", "POST /v1/tasks takes"),
        (
            "/v1/tasks",
            {"type": "llm_completion", "payload": {"messages": ask()}},
            "type",
            "it takes: messages",
        ),
        ("/v1/tasks", {**_Q, "stream": True}, "stream", "POST /v1/tasks takes"),
    ],
)
def test_what_the_server_would_ignore_is_a_400_naming_it(
    provider: FakeChatServer, tmp_path: Path, path: str, body: dict, param: str, says: str
) -> None:
    app = create_app(config=team(provider), db=f"sqlite:///{tmp_path}/t.db", enable_logging=False)
    with serving(app) as base:
        response = httpx.post(f"{base}{path}", json=body, timeout=30)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error"
    assert error["message"].startswith(f"{param}: ") and says in error["message"], error
    assert not provider.requests


def _agent(agent_id: str, backend_type: str, url: str) -> dict[str, Any]:
    backend = {"type": backend_type, "model": "m", "base_url": url, "api_key": "sk-fake-0000"}
    return {"id": agent_id, "backend": backend}


@pytest.mark.parametrize(
    ("config", "body", "says"),
    [
        (
            lambda url: {"agents": [_agent("a1", "vllm", url), _agent("r1", "openai", url)]},
            {"stop": "\n"},
            "stop: agent r1 may write the final answer, and the openai API has no stop",
        ),
        (
            lambda url: {
                "agents": [_agent("a1", "vllm", url), _agent("a2", "vllm", url)],
                "orchestrator": {"final_answer": "reuse"},
            },
            {"max_tokens": 10},
            "max_tokens: the final answer is the chosen answer as it is (final_answer: reuse)",
        ),
        (
            lambda url: {
                "agents": [_agent("a1", "vllm", url), _agent("a2", "vllm", url)],
                "orchestrator": {"strategy": "debate"},
            },
            {"stop": "."},
            "stop: a debate without a judge ends with the majority's answer as it is",
        ),
    ],
)
def test_what_the_team_cannot_honour_is_a_400(
    provider: FakeChatServer, config: Any, body: dict, says: str
) -> None:
    with serving(create_app(config=config(provider.url), enable_logging=False)) as base:
        response = httpx.post(f"{base}/v1/chat/completions", json={**_Q, **body}, timeout=30)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"].startswith(says)
    assert not provider.requests


def test_the_operator_sets_the_limits(provider: FakeChatServer, tmp_path: Path) -> None:
    """``massgen serve --max-request-tokens N --no-request-sampling``, a real process."""
    config = tmp_path / "team.yaml"
    config.write_text(yaml.safe_dump(team(provider)))
    with massgen_serve(config, "--max-request-tokens", "10", "--no-request-sampling") as served:
        url = f"{served.url}/v1/chat/completions"
        over = httpx.post(url, json={**_Q, "max_tokens": 11}, timeout=30)
        assert over.status_code == 400
        assert "at most 10 on this server (massgen serve --max-request-tokens)" in over.text
        sampled = httpx.post(url, json={**_Q, "temperature": 0.5}, timeout=30)
        assert sampled.status_code == 400
        assert "--no-request-sampling" in sampled.json()["error"]["message"]
        assert not provider.requests
        within = httpx.post(url, json={**_Q, "max_tokens": 10}, timeout=30)
        assert within.status_code == 200, within.text
    assert _final_calls(provider)[0]["max_tokens"] == 10
