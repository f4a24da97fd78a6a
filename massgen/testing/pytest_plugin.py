"""Pytest fixtures of fake providers, for your tests of code that runs massgen. Enable them in
your top-level ``conftest.py``::

    pytest_plugins = ["massgen.testing.pytest_plugin"]

then ask for ``massgen_fake_openai``, ``massgen_fake_anthropic`` or ``massgen_fake_gemini``
(a started server, see :func:`massgen.testing.fake_provider`) and build a config with
:func:`massgen.testing.team_config`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from massgen.testing.chat_server import FakeChatServer
from massgen.testing.providers import fake_provider


@pytest.fixture
def massgen_fake_openai() -> Iterator[FakeChatServer]:
    """A fake OpenAI Chat Completions provider on 127.0.0.1."""
    with fake_provider("openai") as server:
        yield server


@pytest.fixture
def massgen_fake_anthropic() -> Iterator[FakeChatServer]:
    """A fake Anthropic Messages provider on 127.0.0.1."""
    with fake_provider("anthropic") as server:
        yield server


@pytest.fixture
def massgen_fake_gemini() -> Iterator[FakeChatServer]:
    """A fake Gemini provider on 127.0.0.1."""
    with fake_provider("gemini") as server:
        yield server
