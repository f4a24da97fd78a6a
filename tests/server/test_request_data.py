"""What a server client sends is data: never expanded as ``${VAR}``, never a way to reach an
endpoint or provider the operator did not configure; every model ``/v1/models`` lists runs."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from massgen.server import create_app
from tests.fakes.chat_server import FakeChatServer
from tests.test_server import ask, serving, team

SECRET = "sk-server-secret-0123456789"


@pytest.fixture
def provider() -> Iterator[FakeChatServer]:
    with FakeChatServer() as fake:
        yield fake


@pytest.fixture
def base(provider: FakeChatServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("MASSGEN_TEST_SECRET_KEY", SECRET)
    with serving(create_app(config=team(provider), enable_logging=False)) as url:
        yield url


def _stream_text(base: str, model: str, content: str = "What is 25 * 4?") -> tuple[int, str]:
    body = {"model": model, "messages": ask(content), "stream": True}
    with httpx.stream("POST", f"{base}/v1/chat/completions", json=body, timeout=30) as response:
        return response.status_code, response.read().decode()


def test_a_model_override_never_expands_the_servers_environment(
    base: str, provider: FakeChatServer
) -> None:
    status, text = _stream_text(base, "massgen/model:vllm/${MASSGEN_TEST_SECRET_KEY}")
    assert status == 200
    assert SECRET not in text
    assert "[DONE]" in text
    # the provider got the literal string as the model name, not the secret
    assert {r.body["model"] for r in provider.requests} == {"${MASSGEN_TEST_SECRET_KEY}"}


def test_an_unset_name_is_not_reported(base: str) -> None:
    status, text = _stream_text(base, "massgen/model:vllm/${NO_SUCH_VARIABLE_XYZ}")
    assert status == 200
    assert "is not set" not in text


def test_message_content_is_not_expanded(base: str, provider: FakeChatServer) -> None:
    status, text = _stream_text(base, "massgen", "say ${MASSGEN_TEST_SECRET_KEY}")
    assert status == 200
    assert SECRET not in text
    assert all(SECRET not in str(r.body) for r in provider.requests)


def test_every_listed_model_runs(base: str, provider: FakeChatServer) -> None:
    client = openai.OpenAI(base_url=f"{base}/v1", api_key="x")
    ids = [m.id for m in client.models.list().data]
    assert len(ids) >= 2
    for model_id in ids:
        response = client.chat.completions.create(model=model_id, messages=ask())
        assert response.choices[0].message.content, model_id


def test_a_bare_model_override_uses_the_configs_endpoint(
    base: str, provider: FakeChatServer
) -> None:
    client = openai.OpenAI(base_url=f"{base}/v1", api_key="x")
    response = client.chat.completions.create(model="massgen/model:gpt-4o", messages=ask())
    assert response.choices[0].message.content
    # it reached the config's endpoint (the fake), with the requested model name
    assert {r.body["model"] for r in provider.requests} == {"gpt-4o"}


def test_a_provider_the_config_does_not_use_is_refused(base: str) -> None:
    client = openai.OpenAI(base_url=f"{base}/v1", api_key="x")
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="massgen/model:claude/claude-x", messages=ask())
    assert "not configured here" in str(info.value)
