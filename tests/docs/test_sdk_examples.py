"""The peer platform's SDK examples (``../shared/reference/helixagent-sdk.md``, extracted into
``sdk_examples.json`` by ``extract_sdk_examples.py``), run against a real ``massgen serve``
over the fake provider with only their import lines changed::

    from helixagent import HelixAgent  ->  from massgen.client import Client as HelixAgent

The names the document carries from one example to the next (``client``, ``task``,
``prompts``, and the imports of earlier examples: :data:`CARRIED`) are given;
``MASSGEN_BASE_URL`` points the clients the examples make at the server, and the document's
placeholder hosts (the peer's own, the reader's webhook receiver) become this machine's.
Examples that use Flask, circuitbreaker, vcrpy or structlog run with those libraries (test
dependencies), and what they set up is exercised (the Flask receiver gets a real delivery).
Each example is classified in :data:`HOW`: ``runs``; ``refused`` (massgen refuses what it
asks for with a 400 naming the field given: the peer's Cognee options); ``later``
(``xfail(strict=True)`` naming what it needs, so the test fails the day it lands and must be
un-marked); ``external`` (a library massgen does not depend on)."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from massgen.client import Client
from massgen.client.exceptions import ValidationError
from tests.docs.extract_sdk_examples import DEFAULT_SOURCE, OUT, extract
from tests.fakes.chat_server import FakeChatServer
from tests.server.conftest import massgen_serve
from tests.server.support import SECRET_KEY, Receiver, team

EXAMPLES: list[dict[str, Any]] = json.loads(OUT.read_text(encoding="utf-8"))
KEY = "your-api-key"
#: A 1x1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)

#: The MCP examples run over the tests' own MCP server (``--files``: its tool ``read_file``,
#: allowed with ``--mcp-allow-tool read_file``); the example reads this machine's name.
MCP_SERVER = {
    "name": "files",
    "command": sys.executable,
    "args": ["-m", "tests.fakes.mcp_server", "--files"],
}
HOSTNAME = Path("/etc/hostname").read_text().strip() if Path("/etc/hostname").is_file() else ""
#: The reader's own arguments where an example writes ``create(...)``.
PLACEHOLDERS = {
    "session.chat.completions.create": "model='massgen', messages=messages",
    "session.debates.create": (
        "{'topic': 'Tabs or spaces?', 'maximal_repeat_rounds': 1,"
        " 'participants': [{'name': 'Tabs'}, {'name': 'Spaces'}]}"
    ),
}
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
    246: ("runs", "MCP Version: 2026-07-28"),
    254: ("runs", "Tool: echo - Repeat the text back."),
    262: ("runs", f"Result: {HOSTNAME}"),
    272: ("runs", "Prompt: review - Ask for a review of a piece of code."),
    280: ("runs", "Resource: notes - Today's notes."),
    290: ("runs", "vllm: ok - 1 models"),
    298: ("runs", "Overall status: ok"),
    309: ("runs", ""),
    336: ("runs", ""),
    352: ("runs", ""),
    362: ("runs", ""),
    377: ("runs", ""),
    400: ("runs", "same session: Final answer"),
    411: ("runs", ""),
    437: ("runs", "Success rate:"),
    473: ("runs", "Embedding 1: dimensions=256"),
    488: ("runs", "Similarity: "),
    512: ("runs", "What's in this image?"),
    534: ("runs", ""),
    559: ("runs", "Confidence: "),
    574: ("runs", "Task created: task_"),
    593: ("runs", "Result: Final answer"),
    613: ("runs", "Task completed!"),
    629: ("runs", "[completed]"),
    649: ("runs", "Webhook created: "),
    662: ("runs", "Flask received task.completed, signed"),
    690: ("runs", "Hello"),
    711: ("runs", ""),
    733: ("runs", "Tell me a story"),
    757: ("runs", ""),
    781: ("runs", "through the circuit: Final answer: Hello"),
    802: ("runs", ""),
    827: ("runs", "replayed from the cassette without a request"),
    846: ("runs", ""),
    872: ("runs", ""),
    897: ("runs", '"event": "api_response"'),
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
        agents["agents"][0]["backend"]["mcp_servers"] = [MCP_SERVER]
        config.write_text(yaml.safe_dump(agents))
        args = ["--api-key", KEY, "--api-key", "test-key", "--secret-key", SECRET_KEY]
        args += ["--db", f"sqlite:///{folder / 'tasks.db'}"]
        args += ["--embeddings", "openai/text-embedding-3-small"]  # served by the fake too
        # the Flask example's receiver reads the peer's signature header, on 127.0.0.1
        args += ["--webhook-signature-header", "X-HelixAgent-Signature"]
        args += ["--webhook-allow", "127.0.0.1/32"]
        args += ["--mcp-allow-tool", "read_file"]
        env = {"OPENAI_BASE_URL": provider.url, "OPENAI_API_KEY": "sk-fake"}
        with massgen_serve(Path(config), *args, env=env) as process:
            yield process.url


def _flask_receives_a_real_delivery(namespace: dict[str, Any], client: Client) -> None:
    """The Flask example's app, served on 127.0.0.1, receives a signed ``task.completed``
    from the server and refuses a forged one."""
    from werkzeug.serving import make_server

    handled: list[dict[str, Any]] = []
    namespace["handle_task_completed"] = handled.append
    namespace["handle_debate_finished"] = handled.append
    server = make_server("127.0.0.1", 0, namespace["app"], threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/webhooks/helixagent"
    webhook = client.webhooks.create(
        url=url, events=["task.completed"], secret="your-webhook-secret"
    )
    try:
        task = client.tasks.create([{"role": "user", "content": "Deliver me"}])
        deadline = time.monotonic() + 60
        while not any(e["data"]["id"] == task.id for e in handled):
            assert time.monotonic() < deadline, "the webhook never reached the Flask app"
            time.sleep(0.1)
        forged = httpx.post(
            url, json={"type": "task.completed"}, headers={"X-HelixAgent-Signature": "t=1,v1=00"}
        )
        assert forged.status_code == 401
        print("Flask received task.completed, signed")
    finally:
        client.webhooks.delete(webhook.id)
        server.shutdown()


def _circuit_passes_a_call(namespace: dict[str, Any]) -> None:
    response = namespace["safe_request"]("massgen", [{"role": "user", "content": "Hello"}])
    print("through the circuit:", response.choices[0].message.content)


def _cassette_records_then_replays(namespace: dict[str, Any], client: Client) -> None:
    """The VCR example's test, run twice: recorded from the server, then replayed from the
    cassette (the server counts no second request)."""

    def chat_requests() -> int:
        text = httpx.get(
            f"{os.environ['MASSGEN_BASE_URL']}/metrics",
            headers={"Authorization": f"Bearer {KEY}"},
        ).text
        return sum(
            int(float(line.rsplit(" ", 1)[1]))
            for line in text.splitlines()
            if line.startswith("massgen_http_requests_total")
            and 'route="/v1/chat/completions"' in line
        )

    start = chat_requests()
    namespace["test_chat_completion"]()  # recorded: the server answers
    cassette = Path("fixtures/chat_completion.yaml")
    assert "/v1/chat/completions" in cassette.read_text()
    deadline = time.monotonic() + 10
    while chat_requests() != start + 1:  # counted once the response has gone out
        assert time.monotonic() < deadline, "the recorded request never reached the server"
        time.sleep(0.05)
    namespace["test_chat_completion"]()  # replayed
    time.sleep(0.3)
    if chat_requests() == start + 1:
        print("replayed from the cassette without a request")


def _structlog_events(namespace: dict[str, Any], client_of_example: Any) -> None:
    """The structlog example's logger writes the client's events as JSON lines."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)  # the client logs its events at DEBUG
    try:
        client_of_example.chat.completions.create(
            model="massgen", messages=[{"role": "user", "content": "Hello"}]
        )
    finally:
        root.removeHandler(handler)
        root.setLevel(old)
    # the root logger also hears httpx's own lines: the example's are the JSON ones
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]
    assert {"api_request", "api_response"} <= {line["event"] for line in lines}
    assert all(KEY not in json.dumps(line) for line in lines)
    print("\n".join(json.dumps(line) for line in lines))


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
    # the reader's own webhook receiver: one on 127.0.0.1 (the server allows loopback here)
    receiver = Receiver().__enter__()
    request.addfinalizer(lambda: receiver.__exit__(None, None, None))
    code = code.replace('"https://your-server.com/webhooks/helixagent"', repr(receiver.url))
    for call, arguments in PLACEHOLDERS.items():  # create(...): the reader's own arguments
        code = code.replace(f"{call}(...)", f"{call}({arguments})")
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
            elif example["line"] == 400:
                print("same session:", namespace["response1"].choices[0].message.content)
                assert namespace["response2"].status in ("queued", "running", "completed")
            elif example["line"] == 649:
                client.webhooks.delete(namespace["webhook"].id)
            elif example["line"] == 662:
                _flask_receives_a_real_delivery(namespace, client)
            elif example["line"] == 781:
                _circuit_passes_a_call(namespace)
            elif example["line"] == 827:
                _cassette_records_then_replays(namespace, client)
            elif example["line"] == 897:
                _structlog_events(namespace, namespace["client"])
    if refused is not None:
        assert refused.excinfo.value.param == note
        assert refused.excinfo.value.status_code == 400
        return
    assert note in out.getvalue()
