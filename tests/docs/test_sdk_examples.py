"""The peer platform's SDK examples (``../shared/reference/helixagent-sdk.md``, extracted into
``sdk_examples.json`` by ``extract_sdk_examples.py``), run against a real ``massgen serve``
over the fake provider with only their import lines changed::

    from helixagent import HelixAgent  ->  from massgen.client import Client as HelixAgent

The names the document carries from one example to the next (``client``, ``task``,
``prompts``, and the imports of earlier examples: :data:`CARRIED`) are given; ``MASSGEN_BASE_URL`` points the clients the examples make at the
server. Each example is classified in :data:`HOW`: ``runs``; ``refused`` (massgen refuses
what it asks for with a 400 naming the field given: the peer's Cognee options); ``later`` (``xfail(strict=True)``
naming the server endpoint or client option it needs, so the test fails the day it lands and
must be un-marked); ``external`` (a library massgen does not depend on)."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from massgen.client import Client
from massgen.client.exceptions import ValidationError
from tests.docs.extract_sdk_examples import DEFAULT_SOURCE, OUT, extract
from tests.fakes.chat_server import FakeChatServer
from tests.server.conftest import massgen_serve
from tests.server.support import SECRET_KEY, team

EXAMPLES: list[dict[str, Any]] = json.loads(OUT.read_text(encoding="utf-8"))
KEY = "your-api-key"
#: A 1x1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)

MCP = "needs the MCP endpoints (capabilities, tools, tools/call, prompts, resources)"
OCR = "needs vision.ocr (the team's readings compared, with a confidence)"
#: line -> (kind, why / what it prints)
HOW: dict[int, tuple[str, str]] = {
    23: ("runs", "Explain quantum computing"),
    47: ("runs", ""),
    65: ("runs", "What is machine learning?"),
    86: ("runs", "Tell me a story"),
    100: ("runs", "Confidence: 1.0"),
    121: ("runs", "The future of technology is"),
    135: ("runs", "Write a haiku about programming:"),
    150: ("runs", "Debate created: ai-ethics-debate-001"),
    182: ("runs", "Progress: Round "),
    196: ("runs", "EthicsExpert: 4 responses, avg quality: 0.0"),
    210: ("refused", "enable_cognee"),
    246: ("later", MCP),
    254: ("later", MCP),
    262: ("later", MCP),
    272: ("later", MCP),
    280: ("later", MCP),
    290: ("runs", "vllm: ok - 1 models"),
    298: ("runs", "Overall status: ok"),
    309: ("runs", ""),
    336: ("later", "a requests session (session=): massgen.client takes http_client=httpx.Client"),
    352: ("runs", ""),
    362: ("runs", ""),
    377: ("runs", ""),
    400: ("later", "placeholder arguments: create(...) passes an Ellipsis, not a request"),
    411: ("runs", ""),
    437: ("runs", "Success rate:"),
    473: ("runs", "Embedding 1: dimensions=256"),
    488: ("runs", "Similarity: "),
    512: ("runs", "What's in this image?"),
    534: ("runs", ""),
    559: ("later", OCR),
    574: ("runs", "Task created: task_"),
    593: ("runs", "Result: Final answer"),
    613: ("runs", "Task completed!"),
    629: ("runs", "[completed]"),
    649: (
        "later",
        "its host your-server.com must resolve (a target is resolved and checked when "
        "registered), and it does not offline",
    ),
    662: ("external", "Flask is not a dependency of massgen"),
    690: ("runs", "Hello"),
    711: ("runs", ""),
    733: ("runs", "Tell me a story"),
    757: ("runs", ""),
    781: ("external", "circuitbreaker is not a dependency of massgen"),
    802: ("runs", ""),
    827: ("external", "vcrpy is not a dependency of massgen"),
    846: ("runs", ""),
    872: ("runs", ""),
    897: ("external", "structlog is not a dependency of massgen (a structlog-style logger= works)"),
    923: ("runs", ""),
    943: ("runs", ""),
}
#: The only change to an example: its imports of the peer SDK.
IMPORTS = {
    "HelixAgent": "Client as HelixAgent",
    "AsyncHelixAgent": "AsyncClient as AsyncHelixAgent",
    "HelixAgentClient": "Client as HelixAgentClient",
    "ChatCompletionResponse": "ChatCompletion as ChatCompletionResponse",
    "Message": "ChatMessage as Message",
}
#: The imports of earlier examples that later ones use without repeating them.
CARRIED = "import asyncio, json, time\nfrom helixagent import HelixAgent, AsyncHelixAgent\n"
_IMPORT = re.compile(r"from helixagent(\.\w+)? import (\(.*?\)|[^\n]*)", re.S)


def with_massgen_imports(code: str) -> str:
    def swap(match: re.Match[str]) -> str:
        module = {None: "massgen.client", ".client": "massgen.client"}.get(
            match.group(1), f"massgen.client{match.group(1)}"
        )
        names = [n.strip() for n in match.group(2).strip("()").split(",") if n.strip()]
        return f"from {module} import {', '.join(IMPORTS.get(n, n) for n in names)}"

    return _IMPORT.sub(swap, code)


def test_every_example_is_classified_and_the_copy_is_current() -> None:
    assert {e["line"] for e in EXAMPLES} == set(HOW)
    if DEFAULT_SOURCE.is_file():  # where the reference docs are next to the repo
        assert extract(DEFAULT_SOURCE) == EXAMPLES, "run python -m tests.docs.extract_sdk_examples"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("sdk")
    with FakeChatServer() as provider:
        config = folder / "team.yaml"
        agents = team(provider, 3)  # the ensemble example asks for min_providers: 3
        for agent in agents["agents"]:
            agent["backend"]["vision"] = True
        config.write_text(yaml.safe_dump(agents))
        args = ["--api-key", KEY, "--api-key", "test-key", "--secret-key", SECRET_KEY]
        args += ["--db", f"sqlite:///{folder / 'tasks.db'}"]
        args += ["--embeddings", "openai/text-embedding-3-small"]  # served by the fake too
        env = {"OPENAI_BASE_URL": provider.url, "OPENAI_API_KEY": "sk-fake"}
        with massgen_serve(Path(config), *args, env=env) as process:
            yield process.url


def _mock_client_test(namespace: dict[str, Any]) -> None:
    """The "Mock Client" example defines a test of the reader's ``my_feature``: run it."""
    namespace["my_feature"] = lambda c: (
        c.chat.completions.create(model="m", messages=[]).choices[0].message.content
    )
    namespace["test_my_feature"]()


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: f"sdk:{e['line']}")
def test_sdk_example(
    example: dict[str, Any], request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    kind, note = HOW[example["line"]]
    if kind == "external":
        pytest.skip(note)
    if kind == "later":
        request.applymarker(pytest.mark.xfail(strict=True, reason=note))
    url = request.getfixturevalue("served")
    monkeypatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setenv("MASSGEN_BASE_URL", url)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "image.png").write_bytes(PNG)  # the reader's own image
    code = with_massgen_imports(example["code"])
    code = code.replace('"https://api.helixagent.ai"', repr(url))  # the peer's own host
    code = code.replace('"http://localhost:7061"', repr(url))
    logger = logging.getLogger(f"tests.docs.sdk.{example['line']}")  # enable_logging() sets it
    with Client(api_key=KEY, logger=logger) as client:
        task = client.tasks.create([{"role": "user", "content": "Analyze this large codebase"}])
        namespace: dict[str, Any] = {
            "__name__": "sdk_example",
            "client": client,
            "task": task,
            "prompts": ["The future of technology is", "Write a haiku"],
            "messages": [{"role": "user", "content": "Hello"}],
        }
        if example["line"] == 488:  # the document the semantic-search example compares with
            namespace["document_embed"] = client.embeddings.create(
                model="text-embedding-3-small", input=["Sign in with an API key or a JWT."]
            )
        exec(with_massgen_imports(CARRIED), namespace)
        out = io.StringIO()
        refused = pytest.raises(ValidationError) if kind == "refused" else None
        with contextlib.redirect_stdout(out), refused or contextlib.nullcontext():
            exec(compile(code, f"helixagent-sdk.md:{example['line']}", "exec"), namespace)
            if example["line"] == 802:
                _mock_client_test(namespace)
    if refused is not None:
        assert refused.excinfo.value.param == note
        assert refused.excinfo.value.status_code == 400
        return
    assert note in out.getvalue()
