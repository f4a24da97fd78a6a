"""``massgen.testing``: the fake provider servers massgen's own tests run against, for yours.
Each speaks a provider's real wire protocol (OpenAI Chat Completions, Anthropic Messages,
Gemini) on 127.0.0.1, so the real SDKs and massgen's backends talk to it over HTTP, offline::

    import massgen
    from massgen.testing import fake_provider, team_config

    with fake_provider("anthropic") as fake:
        result = await massgen.run("What is 2 + 2?", config=team_config(fake, agents=2))

Replies are scripted with :class:`Reply` (``fake.enqueue(...)``) or played by a brain
(:class:`CoordinationBrain`: answers, votes, tool calls from a ``tool_plan``). The pytest
fixtures are in :mod:`massgen.testing.pytest_plugin`. Needs the ``testing`` extra
(``pip install 'massgen[testing]'``: starlette and uvicorn).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "FAKE_API_KEY",
    "Brain",
    "ClaudeReply",
    "CoordinationBrain",
    "FakeAnthropicServer",
    "FakeChatServer",
    "FakeGeminiServer",
    "GeminiReply",
    "RecordedRequest",
    "Reply",
    "fake_provider",
    "team_config",
]

_LAZY = {
    "FAKE_API_KEY": "massgen.testing.providers",
    "fake_provider": "massgen.testing.providers",
    "team_config": "massgen.testing.providers",
    "Brain": "massgen.testing.chat_wire",
    "CoordinationBrain": "massgen.testing.chat_wire",
    "RecordedRequest": "massgen.testing.chat_wire",
    "Reply": "massgen.testing.chat_wire",
    "FakeChatServer": "massgen.testing.chat_server",
    "FakeAnthropicServer": "massgen.testing.anthropic_server",
    "ClaudeReply": "massgen.testing.anthropic_wire",
    "FakeGeminiServer": "massgen.testing.gemini_server",
    "GeminiReply": "massgen.testing.gemini_wire",
}


def __getattr__(name: str) -> Any:
    """The names above, imported on first use (so ``python -m massgen.testing.<server>``
    runs each server module once)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'massgen.testing' has no attribute {name!r}")
