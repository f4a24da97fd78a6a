"""``massgen serve``: the OpenAI-compatible server, served by uvicorn on an ephemeral port and
called with the official openai client and raw httpx, against a FakeChatServer provider."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import uvicorn
import yaml
from typer.testing import CliRunner

from massgen.server import create_app
from tests.fakes.chat_server import FakeChatServer

KEY = "sk-test-server-key"


def team(server: FakeChatServer, n: int = 2) -> dict[str, Any]:
    return {
        "agents": [
            {"id": f"a{i}", "backend": {"type": "vllm", "model": "m", "base_url": server.url}}
            for i in range(1, n + 1)
        ]
    }


@contextmanager
def serving(app: Any) -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def provider() -> Iterator[FakeChatServer]:
    with FakeChatServer() as fake:
        yield fake


@pytest.fixture
def base(provider: FakeChatServer) -> Iterator[str]:
    with serving(create_app(config=team(provider))) as url:
        yield url


@pytest.fixture
def keyed(provider: FakeChatServer) -> Iterator[str]:
    with serving(create_app(config=team(provider), api_keys=[KEY, "other"])) as url:
        yield url


def ask(content: str = "What is 25 * 4?") -> list[dict[str, str]]:
    return [{"role": "user", "content": content}]


def test_health_and_models(base: str) -> None:
    assert httpx.get(f"{base}/health").json() == {"status": "ok"}
    models = openai.OpenAI(base_url=f"{base}/v1", api_key="x").models.list()
    ids = [m.id for m in models.data]
    assert ids[0] == "massgen"
    assert "massgen/model:m" in ids


def test_sync_client_completion(base: str, provider: FakeChatServer) -> None:
    client = openai.OpenAI(base_url=f"{base}/v1", api_key="not-needed")
    response = client.chat.completions.create(model="gpt-4o", messages=ask(), stream=False)
    assert response.object == "chat.completion"
    message = response.choices[0].message
    assert message.content
    assert response.choices[0].finish_reason == "stop"
    trace = message.model_extra["reasoning_content"]
    assert "[a1]" in trace and "votes for" in trace and "[orchestrator] selected" in trace
    assert response.usage.total_tokens == (
        response.usage.prompt_tokens + response.usage.completion_tokens
    )
    assert response.usage.total_tokens > 0
    # the request's model is ignored: the provider only saw the config's model
    assert {r.body["model"] for r in provider.requests} == {"m"}


def test_history_reaches_the_agents(base: str, provider: FakeChatServer) -> None:
    client = openai.OpenAI(base_url=f"{base}/v1", api_key="x")
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first question zebra"},
        {"role": "assistant", "content": "first answer okapi"},
        {"role": "user", "content": "second question"},
    ]
    client.chat.completions.create(model="massgen", messages=messages)
    sent = str(provider.requests[0].body["messages"])
    assert "okapi" in sent and "second question" in sent


async def test_async_client(base: str) -> None:
    client = openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="x")
    first, second = await asyncio.gather(
        client.chat.completions.create(model="massgen", messages=ask("one")),
        client.chat.completions.create(model="massgen", messages=ask("two")),
    )
    assert first.choices[0].message.content and second.choices[0].message.content
    await client.close()


def test_streaming_trace_then_content_then_done(base: str) -> None:
    client = openai.OpenAI(base_url=f"{base}/v1", api_key="x")
    kinds: list[str] = []
    content = ""
    for chunk in client.chat.completions.create(model="massgen", messages=ask(), stream=True):
        assert chunk.object == "chat.completion.chunk"
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        if (delta.model_extra or {}).get("reasoning_content"):
            kinds.append("reasoning")
        if delta.content:
            kinds.append("content")
            content += delta.content
    assert "reasoning" in kinds and "content" in kinds
    assert kinds.index("content") > max(i for i, k in enumerate(kinds) if k == "reasoning")
    assert content
    raw = httpx.post(
        f"{base}/v1/chat/completions",
        json={"model": "massgen", "messages": ask(), "stream": True},
        timeout=30,
    ).text
    assert raw.rstrip().endswith("data: [DONE]")


def test_streamed_answer_arrives_token_by_token_while_it_is_written() -> None:
    """With a presenting winner, content chunks go out as the winner writes, not at the end."""
    with (
        FakeChatServer(tokens_per_second=40) as slow,
        serving(create_app(config=team(slow))) as url,
    ):
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="x")
        arrivals: list[tuple[float, str]] = []
        for chunk in client.chat.completions.create(model="massgen", messages=ask(), stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                arrivals.append((time.monotonic(), chunk.choices[0].delta.content))
    assert len(arrivals) > 3
    # 40 tokens/s: the first piece reaches the client well before the last one is written
    assert arrivals[-1][0] - arrivals[0][0] > 0.05
    # the presenting agent's text, exactly once
    assert re.fullmatch(
        r"Final answer: What is 25 \* 4\? \(#\d+ from m\)", "".join(t for _, t in arrivals)
    )


def test_reused_answer_is_sent_whole(provider: FakeChatServer) -> None:
    config = {**team(provider), "orchestrator": {"final_answer": "reuse"}}
    with serving(create_app(config=config)) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="x")
        pieces = [
            c.choices[0].delta.content
            for c in client.chat.completions.create(model="massgen", messages=ask(), stream=True)
            if c.choices and c.choices[0].delta.content
        ]
    # no presentation: the winner's answer, in one piece
    assert len(pieces) == 1
    assert re.fullmatch(r"Answer #\d+ from m to: What is 25 \* 4\?", pieces[0])


def test_answer_stream_after_a_retry_resends_the_whole_answer() -> None:
    from massgen.chat_messages import AnswerStream

    stream = AnswerStream()
    assert stream.feed({"type": "final_answer_delta", "text": "Lyo"}) == "Lyo"
    stream.feed({"type": "stream_retry"})  # the presenter starts over
    assert stream.feed({"type": "final_answer_delta", "text": "Paris"}) == ""
    assert stream.feed({"type": "final_answer", "content": "Paris"}) == "\n\nParis"
    assert stream.finish("Paris") == ""

    clean = AnswerStream()
    clean.feed({"type": "final_answer_delta", "text": "Pa"})
    assert clean.feed({"type": "final_answer", "content": "Paris"}) == "ris"


def test_litellm_as_the_client(keyed: str) -> None:
    """litellm's OpenAI-compatible provider, pointed at the server: answer, reasoning
    trace, usage; streamed too; the server's key is required."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network on import
    litellm = pytest.importorskip("litellm")
    target = {"model": "openai/massgen", "api_base": f"{keyed}/v1", "messages": ask()}

    response = litellm.completion(**target, api_key=KEY)
    message = response.choices[0].message
    assert re.fullmatch(r"Final answer: What is 25 \* 4\? \(#\d+ from m\)", message.content)
    assert "[orchestrator] selected" in message.reasoning_content
    assert response.usage.prompt_tokens > 0

    reasoning, content = "", ""
    for chunk in litellm.completion(**target, api_key=KEY, stream=True):
        delta = chunk.choices[0].delta
        reasoning += getattr(delta, "reasoning_content", None) or ""
        if delta.content:
            assert "[orchestrator] selected" in reasoning  # the trace came first
            content += delta.content
    assert re.fullmatch(r"Final answer: What is 25 \* 4\? \(#\d+ from m\)", content)

    with pytest.raises(Exception, match="invalid or missing API key"):
        litellm.completion(**target, api_key="wrong", num_retries=0)


def test_auth(keyed: str) -> None:
    url = f"{keyed}/v1/chat/completions"
    body = {"model": "massgen", "messages": ask()}
    missing = httpx.post(url, json=body)
    assert missing.status_code == 401
    assert set(missing.json()["error"]) >= {"message", "type", "code"}
    assert httpx.post(url, json=body, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert httpx.post(url, json=body, headers={"X-Api-Key": "nope"}).status_code == 401
    assert httpx.get(f"{keyed}/v1/models").status_code == 401
    assert httpx.get(f"{keyed}/health").json() == {"status": "ok"}
    ok = httpx.post(url, json=body, headers={"X-Api-Key": KEY}, timeout=30)
    assert ok.status_code == 200 and ok.json()["choices"][0]["message"]["content"]
    client = openai.OpenAI(base_url=f"{keyed}/v1", api_key=KEY)
    assert client.chat.completions.create(model="massgen", messages=ask()).choices
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{keyed}/v1", api_key="wrong").chat.completions.create(
            model="massgen", messages=ask()
        )


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b"[1, 2]",
        b"{}",
        b'{"messages": []}',
        b'{"messages": [{"role": "system", "content": "hi"}]}',
        b'{"messages": [{"role": "user", "content": "  "}]}',
        b'{"model": "massgen/model:", "messages": [{"role": "user", "content": "q"}]}',
    ],
)
def test_bad_body_is_400(base: str, content: bytes, provider: FakeChatServer) -> None:
    response = httpx.post(
        f"{base}/v1/chat/completions",
        content=content,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert not provider.requests


def test_body_over_limit_is_413(base: str, provider: FakeChatServer) -> None:
    big = {"model": "massgen", "messages": ask("x" * (2 * 1024 * 1024))}
    response = httpx.post(f"{base}/v1/chat/completions", json=big, timeout=30)
    assert response.status_code == 413
    assert "error" in response.json()
    assert not provider.requests


def test_full_server_answers_429() -> None:
    with FakeChatServer(ttft=3) as slow:
        app = create_app(config=team(slow, 1), max_concurrency=1)
        with serving(app) as base:
            url = f"{base}/v1/chat/completions"
            body = {"model": "massgen", "messages": ask()}
            first = threading.Thread(target=lambda: httpx.post(url, json=body, timeout=30))
            first.start()
            deadline = time.monotonic() + 5
            while not slow.requests and time.monotonic() < deadline:
                time.sleep(0.02)
            busy = httpx.post(url, json=body)
            assert busy.status_code == 429
            assert busy.json()["error"]["type"] == "rate_limit_error"
            first.join(timeout=30)
            server = app.state.massgen
            assert server.limiter.active == 0


def test_streaming_disconnect_cancels_run() -> None:
    with FakeChatServer(ttft=3) as slow:
        app = create_app(config=team(slow, 2), max_concurrency=1)
        with serving(app) as base:
            url = f"{base}/v1/chat/completions"
            body = {"model": "massgen", "messages": ask(), "stream": True}
            with httpx.stream("POST", url, json=body, timeout=30) as response:
                assert response.status_code == 200
                lines = response.iter_lines()
                assert next(lines).startswith("data: ")  # the role chunk
                deadline = time.monotonic() + 5
                while len(slow.requests) < 2 and time.monotonic() < deadline:
                    time.sleep(0.02)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not all(r.client_closed for r in slow.requests):
                time.sleep(0.05)
            assert slow.requests and all(r.client_closed for r in slow.requests)
            server = app.state.massgen
            deadline = time.monotonic() + 5
            while (server.tasks or server.limiter.active) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not server.tasks and server.limiter.active == 0


def test_non_streaming_disconnect_cancels_run() -> None:
    with FakeChatServer(ttft=3) as slow:
        app = create_app(config=team(slow, 1), max_concurrency=1)
        with serving(app) as base:
            url = f"{base}/v1/chat/completions"
            with pytest.raises(httpx.ReadTimeout):
                httpx.post(url, json={"messages": ask()}, timeout=httpx.Timeout(5, read=1))
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not (
                slow.requests and all(r.client_closed for r in slow.requests)
            ):
                time.sleep(0.05)
            assert slow.requests and all(r.client_closed for r in slow.requests)


PNG_URL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQ"
    "GAhKmMIQAAAABJRU5ErkJggg=="
)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/ensemble/completions", {"messages": ask(), "ensemble_config": {"strategy": "majority_vote"}}),
        ("/v1/vision/ocr", {"image_url": PNG_URL}),
    ],
)  # fmt: skip
def test_a_client_that_leaves_an_ensemble_or_ocr_request_cancels_its_model_calls(
    path: str, body: dict[str, Any]
) -> None:
    with FakeChatServer(ttft=3) as slow:
        config = team(slow, 2)
        for agent in config["agents"]:
            agent["backend"]["vision"] = True
        app = create_app(config=config, max_concurrency=1)
        with serving(app) as base:
            with pytest.raises(httpx.ReadTimeout):
                httpx.post(f"{base}{path}", json=body, timeout=httpx.Timeout(5, read=1))
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not (
                slow.requests and all(r.client_closed for r in slow.requests)
            ):
                time.sleep(0.05)
            assert slow.requests and all(r.client_closed for r in slow.requests)


def test_serve_help_and_default_host() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "massgen", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "--api-key" in result.stdout and "--port" in result.stdout
    assert "127.0.0.1" in result.stdout


def test_serve_reads_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import massgen.cli as cli

    calls: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.update(kw, app=app))
    monkeypatch.setenv("MASSGEN_SERVER_API_KEYS", "k1, k2")
    monkeypatch.setenv("MASSGEN_SERVER_PORT", "4567")
    monkeypatch.setenv("MASSGEN_SERVER_MAX_CONCURRENCY", "32")
    monkeypatch.delenv("MASSGEN_SERVER_HOST", raising=False)
    with FakeChatServer() as fake:
        config_file = tmp_path / "team.yaml"
        config_file.write_text(yaml.safe_dump(team(fake)))
        result = CliRunner().invoke(cli.app, ["serve", "--config", str(config_file)])
    assert result.exit_code == 0, result.output
    assert calls["host"] == "127.0.0.1" and calls["port"] == 4567
    assert calls["app"].state.massgen.api_keys == ["k1", "k2"]
    assert calls["app"].state.massgen.limiter.limit == 32
    assert "up to 32 runs at once" in result.stderr


def test_serve_without_the_server_extra_says_how_to_install_it() -> None:
    code = (
        "import sys; sys.modules['uvicorn'] = None; sys.argv = ['massgen', 'serve']; "
        "from massgen.cli import main; main()"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "pip install 'massgen[server]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_every_request_is_recorded_as_a_session(provider: FakeChatServer, tmp_path: Path) -> None:
    from massgen.sessions import store

    app = create_app(config=team(provider), log_dir=tmp_path / "on", api_keys=[KEY])
    with serving(app) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=KEY)
        answer = client.chat.completions.create(model="massgen", messages=ask())
        list(client.chat.completions.create(model="massgen", messages=ask("two"), stream=True))
    sessions = store.session_dirs(tmp_path / "on")
    assert len(sessions) == 2
    finals = {(s / "final.md").read_text() for s in sessions}
    assert answer.choices[0].message.content in finals
    for session in sessions:  # the server's own key never reaches the log
        assert all(KEY not in f.read_text() for f in session.rglob("*") if f.is_file())

    quiet = create_app(config=team(provider), log_dir=tmp_path / "off", enable_logging=False)
    with serving(quiet) as url:
        openai.OpenAI(base_url=f"{url}/v1", api_key="x").chat.completions.create(
            model="massgen", messages=ask()
        )
    assert not (tmp_path / "off").exists()


def test_a_cost_cap_on_a_model_without_a_price_fails_at_startup(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Refused once, when the server starts, not as a 502 on every request."""
    import massgen.cli as cli

    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: None)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0000")
    with FakeChatServer() as fake:
        config = team(fake)
        config["agents"][0]["backend"]["type"] = "chatcompletion"
        config["agents"][0]["backend"]["model"] = "house-model-without-a-price"
        config["agents"][0]["backend"]["base_url"] = "https://gateway.example.com/v1"
        config["orchestrator"] = {"max_cost_usd": 0.5}
        config_file = tmp_path / "team.yaml"
        config_file.write_text(yaml.safe_dump(config))
        result = CliRunner().invoke(cli.app, ["serve", "--config", str(config_file)])
    assert result.exit_code == 1
    assert "price of model 'house-model-without-a-price'" in result.stderr
    assert "Traceback" not in result.output
