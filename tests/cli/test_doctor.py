"""``massgen doctor``: key masking, reachability against fake servers, models from the user's
configs, and the exit code for the default config."""

from __future__ import annotations

import io
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse

from massgen.backends.probe import mask_key
from massgen.cli.doctor import run_doctor
from massgen.providers import PROVIDER_KEY_VARS
from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.chat_server import FakeChatServer, error_body
from tests.fakes.gemini_server import FakeGeminiServer
from tests.fakes.responses_server import FakeResponsesServer

GOOD = "sk-good-0123456789abcdef"
WRONG = "sk-wrong-9876543210fedcba"
OPENAI = "sk-openai-1111222233334444"
CLAUDE = "sk-ant-5555666677778888"
GEMINI = "AIzaGemini99990000aaaabbbb"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty HOME and config dir, no provider keys, and ``os.environ`` restored after
    (``.env`` loading writes to it directly)."""
    saved = dict(os.environ)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    for var in (*PROVIDER_KEY_VARS, "AZURE_OPENAI_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    config_dir = tmp_path / "xdg" / "massgen"
    (config_dir / "agents").mkdir(parents=True)
    try:
        yield config_dir
    finally:
        os.environ.clear()
        os.environ.update(saved)


class KeyedChatServer(FakeChatServer):
    """The fake Chat Completions server, whose model list (open on the shared fake) also
    checks the key, as real providers do."""

    async def _models(self, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return JSONResponse(error_body(401, "Incorrect API key provided."), status_code=401)
        return await super()._models(request)


def closed_port_url(suffix: str = "/v1") -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{suffix}"


def doctor(**kwargs: Any) -> tuple[int, str]:
    out = io.StringIO()
    code = run_doctor(out=out, timeout=1.0, **kwargs)
    return code, out.getvalue()


def doctor_json(**kwargs: Any) -> tuple[int, dict[str, Any]]:
    code, text = doctor(as_json=True, **kwargs)
    return code, json.loads(text)


def by_provider(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["provider"]: row for row in report["providers"]}


def test_mask_key_never_shows_the_whole_key() -> None:
    assert mask_key("sk-abcdefghijkl1234") == "sk-…1234"
    assert mask_key("short") == "………"
    assert mask_key(None) == ""


def test_reachable_rejected_and_unreachable(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XAI_API_KEY", GOOD)
    monkeypatch.setenv("GROQ_API_KEY", WRONG)
    monkeypatch.setenv("OPENROUTER_API_KEY", GOOD)
    down = closed_port_url()
    with KeyedChatServer(api_key=GOOD) as xai, KeyedChatServer(api_key=GOOD) as groq:
        (home / "config.yaml").write_text(
            "agents:\n"
            f"  - {{id: a, backend: {{type: grok, model: grok-4-fast, base_url: '{xai.url}'}}}}\n"
            f"  - {{id: b, backend: {{type: groq, model: llama-3.3-70b, base_url: '{groq.url}'}}}}\n"
            f"  - {{id: c, backend: {{type: openrouter, model: x/y, base_url: '{down}'}}}}\n"
        )
        code, text = doctor(as_json=True)
    report = json.loads(text)
    rows = by_provider(report)
    assert rows["grok"]["reachable"] == "ok"
    assert rows["grok"]["base_url"] == xai.url
    assert rows["groq"]["reachable"] == "key rejected"
    assert rows["openrouter"]["reachable"] == "unreachable"
    assert rows["grok"]["key_set"] is True
    assert rows["grok"]["key_masked"] == "sk-…cdef"
    assert GOOD not in text and WRONG not in text
    # providers without a key are listed, not called
    assert rows["together"] == {
        **rows["together"],
        "key_set": False,
        "key_masked": "",
        "reachable": "no key",
    }
    # local servers appear only when used
    assert "ollama" not in rows and "vllm" not in rows
    assert report["default_config"] == {
        "source": str(home / "config.yaml"),
        "can_run": True,
        "missing": [],
    }
    assert code == 0


def test_native_providers_and_models_from_configs(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI)
    monkeypatch.setenv("ANTHROPIC_API_KEY", CLAUDE)
    monkeypatch.setenv("GEMINI_API_KEY", GEMINI)
    with (
        FakeResponsesServer(api_key=OPENAI) as openai,
        FakeAnthropicServer(api_key=CLAUDE) as claude,
        FakeGeminiServer(api_key=GEMINI) as gemini,
    ):
        (home / "config.yaml").write_text(
            "agents:\n"
            f"  - backend: {{type: openai, model: gpt-5-mini, base_url: '{openai.url}'}}\n"
            f"  - backend: {{type: claude, model: claude-sonnet-4-5, base_url: '{claude.url}'}}\n"
        )
        (home / "agents" / "team.yaml").write_text(
            "agents:\n"
            f"  - backend: {{type: gemini, model: gemini-2.5-flash, base_url: '{gemini.url}'}}\n"
            f"  - backend: {{type: openai, model: gpt-5, base_url: '{openai.url}'}}\n"
            "  - backend: {type: ollama, model: llama3.2}\n"
        )
        code, text = doctor(as_json=True, base_urls={"ollama": closed_port_url()})
    report = json.loads(text)
    rows = by_provider(report)
    assert rows["openai"]["reachable"] == "ok"
    assert rows["openai"]["detail"] == "1 models listed"
    # no model list on these fakes: any answer that is not 401/403 means reachable
    assert rows["claude"]["reachable"] == "ok"
    assert rows["gemini"]["reachable"] == "ok"
    assert rows["openai"]["models"] == ["gpt-5-mini", "gpt-5"]
    assert rows["claude"]["models"] == ["claude-sonnet-4-5"]
    assert rows["gemini"]["models"] == ["gemini-2.5-flash"]
    assert rows["ollama"]["models"] == ["llama3.2"]
    assert rows["ollama"]["reachable"] == "unreachable"  # needs no key, so it is checked
    for key in (OPENAI, CLAUDE, GEMINI):
        assert key not in text
    assert code == 0


def test_missing_key_for_the_default_config(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI)
    (home / "config.yaml").write_text(
        "agents:\n"
        f"  - {{id: gpt, backend: {{type: openai, model: gpt-5-mini, base_url: '{closed_port_url()}'}}}}\n"
        "  - {id: sonnet, backend: {type: claude, model: claude-sonnet-4-5}}\n"
    )
    code, report = doctor_json()
    assert code == 1
    default = report["default_config"]
    assert default["can_run"] is False
    assert default["missing"] == ["set ANTHROPIC_API_KEY for agents[1] (sonnet)"]
    rows = by_provider(report)
    assert rows["claude"]["reachable"] == "no key"
    assert rows["openai"]["reachable"] == "unreachable"

    code, text = doctor()
    assert code == 1
    assert "set ANTHROPIC_API_KEY for agents[1] (sonnet)" in text
    assert OPENAI not in text


def test_no_config_no_key_no_local_model(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("massgen.local_model.local_backend_available", lambda: False)
    code, report = doctor_json()
    assert code == 1
    default = report["default_config"]
    assert default["source"] is None and default["can_run"] is False
    assert "no config and no API key" in default["missing"][0]
    assert set(report["local"]) >= {"installed", "model_path"}
    assert all(row["reachable"] == "no key" for row in report["providers"])


def test_no_config_with_a_key(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever ``resolve_default`` does with only a key set (build a team from it, or ask for
    --config), the doctor agrees with it."""
    from massgen.config.resolve import resolve_default
    from massgen.errors import ConfigurationError

    monkeypatch.setenv("XAI_API_KEY", GOOD)
    try:
        resolve_default()
        runs = True
    except ConfigurationError:
        runs = False
    code, report = doctor_json(base_urls={"grok": closed_port_url()})
    assert report["default_config"]["can_run"] is runs
    assert code == (0 if runs else 1)
    assert by_provider(report)["grok"]["reachable"] == "unreachable"


def test_env_file_keys_are_used_and_masked(home: Path) -> None:
    (home / ".env").write_text(f"XAI_API_KEY={GOOD}\n")
    with KeyedChatServer(api_key=GOOD) as server:
        _, text = doctor(as_json=True, base_urls={"grok": server.url})
    rows = by_provider(json.loads(text))
    assert rows["grok"]["key_set"] is True
    assert rows["grok"]["reachable"] == "ok"
    assert GOOD not in text


def test_table_shows_provider_titles(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XAI_API_KEY", GOOD)
    with KeyedChatServer(api_key=GOOD) as server:
        (home / "config.yaml").write_text(
            f"agent: {{backend: {{type: grok, model: grok-4-fast, base_url: '{server.url}'}}}}\n"
        )
        code, text = doctor()
    assert code == 0
    for title in ("xAI Grok", "OpenAI", "Anthropic Claude", "Google Gemini", "Groq"):
        assert title in text
    assert "sk-…cdef" in text and GOOD not in text
    assert "grok-4-fast" in text
    assert "can run" in text


def test_tokens_in_endpoints_and_escapes_from_servers_never_print_raw(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "ghp_doctor_token_0123456789"
    monkeypatch.setenv("XAI_API_KEY", GOOD)
    monkeypatch.setenv("GITHUB_TOKEN", token)
    with KeyedChatServer(api_key=GOOD) as xai:
        url = f"{xai.url}?token={token}"
        (home / "config.yaml").write_text(
            "agents:\n"
            f"  - {{id: a, backend: {{type: grok, model: \"grok\\e[2J\", base_url: '{url}'}}}}\n"
        )
        for as_json in (False, True):
            _, text = doctor(as_json=as_json)
            assert token not in text
            assert "\x1b" not in text
        assert "[redacted]" in json.dumps(json.loads(text))


def test_mcp_servers_in_configs_are_listed_with_their_tools(home: Path) -> None:
    import sys

    (home / "agents" / "tools.yaml").write_text(
        "agents:\n"
        "  - backend:\n"
        "      type: vllm\n"
        "      model: m\n"
        "      mcp_servers:\n"
        "        - {name: time, command: mcp-server-time}\n"
        f"        - {{name: broken, command: {sys.executable}, args: [-c, 'import sys; sys.exit(2)']}}\n"
    )
    _, report = doctor_json()
    servers = {s["name"]: s for s in report["mcp_servers"]}
    assert servers["time"]["ok"] and "mcp__time__get_current_time" in servers["time"]["tools"]
    assert not servers["broken"]["ok"] and "did not start" in servers["broken"]["error"]
    _, text = doctor()
    assert "MCP server time: ok (mcp__time__get_current_time" in text.replace("\n", " ")
    assert "MCP server broken: cannot start" in text


def test_an_ag2_agent_shows_its_framework_models_and_missing_key(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("autogen", reason="the ag2 extra is not installed")
    (home / "config.yaml").write_text(
        "agents:\n"
        "  - id: coder\n"
        "    backend: {type: ag2, llm_config: {config_list: [{model: gpt-4o}]}}\n"
    )
    code, report = doctor_json()
    assert code == 1
    [ag2] = report["frameworks"]
    assert ag2["installed"] is True and ag2["version"] and ag2["models"] == ["gpt-4o"]
    [missing] = report["default_config"]["missing"]
    assert missing.startswith("agents[0] (coder): llm_config.config_list[0] (gpt-4o): no API key")
    code, text = doctor()
    assert "AG2 (type ag2): installed" in text and "your configs use gpt-4o" in text
