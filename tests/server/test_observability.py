"""Metrics, traces (OpenTelemetry SDK, in-memory exporter), provider health and
``/v1/completions``, through the real server and the official openai client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from massgen.server import create_app
from tests.fakes.chat_server import FakeChatServer
from tests.server.support import ask, serving, team
from tests.server.test_tasks import metric

KEY = "sk-observer-0123456789"
PROVIDER_KEY = "sk-provider-secret-abcdef123456"


@pytest.fixture
def provider() -> Iterator[FakeChatServer]:
    with FakeChatServer() as fake:
        yield fake


def test_each_run_is_traced_with_turns_model_calls_and_tokens(
    provider: FakeChatServer, tmp_path: Path
) -> None:
    exporter = InMemorySpanExporter()
    tracing = TracerProvider()
    tracing.add_span_processor(SimpleSpanProcessor(exporter))
    app = create_app(config=team(provider), tracer_provider=tracing, log_dir=tmp_path)
    with serving(app) as base:
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="x")
        client.chat.completions.create(model="massgen", messages=ask())
    spans = exporter.get_finished_spans()
    (run,) = [s for s in spans if s.name == "massgen.run"]
    turns = [s for s in spans if s.name == "massgen.agent_turn"]
    calls = [s for s in spans if s.name == "massgen.model_call"]
    tools = [s for s in spans if s.name == "massgen.tool_call"]
    assert run.attributes["massgen.strategy"] == "vote"
    assert run.attributes["massgen.status"] == "ok"
    assert run.attributes["gen_ai.usage.input_tokens"] > 0
    # 2 answer turns, 2 vote turns, 1 presentation; one model call each
    assert sorted(t.attributes["massgen.turn_kind"] for t in turns).count("present") == 1
    assert len(turns) == 5 and len(calls) == 5
    assert all(t.parent.span_id == run.context.span_id for t in turns)
    turn_ids = {t.context.span_id for t in turns}
    assert all(c.parent.span_id in turn_ids for c in calls)
    assert all(c.attributes["gen_ai.usage.input_tokens"] > 0 for c in calls)
    assert all(c.attributes["gen_ai.request.model"] == "m" for c in calls)
    assert {t.attributes["gen_ai.tool.name"] for t in tools} >= {"new_answer", "vote"}
    assert all(run.start_time <= s.start_time <= s.end_time <= run.end_time for s in turns)
    assert {s.context.trace_id for s in spans} == {run.context.trace_id}


def test_metrics_count_chat_completions_and_need_the_key(
    provider: FakeChatServer, tmp_path: Path
) -> None:
    app = create_app(config=team(provider), api_keys=[KEY], log_dir=tmp_path)
    with serving(app) as base:
        client = openai.OpenAI(base_url=f"{base}/v1", api_key=KEY)
        client.chat.completions.create(model="massgen", messages=ask())
        list(client.chat.completions.create(model="massgen", messages=ask(), stream=True))
        assert httpx.get(f"{base}/metrics").status_code == 401
        text = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {KEY}"}).text
    route = {"route": "/v1/chat/completions", "method": "POST", "status": "200"}
    assert metric(text, "massgen_http_requests_total", **route) == 2
    assert metric(text, "massgen_runs_total", strategy="vote", status="ok") == 2
    assert metric(text, "massgen_model_calls_total", provider="chatcompletion", model="m") == 10
    completion = {"provider": "chatcompletion", "model": "m", "kind": "completion"}
    assert metric(text, "massgen_tokens_total", **completion) > 0
    assert metric(text, "massgen_runs_active") == 0
    assert metric(text, "massgen_http_requests_total", route="/metrics", status="401") == 1
    assert KEY not in text


def test_provider_health_reports_reachability_with_masked_keys(
    provider: FakeChatServer, tmp_path: Path
) -> None:
    config = team(provider)
    config["agents"][0]["backend"]["api_key"] = PROVIDER_KEY
    config["agents"].append(
        {
            "id": "gone",
            "backend": {"type": "vllm", "model": "x", "base_url": "http://127.0.0.1:9/v1"},
        }
    )
    app = create_app(config=config, log_dir=tmp_path)
    with serving(app) as base:
        report = httpx.get(f"{base}/v1/providers/health").json()
        raw = httpx.get(f"{base}/v1/providers/health").text
    assert report["status"] == "degraded"
    rows = list(report["providers"].values())
    up = next(r for r in rows if r["base_url"] == provider.url)
    down = next(r for r in rows if r["base_url"] == "http://127.0.0.1:9/v1")
    assert up["status"] == "ok" and isinstance(up["response_time"], float)
    assert up["key_set"] and up["key_masked"] == "sk-…3456"
    assert down["status"] == "unreachable"
    assert PROVIDER_KEY not in raw


def test_text_completions_map_the_prompt_to_a_question(
    provider: FakeChatServer, tmp_path: Path
) -> None:
    app = create_app(config=team(provider), log_dir=tmp_path)
    with serving(app) as base:
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="x")
        response = client.completions.create(model="massgen", prompt="The future of tea is")
        assert response.object == "text_completion"
        assert "The future of tea is" in response.choices[0].text
        assert response.usage.total_tokens > 0
        streamed = list(
            client.completions.create(model="massgen", prompt=["Haiku on code"], stream=True)
        )
        text = "".join(c.choices[0].text for c in streamed)
        assert "Haiku on code" in text
        assert streamed[-1].choices[0].finish_reason == "stop"
        bad = httpx.post(f"{base}/v1/completions", json={"prompt": ["a", "b"]})
        assert bad.status_code == 400 and "one question" in bad.json()["error"]["message"]
        assert httpx.post(f"{base}/v1/completions", json={"prompt": 3}).status_code == 400
        embeddings = httpx.post(f"{base}/v1/embeddings", json={"input": "x"})
        assert embeddings.status_code == 404
        assert "no embedding model" in embeddings.json()["error"]["message"]
        assert "--embeddings" in embeddings.json()["error"]["message"]
