"""MCP servers through the official SDK, for real: the tests' own server (stdio and
streamable HTTP), PyPI's reference servers (mcp-server-time, mcp-server-git), and Node's
reference servers through npx when Node is there. One process per distinct server, tools
named mcp__<server>__<tool>, filters, a restart after a crash, clear notices for servers that
cannot start, and no process left behind."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from massgen.config.tool_config import MCPServerConfig
from massgen.errors import ConfigurationError
from massgen.messages import ToolCall
from massgen.tools.base import ToolLimits, run_call
from massgen.tools.mcp import MCPHub

PY = sys.executable
OWN = {"name": "own", "command": PY, "args": ["-m", "tests.fakes.mcp_server"]}


def server(**fields) -> MCPServerConfig:
    return MCPServerConfig(**fields)


def children_named(*words: str) -> list[psutil.Process]:
    """This process's descendants whose command line mentions any of ``words``."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            line = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if any(word in line for word in words):
            found.append(child)
    return found


async def call(tools, name: str, **arguments) -> tuple[bool, str]:
    by_name = {tool.name: tool for tool in tools}
    result = await run_call(
        by_name.get(name), ToolCall("c1", name, json.dumps(arguments)), ToolLimits()
    )
    return result.is_error, result.text


async def test_agents_share_one_process_per_server_and_see_mcp_names() -> None:
    notes: list[str] = []
    hub = MCPHub(lambda agents, text: notes.append(text))
    first, same = server(**OWN), server(**{**OWN, "name": "again"})  # same command: one process
    hub.add("a1", first)
    hub.add("a2", same)
    hub.start()
    tools_a1 = await hub.tools_for("a1", [first])
    tools_a2 = await hub.tools_for("a2", [same])
    assert {t.name for t in tools_a1} >= {"mcp__own__echo", "mcp__own__add", "mcp__own__pid"}
    assert "mcp__again__echo" in {t.name for t in tools_a2}
    assert len(children_named("tests.fakes.mcp_server")) == 1
    assert await call(tools_a1, "mcp__own__add", a=2, b=40) == (False, "42")
    assert await call(tools_a2, "mcp__again__echo", text="hi") == (False, "echo: hi")
    await hub.close()
    assert children_named("tests.fakes.mcp_server") == []
    assert notes == []


@pytest.mark.parametrize(
    ("allowed", "excluded"),
    [
        (["echo", "add"], ["add"]),
        (["mcp__own__echo", "mcp__own__add"], ["mcp__own__add"]),  # the names the model sees
        (["mcp__own__echo", "add"], ["mcp__own__add"]),
    ],
)
async def test_allowed_and_excluded_tools_filter_per_agent(allowed, excluded) -> None:
    hub = MCPHub()
    only = server(**OWN, allowed_tools=allowed, exclude_tools=excluded)
    hub.add("a1", only)
    hub.start()
    try:
        await hub.check_tool_names()
        assert [t.name for t in await hub.tools_for("a1", [only])] == ["mcp__own__echo"]
    finally:
        await hub.close()


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"allowed_tools": ["ecko"]}, "allowed_tools: MCP server 'own' has no tool 'ecko' "
         "(did you mean 'echo'? it has: add, append, crash, echo, pid)"),
        ({"exclude_tools": ["mcp__own__nope"]}, "exclude_tools: MCP server 'own' has no tool "
         "'nope' (it has: add, append, crash, echo, pid)"),
        ({"read_only_tools": ["pid", "write"]}, "read_only_tools: MCP server 'own' has no tool "
         "'write'"),
    ],
)  # fmt: skip
async def test_a_tool_name_the_server_does_not_have_is_refused(fields, says) -> None:
    hub = MCPHub()
    config = server(**OWN, **fields)
    hub.add("a1", config, "agents[0] (a1): mcp_servers[0] (own)")
    hub.start()
    try:
        with pytest.raises(ConfigurationError) as caught:
            await hub.check_tool_names()
    finally:
        await hub.close()
    assert str(caught.value).startswith(f"agents[0] (a1): mcp_servers[0] (own): {says}")


def test_another_servers_prefix_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="'mcp__time__now' names MCP server 'time'; this server"):
        server(**OWN, allowed_tools=["mcp__time__now"])


async def killed(hub: MCPHub, config: MCPServerConfig, pid: str) -> None:
    """Kill a server and wait until the hub has seen its connection end."""
    os.kill(int(pid), signal.SIGKILL)
    deadline = time.monotonic() + 10
    while hub.is_running(config):
        assert time.monotonic() < deadline, "the hub never saw the server die"
        await asyncio.sleep(0.01)


async def test_a_server_that_dies_is_started_again_once() -> None:
    notes: list[str] = []
    hub = MCPHub(lambda agents, text: notes.append(text))
    config = server(**OWN)
    hub.add("a1", config)
    hub.start()
    tools = await hub.tools_for("a1", [config])
    _, first_pid = await call(tools, "mcp__own__pid")
    await killed(hub, config, first_pid)  # the server dies between two calls
    error, second_pid = await call(tools, "mcp__own__pid")
    assert not error and second_pid != first_pid
    assert any("restarting it" in n for n in notes)
    await killed(hub, config, second_pid)  # once only: the next death stays dead
    error, text = await call(tools, "mcp__own__pid")
    assert error and "not running" in text
    await hub.close()
    assert children_named("tests.fakes.mcp_server") == []


async def test_a_call_in_flight_when_its_server_dies_is_an_error_and_never_sent_again(
    tmp_path: Path,
) -> None:
    """The tool body ran once for the model's one call: the call comes back as an error
    saying so, and only the next call goes to the restarted server."""
    notes: list[str] = []
    hub = MCPHub(lambda agents, text: notes.append(text))
    config = server(**OWN)
    hub.add("a1", config)
    hub.start()
    tools = await hub.tools_for("a1", [config])
    _, first_pid = await call(tools, "mcp__own__pid")
    runs = tmp_path / "runs.log"
    error, text = await call(tools, "mcp__own__crash", log=str(runs))
    assert error and "stopped during the call" in text and "not sent again" in text
    assert runs.read_text().splitlines() == ["ran"]
    error, second_pid = await call(tools, "mcp__own__pid")  # a new call: the restarted server
    assert not error and second_pid != first_pid
    assert runs.read_text().splitlines() == ["ran"]
    assert any("restarting it" in n for n in notes)
    await hub.close()
    assert children_named("tests.fakes.mcp_server") == []


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"command": "no-such-mcp-command-xyz"}, "cannot run 'no-such-mcp-command-xyz'"),
        (
            {
                "command": PY,
                "args": ["-m", "tests.fakes.mcp_server", "--garbage"],
                "startup_timeout_seconds": 2,
            },
            "no answer within 2s; its stderr: mcp_server: writing garbage",
        ),
        (
            {"command": PY, "args": ["-m", "tests.fakes.mcp_raw_server"]},
            "invalid reply: tools.0.inputSchema.type",
        ),
    ],
)
async def test_a_server_that_cannot_start_is_one_notice_and_no_tools(fields, says) -> None:
    notes: list[tuple[list[str], str]] = []
    hub = MCPHub(lambda agents, text: notes.append((agents, text)))
    config = server(name="broken", **fields)
    hub.add("a1", config)
    hub.start()
    assert await hub.tools_for("a1", [config]) == []
    await hub.close()
    assert len(notes) == 1
    agents, text = notes[0]
    assert (
        agents == ["a1"] and text.startswith("MCP server 'broken' did not start") and says in text
    )
    assert "\n" not in text and "going on without its tools" in text


async def test_a_server_that_never_answers_is_given_up_at_its_startup_timeout() -> None:
    """The notice comes at ``startup_timeout_seconds``, not after the SDK has finished
    stopping the server (seconds more); bench_tool_bounds.py measures how close."""
    import mcp  # noqa: F401 - the SDK's own first import is not the server's time

    notes: list[float] = []
    hub = MCPHub(lambda agents, text: notes.append(time.monotonic()))
    config = server(
        name="mute", command=PY, args=["-c", "import time; time.sleep(600)"],
        startup_timeout_seconds=2,
    )  # fmt: skip
    hub.add("a1", config)
    started = time.monotonic()
    hub.start()
    assert await hub.tools_for("a1", [config]) == []
    assert len(notes) == 1
    assert 1.9 < notes[0] - started < 3.0  # generous: the goal is within 0.5 s
    await hub.close()


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "notes.txt").write_text("hello\n")
    subprocess.run(["git", "-C", str(tmp_path), "add", "notes.txt"], check=True)
    return tmp_path


async def test_reference_servers_from_pypi(repository: Path) -> None:
    tmp_path = repository
    hub = MCPHub()
    time_server = server(name="time", command="mcp-server-time")
    git_server = server(name="git", command="mcp-server-git", args=["--repository", str(tmp_path)])
    hub.add("a1", time_server)
    hub.add("a1", git_server)
    hub.start()
    tools = await hub.tools_for("a1", [time_server, git_server])
    error, text = await call(tools, "mcp__time__get_current_time", timezone="UTC")
    assert not error and '"timezone": "UTC"' in text
    error, text = await call(tools, "mcp__git__git_status", repo_path=str(tmp_path))
    assert not error and "notes.txt" in text
    await hub.close()
    assert children_named("mcp-server-time", "mcp-server-git") == []


@pytest.fixture
def http_server() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [PY, "-m", "tests.fakes.mcp_server", "--http", str(port), "--token", "s3cret"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/mcp"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(timeout=10)


async def test_a_streamable_http_server_with_headers(http_server: str) -> None:
    hub = MCPHub()
    config = server(
        name="remote", type="streamable-http", url=http_server, headers={"X-Token": "s3cret"}
    )
    hub.add("a1", config)
    hub.start()
    tools = await hub.tools_for("a1", [config])
    assert await call(tools, "mcp__remote__echo", text="over http") == (False, "echo: over http")
    await hub.close()
    notes: list[str] = []
    wrong = MCPHub(lambda agents, text: notes.append(text))
    bad = server(
        name="remote", type="streamable-http", url=http_server, headers={"X-Token": "nope"}
    )
    wrong.add("a1", bad)
    wrong.start()
    assert await wrong.tools_for("a1", [bad]) == []
    await wrong.close()
    assert notes and "did not start" in notes[0]


@pytest.mark.skipif(shutil.which("npx") is None, reason="Node's npx is not installed")
async def test_nodes_reference_filesystem_server_through_npx(tmp_path: Path) -> None:
    (tmp_path / "hello.txt").write_text("from node")
    hub = MCPHub()
    config = server(
        name="fs",
        command="npx",
        args=["-y", "@modelcontextprotocol/server-filesystem", str(tmp_path)],
        startup_timeout_seconds=120,
    )
    hub.add("a1", config)
    hub.start()
    tools = await hub.tools_for("a1", [config])
    if not tools:
        await hub.close()
        pytest.skip("npx could not fetch @modelcontextprotocol/server-filesystem here")
    error, text = await call(tools, "mcp__fs__read_text_file", path=str(tmp_path / "hello.txt"))
    assert not error and "from node" in text
    await hub.close()
    assert children_named("server-filesystem") == []
