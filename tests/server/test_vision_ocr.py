"""``POST /v1/vision/ocr`` on a real ``massgen serve``: each agent of the team reads the image
(the fake provider scripted per model, so the agents read differently), the reading the
others agree with most is the answer and the confidence is its agreement
(:mod:`massgen.server.agreement`, whose definition the expected values below follow)."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

import httpx
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from massgen.client import AsyncClient, Client, ProviderError, ValidationError
from massgen.server.agreement import compare
from massgen.server.http import BadRequest
from massgen.server.ocr import OCRRequest, parse_request
from tests.fakes.chat_server import FakeChatServer, Reply
from tests.server.conftest import massgen_serve

KEY = "sk-ocr-test-0123456789"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
DATA_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()
#: The readers (each on a model of its own, so the fake can script each) and one agent whose
#: model cannot see images.
READERS = ("r1", "r2", "r3")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, FakeChatServer]]:
    folder = tmp_path_factory.mktemp("ocr")
    with FakeChatServer() as provider:
        agents: list[dict[str, Any]] = [
            {
                "id": model,
                "backend": {
                    "type": "vllm",
                    "model": model,
                    "base_url": provider.url,
                    "vision": True,
                },
            }
            for model in READERS
        ]
        agents.append(
            {"id": "blind", "backend": {"type": "vllm", "model": "b", "base_url": provider.url}}
        )
        config = folder / "team.yaml"
        config.write_text(yaml.safe_dump({"agents": agents}))
        with massgen_serve(Path(config), "--api-key", KEY) as process:
            yield process.url, provider


@pytest.fixture
def provider(served: tuple[str, FakeChatServer]) -> FakeChatServer:
    served[1].reset()
    return served[1]


@pytest.fixture
def client(served: tuple[str, FakeChatServer]) -> Iterator[Client]:
    with Client(api_key=KEY, base_url=served[0], max_retries=0) as client:
        yield client


def script(provider: FakeChatServer, *texts: str) -> None:
    for model, text in zip(READERS, texts, strict=True):
        provider.enqueue_for(model, Reply(text=text))


def test_identical_readings_are_the_answer_with_confidence_one(
    client: Client, provider: FakeChatServer
) -> None:
    script(provider, "Invoice 42\nTotal: 17.50 EUR", *["Invoice 42\nTotal: 17.50 EUR"] * 2)
    result = client.vision.ocr(DATA_URL)
    assert result.text == "Invoice 42\nTotal: 17.50 EUR"
    assert result.confidence == 1.0
    assert [r.agent for r in result.readings] == ["r1", "r2", "r3", "blind"]
    assert result.readings[3].error and "cannot see images" in result.readings[3].error
    # every reader was sent the image itself, and nothing was asked of the blind agent
    assert sorted(r.model for r in provider.requests) == list(READERS)
    for request in provider.requests:
        parts = request.body["messages"][-1]["content"]
        assert {"type": "image_url", "image_url": {"url": DATA_URL}} in [
            {"type": p["type"], "image_url": {"url": p["image_url"]["url"]}}
            for p in parts
            if p.get("type") == "image_url"
        ]
    assert result.usage is not None and result.usage.completion_tokens > 0


def test_the_majority_reading_wins_and_confidence_is_its_mean_agreement(
    client: Client, provider: FakeChatServer
) -> None:
    # r1 misreads one of three words: r1-r2 and r1-r3 share 2 of 3 tokens (2/3 each),
    # r2-r3 are the same (1). Agreement: r1 = 2/3, r2 = r3 = (1 + 2/3) / 2 = 5/6.
    script(provider, "Total 17.58 EUR", "# Total 17.50 EUR", "Total: 17.50 EUR")
    result = client.vision.ocr(DATA_URL, ["en", "de"], "markdown")
    assert result.agent == "r2" and result.text == "# Total 17.50 EUR"
    assert result.confidence == pytest.approx(5 / 6, abs=1e-4)
    agreements = {r.agent: r.agreement for r in result.readings}
    assert agreements == {
        "r1": pytest.approx(2 / 3, abs=1e-4),
        "r2": pytest.approx(5 / 6, abs=1e-4),
        "r3": pytest.approx(5 / 6, abs=1e-4),
        "blind": None,
    }
    assert (result.output_format, result.languages) == ("markdown", ["en", "de"])
    system = provider.requests[0].body["messages"][0]["content"]
    assert "Markdown" in system and "expected to be in: en, de" in system


def test_a_reading_nobody_shares_lowers_confidence(
    client: Client, provider: FakeChatServer
) -> None:
    script(provider, "hello world", "hello world", "lorem ipsum")
    result = client.vision.ocr(DATA_URL)
    assert (result.text, result.confidence) == ("hello world", 0.5)  # (1 + 0) / 2


def test_json_readings_are_compared_line_by_line_and_a_bad_one_is_left_out(
    client: Client, provider: FakeChatServer
) -> None:
    script(
        provider,
        '```json\n{"lines": ["STOP", "Main St"]}\n```',
        '{"lines": ["STOP", "Main St"]}',
        "STOP Main St",  # not the JSON asked for
    )
    result = client.vision.ocr(DATA_URL, output_format="json")
    assert result.text == '{"lines": ["STOP", "Main St"]}'
    assert result.confidence == 1.0
    assert "not the JSON asked for" in (result.readings[2].error or "")
    assert '{"lines"' in provider.requests[0].body["messages"][0]["content"]


def test_a_web_image_is_passed_to_the_providers_never_fetched_by_the_server(
    served: tuple[str, FakeChatServer], provider: FakeChatServer
) -> None:
    fetched: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fetched.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    images = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Thread(target=images.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{images.server_address[1]}/scan.png"
    script(provider, "A", "A", "A")

    async def read() -> Any:
        async with AsyncClient(api_key=KEY, base_url=served[0]) as client:
            return await client.vision.ocr(url, languages=["en"])

    try:
        result = asyncio.run(read())
    finally:
        images.shutdown()
    assert (result.text, result.confidence) == ("A", 1.0)
    urls = {
        part["image_url"]["url"]
        for request in provider.requests
        for part in request.body["messages"][-1]["content"]
        if part.get("type") == "image_url"
    }
    assert urls == {url} and fetched == []


def test_when_no_agent_reads_it_is_one_502_naming_each_reason(
    client: Client, provider: FakeChatServer
) -> None:
    for model in READERS:
        provider.enqueue_for(model, Reply(status=400, error_message=f"{model} refused"))
    with pytest.raises(ProviderError) as failed:
        client.vision.ocr(DATA_URL)
    message = str(failed.value)
    assert "no agent of the team read the image" in message
    assert "r1 refused" in message and "blind: its model cannot see images" in message


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"image_url": DATA_URL, "output_format": "pdf"}, "output_format", "'pdf'"),
        ({"image_url": DATA_URL, "lang": ["en"]}, "lang", "it takes: image_url"),
        ({"image_url": "file:///etc/passwd"}, "image_url", "http(s):// or data: URL"),
        ({"image_url": "data:text/plain;base64,bm90IGFuIGltYWdl"}, "image_url", "not a PNG"),
        ({}, "image_url", "required"),
        ({"image_url": DATA_URL, "languages": ["en", 3]}, "languages[1]", "language tag"),
    ],
)
def test_bad_requests_are_a_400_naming_the_field(
    served: tuple[str, FakeChatServer],
    provider: FakeChatServer,
    body: dict[str, Any],
    field: str,
    words: str,
) -> None:
    response = httpx.post(
        f"{served[0]}/v1/vision/ocr", json=body, headers={"Authorization": f"Bearer {KEY}"}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == field and words in error["message"]
    assert provider.requests == []  # no agent was asked


def test_the_client_raises_the_servers_400(client: Client) -> None:
    with pytest.raises(ValidationError, match="output_format"):
        client.vision.ocr(DATA_URL, output_format="docx")


def test_ocr_needs_the_api_key(served: tuple[str, FakeChatServer]) -> None:
    response = httpx.post(f"{served[0]}/v1/vision/ocr", json={"image_url": DATA_URL})
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("readings", "chosen", "confidence"),
    [
        (["a b c", "a b c", "a b c"], 0, 1.0),
        (["a b x", "a b c", "a b c"], 1, 5 / 6),  # (1 + 2/3) / 2
        (["hello world", "lorem ipsum"], 0, 0.0),  # a tie: the first; nothing shared
        (["only one reading"], 0, 0.0),  # nobody to agree with
        (["| Total | 17 |", "**total** 17"], 0, 1.0),  # layout and case do not count
        (["", ""], 0, 1.0),  # both read no text
    ],
)
def test_confidence_by_hand(readings: list[str], chosen: int, confidence: float) -> None:
    agreement = compare(readings)
    assert agreement.chosen == chosen
    assert agreement.confidence == pytest.approx(confidence)


def test_secrets_quoted_by_a_provider_are_masked(
    served: tuple[str, FakeChatServer], provider: FakeChatServer
) -> None:
    provider.enqueue_for("r1", Reply(status=400, error_message=f"bad request from {KEY}"))
    provider.enqueue_for("r2", Reply(text=f"a sign that says {KEY}"))
    provider.enqueue_for("r3", Reply(text=f"a sign that says {KEY}"))
    response = httpx.post(
        f"{served[0]}/v1/vision/ocr",
        json={"image_url": DATA_URL},
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert response.status_code == 200
    assert "bad request from" in response.text and KEY not in response.text


_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)
_bodies = st.fixed_dictionaries(
    {},
    optional={
        "image_url": st.sampled_from([DATA_URL, "https://x.test/a.png", "data:,x"]) | _values,
        "languages": st.lists(st.sampled_from(["en", "de", "pt-BR", "x", "\ud800"])) | _values,
        "output_format": st.sampled_from(["text", "markdown", "json", "pdf"]) | _values,
        "model": _values,
    },
)


@settings(max_examples=int(os.environ.get("MASSGEN_FUZZ_EXAMPLES", 200)), deadline=None)
@given(body=_bodies)
def test_fuzzed_ocr_bodies_are_taken_or_one_400(body: dict[str, Any]) -> None:
    try:
        parsed = parse_request(body)
    except BadRequest as refused:
        assert refused.status == 400 and refused.param
    else:
        assert isinstance(parsed, OCRRequest) and parsed.output_format in (
            "text",
            "markdown",
            "json",
        )


def test_a_request_may_pick_the_team_on_another_model(
    client: Client, provider: FakeChatServer
) -> None:
    # every agent on the first reader's endpoint with model r9 (massgen/model:<id>, as in
    # chat): the blind agent's backend is replaced too, so four agents read
    provider.enqueue_for("r9", *[Reply(text="EXIT")] * 4)
    result = client.vision.ocr(DATA_URL, model="massgen/model:r9")
    assert (result.text, result.confidence) == ("EXIT", 1.0)
    assert [r.model for r in provider.requests] == ["r9"] * 4
