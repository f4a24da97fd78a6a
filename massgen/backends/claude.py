"""The ``claude`` backend: the Anthropic Messages API through the official ``anthropic`` SDK.

Only this module imports ``anthropic`` (slow to import), and only when a claude agent is built.
SDK retries are off; :mod:`massgen.backends.retry` retries above this module. Every SDK or
transport exception is mapped onto :mod:`massgen.backends.errors`.

Conversions (massgen's Chat-shaped :class:`Message` to Messages API):

* system messages are joined into ``system``; empty or whitespace-only text is left out (the
  API rejects it) and consecutive messages of one role are merged, as roles must alternate;
* an assistant message's ``tool_calls`` become ``tool_use`` blocks whose ``input`` is the
  parsed arguments. Malformed (or non-object) arguments are sent as ``{}``: the block must
  stay, since the following ``tool_result`` has to refer to it, and the tool result the engine
  sends back already tells the model what was wrong with its call;
* ``tool`` messages become ``tool_result`` blocks in a user message;
* unless ``prompt_cache: false``, ``cache_control`` breakpoints end the system prompt and the
  part of a coordination turn the round's agents share (:mod:`massgen.backends.prompt_cache`).

Settings: ``max_tokens`` is required by the API (default :data:`DEFAULT_MAX_TOKENS`).
``thinking_budget`` enables extended thinking (at least 1024 tokens, the API's minimum); the
API then wants ``max_tokens`` above the budget (a smaller or unset ``max_tokens`` is added on
top of it), no ``temperature`` and ``top_p`` of at least 0.95 (others are left out). Thinking
is also left out of a request that continues a tool-use turn, because massgen does not keep
the signed thinking blocks the API then requires. ``temperature`` is capped at 1, the API's
maximum.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import anthropic
import httpx2

from massgen.backends import prompt_cache
from massgen.backends.base import Backend
from massgen.backends.errors import (
    AuthenticationError,
    BackendConnectionError,
    BackendError,
    ContextLengthError,
    ProviderError,
    RateLimitError,
)
from massgen.backends.http_client import parse_retry_after, shared_ssl_context
from massgen.backends.prompt_cache import EPHEMERAL
from massgen.messages import (
    Chunk,
    DoneChunk,
    Message,
    ProviderToolChunk,
    ReasoningChunk,
    TextChunk,
    ToolArgumentsChunk,
    ToolCall,
    ToolCallChunk,
    ToolSpec,
    UsageChunk,
)
from massgen.providers import endpoint

if TYPE_CHECKING:
    from massgen.config.schema import BackendConfig
    from massgen.tools.lending import AgentTurn

log = logging.getLogger(__name__)

DEFAULT_MAX_TOKENS = 4096
MIN_THINKING_BUDGET = 1024
WEB_SEARCH_TOOL = {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}
CODE_EXECUTION_TOOL = {"type": "code_execution_20250522", "name": "code_execution"}
CODE_EXECUTION_BETA = "code-execution-2025-05-22"

_CONTEXT_HINTS = re.compile(
    r"prompt is too long|exceed context limit|context (window|length)", re.IGNORECASE
)
#: HTTP status implied by an error ``type`` (for errors sent inside a 200 stream).
_STATUS_OF_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


# ------------------------------------------------------------------------ conversion


def _tool_input(arguments: str) -> dict[str, Any]:
    try:
        value = json.loads(arguments or "{}")
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def convert_messages(
    messages: list[Message], cache: bool = False
) -> tuple[str, list[dict[str, Any]]]:
    """``(system, messages)`` for the Messages API; with ``cache``, a ``cache_control``
    breakpoint ends the shared part of a marked user message (:mod:`prompt_cache`)."""
    system: list[str] = []
    out: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        if not blocks:
            return
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})

    for message in messages:
        text = message.content or ""
        text_blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text.strip() else []
        pieces = prompt_cache.split(message) if cache else None
        if pieces is not None and message.role == "user":  # a cache breakpoint after the
            shared, tail = pieces  # part the round's turns share (docs/architecture.md)
            text_blocks = [{"type": "text", "text": shared, "cache_control": dict(EPHEMERAL)}]
            if tail.strip():
                text_blocks.append({"type": "text", "text": tail})
        if message.role == "system":
            if text.strip():
                system.append(text)
        elif message.role == "tool":
            result: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.tool_call_id}
            if text:
                result["content"] = text
            add("user", [result])
        elif message.role == "assistant":
            uses = [
                {"type": "tool_use", "id": c.id, "name": c.name, "input": _tool_input(c.arguments)}
                for c in message.tool_calls
            ]
            add("assistant", text_blocks + uses)
        else:
            add("user", text_blocks + [_image_block(image) for image in message.images])
    return "\n\n".join(system), out


def _image_block(image: Any) -> dict[str, Any]:
    if image.data is None:
        return {"type": "image", "source": {"type": "url", "url": image.url}}
    source = {"type": "base64", "media_type": image.media_type, "data": image.base64()}
    return {"type": "image", "source": source}


def convert_tool(tool: ToolSpec) -> dict[str, Any]:
    return {"name": tool.name, "description": tool.description, "input_schema": tool.parameters}


def _continues_tool_turn(messages: list[dict[str, Any]]) -> bool:
    """Whether the last assistant message made tool calls (its results follow)."""
    for message in reversed(messages):
        if message["role"] == "assistant":
            return any(b["type"] == "tool_use" for b in message["content"])
    return False


def _usage_chunk(usage: Mapping[str, Any]) -> UsageChunk:
    cache_read = usage.get("cache_read_input_tokens") or 0
    prompt = (
        (usage.get("input_tokens") or 0)
        + (usage.get("cache_creation_input_tokens") or 0)
        + cache_read
    )
    details = usage.get("output_tokens_details")
    thinking = getattr(details, "thinking_tokens", None) or 0
    return UsageChunk(
        prompt_tokens=prompt,
        completion_tokens=usage.get("output_tokens") or 0,
        reasoning_tokens=thinking,
        cached_tokens=cache_read,
        cache_write_tokens=usage.get("cache_creation_input_tokens") or 0,
    )


def _merge_usage(into: dict[str, Any], usage: Any) -> None:
    """Take every field ``usage`` reports (message_delta's fields are cumulative)."""
    if usage is None:
        return
    for name in (
        "input_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
        "output_tokens",
        "output_tokens_details",
    ):
        value = getattr(usage, name, None)
        if value is not None:
            into[name] = value


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _started_detail(name: str, tool_input: dict[str, Any]) -> str:
    """The search query or the code of a server tool call."""
    for key in ("query", "code", "command", "url"):
        value = tool_input.get(key)
        if isinstance(value, str) and value:
            return _short(value)
    return _short(json.dumps(tool_input)) if tool_input else ""


def _result_detail(block: Any) -> str:
    """A short summary of a server tool's result block."""
    content = getattr(block, "content", None)
    if isinstance(content, list):  # web search results
        titles = [getattr(r, "title", "") or getattr(r, "url", "") for r in content]
        summary = f"{len(titles)} result{'s' if len(titles) != 1 else ''}"
        return _short(f"{summary}: {'; '.join(titles)}" if titles else summary)
    error_code = getattr(content, "error_code", None)
    if error_code:
        return f"error: {error_code}"
    return_code = getattr(content, "return_code", None)
    if return_code is not None:  # code execution
        output = getattr(content, "stdout", "") or getattr(content, "stderr", "") or ""
        return _short(f"exit {return_code}: {output}" if output.strip() else f"exit {return_code}")
    return ""


def _is_server_result(kind: str) -> bool:
    return kind.endswith("_tool_result") and kind != "tool_result"


# ----------------------------------------------------------------------- HTTP helpers


# --------------------------------------------------------------------------- backend


class ClaudeBackend(Backend):
    """Anthropic Messages over ``anthropic.AsyncAnthropic``."""

    type = "claude"
    supports_stop = True
    supports_images = True

    def __init__(self, config: BackendConfig, api_key: str | None = None) -> None:
        super().__init__(config, api_key)
        base_url = endpoint(config)[0].rstrip("/")
        # The SDK adds /v1 itself; a base URL copied with it would double it.
        self.base_url = base_url.removesuffix("/v1")
        # Made here, not on the first call: building a client and importing the SDK's messages
        # resource takes tens of ms that would otherwise block the running coordination.
        self._client: anthropic.AsyncAnthropic | None = self._make_client()
        self._client.messages  # noqa: B018 - warm the SDK's lazy resource import

    def _make_client(self) -> anthropic.AsyncAnthropic:
        return anthropic.AsyncAnthropic(
            # An explicit key keeps the SDK from looking for credentials in the environment
            # and on disk; a keyless proxy ignores the placeholder.
            api_key=self.api_key or "not-needed",
            base_url=self.base_url,
            max_retries=0,
            timeout=self.config.timeout,
            http_client=anthropic.DefaultAsyncHttpxClient(verify=shared_ssl_context()),
        )

    # ---- request

    def request_params(
        self, messages: list[Message], tools: list[ToolSpec] | None = None
    ) -> dict[str, Any]:
        """The keyword arguments of ``messages.create`` for one call."""
        config = self.config
        # breakpoints on a coordination turn's prompt only: the part its round shares
        marked = any(prompt_cache.split(m) is not None for m in messages)
        cache = config.prompt_cache is not False and marked
        system, converted = convert_messages(messages, cache)
        params: dict[str, Any] = {"model": self.model, "messages": converted}
        if system and cache:  # a breakpoint after the tools and system prompt every turn shares
            params["system"] = [{"type": "text", "text": system, "cache_control": dict(EPHEMERAL)}]
        elif system:
            params["system"] = system
        tool_list: list[dict[str, Any]] = [convert_tool(t) for t in tools or ()]
        headers: dict[str, str] = {}
        if config.enable_web_search:
            tool_list.append(dict(WEB_SEARCH_TOOL))
        if config.enable_code_execution or config.enable_code_interpreter:
            tool_list.append(dict(CODE_EXECUTION_TOOL))
            headers["anthropic-beta"] = CODE_EXECUTION_BETA
        if tool_list:
            params["tools"] = tool_list
        if headers:
            params["extra_headers"] = headers

        # This SDK version has no temperature/top_p arguments: they go in the body as is.
        sampling: dict[str, Any] = {}
        if config.temperature is not None:
            sampling["temperature"] = min(config.temperature, 1.0)
        if config.top_p is not None:
            sampling["top_p"] = config.top_p
        if config.top_k is not None:
            sampling["top_k"] = config.top_k
        max_tokens = config.max_tokens or DEFAULT_MAX_TOKENS
        budget = config.thinking_budget
        if budget and not _continues_tool_turn(converted):
            budget = max(budget, MIN_THINKING_BUDGET)
            params["thinking"] = {"type": "enabled", "budget_tokens": budget}
            if max_tokens <= budget:
                max_tokens += budget
            dropped = [k for k in ("temperature",) if k in sampling]
            if sampling.get("top_p", 1.0) < 0.95:
                dropped.append("top_p")
            for key in dropped:
                del sampling[key]
            if dropped:
                log.debug("claude: %s left out: not allowed with thinking", ", ".join(dropped))
        params["max_tokens"] = max_tokens
        if self.stop:
            params["stop_sequences"] = list(self.stop)
        if sampling:
            params["extra_body"] = sampling
        return params

    async def stream(
        self,
        messages: list[Message],
        tools: list[ToolSpec] | None = None,
        *,
        response_format: dict[str, Any] | None = None,
        turn: AgentTurn | None = None,
    ) -> AsyncGenerator[Chunk, None]:
        del response_format  # no schema-constrained output here: the instructions say it
        params = self.request_params(messages, tools)
        call = self._streamed(params) if self.config.stream else self._complete(params)
        try:
            async with aclosing(call) as chunks:  # close now, not at garbage collection
                async for chunk in chunks:
                    yield chunk
        except BackendError:
            raise
        except (anthropic.AnthropicError, httpx2.HTTPError, json.JSONDecodeError) as exc:
            raise self._map_error(exc) from exc

    async def _streamed(self, params: dict[str, Any]) -> AsyncGenerator[Chunk, None]:
        response = await self.client.messages.create(**params, stream=True)
        usage: dict[str, Any] = {}
        blocks: dict[int, dict[str, Any]] = {}  # tool_use / server_tool_use being streamed
        stop_reason: str | None = None
        stopped = False
        async with response:  # closes the HTTP response if the consumer stops or is cancelled
            async for event in response:
                kind = event.type
                if kind == "content_block_delta":
                    delta = event.delta
                    if delta.type == "text_delta":
                        if delta.text:
                            yield TextChunk(delta.text)
                    elif delta.type == "thinking_delta":
                        if delta.thinking:
                            yield ReasoningChunk(delta.thinking)
                    elif delta.type == "input_json_delta" and event.index in blocks:
                        streaming = blocks[event.index]
                        streaming["json"].append(delta.partial_json or "")
                        block = streaming["block"]
                        if block.type == "tool_use" and delta.partial_json:
                            yield ToolArgumentsChunk(
                                event.index, block.id, block.name, delta.partial_json
                            )
                elif kind == "content_block_start":
                    block = event.content_block
                    if block.type in ("tool_use", "server_tool_use"):
                        blocks[event.index] = {"block": block, "json": []}
                    elif block.type == "text" and block.text:
                        yield TextChunk(block.text)
                    elif block.type == "thinking" and block.thinking:
                        yield ReasoningChunk(block.thinking)
                    elif _is_server_result(block.type):
                        yield self._finished(block)
                elif kind == "content_block_stop":
                    streamed = blocks.pop(event.index, None)
                    if streamed is not None:
                        block, arguments = streamed["block"], "".join(streamed["json"])
                        if block.type == "tool_use":
                            yield ToolCallChunk(ToolCall(block.id, block.name, arguments or "{}"))
                        else:
                            yield self._started(block, _tool_input(arguments))
                elif kind == "message_start":
                    _merge_usage(usage, event.message.usage)
                elif kind == "message_delta":
                    stop_reason = event.delta.stop_reason or stop_reason
                    _merge_usage(usage, event.usage)
                elif kind == "message_stop":
                    stopped = True
        if not stopped:
            raise BackendConnectionError(
                "stream ended unexpectedly before the model finished", provider=self.type
            )
        if usage:
            yield _usage_chunk(usage)
        yield DoneChunk(stop_reason)

    async def _complete(self, params: dict[str, Any]) -> AsyncGenerator[Chunk, None]:
        message = await self.client.messages.create(**params)
        for block in message.content:
            kind = block.type
            if kind == "text" and block.text:
                yield TextChunk(block.text)
            elif kind == "thinking" and block.thinking:
                yield ReasoningChunk(block.thinking)
            elif kind == "tool_use":
                arguments = json.dumps(block.input if block.input is not None else {})
                yield ToolCallChunk(ToolCall(block.id, block.name, arguments))
            elif kind == "server_tool_use":
                yield self._started(block, block.input if isinstance(block.input, dict) else {})
            elif _is_server_result(kind):
                yield self._finished(block)
        usage: dict[str, Any] = {}
        _merge_usage(usage, message.usage)
        if usage:
            yield _usage_chunk(usage)
        yield DoneChunk(message.stop_reason)

    def _started(self, block: Any, tool_input: dict[str, Any]) -> ProviderToolChunk:
        name = str(block.name)
        return ProviderToolChunk(block.id, name, "started", _started_detail(name, tool_input))

    def _finished(self, block: Any) -> ProviderToolChunk:
        name = block.type.removesuffix("_tool_result")
        return ProviderToolChunk(block.tool_use_id, name, "finished", _result_detail(block))

    # ---- errors

    def _map_error(self, exc: Exception) -> BackendError:
        provider = self.type
        if isinstance(exc, (anthropic.APITimeoutError, httpx2.TimeoutException)):
            return self.timeout_error(provider)
        if isinstance(exc, anthropic.APIConnectionError):
            cause = exc.__cause__ or exc
            return self.connection_error(cause, provider)
        if isinstance(exc, anthropic.APIStatusError):
            return self._map_status_error(exc)
        if isinstance(exc, json.JSONDecodeError):
            return ProviderError(f"malformed data in the stream: {exc.msg}", provider=provider)
        if isinstance(exc, anthropic.AnthropicError):
            return ProviderError(self.scrub(str(exc)), provider=provider)
        return self.connection_error(exc, provider)  # the connection failed mid-response

    def _map_status_error(self, exc: anthropic.APIStatusError) -> BackendError:
        provider = self.type
        status = exc.status_code
        if status < 400:  # an ``error`` event inside a 200 stream: its type tells the status
            status = _STATUS_OF_TYPE.get(str(exc.type), 500)
        message = self.scrub(_message_of(exc))
        if status in (401, 403):
            return AuthenticationError(message, provider=provider, status=status)
        if status == 429:
            retry_after = parse_retry_after(exc.response.headers)
            return RateLimitError(message, retry_after=retry_after, provider=provider, status=429)
        if status in (400, 413) and _CONTEXT_HINTS.search(message):
            return ContextLengthError(message, provider=provider, status=status)
        return ProviderError(message, provider=provider, status=status)


def _message_of(exc: anthropic.APIStatusError) -> str:
    """The provider's own message, not the SDK's ``Error code: ...`` wrapper."""
    if exc.api_message:
        return str(exc.api_message)
    body = exc.body
    if isinstance(body, str) and body.strip():
        return body.strip()[:500]
    return exc.message
