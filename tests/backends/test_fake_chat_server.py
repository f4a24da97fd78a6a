"""The fake Chat Completions server itself: wire format, timing, scripting, CLI, brain."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.backends.conftest import API_KEY
from tests.fakes.chat_server import CoordinationBrain, FakeChatServer, Reply

ROOT = Path(__file__).resolve().parents[2]
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def chat(server: FakeChatServer, **body) -> httpx.Response:
    payload = {"model": "m", "messages": [{"role": "user", "content": "Hi?"}], **body}
    return httpx.post(f"{server.url}/chat/completions", json=payload, headers=AUTH, timeout=5)


def events(response: httpx.Response) -> list:
    """The SSE data payloads, parsed (``[DONE]`` kept as a string)."""
    datas = [line[6:] for line in response.text.split("\n\n") if line.startswith("data: ")]
    return [d if d == "[DONE]" else json.loads(d) for d in datas]


def test_stream_wire_format(server: FakeChatServer):
    server.enqueue(Reply(text="a b", tool_calls=[("f", '{"long": "arguments here"}')]))
    response = chat(server, stream=True, stream_options={"include_usage": True})

    assert response.headers["content-type"].startswith("text/event-stream")
    chunks = events(response)
    assert chunks[-1] == "[DONE]"
    assert all(c["object"] == "chat.completion.chunk" for c in chunks[:-1])
    deltas = [c["choices"][0]["delta"] for c in chunks[:-2]]
    assert deltas[0]["role"] == "assistant"
    calls = [d["tool_calls"][0] for d in deltas if "tool_calls" in d]
    assert calls[0]["id"].startswith("call_") and calls[0]["type"] == "function"
    assert calls[0]["function"] == {"name": "f", "arguments": ""}
    assert len(calls) > 3 and all("id" not in c for c in calls[1:])
    assert "".join(c["function"]["arguments"] for c in calls) == '{"long": "arguments here"}'
    assert chunks[-3]["choices"][0]["finish_reason"] == "tool_calls"
    usage = chunks[-2]
    assert usage["choices"] == [] and usage["usage"]["total_tokens"] > 0
    assert usage["usage"]["completion_tokens_details"]["reasoning_tokens"] == 0
    request = server.requests[0]
    server.wait_for(lambda: request.finished_at is not None)
    assert request.completed and not request.client_closed


def test_usage_only_when_asked(server: FakeChatServer):
    chunks = events(chat(server, stream=True))
    assert all(c == "[DONE]" or c["choices"] for c in chunks)
    assert all("usage" not in c for c in chunks[:-1])


def test_errors_use_openai_bodies(server: FakeChatServer):
    server.enqueue(Reply(status=429, error_message="Slow down", headers={"Retry-After": "1"}))
    limited = chat(server)
    unauthorised = httpx.post(f"{server.url}/chat/completions", json={})
    invalid = chat(server, messages=[{"role": "tool", "content": "x", "tool_call_id": "nope"}])

    assert limited.status_code == 429 and limited.headers["retry-after"] == "1"
    assert limited.json()["error"] == {
        "message": "Slow down",
        "type": "rate_limit_error",
        "code": None,
        "param": None,
    }
    assert unauthorised.status_code == 401
    assert unauthorised.json()["error"]["code"] == "invalid_api_key"
    assert invalid.status_code == 400 and "role 'tool'" in invalid.json()["error"]["message"]


def test_per_model_queue_comes_first_and_models_are_listed(server: FakeChatServer):
    server.enqueue(Reply(text="general"))
    server.enqueue_for("special", Reply(text="for special"))

    special = chat(server, model="special").json()
    other = chat(server, model="m").json()
    models = httpx.get(f"{server.url}/models").json()

    assert special["choices"][0]["message"]["content"] == "for special"
    assert other["choices"][0]["message"]["content"] == "general"
    assert {m["id"] for m in models["data"]} >= {"special"}


def test_timing_follows_ttft_and_tokens_per_second():
    with FakeChatServer(ttft=0.15, tokens_per_second=100) as server:
        server.enqueue(Reply(text="word " * 20))
        started = time.monotonic()
        with httpx.stream(
            "POST",
            f"{server.url}/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "q"}], "stream": True},
        ) as response:
            arrivals = [time.monotonic() - started for line in response.iter_lines() if line]

    # role chunk at ttft, then 20 tokens at 100/s
    assert 0.15 <= arrivals[0] < 0.4
    assert arrivals[-1] - arrivals[0] >= 0.18


def test_non_stream_client_disconnect_is_recorded():
    with FakeChatServer(ttft=2.0) as server:
        body = {"model": "m", "messages": [{"role": "user", "content": "q"}]}
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{server.url}/chat/completions", json=body, timeout=0.2)
        request = server.requests[0]
        server.wait_for(lambda: request.client_closed, timeout=1.0)
        assert not request.completed


def test_runs_as_a_process_and_prints_its_url():
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.chat_server", "--port", "0", "--api-key", "k"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        body = {"model": "m", "messages": [{"role": "user", "content": "q"}]}
        response = httpx.post(
            f"{url}/chat/completions", json=body, headers={"Authorization": "Bearer k"}
        )
        assert response.json()["choices"][0]["message"]["content"].startswith("Final answer:")
    finally:
        process.terminate()
        process.wait(timeout=5)


def _tool(name: str, **properties) -> dict:
    parameters = {"type": "object", "properties": properties}
    return {"type": "function", "function": {"name": name, "parameters": parameters}}


def test_brain_votes_for_the_first_label_in_sorted_order():
    brain = CoordinationBrain()
    body = {
        "model": "m1",
        "messages": [{"role": "user", "content": "Pick one"}],
        "tools": [
            _tool("new_answer", content={"type": "string"}),
            _tool("vote", agent_id={"type": "string", "enum": ["agent3", "agent2"]}),
        ],
    }
    [(name, arguments)] = brain(body).tool_calls
    assert name == "vote" and json.loads(arguments)["agent_id"] == "agent2"


def test_brain_answers_uniquely_then_presents():
    brain = CoordinationBrain()
    body = {
        "model": "m1",
        "messages": [
            {"role": "system", "content": "rules"},
            {"role": "user", "content": "What   is\nthe capital of France?"},
        ],
        "tools": [_tool("new_answer", content={"type": "string"})],
    }
    first, second = (json.loads(brain(body).tool_calls[0][1])["content"] for _ in range(2))
    final = brain({"model": "m1", "messages": body["messages"]})

    assert first != second
    assert "What is the capital of France?" in first and "m1" in first
    assert final.text.startswith("Final answer:") and not final.tool_calls
