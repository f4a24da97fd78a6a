"""``python -m massgen.cli --backend TYPE --model M "question"`` (the early releases' form, as
the backends reference shows it), as a real subprocess against a fake Gemini on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.gemini_server import FakeGeminiServer

PROVIDER_VARS = ("OPENAI_API_KEY", "XAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY")


@pytest.fixture(scope="module")
def gemini() -> Iterator[FakeGeminiServer]:
    with FakeGeminiServer(api_key="gemini-test-key") as server:
        yield server


@pytest.fixture
def env(tmp_path: Path, gemini: FakeGeminiServer) -> dict[str, str]:
    gemini.reset()
    base = {k: v for k, v in os.environ.items() if k not in PROVIDER_VARS and k != "GOOGLE_API_KEY"}
    base.update(
        HOME=str(tmp_path / "home"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        GEMINI_API_KEY="gemini-test-key",
        GOOGLE_GEMINI_BASE_URL=gemini.url,
        PYTHONUNBUFFERED="1",
    )
    return base


def run(module: str, *args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, "--no-log", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("module", ["massgen.cli", "massgen"])
def test_backend_and_model_run_one_agent(module, env, gemini, tmp_path):
    proc = run(
        module,
        "--backend",
        "gemini",
        "--model",
        "gemini-2.5-flash",
        "Your question",
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()  # the final answer
    assert gemini.requests
    assert {r.model for r in gemini.requests} == {"gemini-2.5-flash"}


def test_python_m_massgen_cli_is_the_command(env, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "massgen.cli", "--version"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and proc.stdout.startswith("massgen "), proc.stderr


def test_backend_without_model_uses_the_providers_default(env, gemini, tmp_path):
    proc = run("massgen", "--backend", "google", "q", env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    models = {r.model for r in gemini.requests}
    from massgen.providers import DEFAULT_MODELS

    assert models == {DEFAULT_MODELS["gemini"]}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backend", "vllm", "q"], "--backend vllm: this provider has no default model"),
        (["--backend", "gemini", "--config", "single_gpt5nano", "q"], "without --config"),
        (["--backend", "gemini", "--models", "gpt-5-nano", "q"], "without --models"),
        (["--backend", "nope", "--model", "m", "q"], "unknown backend 'nope'"),
    ],
)
def test_backend_usage_errors_are_one_line_and_exit_1(args, message, env, tmp_path):
    proc = run("massgen.cli", *args, env=env, cwd=tmp_path)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("massgen: error:"), proc.stderr
    assert message in lines[0]
