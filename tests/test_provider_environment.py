"""The providers' own environment and names, as users of their SDKs expect: ``OPENAI_BASE_URL``,
``ANTHROPIC_BASE_URL`` and ``GOOGLE_GEMINI_BASE_URL`` when a config gives no ``base_url``;
LiteLLM's provider prefixes wherever a model string is accepted; every documented backend
option either reaching the wire or refused with a reason. Checked through the CLI, the API,
LiteLLM, the server and ``massgen doctor``, with the fakes recording what arrived."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import massgen
from massgen.config.loader import load_config_text
from massgen.errors import ConfigurationError
from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.chat_server import FakeChatServer
from tests.fakes.gemini_server import FakeGeminiServer
from tests.fakes.responses_server import FakeResponsesServer

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network on import

MODELS = ["openai/gpt-5-mini", "anthropic/claude-sonnet-4-5-20250929", "gemini/gemini-2.5-flash"]


class Fakes:
    def __init__(self) -> None:
        self.openai = FakeResponsesServer()
        self.anthropic = FakeAnthropicServer()
        self.gemini = FakeGeminiServer()

    def env(self) -> dict[str, str]:
        return {
            "OPENAI_BASE_URL": self.openai.url,
            "ANTHROPIC_BASE_URL": self.anthropic.url,
            "GOOGLE_GEMINI_BASE_URL": self.gemini.url,
            "OPENAI_API_KEY": "sk-test-openai-0000",
            "ANTHROPIC_API_KEY": "sk-ant-test-0000",
            "GEMINI_API_KEY": "gemini-test-0000",
        }

    def served(self) -> dict[str, int]:
        return {
            "openai": len(self.openai.requests),
            "anthropic": len(self.anthropic.requests),
            "gemini": len(self.gemini.requests),
        }

    def reset(self) -> None:
        for fake in (self.openai, self.anthropic, self.gemini):
            fake.reset()


@pytest.fixture(scope="module")
def fakes() -> Iterator[Fakes]:
    fakes = Fakes()
    with fakes.openai, fakes.anthropic, fakes.gemini:
        yield fakes


@pytest.fixture
def provider_env(fakes: Fakes, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    fakes.reset()
    for key, value in fakes.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    return dict(os.environ)


def _all_served(fakes: Fakes) -> None:
    served = fakes.served()
    assert all(n >= 2 for n in served.values()), served  # each agent answered and voted


def test_the_cli_honours_the_sdks_base_url_variables_and_litellm_prefixes(fakes, provider_env):
    proc = subprocess.run(
        [sys.executable, "-m", "massgen", "--models", ",".join(MODELS), "--ui", "plain", "2+2?"],
        env=provider_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    _all_served(fakes)


async def test_the_api_honours_them(fakes, provider_env):
    result = await massgen.run("2+2?", models=MODELS)
    assert result["final_answer"]
    _all_served(fakes)


def test_litellm_honours_them_and_the_reference_quick_start_runs(fakes, provider_env):
    import litellm

    massgen.register_with_litellm()
    response = litellm.completion(
        model="massgen/build",
        messages=[{"role": "user", "content": "What is machine learning?"}],
        optional_params={"models": ["openai/gpt-5", "anthropic/claude-sonnet-4-5-20250929"]},
    )
    assert response.choices[0].message.content
    assert fakes.served()["openai"] >= 2 and fakes.served()["anthropic"] >= 2


def test_the_server_honours_them(fakes, provider_env):
    from massgen.server import create_app
    from tests.test_server import serving

    app = create_app(model="anthropic/claude-sonnet-4-5", enable_logging=False)
    with serving(app) as url:
        response = httpx.post(
            f"{url}/v1/chat/completions",
            json={"model": "massgen", "messages": [{"role": "user", "content": "2+2?"}]},
            timeout=60,
        )
    assert response.status_code == 200, response.text
    assert fakes.served()["anthropic"] >= 1


def test_doctor_shows_the_endpoint_in_use_and_where_it_came_from(fakes, provider_env):
    from io import StringIO

    from massgen.cli.doctor import run_doctor

    out = StringIO()
    run_doctor(as_json=True, out=out, timeout=2)
    rows = {row["provider"]: row for row in json.loads(out.getvalue())["providers"]}
    assert rows["openai"]["base_url"] == fakes.openai.url
    assert rows["openai"]["base_url_source"] == "OPENAI_BASE_URL"
    assert rows["claude"]["base_url_source"] == "ANTHROPIC_BASE_URL"
    assert rows["gemini"]["base_url_source"] == "GOOGLE_GEMINI_BASE_URL"
    assert rows["openai"]["reachable"] == "ok"
    table = StringIO()
    run_doctor(out=table, timeout=2)
    assert "(OPENAI_BASE_URL)" in table.getvalue()


@pytest.mark.parametrize(
    ("spec", "backend_type", "model"),
    [
        ("anthropic/claude-sonnet-4-5", "claude", "claude-sonnet-4-5"),
        ("gemini/gemini-2.5-pro", "gemini", "gemini-2.5-pro"),
        ("xai/grok-4", "grok", "grok-4"),
        ("azure/my-deployment", "azure_openai", "my-deployment"),
        (
            "openrouter/meta-llama/llama-3.3-70b-instruct",
            "openrouter",
            "meta-llama/llama-3.3-70b-instruct",
        ),
        ("groq/llama-3.3-70b", "groq", "llama-3.3-70b"),
        ("together_ai/Qwen/Qwen3-8B", "together", "Qwen/Qwen3-8B"),
        ("fireworks_ai/accounts/x/models/y", "fireworks", "accounts/x/models/y"),
        ("ollama/llama3.2", "ollama", "llama3.2"),
        ("hosted_vllm/Qwen/Qwen3-8B", "vllm", "Qwen/Qwen3-8B"),
        ("lm_studio/qwen2.5-7b", "lmstudio", "qwen2.5-7b"),
    ],
)
def test_litellm_provider_prefixes_map_onto_backend_types(spec, backend_type, model):
    config = massgen.build_config(models=[spec])
    backend = config["agents"][0]["backend"]
    assert (backend["type"], backend["model"]) == (backend_type, model)


def test_litellm_config_errors_are_value_errors_not_litellm_bugs(provider_env):
    import litellm

    massgen.register_with_litellm()
    with pytest.raises(ValueError) as info:
        litellm.completion(
            model="massgen/build",
            messages=[{"role": "user", "content": "q"}],
            optional_params={"models": ["nonsense-model-xyz"]},
        )
    assert "cannot tell its provider" in str(info.value)
    assert "bug in LiteLLM" not in str(info.value)
    assert isinstance(info.value, litellm.BadRequestError)


def test_litellm_returns_the_session_directory_with_enable_logging(fakes, provider_env, tmp_path):
    import litellm

    massgen.register_with_litellm()
    os.environ["MASSGEN_LOG_DIR"] = str(tmp_path / "logs")
    response = litellm.completion(
        model="massgen/build",
        messages=[{"role": "user", "content": "q"}],
        optional_params={"models": MODELS[:2], "enable_logging": True},
    )
    directory = Path(response._hidden_params["massgen_log_directory"])
    assert (directory / "events.jsonl").is_file()
    assert directory.parent == tmp_path / "logs"


async def test_use_docker_false_is_the_documented_default(fakes, provider_env):
    result = await massgen.run("q", models=MODELS[:1], use_docker=False, enable_filesystem=False)
    assert result["final_answer"]
    with pytest.raises(ConfigurationError, match="use_docker") as refused:
        await massgen.run("q", models=MODELS[:1], use_docker=True)  # no Docker daemon here
    assert "\n" not in str(refused.value)


# ------------------------------------------------------------------ options on the wire


@pytest.fixture
def chat() -> Iterator[FakeChatServer]:
    with FakeChatServer() as server:
        yield server


def _one_agent(backend: str) -> dict[str, Any]:
    return load_config_text(f"agents:\n  - backend: {backend}\n").config.model_dump(mode="json")


async def _run_one(backend: str) -> None:
    config = _one_agent(backend)
    await massgen.run("q", config=config)


async def test_server_sampling_options_and_extra_body_reach_the_wire(chat):
    await _run_one(
        f"{{type: sglang, model: m, base_url: '{chat.url}', top_k: 50, repetition_penalty: 1.1, "
        "separate_reasoning: true, extra_body: {min_p: 0.05, chat_template_kwargs: {x: 1}}}"
    )
    body = chat.requests[0].body
    assert body["top_k"] == 50 and body["repetition_penalty"] == 1.1
    assert body["separate_reasoning"] is True
    assert body["min_p"] == 0.05 and body["chat_template_kwargs"] == {"x": 1}


async def test_grok_web_search_asks_for_xais_live_search(chat):
    await _run_one(
        f"{{type: grok, model: grok-4, base_url: '{chat.url}', api_key: k, enable_web_search: true}}"
    )
    assert chat.requests[0].body["search_parameters"]["mode"] == "auto"


def test_lm_studio_port_sets_the_endpoint():
    from massgen.providers import endpoint

    config = load_config_text(
        "agents:\n  - backend: {type: lmstudio, model: m, port: 4321}\n"
    ).config
    assert endpoint(config.agents[0].backend) == ("http://localhost:4321/v1", "port")


async def test_claude_code_interpreter_sends_anthropics_code_execution_tool(fakes, provider_env):
    await _run_one("{type: claude, model: claude-sonnet-4-5, enable_code_interpreter: true}")
    request = fakes.anthropic.requests[0]
    assert any(str(t.get("type", "")).startswith("code_execution") for t in request.body["tools"])


async def test_gemini_safety_settings_reach_the_wire(fakes, provider_env):
    await _run_one(
        "{type: gemini, model: gemini-2.5-pro, safety_settings: "
        "{HARM_CATEGORY_HARASSMENT: BLOCK_MEDIUM_AND_ABOVE, HARM_CATEGORY_HATE_SPEECH: BLOCK_ONLY_HIGH}}"
    )
    body = fakes.gemini.requests[0].body
    assert {(s["category"], s["threshold"]) for s in body["safetySettings"]} == {
        ("HARM_CATEGORY_HARASSMENT", "BLOCK_MEDIUM_AND_ABOVE"),
        ("HARM_CATEGORY_HATE_SPEECH", "BLOCK_ONLY_HIGH"),
    }


@pytest.mark.parametrize(
    ("backend", "message"),
    [
        (
            "{type: openai, model: m, top_k: 5}",
            "top_k: openai has no top-k sampling; use temperature or top_p",
        ),
        ("{type: claude, model: m, repetition_penalty: 1.1}", "repetition_penalty: claude has no"),
        (
            "{type: gemini, model: m, safety_settings: {HARM_CATEGORY_X: LOUD}}",
            "unknown threshold 'LOUD'",
        ),
        ("{type: vllm, model: m, safety_settings: {}}", "safety_settings: a Gemini option"),
        ("{type: openai, model: m, port: 1234}", "port: only for local servers"),
        (
            "{type: vllm, model: m, enable_web_search: true}",
            "enable_web_search: vllm has no web search",
        ),
        (
            "{type: grok, model: m, enable_code_interpreter: true}",
            "enable_code_interpreter: grok has no code sandbox",
        ),
        (
            "{type: claude, model: m, extra_body: {a: 1}}",
            "extra_body: only for OpenAI-compatible servers",
        ),
    ],
)
def test_options_a_provider_cannot_honour_are_refused_with_what_to_use(backend, message):
    with pytest.raises(ConfigurationError) as info:
        load_config_text(f"agents:\n  - backend: {backend}\n", "c.yaml")
    assert message in str(info.value)
    assert str(info.value).startswith("c.yaml:2: agents[0].backend")
