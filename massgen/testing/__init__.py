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

from massgen.testing.anthropic_server import FakeAnthropicServer
from massgen.testing.anthropic_wire import ClaudeReply
from massgen.testing.chat_server import FakeChatServer
from massgen.testing.chat_wire import Brain, CoordinationBrain, RecordedRequest, Reply
from massgen.testing.gemini_server import FakeGeminiServer
from massgen.testing.gemini_wire import GeminiReply
from massgen.testing.providers import FAKE_API_KEY, fake_provider, team_config

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
