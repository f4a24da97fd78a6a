"""``/v1/mcp/...`` on a real ``massgen serve`` over real MCP servers (the tests' own, with
the official SDK; Node's reference filesystem server through npx when it can be fetched):
listing, a call of an allowed tool within the config's bounds and recorded as an agent's
call is, the refusals (not allowed, unknown, bad arguments), a crashing server (502, the
server carries on) and the connection kept across requests."""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import yaml

from tests.fakes.chat_server import FakeChatServer
from tests.server.conftest import ServeProcess, massgen_serve
from tests.server.support import team

KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
OWN = {
    "name": "own",
    "command": sys.executable,
    "args": ["-m", "tests.fakes.mcp_server", "--files"],
}
ALLOWED = ["read_file", "crash", "mcp__own__pid", "sleep", "append"]


def config_with(folder: Path, provider: FakeChatServer, servers: list[dict[str, Any]]) -> Path:
    data = team(provider)
    data["agents"][0]["backend"]["mcp_servers"] = servers
    data["orchestrator"] = {"tool_timeout_seconds": 2, "tool_result_max_chars": 200}
    path = folder / "team.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServeProcess, Path]]:
    folder = tmp_path_factory.mktemp("mcp")
    logs = folder / "sessions"
    with FakeChatServer() as provider:
        config = config_with(folder, provider, [OWN])
        allow = [arg for name in ALLOWED for arg in ("--mcp-allow-tool", name)]
        with massgen_serve(config, "--api-key", KEY, *allow, log_dir=logs) as process:
            yield process, logs


def post(url: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{url}/v1/mcp/tools/call", json=body, headers=AUTH, timeout=30)


def test_capabilities_tools_prompts_and_resources_of_the_configs_servers(served) -> None:
    url = served[0].url
    caps = httpx.get(f"{url}/v1/mcp/capabilities", headers=AUTH, timeout=30).json()
    assert caps["version"] == "2026-07-28"
    (own,) = caps["providers"]
    assert own["name"] == "own" and own["status"] == "ok"
    assert own["capabilities"]["tools"] and own["capabilities"]["prompts"]
    tools = {t["name"]: t for t in httpx.get(f"{url}/v1/mcp/tools", headers=AUTH).json()["tools"]}
    assert tools["echo"]["full_name"] == "mcp__own__echo" and tools["echo"]["read_only"]
    assert tools["read_file"]["allowed"] and not tools["echo"]["allowed"]
    assert tools["add"]["input_schema"]["required"] == ["a", "b"]
    prompts = httpx.get(f"{url}/v1/mcp/prompts", headers=AUTH).json()["prompts"]
    assert [(p["name"], p["arguments"][0]["name"]) for p in prompts] == [("review", "code")]
    resources = httpx.get(f"{url}/v1/mcp/resources", headers=AUTH).json()["resources"]
    assert [(r["name"], r["uri"]) for r in resources] == [("notes", "notes://today")]


def test_every_route_asks_for_the_servers_key(served) -> None:
    url = served[0].url
    for path in ("capabilities", "tools", "prompts", "resources"):
        assert httpx.get(f"{url}/v1/mcp/{path}").status_code == 401
    assert httpx.post(f"{url}/v1/mcp/tools/call", json={"name": "pid"}).status_code == 401


def test_an_allowed_tool_runs_within_the_configs_bounds(served, tmp_path: Path) -> None:
    url = served[0].url
    text = tmp_path / "hello.txt"
    text.write_text("hello from a file")
    answer = post(url, {"name": "read_file", "arguments": {"path": str(text)}})
    assert answer.status_code == 200
    assert answer.json()["result"] == "hello from a file" and not answer.json()["is_error"]
    text.write_text("x" * 500)  # tool_result_max_chars: 200
    long = post(url, {"name": "read_file", "arguments": {"path": str(text)}}).json()
    assert long["truncated"] and long["result"].startswith("x" * 200 + "\n[truncated")
    slow = post(url, {"name": "sleep", "arguments": {"seconds": 30}})  # tool_timeout_seconds: 2
    assert slow.status_code == 504
    assert slow.json()["error"]["message"] == "mcp__own__sleep did not finish within 2s"
    missing = post(url, {"name": "read_file", "arguments": {"path": str(tmp_path / "nope")}})
    assert missing.status_code == 200 and missing.json()["is_error"]  # the tool's own error


def test_one_server_process_is_kept_across_requests(served) -> None:
    url = served[0].url
    first = post(url, {"name": "mcp__own__pid"}).json()["result"]
    assert post(url, {"name": "pid"}).json()["result"] == first


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"name": "echo", "arguments": {"text": "hi"}}, 403,
         "tool 'echo' of MCP server 'own' is not callable over HTTP; the server's operator "
         "allows it with massgen serve --mcp-allow-tool echo"),
        ({"name": "rm_rf"}, 404, "no MCP tool 'rm_rf'"),
        ({"name": "read_file", "arguments": {}}, 400, "arguments: 'path' is a required property"),
        ({"name": "read_file", "arguments": {"path": 3}}, 400,
         "arguments.path: 3 is not of type 'string'"),
        ({"name": "read_file", "arguments": ["/etc/hostname"]}, 400,
         "'arguments' must be a JSON object"),
        ({"name": "read_file", "args": {}}, 400, "unknown field 'args' (fields: name, arguments, "
         "server)"),
    ],
)  # fmt: skip
def test_refusals_say_why_in_one_line(served, body, status, says) -> None:
    answer = post(served[0].url, body)
    assert answer.status_code == status
    assert answer.json()["error"]["message"].startswith(says)


def test_a_server_that_crashes_mid_call_is_a_502_and_the_server_goes_on(
    served, tmp_path: Path
) -> None:
    url = served[0].url
    before = post(url, {"name": "pid"}).json()["result"]
    crashed = post(url, {"name": "crash", "arguments": {"log": str(tmp_path / "ran")}})
    assert crashed.status_code == 502
    assert crashed.json()["error"]["message"].startswith(
        "MCP server 'own' stopped during the call to crash"
    )
    assert "\n" not in crashed.json()["error"]["message"]
    after = post(url, {"name": "pid"})  # started again for the next call
    assert after.status_code == 200 and after.json()["result"] != before
    assert httpx.get(f"{url}/health").status_code == 200


def test_a_call_is_recorded_as_an_agents_call_is(served, tmp_path: Path) -> None:
    process, logs = served
    post(process.url, {"name": "append", "arguments": {"log": str(tmp_path / "l"), "text": "z"}})
    deadline = time.monotonic() + 10
    events: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        events = [
            json.loads(line)
            for path in logs.glob("*/events.jsonl")
            for line in path.read_text().splitlines()
        ]
        if any(
            e["type"] == "tool_call_finished" and e["name"] == "mcp__own__append" for e in events
        ):
            break
        time.sleep(0.1)
    started = [e for e in events if e["type"] == "tool_call_started" and "append" in e["name"]]
    finished = [e for e in events if e["type"] == "tool_call_finished" and "append" in e["name"]]
    assert started[-1]["agent_id"] == "http"
    assert json.loads(started[-1]["arguments"]) == {"log": str(tmp_path / "l"), "text": "z"}
    assert finished[-1]["result"] == "appended 'z'" and not finished[-1]["is_error"]


def test_no_tool_runs_unless_the_operator_allows_it(tmp_path: Path) -> None:
    with FakeChatServer() as provider:
        config = config_with(tmp_path, provider, [OWN])
        with massgen_serve(config, "--api-key", KEY) as process:
            tools = httpx.get(f"{process.url}/v1/mcp/tools", headers=AUTH, timeout=30).json()
            assert tools["tools"] and not any(t["allowed"] for t in tools["tools"])
            refused = post(process.url, {"name": "pid"})
    assert refused.status_code == 403
    assert "massgen serve --mcp-allow-tool pid" in refused.json()["error"]["message"]


def test_the_allow_list_from_the_environment(tmp_path: Path) -> None:
    env = {"MASSGEN_SERVER_MCP_ALLOW_TOOLS": "add, mcp__own__pid"}
    with FakeChatServer() as provider:
        config = config_with(tmp_path, provider, [OWN])
        with massgen_serve(config, "--api-key", KEY, env=env) as process:
            added = post(process.url, {"name": "add", "arguments": {"a": 1, "b": 2}})
            pid = post(process.url, {"name": "pid"})
            echo = post(process.url, {"name": "echo", "arguments": {"text": "x"}})
    assert (added.json()["result"], pid.status_code, echo.status_code) == ("3", 200, 403)
    mcp_pid = int(pid.json()["result"])  # the MCP server stops with massgen serve
    deadline = time.monotonic() + 10
    while psutil.pid_exists(mcp_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not psutil.pid_exists(mcp_pid)


def test_a_server_that_cannot_start_is_reported_and_the_rest_served(tmp_path: Path) -> None:
    broken = {"name": "broken", "command": "no-such-mcp-server-command"}
    with FakeChatServer() as provider:
        config = config_with(tmp_path, provider, [OWN, broken])
        with massgen_serve(config, "--api-key", KEY, "--mcp-allow-tool", "pid") as process:
            caps = httpx.get(f"{process.url}/v1/mcp/capabilities", headers=AUTH, timeout=60)
            ran = post(process.url, {"name": "pid", "server": "own"})
            gone = post(process.url, {"name": "pid", "server": "broken"})
    status = {p["name"]: (p["status"], p.get("error")) for p in caps.json()["providers"]}
    assert status["own"] == ("ok", None)
    assert status["broken"][0] == "error" and "no-such-mcp-server-command" in status["broken"][1]
    assert ran.status_code == 200
    assert gone.status_code == 502 and "MCP server 'broken' is not running" in gone.text


def test_an_allow_list_naming_no_configured_server_stops_the_server(tmp_path: Path) -> None:
    import subprocess

    with FakeChatServer() as provider:
        config = config_with(tmp_path, provider, [OWN])
        done = subprocess.run(
            [sys.executable, "-m", "massgen", "serve", "--config", str(config), "--no-log",
             "--port", "0", "--mcp-allow-tool", "mcp__fs__read_file"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert done.returncode == 1
    assert "--mcp-allow-tool mcp__fs__read_file: the config has no MCP server 'fs'" in done.stderr


@pytest.mark.skipif(shutil.which("npx") is None, reason="Node's npx is not installed")
def test_nodes_reference_filesystem_server_reads_etc_hostname(tmp_path: Path) -> None:
    fs = {
        "name": "fs",
        "command": "npx",
        "args": ["-y", "@modelcontextprotocol/server-filesystem", "/etc"],
        "startup_timeout_seconds": 120,
    }
    with FakeChatServer() as provider:
        config = config_with(tmp_path, provider, [fs])
        with massgen_serve(config, "--mcp-allow-tool", "read_file") as process:
            caps = httpx.get(f"{process.url}/v1/mcp/capabilities", timeout=180).json()
            if caps["providers"][0]["status"] != "ok":
                pytest.skip(f"npx could not start the filesystem server: {caps}")
            answer = post(
                process.url, {"name": "read_file", "arguments": {"path": "/etc/hostname"}}
            )
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"].strip() == Path("/etc/hostname").read_text().strip()
