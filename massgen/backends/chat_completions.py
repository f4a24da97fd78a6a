"""The ``chatcompletion`` backend: OpenAI Chat Completions through the official ``openai`` SDK.

Serves every OpenAI-compatible endpoint (all registry presets: grok, vllm, ollama, ...). SDK
retries are off; :mod:`massgen.backends.retry` retries above this module. Every SDK or
transport exception is mapped onto :mod:`massgen.backends.errors`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import openai

from massgen.backends._openai_sdk import OpenAISDKBackend
from massgen.backends.base import (
    Backend,
    Chunk,
    DoneChunk,
    Message,
    ReasoningChunk,
    TextChunk,
    ToolCall,
    ToolCallChunk,
    ToolSpec,
    UsageChunk,
)
from massgen.backends.errors import (
    BackendConnectionError,
    ProviderError,
)
from massgen.backends.registry import PRESETS

if TYPE_CHECKING:
    from massgen.config.schema import BackendConfig

#: Presets for servers people run themselves (vLLM, SGLang, LM Studio, Ollama).
SELF_HOSTED_PRESETS = frozenset({"vllm", "sglang", "lmstudio", "ollama"})
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def convert_message(message: Message) -> dict[str, Any]:
    """A :class:`Message` as a Chat Completions message dict."""
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.role == "assistant" and message.tool_calls:
        out["content"] = message.content or None
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
    if message.name:
        out["name"] = message.name
    return out


def convert_tool(tool: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters,
        },
    }


def _reasoning_of(obj: Any) -> str:
    """Reasoning text a provider put in an extra field (DeepSeek/vLLM/OpenRouter style)."""
    extra = getattr(obj, "model_extra", None) or {}
    for key in ("reasoning_content", "reasoning"):
        value = extra.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def _usage_chunk(usage: Any) -> UsageChunk:
    completion_details = getattr(usage, "completion_tokens_details", None)
    prompt_details = getattr(usage, "prompt_tokens_details", None)
    return UsageChunk(
        prompt_tokens=usage.prompt_tokens or 0,
        completion_tokens=usage.completion_tokens or 0,
        reasoning_tokens=getattr(completion_details, "reasoning_tokens", None) or 0,
        cached_tokens=getattr(prompt_details, "cached_tokens", None) or 0,
    )


class _ToolCallAssembler:
    """Joins streamed tool-call deltas (keyed by ``index``) into complete calls."""

    def __init__(self) -> None:
        self._calls: list[dict[str, str]] = []
        self._by_index: dict[int, dict[str, str]] = {}

    def add(self, delta: Any) -> None:
        index = delta.index if delta.index is not None else len(self._calls)
        call = self._by_index.get(index)
        # Some servers reuse index 0 for parallel calls; a new id means a new call.
        if call is None or (delta.id and call["id"] and delta.id != call["id"]):
            call = {"id": "", "name": "", "arguments": ""}
            self._calls.append(call)
            self._by_index[index] = call
        if delta.id:
            call["id"] = delta.id
        function = delta.function
        if function is not None:
            if function.name and not call["name"]:
                call["name"] = function.name
            if function.arguments:
                call["arguments"] += function.arguments

    def flush(self) -> list[ToolCall]:
        calls = [
            ToolCall(id=c["id"] or f"call_{i}", name=c["name"], arguments=c["arguments"])
            for i, c in enumerate(self._calls)
        ]
        self._calls.clear()
        self._by_index.clear()
        return calls


class ChatCompletionsBackend(OpenAISDKBackend, Backend):
    """Chat Completions over ``openai.AsyncOpenAI``; ``config.type`` may be any preset."""

    type = "chatcompletion"

    def __init__(self, config: BackendConfig, api_key: str | None = None) -> None:
        super().__init__(config, api_key)
        self.base_url = config.base_url or PRESETS[config.type].base_url
        # Made here, not on the first call: building a client and importing the SDK's chat
        # resources takes tens of ms that would otherwise block the running coordination.
        self._client: openai.AsyncOpenAI | None = self._make_client()
        self._client.chat.completions  # noqa: B018 - warm the SDK's lazy resource import

    @property
    def self_hosted(self) -> bool:
        """A local server preset, or a generic endpoint on this machine. A named provider
        (grok, groq, ...) at a custom URL is a proxy in front of that provider: still paid."""
        host = urlparse(self.base_url).hostname or ""
        generic_here = self.config.type == "chatcompletion" and host in LOOPBACK_HOSTS
        return self.config.type in SELF_HOSTED_PRESETS or generic_here

    @property
    def openai_hosted(self) -> bool:
        """OpenAI's own service, which wants ``max_completion_tokens`` (reasoning models
        reject ``max_tokens``); other servers mostly know only ``max_tokens``."""
        return urlparse(self.base_url).hostname == "api.openai.com"

    def request_params(
        self, messages: list[Message], tools: list[ToolSpec] | None = None
    ) -> dict[str, Any]:
        """The keyword arguments of ``chat.completions.create`` for one call."""
        config = self.config
        params: dict[str, Any] = {
            "model": self.model,
            "messages": [convert_message(m) for m in messages],
        }
        if tools:
            params["tools"] = [convert_tool(t) for t in tools]
        if config.temperature is not None:
            params["temperature"] = config.temperature
        if config.top_p is not None:
            params["top_p"] = config.top_p
        if config.max_tokens is not None:
            key = "max_completion_tokens" if self.openai_hosted else "max_tokens"
            params[key] = config.max_tokens
        if config.stream:
            params["stream"] = True
            params["stream_options"] = {"include_usage": True}
        return params

    async def _streamed(self, params: dict[str, Any]) -> AsyncGenerator[Chunk, None]:
        response = await self.client.chat.completions.create(**params)
        calls = _ToolCallAssembler()
        usage: Any = None
        finish_reason: str | None = None
        async with response:  # closes the HTTP response if the consumer stops or is cancelled
            async for chunk in response:
                if chunk.usage is not None:
                    usage = chunk.usage
                for choice in chunk.choices:
                    if choice.index != 0:
                        continue
                    delta = choice.delta
                    if delta is not None:
                        reasoning = _reasoning_of(delta)
                        if reasoning:
                            yield ReasoningChunk(reasoning)
                        if delta.content:
                            yield TextChunk(delta.content)
                        for call_delta in delta.tool_calls or ():
                            calls.add(call_delta)
                    if choice.finish_reason:
                        finish_reason = choice.finish_reason
                        for call in calls.flush():
                            yield ToolCallChunk(call)
        if finish_reason is None:
            raise BackendConnectionError(
                "stream ended unexpectedly before the model finished", provider=self.provider
            )
        for call in calls.flush():
            yield ToolCallChunk(call)
        if usage is not None:
            yield _usage_chunk(usage)
        yield DoneChunk(finish_reason)

    async def _complete(self, params: dict[str, Any]) -> AsyncGenerator[Chunk, None]:
        completion = await self.client.chat.completions.create(**params)
        if not completion.choices:
            raise ProviderError("the response has no choices", provider=self.provider)
        choice = completion.choices[0]
        message = choice.message
        reasoning = _reasoning_of(message)
        if reasoning:
            yield ReasoningChunk(reasoning)
        if message.content:
            yield TextChunk(message.content)
        for call in message.tool_calls or ():
            function = getattr(call, "function", None)
            if function is not None:
                yield ToolCallChunk(ToolCall(call.id, function.name, function.arguments))
        if completion.usage is not None:
            yield _usage_chunk(completion.usage)
        yield DoneChunk(choice.finish_reason)

    # ---- errors
