"""Fake providers for your own tests: :func:`fake_provider` starts one of the fake servers
(OpenAI Chat Completions, Anthropic Messages, Gemini) on 127.0.0.1, and :func:`team_config`
makes a massgen config whose agents call them, so ``massgen.run`` works offline."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from massgen.testing.anthropic_server import FakeAnthropicServer
from massgen.testing.chat_server import FakeChatServer
from massgen.testing.chat_wire import Brain
from massgen.testing.gemini_server import FakeGeminiServer

#: The fake of each provider wire, the backend type that speaks it, and a model name for it.
KINDS: dict[str, tuple[type[FakeChatServer], str, str]] = {
    "openai": (FakeChatServer, "chatcompletion", "gpt-4o-mini"),
    "anthropic": (FakeAnthropicServer, "claude", "claude-sonnet-4-5"),
    "gemini": (FakeGeminiServer, "gemini", "gemini-2.5-flash"),
}
#: The key the fakes check when none is given (a real check: a wrong key is refused).
FAKE_API_KEY = "massgen-fake-key"


@contextlib.contextmanager
def fake_provider(
    kind: str = "openai",
    *,
    api_key: str | None = FAKE_API_KEY,
    brain: Brain | None = None,
    ttft: float = 0.0,
    tokens_per_second: float | None = None,
) -> Iterator[FakeChatServer]:
    """A fake ``kind`` provider (openai, anthropic, gemini) serving on a free port of
    127.0.0.1 while the block runs. By default its brain plays massgen's workflow (answers,
    votes, a final answer); script replies with ``server.enqueue(Reply(...))`` or give your
    own ``brain`` (``request body -> Reply``). ``server.requests`` records what it was sent."""
    if kind not in KINDS:
        raise ValueError(f"unknown fake provider {kind!r}; one of {', '.join(KINDS)}")
    server_class = KINDS[kind][0]
    server = server_class(
        api_key=api_key, brain=brain, ttft=ttft, tokens_per_second=tokens_per_second
    )
    with server:
        yield server


def kind_of(server: FakeChatServer) -> str:
    """Which provider ``server`` fakes."""
    for kind, (server_class, _, _) in reversed(KINDS.items()):  # subclasses first
        if isinstance(server, server_class):
            return kind
    raise ValueError(f"not a fake provider: {server!r}")


def team_config(*servers: FakeChatServer, agents: int = 1, **orchestrator: Any) -> dict[str, Any]:
    """A massgen config (a dict for ``massgen.run(config=...)`` or ``massgen serve``) with
    ``agents`` agents on each fake server; ``orchestrator`` settings go under
    ``orchestrator`` (``strategy="debate"``, ...)."""
    if not servers:
        raise ValueError("team_config needs at least one fake server")
    entries: list[dict[str, Any]] = []
    for server in servers:
        _, backend_type, model = KINDS[kind_of(server)]
        for _ in range(agents):
            backend: dict[str, Any] = {"type": backend_type, "model": model, "base_url": server.url}
            if server.api_key is not None:
                backend["api_key"] = server.api_key
            entries.append({"id": f"agent{len(entries) + 1}", "backend": backend})
    config: dict[str, Any] = {"agents": entries}
    if orchestrator:
        config["orchestrator"] = dict(orchestrator)
    return config
