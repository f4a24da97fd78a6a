"""``type: ag2``: a real AG2 ConversableAgent and its OpenAI client against the fake Chat
Completions server; its code blocks in a real bubblewrap sandbox."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from massgen.backends.errors import AuthenticationError, RateLimitError
from massgen.backends.registry import check_can_run, create_backend
from massgen.config.loader import load_config_text
from massgen.config.schema import BackendConfig
from massgen.errors import ConfigurationError
from massgen.messages import (
    Message,
    ProviderToolChunk,
    TextChunk,
    ToolCall,
    ToolCallChunk,
    ToolSpec,
    UsageChunk,
)
from massgen.tools.commands import bubblewrap_works
from massgen.tools.lending import AgentTurn, ToolReply
from tests.backends.conftest import API_KEY
from tests.fakes.chat_server import FakeChatServer, Reply

pytest.importorskip("autogen", reason="the ag2 extra is not installed")

VOTE = ToolSpec(
    "vote",
    "Vote for the best answer.",
    {"type": "object", "properties": {"agent_id": {"type": "string"}}, "required": ["agent_id"]},
)
ADD = ToolSpec(
    "add",
    "Add two numbers.",
    {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}},
)
needs_bwrap = pytest.mark.skipif(bubblewrap_works() is not None, reason="no bubblewrap sandbox")


def ag2_config(url: str, **extra: Any) -> BackendConfig:
    return BackendConfig.model_validate(
        {
            "type": "ag2",
            "agent_type": "ConversableAgent",
            "llm_config": {
                "config_list": [{"model": "gpt-4o", "api_key": API_KEY, "base_url": url}]
            },
            **extra,
        }
    )


@pytest.fixture
async def ag2(server: FakeChatServer) -> AsyncIterator[Any]:
    made: list[Any] = []

    def make(**extra: Any) -> Any:
        backend = create_backend(ag2_config(server.url, **extra))
        made.append(backend)
        return backend

    yield make
    for backend in made:
        await backend.aclose()


async def chunks_of(
    backend: Any,
    tools: list[ToolSpec] | None = None,
    text: str = "Q?",
    turn: AgentTurn | None = None,
) -> list:
    messages = [Message("system", "You are agent one."), Message("user", text)]
    return [chunk async for chunk in backend.stream(messages, tools, turn=turn)]


async def test_a_workflow_tool_call_ends_the_call(server: FakeChatServer, ag2: Any) -> None:
    server.enqueue(Reply(text="I pick agent1.", tool_calls=[("vote", '{"agent_id": "agent1"}')]))
    chunks = await chunks_of(ag2(), [VOTE])
    assert [c.call.name for c in chunks if isinstance(c, ToolCallChunk)] == ["vote"]
    assert "".join(c.text for c in chunks if isinstance(c, TextChunk)) == "I pick agent1."
    usage = [c for c in chunks if isinstance(c, UsageChunk)]
    assert usage and usage[0].completion_tokens > 0
    [request] = server.requests
    assert [t["function"]["name"] for t in request.body["tools"]] == ["vote"]
    assert request.body["messages"][0] == {"role": "system", "content": "You are agent one."}
    assert request.body["model"] == "gpt-4o"


async def test_a_presentation_has_no_tools_and_its_text_is_the_answer(
    server: FakeChatServer, ag2: Any
) -> None:
    backend = ag2()
    server.enqueue(Reply(tool_calls=[("vote", '{"agent_id": "agent1"}')]), Reply(text="Final: 7"))
    await chunks_of(backend, [VOTE])
    chunks = await chunks_of(backend, [])
    assert [c.text for c in chunks if isinstance(c, TextChunk)] == ["Final: 7"]
    assert "tools" not in server.requests[-1].body  # the vote tool was unregistered


async def test_own_tools_run_through_the_engine_and_their_result_goes_back(
    server: FakeChatServer, ag2: Any
) -> None:
    backend = ag2()
    ran: list[ToolCall] = []

    async def run_tool(call: ToolCall) -> ToolReply:
        ran.append(call)
        return ToolReply(str(sum(json.loads(call.arguments).values())))

    server.enqueue(
        Reply(tool_calls=[("add", '{"a": 2, "b": 3}')]),
        Reply(text="It is 5.", tool_calls=[("vote", '{"agent_id": "agent1"}')]),
    )
    chunks = await chunks_of(backend, [ADD, VOTE], turn=AgentTurn(run_tool, frozenset({"add"})))
    assert [c.name for c in ran] == ["add"]
    assert [c.call.name for c in chunks if isinstance(c, ToolCallChunk)] == ["vote"]
    tool_message = server.requests[1].body["messages"][-1]
    assert tool_message["role"] == "tool" and tool_message["content"] == "5"
    assert tool_message["tool_call_id"] == ran[0].id


@needs_bwrap
async def test_local_code_runs_in_the_sandbox_not_on_the_host(
    server: FakeChatServer, ag2: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("host file")
    code = (
        "```python\nimport os, pathlib\npathlib.Path('made.txt').write_text('hi')\n"
        f"print(6 * 7, os.path.exists({str(secret)!r}))\n```"
    )
    server.enqueue(Reply(text=code), Reply(tool_calls=[("vote", '{"agent_id": "agent1"}')]))
    backend = ag2(code_execution_config={"executor": "local", "work_dir": "coding"})
    chunks = await chunks_of(backend, [VOTE])
    events = [c for c in chunks if isinstance(c, ProviderToolChunk)]
    assert [e.status for e in events] == ["started", "finished"]
    assert "42 False" in events[1].detail  # it ran, and saw nothing of the host's files
    assert (tmp_path / "coding" / "made.txt").read_text() == "hi"  # only its work_dir
    fed_back = server.requests[1].body["messages"][-1]["content"]
    assert fed_back.startswith("exitcode: 0") and "42 False" in fed_back


@needs_bwrap
async def test_failing_code_reports_its_exit_code_to_the_model(
    server: FakeChatServer, ag2: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    server.enqueue(Reply(text="```sh\necho oops; exit 3\n```"), Reply(text="I give up."))
    backend = ag2(code_execution_config={"executor": "local"})
    await chunks_of(backend, [VOTE])
    fed_back = server.requests[1].body["messages"][-1]["content"]
    assert fed_back.startswith("exitcode: 3") and "oops" in fed_back


async def test_errors_are_massgen_errors_with_the_key_masked(
    server: FakeChatServer, ag2: Any
) -> None:
    backend = ag2()
    server.enqueue(Reply(status=401, error_message=f"bad key {API_KEY}"))
    with pytest.raises(AuthenticationError) as caught:
        await chunks_of(backend)
    assert API_KEY not in str(caught.value) and "***" in str(caught.value)
    server.enqueue(Reply(status=429, error_message="slow down", headers={"retry-after": "2"}))
    with pytest.raises(RateLimitError):
        await chunks_of(backend)


def test_cancelling_a_call_cancels_its_request_and_does_not_hold_up_exit(
    server: FakeChatServer,
) -> None:
    server.enqueue(Reply(text="late", ttft=60))

    async def main() -> None:
        backend = create_backend(ag2_config(server.url))
        task = asyncio.create_task(chunks_of(backend))
        assert await server.await_for(lambda: len(server.requests) == 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await backend.aclose()

    started = time.monotonic()
    asyncio.run(main())  # waits for AG2's worker thread at shutdown
    assert time.monotonic() - started < 30  # not the 60 s the reply would take


# ------------------------------------------------------------------ configuration


def _load(backend: str) -> None:
    load_config_text(f"agents:\n  - backend: {backend}\n", "team.yaml")


def test_an_unknown_executor_is_one_line_with_the_choices() -> None:
    with pytest.raises(ConfigurationError) as caught:
        _load(
            "{type: ag2, llm_config: {config_list: [{model: m}]}, code_execution_config: {executor: ssh}}"
        )
    assert str(caught.value) == (
        "team.yaml:2: agents[0].backend.code_execution_config.executor: "
        "must be one of: local, docker"
    )


def test_ag2_options_belong_to_ag2_and_its_model_to_llm_config() -> None:
    with pytest.raises(ConfigurationError, match="llm_config: an ag2 option"):
        _load("{type: chatcompletion, model: m, llm_config: {config_list: [{model: m}]}}")
    with pytest.raises(ConfigurationError, match="model: for ag2, give it in llm_config"):
        _load("{type: ag2, model: m, llm_config: {config_list: [{model: m}]}}")
    with pytest.raises(ConfigurationError, match="ag2 needs llm_config"):
        _load("{type: ag2}")


def test_a_missing_openai_key_is_one_line_and_a_custom_endpoint_needs_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    config = BackendConfig.model_validate(
        {"type": "ag2", "llm_config": {"config_list": [{"model": "gpt-4"}]}}
    )
    with pytest.raises(ConfigurationError) as caught:
        check_can_run(config, "agents[0]")
    assert str(caught.value).startswith("agents[0]: llm_config.config_list[0] (gpt-4): no API key")
    assert "OPENAI_API_KEY" in str(caught.value)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    check_can_run(config, "agents[0]")  # a gateway of one's own may need no key


async def test_openai_base_url_is_honoured_for_entries_without_one(
    server: FakeChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    backend = create_backend(
        BackendConfig.model_validate(
            {"type": "ag2", "llm_config": {"config_list": [{"model": "gpt-4"}]}}
        )
    )
    server.enqueue(Reply(text="hello"))
    try:
        chunks = await chunks_of(backend)
    finally:
        await backend.aclose()
    assert [c.text for c in chunks if isinstance(c, TextChunk)] == ["hello"]


def test_without_the_extra_validation_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("massgen.backends.ag2_setup.ag2_installed", lambda: False)
    with pytest.raises(ConfigurationError) as caught:
        check_can_run(ag2_config("http://127.0.0.1:9/v1"), "agents[0]")
    assert str(caught.value) == "agents[0]: the ag2 backend needs AG2: pip install 'massgen[ag2]'"


def test_the_docker_executor_without_a_daemon_is_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    config = ag2_config("http://127.0.0.1:9/v1", code_execution_config={"executor": "docker"})
    with pytest.raises(ConfigurationError) as caught:
        check_can_run(config, "agents[0]")
    assert "code_execution_config.executor docker" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_models_shorthand_builds_an_ag2_agent() -> None:
    from massgen.config.models import config_for_models

    [agent] = config_for_models(["ag2/gpt-4o"]).agents
    assert agent.backend.type == "ag2"
    assert [e.model for e in agent.backend.llm_config.config_list] == ["gpt-4o"]


def test_provider_code_execution_points_to_code_execution_config() -> None:
    with pytest.raises(
        ConfigurationError, match="an ag2 agent runs its code with code_execution_config"
    ):
        _load("{type: ag2, enable_code_execution: true, llm_config: {config_list: [{model: m}]}}")
