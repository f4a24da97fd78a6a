"""Provider prompt caches, on the wire and in the figures: the real backends against the
fakes, which report cached tokens as each provider does (tests/fakes/prompt_caches.py).

Token counts are the fakes' estimate (characters / 4); the expected figures below are worked
out by hand from the lengths of the prompts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from massgen.backends.pricing import cost_usd
from massgen.backends.registry import create_backend
from massgen.config.schema import BackendConfig
from massgen.messages import Message, UsageChunk
from tests.fakes.anthropic_server import ClaudeReply, FakeAnthropicServer
from tests.fakes.chat_server import FakeChatServer, Reply
from tests.fakes.gemini_server import FakeGeminiServer
from tests.fakes.responses_server import FakeResponsesServer


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, FakeChatServer]]:
    with (
        FakeChatServer() as chat,
        FakeResponsesServer() as responses,
        FakeAnthropicServer() as anthropic,
        FakeGeminiServer() as gemini,
    ):
        yield {
            "chatcompletion": chat,
            "openai": responses,
            "claude": anthropic,
            "gemini": gemini,
        }


async def usage_of(
    server: FakeChatServer, kind: str, model: str, messages: list[Message], **options: Any
) -> UsageChunk:
    """One call through the real backend; the usage it reports."""
    server.enqueue(ClaudeReply(text="ok") if kind == "claude" else Reply(text="ok"))
    backend = create_backend(
        BackendConfig(type=kind, model=model, base_url=server.url, api_key="k", **options)
    )
    try:
        usage = [c async for c in backend.stream(messages) if isinstance(c, UsageChunk)]
    finally:
        await backend.aclose()
    assert len(usage) == 1
    return usage[0]


@pytest.mark.parametrize("kind", ["chatcompletion", "openai"])
async def test_openai_reports_a_repeated_prefix_cached_and_it_is_priced_at_the_cached_rate(
    servers, kind
):
    server = servers[kind]
    server.reset()
    system = Message("system", "S" * 4096)  # 1,024 tokens

    first = await usage_of(server, kind, "gpt-5-mini", [system, Message("user", "U" * 1024)])
    second = await usage_of(server, kind, "gpt-5-mini", [system, Message("user", "V" * 1024)])

    # 4,096 + 1,024 characters: 1,280 tokens each; the second shares the system's 1,024
    # tokens (at least 1,024, in steps of 128) with the first
    assert (first.prompt_tokens, first.cached_tokens) == (1280, 0)
    assert (second.prompt_tokens, second.cached_tokens, second.completion_tokens) == (1280, 1024, 1)
    # gpt-5-mini: $0.25 input, $0.025 cached, $2.00 output per million
    assert cost_usd("gpt-5-mini", first) == pytest.approx((1280 * 0.25 + 2.00) / 1e6)
    assert cost_usd("gpt-5-mini", second) == pytest.approx((256 * 0.25 + 1024 * 0.025 + 2.00) / 1e6)


@pytest.mark.parametrize("kind", ["chatcompletion", "openai"])
async def test_prompt_cache_key_is_sent_for_a_rounds_shared_prefix_only(servers, kind):
    server = servers[kind]
    server.reset()
    shared = "<ORIGINAL MESSAGE>\nq\n</ORIGINAL MESSAGE>"

    def turn(tail: str) -> list[Message]:
        return [
            Message("system", "rules"),
            Message("user", shared + tail, shared_chars=len(shared)),
        ]

    for tail in (
        "\n\nYour own latest answer is agent1's.",
        "\n\nYour own latest answer is agent2's.",
    ):
        await usage_of(server, kind, "gpt-5-mini", turn(tail), prompt_cache=True)
    await usage_of(server, kind, "gpt-5-mini", [Message("user", "final")], prompt_cache=True)
    await usage_of(server, kind, "gpt-5-mini", turn(""), prompt_cache=False)
    await usage_of(server, kind, "gpt-5-mini", turn(""))  # a local server: not by default

    keys = [r.body.get("prompt_cache_key") for r in server.requests]
    assert keys[0] and keys[0].startswith("massgen-") and keys[0] == keys[1]
    assert keys[2:] == [None, None, None]


async def test_claude_breakpoints_write_then_read_the_shared_prefix(servers):
    server = servers["claude"]
    server.reset()
    system = Message("system", "S" * 4096)  # 1,024 tokens

    def turn(shared: str, tail: str) -> list[Message]:
        return [system, Message("user", shared + tail, shared_chars=len(shared))]

    model = "claude-sonnet-4-5"
    first = await usage_of(server, "claude", model, turn("Q" * 4096, "T" * 400))
    second = await usage_of(server, "claude", model, turn("Q" * 4096, "R" * 400))
    other = await usage_of(server, "claude", model, turn("P" * 4096, "T" * 400))

    body = server.requests[0].body
    assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
    shared_block, tail_block = body["messages"][0]["content"]
    assert shared_block == {
        "type": "text",
        "text": "Q" * 4096,
        "cache_control": {"type": "ephemeral"},
    }
    assert tail_block == {"type": "text", "text": "T" * 400}
    # 4,096 + 4,096 + " " + 400 characters: 2,148 tokens, the breakpoints at 1,024 and 2,048
    assert (first.prompt_tokens, first.cache_write_tokens, first.cached_tokens) == (2148, 2048, 0)
    assert (second.prompt_tokens, second.cache_write_tokens, second.cached_tokens) == (
        2148,
        0,
        2048,
    )
    # another round: the system prompt is read, the new shared part written
    assert (other.cache_write_tokens, other.cached_tokens) == (1024, 1024)
    # claude-sonnet-4-5: $3 input, $0.30 cache reads, $3.75 cache writes, $15 output
    assert cost_usd(model, first) == pytest.approx((100 * 3 + 2048 * 3.75 + 15) / 1e6)
    assert cost_usd(model, second) == pytest.approx((100 * 3 + 2048 * 0.30 + 15) / 1e6)


async def test_claude_sends_no_breakpoint_when_prompt_cache_is_off(servers):
    server = servers["claude"]
    server.reset()
    messages = [Message("system", "S" * 4096), Message("user", "Q" * 4096, shared_chars=4096)]
    usage = await usage_of(server, "claude", "claude-sonnet-4-5", messages, prompt_cache=False)
    assert "cache_control" not in str(server.requests[0].body)
    assert (usage.cache_write_tokens, usage.cached_tokens) == (0, 0)


async def test_gemini_reports_a_repeated_prefix_cached_and_it_is_priced_at_the_cached_rate(
    servers,
):
    server = servers["gemini"]
    server.reset()
    system = Message("system", "S" * 4096)  # 1,024 tokens
    model = "gemini-2.5-flash"
    first = await usage_of(server, "gemini", model, [system, Message("user", "U" * 1024)])
    second = await usage_of(server, "gemini", model, [system, Message("user", "V" * 1024)])
    assert first.cached_tokens == 0 and second.cached_tokens == 1024
    # gemini-2.5-flash: $0.30 input, $0.075 cached, $2.50 output per million
    fresh = second.prompt_tokens - 1024
    expected = (fresh * 0.30 + 1024 * 0.075 + second.completion_tokens * 2.50) / 1e6
    assert cost_usd(model, second) == pytest.approx(expected)
