"""``massgen mcp`` over stdio, as Claude Code and Cursor run it: the tools, a team's answer
with its progress, cancellation, the session resources, and the errors a client meets."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from tests.mcp_server.clients import over_stdio, until


async def test_ask_team_answers_with_the_winner_votes_and_cost(env, tmp_path, fake, team_file):
    progress: list[tuple[float, str | None]] = []

    async def heard(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, message))

    async with over_stdio(["--config", str(team_file)], env, tmp_path) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(tools) == {"ask_team", "list_configs"}
        schema = tools["ask_team"].input_schema["properties"]
        assert {"question", "config", "strategy", "context_paths"} <= set(schema)
        result = await client.call_tool(
            "ask_team", {"question": "What is 2+2?"}, progress_callback=heard
        )
    assert not result.is_error, result.content
    answer = result.structured_content
    assert answer is not None
    assert answer["final_answer"].startswith("Final answer: What is 2+2?")
    assert answer["status"] == "ok" and answer["winner"] in ("agent1", "agent2")
    assert sum(answer["votes"].values()) == 2  # both agents voted
    assert answer["cost_usd"] > 0 and answer["usage"]["total_tokens"] > 0
    assert len(answer["answers"]) == 2
    text = result.content[0].text
    assert text.startswith(answer["final_answer"]) and f"winner: {answer['winner']}" in text
    # progress: the answers and the votes, as they came, numbered upwards
    messages = [message or "" for _, message in progress]
    assert sum("answered" in m for m in messages) == 2
    assert sum("voted for" in m for m in messages) == 2
    assert any(m.startswith("winner:") for m in messages)
    assert [value for value, _ in progress] == sorted({value for value, _ in progress})


async def test_the_handshake_protocol_of_todays_clients_works_too(env, tmp_path, fake, team_file):
    """Claude Code and Cursor connect with the initialize handshake (mode legacy)."""
    progress: list[str | None] = []

    async def heard(value: float, total: float | None, message: str | None) -> None:
        progress.append(message)

    async with over_stdio(["--config", str(team_file)], env, tmp_path, mode="legacy") as client:
        result = await client.call_tool("ask_team", {"question": "2+3?"}, progress_callback=heard)
    assert not result.is_error, result.content
    assert result.structured_content["final_answer"].startswith("Final answer: 2+3?")
    assert any("voted for" in (m or "") for m in progress)


async def test_cancelling_the_call_stops_the_provider_calls(env, tmp_path, fake, team_file):
    fake.hold_after(2)  # both first answers come back; the votes hang
    async with over_stdio(["--config", str(team_file)], env, tmp_path) as client:
        with anyio.CancelScope() as scope:

            async def cancel_when_voting() -> None:
                await until(lambda: len(fake.requests) >= 3)  # a vote request is held
                scope.cancel()

            async with anyio.create_task_group() as group:
                group.start_soon(cancel_when_voting)
                await client.call_tool("ask_team", {"question": "Long one?"})
        held = fake.requests[2:]
        # massgen hangs up at once (not when its idle connections close, 10 s later)
        await until(lambda: all(r.client_closed for r in held), within=5)
        count = len(fake.requests)
        await anyio.sleep(1.0)
        assert len(fake.requests) == count  # and started nothing more
        # the server goes on serving
        configs = await client.call_tool("list_configs", {})
        assert not configs.is_error
    assert not any(r.completed for r in held)


async def test_the_session_is_a_resource_with_its_answers(env, tmp_path, fake, team_file):
    async with over_stdio(["--config", str(team_file)], env, tmp_path) as client:
        result = await client.call_tool("ask_team", {"question": "Name a prime."})
        uri = result.structured_content["session"]
        assert uri.startswith("massgen://sessions/")
        listed = [str(r.uri) for r in (await client.list_resources()).resources]
        assert uri in listed
        templates = (await client.list_resource_templates()).resource_templates
        assert [t.uri_template for t in templates] == ["massgen://sessions/{session_id}"]
        read = await client.read_resource(uri)
        missing = await _read_error(client, "massgen://sessions/20000101-000000-abcdef")
    session = json.loads(read.contents[0].text)
    assert session["summary"]["status"] == "ok"
    assert session["summary"]["question"] == "Name a prime."
    assert session["final_answer"] == result.structured_content["final_answer"]
    contents = {a["content"] for a in session["answers"]}
    assert contents == {a["content"] for a in result.structured_content["answers"]}
    assert "pid" not in session["summary"] and "host" not in session["summary"]
    assert "no session" in missing


async def _read_error(client, uri: str) -> str:
    from mcp.shared.exceptions import MCPError

    try:
        await client.read_resource(uri)
    except MCPError as exc:
        return str(exc)
    raise AssertionError(f"{uri} was read")


async def test_a_bad_config_is_an_error_and_the_server_goes_on(env, tmp_path, fake, team_file):
    async with over_stdio(["--config", str(team_file)], env, tmp_path) as client:
        bad = await client.call_tool("ask_team", {"question": "q", "config": "no_such_team"})
        a_file = await client.call_tool("ask_team", {"question": "q", "config": "/etc/hostname"})
        strategy = await client.call_tool("ask_team", {"question": "q", "strategy": "chaos"})
        good = await client.call_tool("ask_team", {"question": "Still there?"})
    assert bad.is_error and a_file.is_error and strategy.is_error
    line = bad.content[0].text
    assert "no_such_team" in line and "not found" in line and "\n" not in line
    assert "list_configs" in line
    assert "not found" in a_file.content[0].text  # a call never names a file to read
    assert "strategy" in strategy.content[0].text and "debate" in strategy.content[0].text
    assert not good.is_error and good.structured_content["status"] == "ok"
    assert all("Still there?" in str(r.body) for r in fake.requests)  # only the good run ran


async def test_a_provider_that_is_down_is_an_error_result(env, tmp_path, fake, team_file):
    import socket

    import yaml

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    config = yaml.safe_load(team_file.read_text())
    for agent in config["agents"]:
        agent["backend"]["base_url"] = f"http://127.0.0.1:{dead}/v1"
    down = tmp_path / "down.yaml"
    down.write_text(yaml.safe_dump(config))
    async with over_stdio(["--config", str(down)], env, tmp_path) as client:
        with anyio.fail_after(60):
            result = await client.call_tool("ask_team", {"question": "Anyone?"})
        configs = await client.call_tool("list_configs", {})
    assert result.is_error
    assert "connect" in result.content[0].text.lower()
    assert not configs.is_error


async def test_a_call_picks_a_saved_config_by_name(env, tmp_path, fake, team_file):
    import yaml

    saved = Path(env["XDG_CONFIG_HOME"]) / "massgen" / "agents"
    saved.mkdir(parents=True)
    solo = yaml.safe_load(team_file.read_text())
    solo["agents"] = solo["agents"][:1]
    (saved / "solo.yaml").write_text("# One agent on the fake.\n" + yaml.safe_dump(solo))
    async with over_stdio(["--config", str(team_file)], env, tmp_path) as client:
        listing = await client.call_tool("list_configs", {})
        result = await client.call_tool("ask_team", {"question": "Alone?", "config": "solo"})
    configs = {c["name"]: c for c in listing.structured_content["configs"]}
    assert (
        configs["default"]["kind"] == "server"
        and str(team_file) in configs["default"]["description"]
    )
    assert configs["solo"] == {
        "name": "solo",
        "kind": "saved",
        "description": "One agent on the fake.",
    }
    assert any(c["kind"] == "built-in" for c in configs.values())
    assert not result.is_error and len(result.structured_content["answers"]) == 1


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    for name in ("docs", "src", "secret"):
        (root / name).mkdir(parents=True)
        (root / name / "README.md").write_text(f"{name}\n")
    return root


async def test_context_paths_narrow_the_servers_grants_never_widen(
    env, tmp_path, fake, team_file, project
):
    args = ["--config", str(team_file), "--context-path", str(project / "docs")]
    args += ["--context-path", f"{project / 'src'}:write"]
    async with over_stdio(args, env, tmp_path) as client:
        outside = await client.call_tool(
            "ask_team", {"question": "q", "context_paths": [str(project / "secret")]}
        )
        write = await client.call_tool(
            "ask_team", {"question": "q", "context_paths": [f"{project / 'docs'}:write"]}
        )
        escape = await client.call_tool(
            "ask_team", {"question": "q", "context_paths": [str(project / "docs" / "..")]}
        )
        assert not fake.requests  # nothing refused ever reached a model
        narrowed = await client.call_tool(
            "ask_team", {"question": "Read the docs", "context_paths": [str(project / "docs")]}
        )
    for refused in (outside, escape):
        assert (
            refused.is_error and "outside the files this server grants" in refused.content[0].text
        )
    assert str(project / "secret") in outside.content[0].text
    assert write.is_error and "read-only" in write.content[0].text
    assert not narrowed.is_error, narrowed.content
    prompt = json.dumps(fake.requests[0].body)
    assert str(project / "docs") in prompt and str(project / "src") not in prompt


async def test_the_servers_timeout_bounds_every_run(env, tmp_path, fake, team_file):
    """``--timeout`` is the server's: a run whose votes never come ends on time with the
    best answer so far, said to be a timeout."""
    fake.hold_after(2)  # the answers come back, the votes hang
    args = ["--config", str(team_file), "--timeout", "1.5"]
    async with over_stdio(args, env, tmp_path) as client:
        with anyio.fail_after(30):
            result = await client.call_tool("ask_team", {"question": "Quick?"})
    assert not result.is_error, result.content
    answer = result.structured_content
    assert answer["status"] == "timeout" and result.content[0].text.count("status: timeout") == 1
    assert answer["final_answer"] in {a["content"] for a in answer["answers"]}
