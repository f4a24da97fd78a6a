"""The media tools in the hands of the agent types that run their own agent loop: a
``claude_code`` agent (the real Claude Code CLI against the fake Anthropic server), a ``codex``
agent (the real Codex CLI against the fake Responses server) and an ``ag2`` agent (AG2's
client against the fake Chat Completions server) each call ``generate_image`` and
``understand_image`` through their own tool path (Claude Code's SDK MCP server, Codex's MCP
bridge, AG2's function calls), in a real run (``massgen.run``).

The image is made by the fake Images API and described by a fake vision model, both on one
fake Chat Completions server: the PNG lands in the agent's workspace and the session's
artifacts, the events name it, the vision model is sent its very bytes, and its description
reaches the agent's model; a path outside the agent's grants is one error result and the run
goes on."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import tempfile
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

import massgen
from massgen.testing import CoordinationBrain, FakeChatServer, Reply
from massgen.testing.chat_wire import Brain, text_of, tool_named
from tests.backends.test_codex import codex_binary
from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.responses_server import FakeResponsesServer
from tests.tools import media_files

KEY = "sk-fake-media-agents-0123456789"
VISION = "vision-fake"
DESCRIPTION = "A red fox sitting in fresh snow."
MEDIA_TOOLS = {
    "generate_image", "generate_audio", "generate_video",
    "understand_image", "understand_audio", "understand_video", "understand_file",
}  # fmt: skip


def own_results(body: dict[str, Any]) -> list[tuple[str, str]]:
    """The results of the agent's own tool calls in a chat-shaped request, in order."""
    names: dict[str, str] = {}
    out = []
    for message in body.get("messages") or ():
        for call in message.get("tool_calls") or ():
            names[call.get("id", "")] = (call.get("function") or {}).get("name", "")
        if message.get("role") == "tool":
            name = names.get(message.get("tool_call_id", ""), message.get("name") or "")
            if name not in ("new_answer", "vote"):
                out.append((name, text_of(message.get("content"))))
    return out


class Painter:
    """A fake model: in its first turn it draws a fox, looks at a file it may not read, then
    at the fox, and answers quoting what its tools said (the default workflow after that);
    as the vision model it describes the picture."""

    def __init__(self, outside: Path) -> None:
        self.outside = outside
        self.workflow = CoordinationBrain()

    def __call__(self, body: dict[str, Any]) -> Reply:
        if body.get("model") == VISION:
            return Reply(text=DESCRIPTION)
        done = own_results(body)
        prose = " ".join(
            text_of(m.get("content")) for m in body.get("messages") or () if m["role"] != "tool"
        )
        if tool_named(body, "generate_image") and "media/fox.png" not in prose:
            plan = [
                ("generate_image", {"prompt": "a red fox in snow", "name": "fox"}),
                ("understand_image", {"path": str(self.outside)}),
                ("understand_image", {"path": "media/fox.png"}),
            ]
            if len(done) < len(plan):
                name, arguments = plan[len(done)]
                return Reply(tool_calls=[(name, json.dumps(arguments))])
        return self.workflow(body)


def claude_code(stack: ExitStack, brain: Brain, monkeypatch: pytest.MonkeyPatch) -> Any:
    pytest.importorskip("claude_agent_sdk", reason="the claude-code extra is not installed")
    for name in ("ANTHROPIC_API_KEY", "CLAUDE_CODE_API_KEY", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    server = stack.enter_context(FakeAnthropicServer(api_key=KEY, brain=brain))
    backend = {"type": "claude_code", "model": "claude-sonnet-4-5", "base_url": server.url,
               "api_key": KEY}  # fmt: skip
    return server, backend


def codex(stack: ExitStack, brain: Brain, monkeypatch: pytest.MonkeyPatch) -> Any:
    binary = codex_binary()
    if binary is None:
        pytest.skip(
            "the Codex CLI is not installed: npm install --prefix ../.npm-codex @openai/codex"
        )
    for name in ("CODEX_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL", "CODEX_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MASSGEN_CODEX_BIN", binary)
    server = stack.enter_context(FakeResponsesServer(api_key=KEY, brain=brain))
    return server, {"type": "codex", "model": "gpt-5-mini", "base_url": server.url, "api_key": KEY}


def ag2(stack: ExitStack, brain: Brain, monkeypatch: pytest.MonkeyPatch) -> Any:
    pytest.importorskip("autogen", reason="the ag2 extra is not installed")
    server = stack.enter_context(FakeChatServer(api_key=KEY, brain=brain))
    entry = {"model": "gpt-4o", "api_key": KEY, "base_url": server.url}
    return server, {"type": "ag2", "llm_config": {"config_list": [entry]}}


def offered(request: Any) -> set[str]:
    """The tool names a model request offers, in the agent type's own shape."""
    names = set()
    for tool in request.body.get("tools") or ():
        if tool.get("type") == "namespace":  # Codex: an MCP server's tools
            names |= {f"{tool['name']}__{t['name']}" for t in tool.get("tools") or ()}
        else:
            names.add(tool.get("name") or (tool.get("function") or {}).get("name"))
    return names


@pytest.mark.parametrize(
    ("make", "prefix"),
    [(claude_code, "mcp__massgen__"), (codex, "mcp__massgen__"), (ag2, "")],
    ids=["claude_code", "codex", "ag2"],
)
def test_the_agent_generates_an_image_and_understands_it_through_its_own_tool_path(
    tmp_path, monkeypatch, make, prefix
):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # the CLIs keep their state there
    outside = media_files.png(tmp_path / "secret.png", "blue")  # not granted to the agent
    painter = Painter(outside)
    with ExitStack() as stack:
        media = stack.enter_context(FakeChatServer(api_key=KEY, brain=painter))
        server, backend = make(stack, painter, monkeypatch)
        model = {"type": "chatcompletion", "base_url": media.url, "api_key": KEY}
        config = {
            "agents": [{
                "id": "painter",
                "backend": backend,
                "generation": {"image": {"base_url": media.url, "api_key": KEY},
                               "audio": {"base_url": media.url, "api_key": KEY},
                               "video": {"base_url": media.url, "api_key": KEY}},
                "understanding": {"image_model": {**model, "model": VISION, "vision": True},
                                  "audio_model": {**model, "model": "whisper-1"}},
            }],
        }  # fmt: skip
        result = asyncio.run(
            massgen.run("Draw a fox and say what it shows", config=config, enable_logging=True,
                        log_dir=tmp_path / "logs")
        )  # fmt: skip
        seen = [r for r in media.requests if r.model == VISION]
        agent_requests = [r for r in server.requests if r.model != VISION]

    session = Path(result["session_dir"])
    events = [json.loads(line) for line in (session / "events.jsonl").read_text().splitlines()]
    # every media tool reached the agent's model, under the name its type gives massgen's tools
    assert {prefix + name for name in MEDIA_TOOLS} <= offered(agent_requests[0])

    # the PNG is in the agent's workspace and the session's artifacts, and the events name it
    [artifact] = result["artifacts"]
    assert artifact["agent"] == "painter" and artifact["tool"] == "generate_image"
    saved, mine = Path(artifact["path"]), Path(artifact["workspace_path"])
    assert saved.parent == session / "artifacts" and saved.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert mine.parts[-2:] == ("media", "fox.png") and mine.read_bytes() == saved.read_bytes()
    [announced] = [e for e in events if e["type"] == "artifact_saved"]
    assert announced["agent_id"] == "painter" and announced["name"] == artifact["name"]
    finished = [e for e in events if e["type"] == "tool_call_finished"]
    [made] = [e for e in finished if e["name"] == "generate_image"]
    assert not made["is_error"] and "Saved the image as media/fox.png" in made["result"]

    # the path outside its grants is one error result; the fox reaches the vision model
    refused, looked = [e for e in finished if e["name"] == "understand_image"]
    assert refused["is_error"] and "outside the paths you may read" in refused["result"]
    assert not looked["is_error"] and looked["result"] == DESCRIPTION
    [vision] = seen  # the refused path never reached it
    [url] = [
        part["image_url"]["url"]
        for message in vision.body["messages"]
        if isinstance(message.get("content"), list)
        for part in message["content"]
        if part.get("type") == "image_url"
    ]
    assert base64.b64decode(url.split(",", 1)[1]) == saved.read_bytes()

    # the description came back to the agent's model, and the run went on to its answer
    assert DESCRIPTION in json.dumps([r.body for r in agent_requests])
    said = re.escape(DESCRIPTION)  # Codex puts its wall time before a tool's output
    assert re.search(rf"\[understand_image said: [^\]]*{said}\]", result["final_answer"])


def test_a_codex_agent_waits_for_a_generation_as_long_as_massgen_does(tmp_path, monkeypatch):
    """Codex bounds each MCP tool call itself: its bound is past massgen's bound on the
    agent's longest tool (here a video allowed 25 minutes), not its own ten minutes."""
    marker = f"media-agent-{uuid.uuid4().hex}"

    def codex_tool_timeout() -> str:
        """The tool timeout in the running Codex agent's own config."""
        for path in Path(tempfile.gettempdir()).glob("massgen-codex-*/config.toml"):
            text = path.read_text()
            if marker in text:
                return re.findall(r"^tool_timeout_sec = \d+$", text, re.M)[0]
        return "no config"

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    brain = CoordinationBrain(tool_plan={"codex_tool_timeout": {}})
    with ExitStack() as stack:
        media = stack.enter_context(FakeChatServer(api_key=KEY))
        _, backend = codex(stack, brain, monkeypatch)
        video = {"base_url": media.url, "api_key": KEY, "timeout_seconds": 1500}
        config = {
            "agents": [{"id": "filmer", "backend": backend, "system_message": marker,
                        "generation": {"video": video}}],
        }  # fmt: skip
        result = asyncio.run(massgen.run("Film the sea", config=config, tools=[codex_tool_timeout]))
    # 1,500 s for the video, 30 s for massgen to save it, 30 s for the answer to come back
    assert "tool_timeout_sec = 1560" in result["final_answer"]
