"""The ``codex`` backend: the real Codex CLI (``@openai/codex`` from npm) run against the fake
Responses server on 127.0.0.1, with massgen's tools reaching it through the MCP bridge.

The CLI is found as massgen finds it (``MASSGEN_CODEX_BIN``, else ``codex`` on PATH), or at
``.npm-codex/node_modules/.bin/codex`` beside this checkout (``npm install --prefix
../.npm-codex @openai/codex``); without it these tests are skipped, saying so.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

from massgen.backends.base import Backend
from massgen.backends.errors import BackendError
from massgen.backends.registry import check_can_run, create_backend, resolve_api_key
from massgen.config.schema import BackendConfig
from massgen.errors import ConfigurationError
from massgen.messages import (
    Chunk,
    DoneChunk,
    Message,
    TextChunk,
    ToolCall,
    ToolCallChunk,
    ToolSpec,
    UsageChunk,
)
from massgen.tools.bubblewrap import bubblewrap_works
from massgen.tools.lending import AgentTurn, ToolReply
from tests.fakes.chat_server import CoordinationBrain
from tests.fakes.responses_server import FakeResponsesServer

REPO = Path(__file__).resolve().parents[2]
#: Where the tests look for the CLI after the variable and PATH.
BESIDE = REPO.parent / ".npm-codex" / "node_modules" / ".bin" / "codex"


def codex_binary() -> str | None:
    """The Codex CLI these tests run, or None."""
    given = os.environ.get("MASSGEN_CODEX_BIN")
    if given:
        return given
    return shutil.which("codex") or (str(BESIDE) if os.access(BESIDE, os.X_OK) else None)


CODEX = codex_binary()
pytestmark = pytest.mark.skipif(
    CODEX is None,
    reason="the Codex CLI is not installed: npm install --prefix ../.npm-codex @openai/codex "
    "(or set MASSGEN_CODEX_BIN)",
)

KEY = "sk-codex-test-7777"
MODEL = "gpt-5-mini"
NEW_ANSWER = ToolSpec(
    "new_answer",
    "Give your answer.",
    {"type": "object", "properties": {"content": {"type": "string"}}, "required": ["content"]},
)
ADD = ToolSpec(
    "add",
    "Add two numbers.",
    {
        "type": "object",
        "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
        "required": ["a", "b"],
    },
)
QUESTION = [Message("system", "You are agent1."), Message("user", "What is 2+2?")]


@pytest.fixture(autouse=True)
def user_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user HOME with a ``~/.codex`` of its own (which massgen must leave alone)."""
    for name in ("CODEX_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL", "CODEX_HOME"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    (home / ".codex").mkdir(parents=True)
    (home / ".codex" / "config.toml").write_text('model = "the-users-own-model"\n')
    monkeypatch.setenv("HOME", str(home))
    if CODEX is not None:
        monkeypatch.setenv("MASSGEN_CODEX_BIN", CODEX)
    return home


@pytest.fixture
def server() -> Any:
    with FakeResponsesServer(api_key=KEY) as fake:
        yield fake


def make(server: FakeResponsesServer | None, tmp_path: Path, **fields: Any) -> Backend:
    values: dict[str, Any] = {"type": "codex", "model": MODEL, "cwd": str(tmp_path / "ws")}
    if server is not None:
        values.update(base_url=server.url, api_key=KEY)
    return create_backend(BackendConfig(**{**values, **fields}))


async def run(
    backend: Backend, tools: list[ToolSpec] | None = None, turn: AgentTurn | None = None
) -> list[Chunk]:
    async def no_tools(call: ToolCall) -> ToolReply:
        raise AssertionError(f"unexpected tool {call.name}")

    lent = turn or AgentTurn(no_tools)
    return [chunk async for chunk in backend.stream(QUESTION, tools, turn=lent)]


def of(chunks: list[Chunk], kind: type) -> list[Any]:
    return [c for c in chunks if isinstance(c, kind)]


def offered(request: Any) -> dict[str, list[str]]:
    """The tools of a request: namespace (or "") -> function names."""
    out: dict[str, list[str]] = {}
    for tool in request.body.get("tools") or ():
        if tool.get("type") == "namespace":
            out[tool["name"]] = [t["name"] for t in tool.get("tools") or ()]
        else:
            out.setdefault("", []).append(tool.get("name") or tool.get("type"))
    return out


# ------------------------------------------------------------------ workflow, tools, usage


async def test_a_workflow_call_reaches_massgen_through_the_mcp_bridge_with_usage(server, tmp_path):
    backend = make(server, tmp_path)
    try:
        chunks = await run(backend, [NEW_ANSWER])
    finally:
        await backend.aclose()
    [call] = of(chunks, ToolCallChunk)
    assert call.call.name == "new_answer"
    assert "to: What is 2+2?" in call.call.parsed_arguments()["content"]
    assert not of(chunks, TextChunk)  # its closing words after the action are not an answer
    [usage] = of(chunks, UsageChunk)  # turn.completed's usage: both model calls of the turn
    sent = [r.body for r in server.requests]
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.cached_tokens > 0  # the second call repeats the first's prompt
    assert chunks[-1] == DoneChunk("tool_calls")
    first = server.requests[0]
    assert first.headers["authorization"] == f"Bearer {KEY}"
    assert first.body["model"] == MODEL
    tools = offered(first)
    assert tools["mcp__massgen"] == ["new_answer"]  # massgen's tools, as an MCP server
    # its own shell, patching and web search are off: no file or command outside massgen
    own = {"exec_command", "shell", "apply_patch", "local_shell", "web_search", "view_image"}
    assert not own & set(tools.get("", [])), tools
    assert "You are agent1." in json.dumps(sent[0]["input"])


async def test_the_agents_own_tools_run_through_the_engine(tmp_path):
    ran: list[ToolCall] = []

    async def run_tool(call: ToolCall) -> ToolReply:
        ran.append(call)
        return ToolReply("5")

    brain = CoordinationBrain(tool_plan={"add": {"a": 2, "b": 3}})
    with FakeResponsesServer(api_key=KEY, brain=brain) as server:
        backend = make(server, tmp_path)
        try:
            chunks = await run(backend, [ADD, NEW_ANSWER], AgentTurn(run_tool, frozenset({"add"})))
        finally:
            await backend.aclose()
    assert [(c.name, c.parsed_arguments()) for c in ran] == [("add", {"a": 2, "b": 3})]
    [call] = of(chunks, ToolCallChunk)
    assert re.search(r"\[add said: .*\b5\]", call.call.parsed_arguments()["content"], re.S)


async def test_a_failed_own_tool_reaches_codex_marked_as_an_error(tmp_path):
    """The bridge answers Codex's MCP call with ``isError`` when the engine says the tool
    failed (Codex records it as a failed call; the Responses API is sent the same text)."""
    import sys

    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    from massgen.backends.codex_relay import Relay

    replies = {"add": ToolReply("5"), "div": ToolReply("Error: div: by zero", is_error=True)}

    async def run_tool(call: ToolCall) -> ToolReply:
        return replies[call.name]

    div = ToolSpec("div", "Divide.", ADD.parameters)
    turn = AgentTurn(run_tool, frozenset({"add", "div"}))
    socket = tmp_path / "bridge.sock"
    bridge = StdioServerParameters(
        command=sys.executable, args=["-m", "massgen.backends.codex_bridge", str(socket)]
    )
    async with Relay(socket, [ADD, div], turn), Client(bridge) as session:
        good = await session.call_tool("add", {"a": 2, "b": 3})
        bad = await session.call_tool("div", {"a": 2, "b": 0})
    assert not good.is_error and good.content[0].text == "5"
    assert bad.is_error and bad.content[0].text == "Error: div: by zero"


async def test_a_presentation_streams_the_final_text(server, tmp_path):
    backend = make(server, tmp_path)
    try:
        chunks = await run(backend, [])
    finally:
        await backend.aclose()
    text = "".join(c.text for c in of(chunks, TextChunk))
    assert text.startswith("Final answer: What is 2+2?")
    assert chunks[-1] == DoneChunk("stop") and of(chunks, UsageChunk)[0].prompt_tokens > 0


# ------------------------------------------------------------------ its home, not the user's


async def test_the_provider_config_lands_in_the_agents_own_home(server, tmp_path, user_home):
    before = {p: p.read_bytes() for p in (user_home / ".codex").rglob("*") if p.is_file()}
    backend = make(server, tmp_path)
    chunks = await run(backend, [NEW_ANSWER])
    assert of(chunks, ToolCallChunk)
    home = backend.home  # type: ignore[attr-defined]
    config = (home / "config.toml").read_text()
    assert home.stat().st_mode & 0o077 == 0 and not home.is_relative_to(user_home)
    assert 'model_provider = "massgen"' in config
    assert f'base_url = "{server.url}"' in config
    assert 'wire_api = "responses"' in config and "supports_websockets = false" in config
    assert 'env_key = "MASSGEN_CODEX_API_KEY"' in config
    assert KEY not in config  # the key reaches Codex through its environment only
    assert "the-users-own-model" not in json.dumps([r.body for r in server.requests])
    after = {p: p.read_bytes() for p in (user_home / ".codex").rglob("*") if p.is_file()}
    assert after == before  # the user's ~/.codex untouched, nothing added
    await backend.aclose()
    assert not home.exists()  # removed with the run


# ------------------------------------------------------------------ errors and cancellation


async def test_a_rejected_key_is_an_authentication_error_in_one_line(server, tmp_path):
    backend = make(server, tmp_path, api_key="sk-wrong-key-9999", max_retries=0)
    try:
        with pytest.raises(BackendError) as error:
            await run(backend, [NEW_ANSWER])
    finally:
        await backend.aclose()
    message = str(error.value)
    assert type(error.value).__name__ == "AuthenticationError", message
    assert "\n" not in message and "sk-wrong-key-9999" not in message


def codex_processes() -> list[psutil.Process]:
    """Running processes this test process started for Codex (the CLI, the bridge)."""
    out = []
    for child in psutil.Process().children(recursive=True):
        try:
            line = " ".join(child.cmdline())
            if ("codex" in line) and child.status() != psutil.STATUS_ZOMBIE:
                out.append(child)
        except psutil.Error:
            continue
    return out


async def test_cancelling_a_turn_ends_the_cli_and_everything_it_started(tmp_path):
    with FakeResponsesServer(api_key=KEY, ttft=60) as server:
        backend = make(server, tmp_path)
        task = asyncio.create_task(run(backend, [NEW_ANSWER]))
        for _ in range(400):
            if server.requests:
                break
            await asyncio.sleep(0.05)
        running = codex_processes()
        names = " ".join(" ".join(p.cmdline()) for p in running)
        assert "exec" in names and "codex_bridge" in names, names  # the CLI and the bridge
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        _, alive = psutil.wait_procs(running, timeout=10)
        assert alive == [] and codex_processes() == []
        await backend.aclose()


# ------------------------------------------------------------------ config and validation


def test_the_key_is_codex_api_key_then_openai_api_key(monkeypatch):
    config = BackendConfig(type="codex", model=MODEL)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-fallback")
    assert resolve_api_key(config) == "sk-openai-fallback"
    monkeypatch.setenv("CODEX_API_KEY", "sk-codex-first")
    assert resolve_api_key(config) == "sk-codex-first"


def test_a_missing_cli_is_one_line_at_validation(monkeypatch, tmp_path):
    monkeypatch.delenv("MASSGEN_CODEX_BIN")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigurationError, match=r"agents\[0\]: codex needs the Codex CLI"):
        check_can_run(BackendConfig(type="codex", model=MODEL, api_key="k"), "agents[0]")


def test_doctor_says_the_cli_is_missing_for_a_codex_agent(monkeypatch, tmp_path):
    from massgen.cli.doctor import check_default_config

    (tmp_path / "xdg" / "massgen").mkdir(parents=True)
    (tmp_path / "xdg" / "massgen" / "config.yaml").write_text(
        f"agents:\n  - id: coder\n    backend: {{type: codex, model: {MODEL}, api_key: k}}\n"
    )
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert check_default_config({})["missing"] == []
    monkeypatch.delenv("MASSGEN_CODEX_BIN")
    monkeypatch.setenv("PATH", str(tmp_path))
    [line] = check_default_config({})["missing"]
    assert "codex needs the Codex CLI" in line and "(coder)" in line


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"temperature": 0.2}, "temperature: Codex chooses its own sampling"),
        ({"allowed_tools": ["Read"]}, "allowed_tools: a claude_code option"),
        ({"workflow_mode": "json"}, "workflow_mode: codex runs its own tool loop"),
    ],
)
def test_options_it_cannot_honour_are_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        BackendConfig(type="codex", model=MODEL, **fields)


# ------------------------------------------------------------------ a team through the CLI


def test_a_team_with_codex_and_chatcompletion_finishes_through_the_cli(tmp_path, user_home):
    from tests.fakes.chat_server import FakeChatServer

    chat_key = "sk-chat-team-5555"
    with (
        FakeResponsesServer(api_key=KEY) as responses,
        FakeChatServer(api_key=chat_key) as chat,
    ):
        config = tmp_path / "team.yaml"
        config.write_text(
            "agents:\n"
            "  - id: coder\n"
            f"    backend: {{type: codex, model: {MODEL}, base_url: '{responses.url}', "
            "cwd: workspace}\n"
            "  - id: chatter\n"
            f"    backend: {{type: chatcompletion, model: gpt-4o-mini, base_url: '{chat.url}'}}\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
        env.update(
            CODEX_API_KEY=KEY,
            OPENAI_API_KEY=chat_key,
            HOME=str(user_home),
            XDG_CONFIG_HOME=str(tmp_path / "xdg"),
            MASSGEN_LOG_DIR=str(tmp_path / "sessions"),
            PYTHONPATH=str(REPO),  # this checkout's massgen
        )
        proc = subprocess.run(
            [sys.executable, "-m", "massgen", "--config", str(config), "What is 2+2?"],
            env=env, capture_output=True, text=True, timeout=180, cwd=tmp_path,
        )  # fmt: skip
        codex_calls = len(responses.requests)
    assert proc.returncode == 0, proc.stderr
    assert "Final answer: What is 2+2?" in proc.stdout
    for agent in ("coder", "chatter"):
        assert re.search(rf"\[{agent}\] new answer agent\d\.1", proc.stderr), proc.stderr
        assert re.search(rf"\[{agent}\] voted for agent\d", proc.stderr), proc.stderr
    assert codex_calls >= 2  # codex answered and voted through the fake
    usage = dict(re.findall(r"^  (\w+): (.*)$", proc.stderr, re.M))
    assert re.search(r"[1-9][\d,]* prompt .* \$0\.0*[1-9]", usage["coder"]), usage
    assert (tmp_path / "workspace").is_dir()
    assert not (user_home / ".codex" / "sessions").exists()
    recorded = "".join(p.read_text() for p in (tmp_path / "sessions").rglob("*.jsonl"))
    for key in (KEY, chat_key):
        assert key not in proc.stdout + proc.stderr + recorded


# ------------------------------------------------------------------ files, through massgen


async def test_its_file_actions_go_through_massgens_file_tools_and_rules(tmp_path):
    """In a run with files Codex has no shell or file tool of its own: it works through
    massgen's file tools, which write in its workspace and refuse what is outside its grants."""
    import massgen

    secret = tmp_path / "elsewhere" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("TOP-SECRET-VALUE")
    plan = {
        "write_file": {"path": "notes.txt", "content": "written by codex"},
        "read_text_file": {"path": str(secret)},
    }
    with FakeResponsesServer(api_key=KEY, brain=CoordinationBrain(tool_plan=plan)) as server:
        config = {
            "agents": [
                {"id": "coder", "backend": {"type": "codex", "model": MODEL,
                                            "base_url": server.url, "api_key": KEY}},
            ]
        }  # fmt: skip
        result = await massgen.run(
            "What is 2+2?",
            config,
            enable_filesystem=True,
            enable_logging=True,
            log_dir=tmp_path / "sessions",
        )
        sent = json.dumps([r.body for r in server.requests])
    assert "TOP-SECRET-VALUE" not in sent + json.dumps(result, default=str)
    written = list((tmp_path / "sessions").rglob("notes.txt"))
    assert written and all(p.read_text() == "written by codex" for p in written)
    assert all("workspaces" in p.parts or "snapshots" in p.parts for p in written)
    assert "outside the paths you may read" in sent  # massgen's refusal, shown to the model
    first = next(r for r in server.requests if "mcp__massgen" in offered(r))
    assert {"write_file", "read_text_file"} <= set(offered(first)["mcp__massgen"])


@pytest.mark.skipif(bubblewrap_works() is not None, reason="bubblewrap cannot run here")
async def test_its_commands_run_in_massgens_sandbox(tmp_path):
    """Codex's shell is off; its commands are massgen's run_command, in bubblewrap."""
    import massgen

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    command = f"echo made > made.txt; echo leak > {outside}/leak.txt; echo uid=$(id -u)"
    plan = {"run_command": {"command": command}}
    with FakeResponsesServer(api_key=KEY, brain=CoordinationBrain(tool_plan=plan)) as server:
        backend = {"type": "codex", "model": MODEL, "base_url": server.url, "api_key": KEY}
        config = {
            "agents": [{"id": "coder", "backend": backend}],
            "orchestrator": {"enable_command_line": True},
        }
        await massgen.run(
            "What is 2+2?", config, enable_logging=True, log_dir=tmp_path / "sessions"
        )
        sent = json.dumps([r.body for r in server.requests])
    assert list((tmp_path / "sessions").rglob("made.txt"))  # in its workspace
    assert not (outside / "leak.txt").exists()  # nothing else of the machine is writable
    assert "uid=1000" in sent  # the sandbox's unprivileged user, as for every agent


async def test_an_unreachable_server_is_one_line_naming_it(tmp_path):
    with FakeResponsesServer() as gone:
        url = gone.url
    backend = make(None, tmp_path, base_url=url, api_key=KEY, max_retries=0, timeout=10)
    try:
        with pytest.raises(BackendError) as error:
            await asyncio.wait_for(run(backend, [NEW_ANSWER]), 60)
    finally:
        await backend.aclose()
    message = str(error.value)
    assert type(error.value).__name__ == "BackendConnectionError", message
    assert f"connection to {url} failed" in message
    assert "\n" not in message and KEY not in message
