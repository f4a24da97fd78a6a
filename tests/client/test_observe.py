"""A client with a ``tracer`` makes one OpenTelemetry client span per call (retries as its
events, errors marked); one with ``enable_metrics`` counts calls, durations and tokens in
Prometheus metrics. Against a real ``massgen serve``."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry

from massgen.client import AsyncClient, AuthenticationError, Client
from tests.client.conftest import API_KEY, Served

ASK = [{"role": "user", "content": "Hello"}]


def test_a_span_per_call_with_its_outcome(server: Served) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests")
    with (
        Client(base_url=server.url, api_key=API_KEY, tracer=tracer) as c,
        tracer.start_as_current_span("my-operation"),
    ):
        c.chat.completions.create(model="helixagent-ensemble", messages=ASK)
    with (
        Client(base_url=server.url, api_key="wrong", tracer=tracer) as bad,
        pytest.raises(AuthenticationError),
    ):
        bad.tasks.list()
    spans = {s.name: s for s in exporter.get_finished_spans()}
    call = spans["massgen.client chat.completions.create"]
    assert call.kind == SpanKind.CLIENT
    assert call.parent is not None and call.parent.span_id == spans["my-operation"].context.span_id
    assert call.attributes["http.response.status_code"] == 200
    assert call.attributes["gen_ai.request.model"] == "helixagent-ensemble"
    assert call.attributes["gen_ai.usage.total_tokens"] > 0
    refused = spans["massgen.client tasks.list"]
    assert refused.status.status_code == StatusCode.ERROR
    assert refused.attributes["error.type"] == "AuthenticationError"
    assert API_KEY not in str([dict(s.attributes or {}) for s in spans.values()])


async def test_metrics_per_method_and_tokens(server: Served) -> None:
    registry = CollectorRegistry()
    options = {"enable_metrics": True, "metrics_prefix": "myapp", "metrics_registry": registry}
    with Client(base_url=server.url, api_key=API_KEY, **options) as c:
        answer = c.chat.completions.create(messages=ASK)
        c.models.list()
    async with AsyncClient(base_url=server.url, api_key="wrong", **options) as bad:
        with pytest.raises(AuthenticationError):
            await bad.models.list()

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    chat = "chat.completions.create"
    assert value("myapp_requests_total", method=chat, status="success") == 1
    assert value("myapp_requests_total", method="models.list", status="success") == 1
    assert value("myapp_requests_total", method="models.list", status="error") == 1
    assert value("myapp_request_duration_seconds_count", method=chat) == 1
    assert answer.usage is not None
    assert value("myapp_tokens_used_total", type="input") == answer.usage.prompt_tokens
    assert value("myapp_tokens_used_total", type="output") == answer.usage.completion_tokens
