"""``massgen mcp`` as a real subprocess, driven by the official ``mcp`` client SDK, its
team on the fake OpenAI Chat Completions server (127.0.0.1, a free port)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from massgen.testing import fake_provider, team_config
from massgen.testing.chat_server import FakeChatServer

PROVIDER_VARS = ("OPENAI_API_KEY", "XAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY")
MASSGEN = [sys.executable, "-m", "massgen", "mcp"]


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeChatServer]:
    with fake_provider() as server:
        yield server


@pytest.fixture
def fake(provider: FakeChatServer) -> Iterator[FakeChatServer]:
    provider.reset()
    yield provider
    provider.release()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in PROVIDER_VARS}
    base.update(
        HOME=str(tmp_path / "home"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        MASSGEN_LOG_DIR=str(tmp_path / "sessions"),
        PYTHONUNBUFFERED="1",
    )
    return base


@pytest.fixture
def team_file(tmp_path: Path, fake: FakeChatServer) -> Path:
    """A config of two agents on the fake provider."""
    path = tmp_path / "team.yaml"
    path.write_text(yaml.safe_dump(team_config(fake, agents=2)), encoding="utf-8")
    return path
