"""POST /v1/embeddings: the operator's embedding models (``--embeddings``), through
``massgen.client``: an OpenAI-shaped provider (the fake) and the embedded model in
llama.cpp's embedding mode, offline."""

from __future__ import annotations

import base64
import math
import struct
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from massgen.client import Client
from massgen.client.exceptions import ValidationError
from massgen.local_model import local_backend_available
from massgen.server import create_app
from tests.fakes.chat_server import FakeChatServer
from tests.server.support import serving, team

KEY = "sk-embeddings-test"


@pytest.fixture
def provider() -> Iterator[FakeChatServer]:
    with FakeChatServer(api_key=KEY) as server:
        yield server


@pytest.fixture
def client(provider: FakeChatServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    monkeypatch.setenv("OPENAI_BASE_URL", provider.url)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    app = create_app(
        config=team(provider),
        enable_logging=False,
        embeddings=["openai/text-embedding-3-small"],
    )
    with serving(app) as url, Client(base_url=url, api_key="x", max_retries=0) as client:
        yield client


def norm(vector: list[float]) -> float:
    return math.sqrt(sum(x * x for x in vector))


def test_embeddings_come_from_the_operators_provider_with_its_key(
    client: Client, provider: FakeChatServer
) -> None:
    texts = ["The quick brown fox", "Machine learning is a subset of AI"]
    result = client.embeddings.create(model="text-embedding-3-small", input=texts, dimensions=64)
    assert [row.index for row in result.data] == [0, 1]
    vectors = [row.embedding for row in result.data]
    assert all(isinstance(v, list) and len(v) == 64 for v in vectors)
    assert all(abs(norm(v) - 1) < 1e-6 for v in vectors)  # type: ignore[arg-type]
    assert vectors[0] != vectors[1]
    assert result.usage is not None and result.usage.prompt_tokens > 0
    sent = [r for r in provider.requests if r.path == "/v1/embeddings"]
    assert len(sent) == 1
    assert sent[0].body == {"model": "text-embedding-3-small", "input": texts, "dimensions": 64}
    assert sent[0].headers["authorization"] == f"Bearer {KEY}"


def test_base64_vectors_are_the_same_floats(client: Client) -> None:
    plain = client.embeddings.create(model="openai/text-embedding-3-small", input="hello")
    packed = client.embeddings.create(
        model="text-embedding-3-small", input="hello", encoding_format="base64"
    )
    raw = base64.b64decode(packed.data[0].embedding)  # type: ignore[arg-type]
    unpacked = struct.unpack(f"<{len(raw) // 4}f", raw)
    assert unpacked == pytest.approx(plain.data[0].embedding, abs=1e-6)


def test_a_model_the_server_does_not_serve_is_refused_naming_what_it_serves(
    client: Client, provider: FakeChatServer
) -> None:
    with pytest.raises(ValidationError, match="openai/text-embedding-3-small"):
        client.embeddings.create(model="text-embedding-3-large", input="hi")
    with pytest.raises(ValidationError, match="input"):
        client.embeddings.create(model="text-embedding-3-small", input=[])
    assert not [r for r in provider.requests if r.path == "/v1/embeddings"]


def test_a_provider_that_fails_is_one_line_502(
    provider: FakeChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", provider.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    app = create_app(
        config=team(provider), enable_logging=False, embeddings=["openai/text-embedding-3-small"]
    )
    with serving(app) as url:
        reply = httpx.post(
            f"{url}/v1/embeddings", json={"model": "text-embedding-3-small", "input": "hi"}
        )
    assert reply.status_code == 502
    message = reply.json()["error"]["message"]
    assert "answered 401" in message and "Incorrect API key" in message
    assert "sk-wrong" not in reply.text


def test_without_an_embedding_model_the_404_says_how_to_add_one(
    provider: FakeChatServer,
) -> None:
    with serving(create_app(config=team(provider), enable_logging=False)) as url:
        reply = httpx.post(f"{url}/v1/embeddings", json={"model": "m", "input": "hi"})
    assert reply.status_code == 404
    assert "--embeddings" in reply.json()["error"]["message"]


def test_serve_refuses_an_embedding_model_it_cannot_reach_in_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "massgen", "serve", "--model", "vllm/m", "--embeddings", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1 and "--embeddings 'nope'" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.skipif(not local_backend_available(), reason="needs the local extra")
def test_the_embedded_model_embeds_offline(provider: FakeChatServer) -> None:
    app = create_app(config=team(provider), enable_logging=False, embeddings=["local"])
    texts = ["The quick brown fox", "Machine learning is a subset of AI", "The quick brown fox"]
    with serving(app) as url, Client(base_url=url, max_retries=0) as client:
        result = client.embeddings.create(model="local", input=texts)
        with pytest.raises(ValidationError, match="dimensions"):
            client.embeddings.create(model="local", input="hi", dimensions=8)
    vectors = [row.embedding for row in result.data]
    assert len(vectors) == 3 and all(isinstance(v, list) for v in vectors)
    assert len(vectors[0]) == 576  # SmolLM2-135M's hidden size
    assert all(abs(norm(v) - 1) < 1e-4 for v in vectors)  # type: ignore[arg-type]
    assert vectors[0] == pytest.approx(vectors[2], abs=1e-5)
    assert vectors[0] != pytest.approx(vectors[1], abs=1e-3)
    assert result.model == "SmolLM2-135M-Instruct"
    assert result.usage is not None and result.usage.prompt_tokens > 0
