"""``azure_openai``: Chat Completions on a deployment, through the SDK's Azure client."""

from __future__ import annotations

import pytest

from massgen.backends.registry import create_backend
from massgen.config.schema import BackendConfig
from massgen.errors import ConfigurationError
from massgen.messages import Message, TextChunk, UsageChunk
from tests.fakes.chat_server import FakeChatServer, Reply

KEY = "azure-test-key-123"


@pytest.fixture(scope="module")
def azure():
    with FakeChatServer(api_key=KEY) as server:
        yield server


def endpoint(server: FakeChatServer) -> str:
    return server.url.removesuffix("/v1")


async def test_streams_from_the_deployment_with_the_api_version_and_key(azure, monkeypatch):
    azure.reset()
    azure.enqueue(Reply(text="Hello from Azure."))
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", endpoint(azure))
    backend = create_backend(
        BackendConfig(
            type="azure_openai",
            model="gpt-4o",
            deployment_name="my-gpt4o",
            api_version="2024-06-01",
            max_tokens=50,
        )
    )
    try:
        chunks = [c async for c in backend.stream([Message("user", "Hi")])]
    finally:
        await backend.aclose()
    assert "".join(c.text for c in chunks if isinstance(c, TextChunk)) == "Hello from Azure."
    assert any(isinstance(c, UsageChunk) and c.completion_tokens > 0 for c in chunks)
    request = azure.requests[-1]
    assert request.path == "/openai/deployments/my-gpt4o/chat/completions"
    assert request.query["api-version"] == "2024-06-01"
    assert request.headers["api-key"] == KEY
    assert request.body["max_completion_tokens"] == 50 and "max_tokens" not in request.body


async def test_endpoint_from_config_and_version_from_the_environment(azure, monkeypatch):
    azure.reset()
    monkeypatch.delenv("AZURE_OPENAI_ENDPOINT", raising=False)
    monkeypatch.setenv("AZURE_OPENAI_API_VERSION", "2025-01-01-preview")
    backend = create_backend(
        BackendConfig(
            type="azure_openai", deployment_name="dep", base_url=endpoint(azure), api_key=KEY
        )
    )
    try:
        [c async for c in backend.stream([Message("user", "Hi")])]
    finally:
        await backend.aclose()
    assert azure.requests[-1].query["api-version"] == "2025-01-01-preview"
    assert backend.model == "dep"


def test_without_an_endpoint_the_error_names_the_variable(monkeypatch):
    monkeypatch.delenv("AZURE_OPENAI_ENDPOINT", raising=False)
    with pytest.raises(ConfigurationError, match="AZURE_OPENAI_ENDPOINT"):
        create_backend(BackendConfig(type="azure_openai", deployment_name="d", api_key="k"))


def test_without_a_key_the_error_names_the_variable(monkeypatch):
    monkeypatch.delenv("AZURE_OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://example.openai.azure.com")
    with pytest.raises(ConfigurationError, match="AZURE_OPENAI_API_KEY"):
        create_backend(BackendConfig(type="azure_openai", deployment_name="d"))


def test_an_endpoint_in_the_config_still_needs_the_key(monkeypatch):
    monkeypatch.delenv("AZURE_OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="AZURE_OPENAI_API_KEY"):
        create_backend(
            BackendConfig(
                type="azure_openai", deployment_name="d", base_url="https://x.openai.azure.com"
            )
        )
