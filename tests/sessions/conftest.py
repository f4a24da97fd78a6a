"""What the sessions tests share: an environment of their own, and a fake provider."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.chat_server import FakeChatServer

ENV_KEY = "sk-env-test-4f8a1c9e2b7d"  # a provider key in the environment


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    base.update(
        HOME=str(tmp_path / "home"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        MASSGEN_LOG_DIR=str(tmp_path / "sessions"),
        OPENAI_API_KEY=ENV_KEY,
        PYTHONUNBUFFERED="1",
    )
    return base


@pytest.fixture
def provider() -> Iterator[FakeChatServer]:
    with FakeChatServer() as server:
        yield server
