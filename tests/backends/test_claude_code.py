"""The ``claude_code`` backend: the real Claude Agent SDK and its bundled Claude Code CLI,
run against the fake Anthropic Messages server on 127.0.0.1 (``base_url`` /
``ANTHROPIC_BASE_URL``), with massgen's tools, files rules and sandbox."""

from __future__ import annotations

import asyncio
import json
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
    ProviderToolChunk,
    ReasoningChunk,
    TextChunk,
    ToolCall,
    ToolCallChunk,
    ToolSpec,
    UsageChunk,
)
from massgen.tools.commands import CommandSettings, bubblewrap_works
from massgen.tools.lending import AgentFiles, AgentTurn, ToolReply
from massgen.workspaces.paths import PathPolicy
from tests.fakes.anthropic_server import FakeAnthropicServer, Reply
from tests.fakes.chat_server import CoordinationBrain

KEY = "sk-ant-claude-code-4444"
MODEL = "claude-sonnet-4-5"
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
def cli_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI keeps its state under HOME: a fresh one, and no provider variables."""
    for name in ("ANTHROPIC_API_KEY", "CLAUDE_CODE_API_KEY", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture
def server() -> Any:
    with FakeAnthropicServer(api_key=KEY) as fake:
        yield fake


def make(server: FakeAnthropicServer | None, tmp_path: Path, **fields: Any) -> Backend:
    values: dict[str, Any] = {"type": "claude_code", "model": MODEL, "cwd": str(tmp_path / "ws")}
    if server is not None:
        values.update(base_url=server.url, api_key=KEY)
    return create_backend(BackendConfig(**{**values, **fields}))


async def run(
    backend: Backend,
    tools: list[ToolSpec] | None = None,
    turn: AgentTurn | None = None,
    messages: list[Message] | None = None,
) -> list[Chunk]:
    async def no_tools(call: ToolCall) -> ToolReply:
        raise AssertionError(f"unexpected tool {call.name}")

    lent = turn or AgentTurn(no_tools)
    return [chunk async for chunk in backend.stream(messages or QUESTION, tools, turn=lent)]


def of(chunks: list[Chunk], kind: type) -> list[Any]:
    return [c for c in chunks if isinstance(c, kind)]


def tool_results(server: FakeAnthropicServer) -> list[str]:
    """Every tool result the CLI sent back to the model (the last request holds them all)."""
    out = []
    for message in server.requests[-1].body.get("messages", []):
        content = message.get("content")
        for block in content if isinstance(content, list) else []:
            if block.get("type") == "tool_result":
                out.append(json.dumps(block.get("content")))
    return out


# ------------------------------------------------------------------ workflow and own tools


async def test_a_workflow_call_ends_the_turn_with_that_call_usage_and_cost(server, tmp_path):
    chunks = await run(make(server, tmp_path), [NEW_ANSWER])
    [call] = of(chunks, ToolCallChunk)
    assert call.call.name == "new_answer"
    assert "to: What is 2+2?" in call.call.parsed_arguments()["content"]
    assert of(chunks, ReasoningChunk)  # its thinking is shown
    [usage] = of(chunks, UsageChunk)
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.cost_usd is not None and usage.cost_usd > 0  # from its result message
    assert isinstance(chunks[-1], DoneChunk)
    assert len(server.requests) == 1  # the session stopped at the action
    offered = [t["name"] for t in server.requests[0].body["tools"]]
    assert "mcp__massgen__new_answer" in offered
    assert set(offered) - {"mcp__massgen__new_answer"} == {
        "Read",
        "Write",
        "Edit",
        "Bash",
        "Grep",
        "Glob",
    }


async def test_the_agents_own_tools_run_through_the_engine(tmp_path):
    ran: list[ToolCall] = []

    async def run_tool(call: ToolCall) -> ToolReply:
        ran.append(call)
        return ToolReply("5")

    brain = CoordinationBrain(tool_plan={"add": {"a": 2, "b": 3}})
    with FakeAnthropicServer(api_key=KEY, brain=brain) as server:
        turn = AgentTurn(run_tool, frozenset({"add"}))
        chunks = await run(make(server, tmp_path), [ADD, NEW_ANSWER], turn)
    assert [(c.name, c.parsed_arguments()) for c in ran] == [("add", {"a": 2, "b": 3})]
    [call] = of(chunks, ToolCallChunk)  # only the action: the engine shows its own tools
    assert "[add said: 5]" in call.call.parsed_arguments()["content"]


async def test_a_failed_own_tool_reaches_claude_marked_as_an_error(tmp_path):
    async def run_tool(call: ToolCall) -> ToolReply:
        return ToolReply("Error: add: the adder is out of order", is_error=True)

    brain = CoordinationBrain(tool_plan={"add": {"a": 2, "b": 3}})
    with FakeAnthropicServer(api_key=KEY, brain=brain) as server:
        await run(
            make(server, tmp_path), [ADD, NEW_ANSWER], AgentTurn(run_tool, frozenset({"add"}))
        )
        bodies = [r.body for r in server.requests]
    results = [
        block
        for body in bodies
        for message in body.get("messages", ())
        if isinstance(message.get("content"), list)
        for block in message["content"]
        if block.get("type") == "tool_result"
    ]
    [failed] = [r for r in results if "adder is out of order" in json.dumps(r.get("content"))]
    assert failed.get("is_error") is True  # the Messages API's own error mark, not just text


async def test_a_presentation_streams_the_final_text(server, tmp_path):
    chunks = await run(make(server, tmp_path), [])
    text = "".join(c.text for c in of(chunks, TextChunk))
    assert text.startswith("Final answer: What is 2+2?")
    assert not of(chunks, ToolCallChunk) and chunks[-1] == DoneChunk("stop")


async def test_an_earlier_attempt_and_feedback_reach_the_next_session(server, tmp_path):
    messages = [
        *QUESTION,
        Message("assistant", "", [ToolCall("c1", "vote", '{"agent_id": "agent9"}')]),
        Message("tool", "Error: agent9 is not one of the answers", tool_call_id="c1"),
        Message("user", "Vote again for an existing answer."),
    ]
    await run(make(server, tmp_path), [NEW_ANSWER], messages=messages)
    prompt = json.dumps(server.requests[0].body["messages"])
    assert "agent9 is not one of the answers" in prompt and "Vote again" in prompt
    assert "You are agent1." in json.dumps(server.requests[0].body["system"])


# ------------------------------------------------------------------ files and commands


def files_of(
    policy: PathPolicy, commands: CommandSettings | None = None
) -> tuple[AgentFiles, list]:
    log: list[Any] = []
    files = AgentFiles(
        lambda: policy,
        lambda path, how: log.append(("write", path, how)),
        commands,
        lambda: log.append("before_command"),
        lambda: log.append("after_command"),
    )
    return files, log


async def test_its_own_file_tools_keep_the_files_rules(server, tmp_path):
    workspace, grant, elsewhere = (tmp_path / n for n in ("ws", "project", "elsewhere"))
    for folder in (workspace, grant, elsewhere):
        folder.mkdir()
    (elsewhere / "secret.txt").write_text("TOP-SECRET-VALUE")
    policy = PathPolicy(workspace, readable=[workspace, grant], writable=[workspace, grant])
    files, log = files_of(policy)
    server.enqueue(
        Reply(tool_calls=[("Read", json.dumps({"file_path": str(elsewhere / "secret.txt")}))]),
        Reply(tool_calls=[("Glob", json.dumps({"pattern": "../elsewhere/*"}))]),
        Reply(tool_calls=[("Write", json.dumps({"file_path": str(elsewhere / "x.txt"), "content": "x"}))]),
        Reply(tool_calls=[("Write", json.dumps({"file_path": "notes.txt", "content": "mine"}))]),
        Reply(tool_calls=[("Write", json.dumps({"file_path": str(grant / "new.py"), "content": "1"}))]),
        Reply(text="done"),
    )  # fmt: skip
    chunks = await run(make(server, tmp_path), [], AgentTurn(lambda c: None, files=files))
    results = tool_results(server)
    assert "TOP-SECRET-VALUE" not in json.dumps([r.body for r in server.requests])
    assert "refused" in results[0] and "outside the paths you may read" in results[0]
    assert "refused" in results[1]
    assert not (elsewhere / "x.txt").exists() and "outside the paths you may write" in results[2]
    assert (workspace / "notes.txt").read_text() == "mine"
    assert (grant / "new.py").read_text() == "1"
    assert ("write", grant / "new.py", "created") in log  # listed for massgen logs restore
    shown = [(c.name, c.status) for c in of(chunks, ProviderToolChunk)]
    assert shown[:2] == [("Read", "started"), ("Read", "finished")]


@pytest.mark.skipif(bubblewrap_works() is not None, reason="bubblewrap cannot run here")
async def test_bash_runs_only_inside_the_sandbox(server, tmp_path):
    workspace, elsewhere = tmp_path / "ws", tmp_path / "elsewhere"
    workspace.mkdir()
    elsewhere.mkdir()
    files, log = files_of(
        PathPolicy(workspace, [workspace], [workspace]), CommandSettings("bubblewrap")
    )
    command = (
        f"echo made > made.txt; echo leak > {elsewhere}/leak.txt; echo HOME=$HOME; "
        "head -1 /etc/shadow; echo uid=$(id -u)"
    )
    server.enqueue(
        Reply(tool_calls=[("Bash", json.dumps({"command": command, "description": "try"}))]),
        Reply(text="done"),
    )
    await run(make(server, tmp_path), [], AgentTurn(lambda c: None, files=files))
    assert (workspace / "made.txt").read_text() == "made\n"
    assert not (elsewhere / "leak.txt").exists()  # not mounted in the sandbox
    result = tool_results(server)[0]
    assert f"HOME={workspace}" in result
    # the same minimal /etc and unprivileged user as run_command, even as root
    assert "/etc/shadow' for reading: No such file" in result and "uid=1000" in result
    assert log == ["before_command", "after_command"]


@pytest.mark.skipif(bubblewrap_works() is not None, reason="bubblewrap cannot run here")
async def test_bash_cannot_make_a_protected_name_that_does_not_exist(server, tmp_path):
    workspace, grant = tmp_path / "ws", tmp_path / "project"
    workspace.mkdir()
    grant.mkdir()
    policy = PathPolicy(
        workspace, [workspace, grant], [workspace, grant], protected=[grant / ".env"]
    )
    files, log = files_of(policy, CommandSettings("bubblewrap"))
    command = f"cd {grant} && echo ok > app.py; echo X > .env; ln -sf app.py .env; ls -a"
    server.enqueue(
        Reply(tool_calls=[("Bash", json.dumps({"command": command, "description": "try"}))]),
        Reply(text="done"),
    )
    await run(make(server, tmp_path), [], AgentTurn(lambda c: None, files=files))
    assert "Read-only file system" in tool_results(server)[0]
    assert sorted(p.name for p in grant.iterdir()) == ["app.py"]  # no placeholder left behind
    assert log == ["before_command", "after_command"]


async def test_bash_is_refused_without_a_sandbox(server, tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    files, log = files_of(PathPolicy(workspace, [workspace], [workspace]), None)
    server.enqueue(
        Reply(tool_calls=[("Bash", json.dumps({"command": "touch ran.txt"}))]),
        Reply(text="done"),
    )
    await run(make(server, tmp_path), [], AgentTurn(lambda c: None, files=files))
    assert not (workspace / "ran.txt").exists()
    assert "Bash refused: it runs only in a bubblewrap sandbox" in tool_results(server)[0]
    assert log == []


async def test_without_files_it_works_in_cwd_and_writes_nowhere_else(server, tmp_path):
    outside = tmp_path / "outside.txt"
    server.enqueue(
        Reply(tool_calls=[("Write", json.dumps({"file_path": "here.txt", "content": "ok"}))]),
        Reply(tool_calls=[("Write", json.dumps({"file_path": str(outside), "content": "no"}))]),
        Reply(text="done"),
    )
    await run(make(server, tmp_path, cwd=str(tmp_path / "made" / "ws")), [])
    assert (tmp_path / "made" / "ws" / "here.txt").read_text() == "ok"  # created if missing
    assert not outside.exists()


# ------------------------------------------------------------------ keys, endpoint, errors


async def test_claude_code_api_key_comes_before_anthropic_api_key(tmp_path, monkeypatch):
    monkeypatch.setenv("CLAUDE_CODE_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-for-the-claude-backend")
    with FakeAnthropicServer(api_key=KEY) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        chunks = await run(make(None, tmp_path), [NEW_ANSWER])
    assert of(chunks, ToolCallChunk)
    assert server.requests[0].headers["x-api-key"] == KEY


def test_without_a_key_it_uses_the_subscription_and_falls_back_to_anthropic_api_key(
    monkeypatch,
):
    config = BackendConfig(type="claude_code", model=MODEL)
    assert resolve_api_key(config) is None  # the CLI's own sign-in, no error
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-fallback")
    assert resolve_api_key(config) == "sk-ant-fallback"


async def test_an_unreachable_server_is_one_line_naming_it(tmp_path):
    with FakeAnthropicServer() as gone:
        url = gone.url
    backend = make(None, tmp_path, base_url=url, api_key=KEY, max_retries=0, timeout=5)
    with pytest.raises(BackendError) as error:
        await run(backend, [NEW_ANSWER])
    message = str(error.value)
    assert "\n" not in message and KEY not in message
    assert type(error.value).__name__ == "BackendConnectionError"
    assert f"connection to {url} failed" in message, message


async def test_a_rejected_key_is_an_authentication_error(server, tmp_path):
    backend = make(server, tmp_path, api_key="sk-ant-wrong-key-9999", max_retries=0)
    with pytest.raises(BackendError) as error:
        await run(backend, [NEW_ANSWER])
    assert type(error.value).__name__ == "AuthenticationError"
    assert "sk-ant-wrong-key-9999" not in str(error.value)


def test_a_missing_extra_is_one_line_at_validation(monkeypatch):
    monkeypatch.setitem(sys.modules, "claude_agent_sdk", None)
    with pytest.raises(
        ConfigurationError, match=r"agents\[0\]: .*pip install 'massgen\[claude-code\]'"
    ):
        check_can_run(BackendConfig(type="claude_code", model=MODEL), "agents[0]")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"type": "claude_code", "temperature": 0.2}, "temperature: Claude Code chooses"),
        ({"type": "claude_code", "allowed_tools": ["WebFetch"]}, "'WebFetch' is not a Claude"),
        ({"type": "claude", "cwd": "work"}, "cwd: a claude_code and codex option"),
    ],
)
def test_options_it_cannot_honour_are_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        BackendConfig(model=MODEL, **fields)


# ------------------------------------------------------------------ cancellation


def cli_processes() -> list[psutil.Process]:
    """Running Claude Code CLI processes started by this test process."""
    out = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "claude_agent_sdk" in " ".join(child.cmdline()) and child.status() != "zombie":
                out.append(child)
        except psutil.Error:
            continue
    return out


async def test_cancelling_a_turn_ends_the_cli_process(tmp_path):
    with FakeAnthropicServer(api_key=KEY, ttft=60) as server:
        task = asyncio.create_task(run(make(server, tmp_path), [NEW_ANSWER]))
        for _ in range(300):
            if server.requests:
                break
            await asyncio.sleep(0.05)
        running = cli_processes()
        assert running, "the CLI runs while the model is thinking"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        _, alive = psutil.wait_procs(running, timeout=10)
        assert alive == [] and cli_processes() == []


# ------------------------------------------------------------------ a team through the CLI


def test_a_team_with_claude_code_and_chatcompletion_finishes_through_the_cli(tmp_path):
    import os
    import re
    import subprocess

    from tests.fakes.chat_server import FakeChatServer

    openai_key = "sk-openai-team-5555"
    with (
        FakeAnthropicServer(api_key=KEY) as anthropic,
        FakeChatServer(api_key=openai_key) as chat,
    ):
        config = tmp_path / "team.yaml"
        config.write_text(
            "agents:\n"
            "  - id: coder\n"
            f"    backend: {{type: claude_code, model: {MODEL}, cwd: workspace}}\n"
            "  - id: chatter\n"
            "    backend: {type: chatcompletion, model: gpt-4o-mini}\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
        env.update(
            CLAUDE_CODE_API_KEY=KEY,
            ANTHROPIC_BASE_URL=anthropic.url,
            OPENAI_API_KEY=openai_key,
            OPENAI_BASE_URL=chat.url,
            HOME=str(tmp_path / "home"),
            XDG_CONFIG_HOME=str(tmp_path / "xdg"),
            MASSGEN_LOG_DIR=str(tmp_path / "sessions"),
            PYTHONPATH=str(Path(__file__).resolve().parents[2]),  # this checkout's massgen
        )
        proc = subprocess.run(
            [sys.executable, "-m", "massgen", "--config", str(config), "What is 2+2?"],
            env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Final answer: What is 2+2?" in proc.stdout
    for agent in ("coder", "chatter"):
        assert re.search(rf"\[{agent}\] new answer agent\d\.1", proc.stderr), proc.stderr
        assert re.search(rf"\[{agent}\] voted for agent\d", proc.stderr), proc.stderr
    usage = dict(re.findall(r"^  (\w+): (.*)$", proc.stderr, re.M))
    assert re.search(r"[1-9][\d,]* prompt .* \$0\.0*[1-9]", usage["coder"]), usage
    assert (tmp_path / "workspace").is_dir()  # its cwd, created
    sessions = list((tmp_path / "sessions").rglob("*.jsonl"))
    recorded = "".join(path.read_text() for path in sessions)
    assert '"agent_id": "coder"' in recorded or '"agent_id":"coder"' in recorded
    for key in (KEY, openai_key):
        assert key not in proc.stdout + proc.stderr + recorded


# ------------------------------------------------------------------ the guard's edges, doctor


@pytest.mark.parametrize(
    ("tool", "tool_input", "allowed"),
    [
        ("Glob", {"pattern": "**/*.py"}, True),
        ("Glob", {"pattern": "/etc/*"}, False),
        ("Glob", {"pattern": "../*"}, False),
        ("Grep", {"pattern": "x", "path": "/"}, False),
        ("Read", {"file_path": "notes.txt"}, True),
        ("Edit", {"file_path": "../outside.txt"}, False),
        ("WebFetch", {"url": "https://example.com"}, False),
        ("mcp__massgen__vote", {"agent_id": "agent1"}, True),
    ],
)
def test_the_guard_decides_each_tool_call(tmp_path, tool, tool_input, allowed):
    from massgen.backends.claude_code_guard import ToolGuard

    (tmp_path / "ws").mkdir()
    decision = ToolGuard(None, tmp_path / "ws").decide(tool, tool_input)
    assert decision.allow is allowed, decision.reason
    assert allowed or decision.reason  # the model is told why


def test_doctor_lists_claude_code_and_probes_its_endpoint(server, monkeypatch):
    from massgen.cli.doctor import check_providers

    monkeypatch.setenv("CLAUDE_CODE_API_KEY", KEY)
    rows = {row.provider: row for row in check_providers({}, 5, {"claude_code": server.url})}
    row = rows["claude_code"]
    assert row.title == "Claude Code" and row.key_set and KEY not in row.key_masked
    assert row.reachable == "ok", row.detail
    monkeypatch.delenv("CLAUDE_CODE_API_KEY")
    rows = {row.provider: row for row in check_providers({}, 5)}
    assert rows["claude_code"].detail == "no key: Claude subscription"


async def test_a_cli_that_dies_mid_turn_is_one_line(tmp_path):
    with FakeAnthropicServer(api_key=KEY, ttft=60) as server:
        task = asyncio.create_task(run(make(server, tmp_path), [NEW_ANSWER]))
        for _ in range(300):
            if server.requests:
                break
            await asyncio.sleep(0.05)
        for process in cli_processes():
            process.kill()  # as a crash or the OOM killer would
        with pytest.raises(BackendError) as error:
            await asyncio.wait_for(task, 30)
    message = str(error.value)
    assert "Claude Code" in message and "\n" not in message and KEY not in message


def test_the_guard_refuses_a_search_over_the_runs_own_files(tmp_path):
    """Claude Code's Grep and Glob list names themselves: over a grant that holds the session
    (``--context .``) they would name a peer's workspace files and the event log, so such a
    search is refused with what to do instead; inside the grant's own folders it runs."""
    from massgen.backends.claude_code_guard import ToolGuard
    from massgen.tools.lending import AgentFiles
    from massgen.workspaces.manager import Grant, Workspaces
    from massgen.workspaces.paths import real

    (tmp_path / "src").mkdir()
    workspaces = Workspaces(tmp_path / "sessions" / "s1", [Grant(real(tmp_path))])
    files = AgentFiles(lambda: workspaces.policy("agent1"), workspaces.before_write)
    guard = ToolGuard(files, workspaces.workspace("agent1"))
    for tool, tool_input in (
        ("Glob", {"pattern": "**/*", "path": str(tmp_path)}),
        ("Grep", {"pattern": "secret", "path": str(tmp_path)}),
        ("Grep", {"pattern": "secret", "path": str(tmp_path / "sessions")}),
    ):
        decision = guard.decide(tool, tool_input)
        assert not decision.allow, (tool, tool_input)
        assert "massgen's own files" in decision.reason and "search_files" in decision.reason
    assert guard.decide("Grep", {"pattern": "x", "path": str(tmp_path / "src")}).allow
    assert guard.decide("Glob", {"pattern": "**/*.py"}).allow  # its workspace
