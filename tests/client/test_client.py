"""The synchronous client against a real ``massgen serve``: each call shape, streaming, the
errors mapped to their classes, retries that wait as long as the server's Retry-After says,
and structured logs that never show the API key."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import httpx
import pytest

from massgen.client import (
    AuthenticationError,
    Client,
    NetworkError,
    NotFoundError,
    RateLimitError,
    Stream,
    ValidationError,
)
from massgen.client.types import ChatCompletion, ChatCompletionChunk, Completion
from tests.client.conftest import API_KEY, Served

ASK = [{"role": "user", "content": "What is machine learning?"}]


def client(server: Served, **options: Any) -> Client:
    return Client(base_url=server.url, api_key=API_KEY, **options)


def test_the_quick_start_works(server: Served) -> None:
    """The README's quick start, as written."""
    with Client(base_url=server.url, api_key=API_KEY) as c:
        response = c.chat.completions.create(model="massgen", messages=ASK)
    assert isinstance(response, ChatCompletion)
    answer = response.choices[0].message.content
    assert answer is not None and "What is machine learning?" in answer
    assert response.usage is not None and response.usage.total_tokens > 0
    assert response.massgen_status == "ok"
    assert "votes for" in (response.choices[0].message.reasoning_content or "")


def test_base_url_comes_from_the_environment(
    server: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MASSGEN_BASE_URL", server.url + "/v1")
    monkeypatch.setenv("MASSGEN_API_KEY", API_KEY)
    with Client() as c:
        assert c.base_url == server.url
        assert "massgen" in [m.id for m in c.models.list().data]
    monkeypatch.delenv("MASSGEN_BASE_URL")
    with Client() as default:
        assert default.base_url == "http://localhost:4000"


def test_request_options_reach_the_team(server: Served) -> None:
    """The peer SDK's basic call: max_tokens and temperature shape the final answer's call."""
    with client(server) as c:
        c.chat.completions.create(
            model="helixagent-ensemble", messages=ASK, max_tokens=500, temperature=0.7
        )
    final = [r.body for r in server.provider.requests if not _offers_workflow(r.body)]
    assert final and final[-1]["max_tokens"] == 500 and final[-1]["temperature"] == 0.7


def test_a_streamed_chat_completion_iterates_its_chunks(server: Served) -> None:
    with client(server) as c:
        whole = c.chat.completions.create(messages=ASK).choices[0].message.content
        stream = c.chat.completions.create(messages=ASK, stream=True)
        assert isinstance(stream, Stream)
        chunks = list(stream)
    assert all(isinstance(chunk, ChatCompletionChunk) for chunk in chunks)
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    trace = "".join(ch.choices[0].delta.reasoning_content or "" for ch in chunks if ch.choices)
    assert text.startswith("Final answer: What is machine learning?")
    assert whole is not None and text != whole  # a second run: the fake numbers its answers
    assert "votes for" in trace
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0


def test_text_completions_plain_and_streamed(server: Served) -> None:
    with client(server) as c:
        plain = c.completions.create(model="qwen-max", prompt="The future of technology is")
        with c.completions.create(prompt="Write a haiku about programming:", stream=True) as s:
            pieces = [chunk.choices[0].text for chunk in s]
    assert isinstance(plain, Completion) and plain.object == "text_completion"
    assert "The future of technology is" in plain.choices[0].text
    assert "Write a haiku about programming:" in "".join(pieces)


def test_a_wrong_or_missing_key_is_an_authentication_error(server: Served) -> None:
    with (
        Client(base_url=server.url, api_key="sk-wrong") as c,
        pytest.raises(AuthenticationError) as e,
    ):
        c.chat.completions.create(messages=ASK)
    assert e.value.status_code == 401 and e.value.code == "invalid_api_key"
    with Client(base_url=server.url, api_key="") as c, pytest.raises(AuthenticationError):
        c.tasks.list()
    assert not server.provider.requests


def test_a_refused_request_is_a_validation_error_naming_the_field(server: Served) -> None:
    with client(server) as c:
        with pytest.raises(ValidationError) as e:
            c.chat.completions.create(messages=ASK, tools=[{"type": "function"}])
        assert e.value.status_code == 400 and e.value.param == "tools"
        assert "tools" in str(e.value)
        with pytest.raises(NotFoundError):
            c.tasks.get_status("task_does_not_exist")
    assert not server.provider.requests


def test_a_busy_server_is_a_rate_limit_error_with_its_retry_after(server: Served) -> None:
    server.provider.hold_after(0)  # the first run waits on its provider: the server is full
    with client(server) as c:
        first = threading.Thread(target=c.chat.completions.create, kwargs={"messages": ASK})
        first.start()
        server.provider.wait_for(lambda: len(server.provider.requests) >= 1, timeout=30)
        with client(server, max_retries=0) as impatient, pytest.raises(RateLimitError) as e:
            impatient.chat.completions.create(messages=ASK)
        server.provider.release()
        first.join(timeout=30)
    assert e.value.status_code == 429
    assert e.value.retry_after is not None and e.value.retry_after >= 1.0


def test_a_429_is_retried_after_the_servers_retry_after(server: Served) -> None:
    """The retry waits what the server asked (retry-after-ms), then succeeds."""
    records: list[logging.LogRecord] = []
    logger = logging.getLogger("tests.client.retry")
    logger.setLevel(logging.DEBUG)
    handler = _Collect(records)
    logger.addHandler(handler)
    server.provider.hold_after(0)
    try:
        with client(server) as c, client(server, max_retries=2, logger=logger) as patient:
            first = threading.Thread(target=c.chat.completions.create, kwargs={"messages": ASK})
            first.start()
            server.provider.wait_for(lambda: len(server.provider.requests) >= 1, timeout=30)
            threading.Timer(0.3, server.provider.release).start()
            started = time.monotonic()
            response = patient.chat.completions.create(messages=ASK)
            elapsed = time.monotonic() - started
            first.join(timeout=30)
    finally:
        logger.removeHandler(handler)
    assert response.choices[0].message.content
    retries = [r.massgen_client for r in records if r.massgen_client["event"] == "api_retry"]
    assert len(retries) == 1 and retries[0]["reason"] == "HTTP 429"
    assert retries[0]["delay_s"] >= 1.0  # the server's Retry-After (at least a second)
    assert elapsed >= retries[0]["delay_s"]


def test_a_server_that_is_down_is_a_network_error_after_retries() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    records: list[logging.LogRecord] = []
    logger = logging.getLogger("tests.client.down")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(_Collect(records))
    with (
        Client(
            base_url=f"http://127.0.0.1:{port}", api_key=API_KEY, max_retries=2, logger=logger
        ) as c,
        pytest.raises(NetworkError) as e,
    ):
        c.chat.completions.create(messages=ASK)
    assert e.value.status_code is None and "failed" in str(e.value)
    events = [r.massgen_client["event"] for r in records]
    assert events.count("api_request") == 3 and events.count("api_retry") == 2


def test_a_timeout_is_a_network_error_and_a_started_run_is_not_sent_again(
    server: Served,
) -> None:
    """A POST whose request went out may have started a run: it is not retried."""
    records: list[logging.LogRecord] = []
    logger = logging.getLogger("tests.client.timeout")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(_Collect(records))
    server.provider.hold_after(0)
    with (
        client(server, timeout=0.5, max_retries=3, logger=logger) as c,
        pytest.raises(NetworkError) as e,
    ):
        c.chat.completions.create(messages=ASK)
    assert "timed out" in str(e.value)
    events = [r.massgen_client for r in records]
    assert events[-1]["event"] == "api_request"  # the request that timed out: not sent again
    assert not [e for e in events if "Timeout" in e.get("reason", "")]


def test_your_own_http_client_is_used_and_left_open(server: Served) -> None:
    seen: list[str] = []
    own = httpx.Client(event_hooks={"request": [lambda r: seen.append(r.url.path)]})
    with Client(base_url=server.url, api_key=API_KEY, http_client=own) as c:
        c.models.list()
    assert seen == ["/v1/models"]
    assert not own.is_closed
    own.close()


def test_the_log_has_each_call_and_never_the_key(server: Served) -> None:
    records: list[logging.LogRecord] = []
    logger = logging.getLogger("tests.client.log")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(_Collect(records))
    with client(server, logger=logger) as c:
        c.chat.completions.create(model="helixagent-ensemble", messages=ASK)
        with pytest.raises(NotFoundError):
            c.tasks.get_status("task_nope")
    events = [r.massgen_client for r in records]
    request, response = events[0], events[1]
    assert request["event"] == "api_request" and request["method"] == "chat.completions.create"
    assert request["model"] == "helixagent-ensemble"
    assert response["event"] == "api_response" and response["status"] == 200
    assert response["tokens"] > 0 and response["latency_ms"] > 0
    assert events[-1]["status"] == 404
    assert all(
        API_KEY not in r.getMessage() and API_KEY not in str(r.massgen_client) for r in records
    )


def test_a_structlog_style_logger_gets_events_as_keywords(server: Served) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []

    class Structured:
        def debug(self, event: str, **fields: Any) -> None:
            calls.append((event, fields))

        info = debug

    with client(server, logger=Structured()) as c:
        c.models.list()
    assert [event for event, _ in calls] == ["api_request", "api_response"]
    assert calls[1][1]["status"] == 200 and calls[1][1]["method"] == "models.list"


def test_providers_of_the_servers_config(server: Served) -> None:
    with client(server) as c:
        health = c.providers.health()
        providers = c.providers.list()
    assert health.status == "ok"
    (row,) = health.providers.values()
    assert row.status == "ok" and row.base_url == server.provider.url
    assert isinstance(row.response_time, float)
    assert [(p.name, p.status, p.models) for p in providers.providers] == [("vllm", "ok", ["m"])]


def test_importing_the_client_loads_nothing_of_the_server_or_the_engine() -> None:
    code = (
        "import sys, massgen.client as c\n"
        "c.Client(base_url='http://127.0.0.1:9', api_key='k').close()\n"
        "heavy = ('massgen.server', 'massgen.api', 'massgen.runs', 'massgen.coordination',"
        " 'massgen.backends', 'massgen.tui', 'textual', 'litellm', 'anthropic', 'google.genai',"
        " 'openai', 'starlette', 'uvicorn', 'sqlalchemy', 'opentelemetry', 'prometheus_client')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _offers_workflow(body: dict[str, Any]) -> bool:
    names = {(t.get("function") or {}).get("name") for t in body.get("tools") or ()}
    return bool(names & {"new_answer", "vote"})


class _Collect(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        if hasattr(record, "massgen_client"):
            self.records.append(record)


def test_vision_analyze_sends_the_image_to_the_team(server: Served) -> None:
    image = "https://example.com/image.jpg"
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What's in this image?"},
                {"type": "image_url", "image_url": {"url": image}},
            ],
        }
    ]
    with client(server) as c:
        response = c.vision.analyze(model="gpt-4-vision-preview", messages=messages)
    assert "What's in this image?" in (response.choices[0].message.content or "")
    sent = [json.dumps(r.body) for r in server.provider.requests]
    assert sent and all(image in body for body in sent[:2])  # each agent's first turn sees it


def test_usage_stats_and_enable_logging(server: Served, capfd: pytest.CaptureFixture[str]) -> None:
    """The peer's "Monitoring and Metrics" calls: the server's runs and tokens (its
    /metrics), and the client's own events shown on stderr."""
    with client(server, logger=logging.getLogger("tests.client.enabled")) as c:
        before = c.get_usage_stats()
        c.enable_logging()
        answer = c.chat.completions.create(messages=ASK)
        after = c.get_usage_stats()
    assert after.total_requests == before.total_requests + 1
    assert after.successful_requests == before.successful_requests + 1
    assert answer.usage is not None
    assert after.total_tokens - before.total_tokens == answer.usage.total_tokens
    assert 0 < after.success_rate <= 100
    err = capfd.readouterr().err
    assert "api_request" in err and '"chat.completions.create"' in err and "api_response" in err
    assert API_KEY not in err
