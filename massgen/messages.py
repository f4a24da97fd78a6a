"""The neutral model-call vocabulary: messages, tools, tool calls and what a stream yields.

Shaped like Chat Completions; each backend converts them to its wire protocol. Tools, the
engine and the backends all speak it, so it imports none of them (docs/architecture.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from massgen.images import Image


@dataclass
class ToolSpec:
    """A function tool offered to the model; ``parameters`` is a JSON schema object."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass
class ToolCall:
    """A complete tool call from the model. ``arguments`` is the raw JSON text."""

    id: str
    name: str
    arguments: str

    def parsed_arguments(self) -> dict[str, Any]:
        """The arguments as a dict; raises ``ValueError`` naming the problem if malformed."""
        try:
            value = json.loads(self.arguments or "{}")
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"arguments are not valid JSON ({exc.msg} at char {exc.pos})"
            ) from None
        if not isinstance(value, dict):
            raise ValueError("arguments must be a JSON object")
        return value


@dataclass
class Message:
    """One message of a conversation: a system prompt, a user turn, the assistant's reply
    (with its tool calls) or a tool's result (``tool_call_id`` names the call it answers)."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None
    #: Images attached to a user message (sent only to backends that support them:
    #: :attr:`massgen.backends.base.Backend.supports_images`).
    images: list[Image] = field(default_factory=list)
    #: How many leading characters of ``content`` every turn of the round shares; the rest
    #: is this agent's own tail. Backends end a provider prompt-cache prefix there
    #: (docs/architecture.md, "Prompt caching"). None: no shared part marked.
    shared_chars: int | None = None


# ----------------------------------------------------------------- what a stream yields


@dataclass
class TextChunk:
    """A piece of the reply's text."""

    text: str


@dataclass
class ReasoningChunk:
    """A piece of the model's reasoning (thinking, or a summary of it)."""

    text: str


@dataclass
class ToolArgumentsChunk:
    """A piece of a tool call's arguments (raw JSON text) as the model writes them; the
    complete call still comes as a :class:`ToolCallChunk`. ``index`` orders the reply's
    calls; ``call_id`` may be a placeholder until the provider names the call."""

    index: int
    call_id: str
    name: str
    text: str


@dataclass
class ToolCallChunk:
    """A tool call, yielded once its streamed deltas are complete."""

    call: ToolCall


@dataclass
class ProviderToolChunk:
    """Activity of a tool the provider runs itself (web search, code execution): shown to
    the user as tool events; the engine does not execute or answer it."""

    call_id: str
    name: str
    status: Literal["started", "finished"]
    detail: str = ""  # e.g. the search query, the code, or a short result


@dataclass
class MediaChunk:
    """A medium a provider tool made inside the reply (the Responses API's image_generation):
    the engine saves it as an artifact of the agent's (docs/architecture.md, "Tools")."""

    call_id: str
    tool: str  # the provider's tool, e.g. image_generation
    kind: str  # image, audio, video
    mime: str
    data: bytes
    size: str = ""  # as the provider reports it, for the price (1024x1024, ...)
    quality: str = ""


@dataclass
class UsageChunk:
    """Token usage of one call, from the provider's own usage fields. ``prompt_tokens`` is
    all input (cached included), ``completion_tokens`` all output (reasoning/thinking
    included); ``cached_tokens`` and ``reasoning_tokens`` are the parts of those."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    cached_tokens: int = 0
    #: Input tokens written to the provider's prompt cache (Anthropic: priced above input),
    #: also part of ``prompt_tokens``.
    cache_write_tokens: int = 0
    #: What the call cost as the provider reports it (Claude Code's result); None: massgen
    #: prices the tokens itself (:mod:`massgen.backends.pricing`).
    cost_usd: float | None = None


@dataclass
class DoneChunk:
    """The call ended; ``finish_reason`` as the provider gave it."""

    finish_reason: str | None = None


#: Everything a backend's stream yields.
Chunk = (
    TextChunk
    | ReasoningChunk
    | ToolArgumentsChunk
    | ToolCallChunk
    | ProviderToolChunk
    | MediaChunk
    | UsageChunk
    | DoneChunk
)
