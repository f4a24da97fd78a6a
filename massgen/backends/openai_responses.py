"""The ``openai`` backend: the OpenAI Responses API, spoken directly over ``httpx``
(:mod:`massgen.backends.openai_http`; the fake server checks its wire format against the
``openai`` SDK's types).

Chat-shaped :class:`~massgen.messages.Message` lists become Responses ``input`` items
(system text becomes ``instructions``); streamed events become chunks. Nothing is stored at
OpenAI (``store: false``): every call sends the whole conversation.
:mod:`massgen.backends.retry` retries above this module. Every transport error is mapped onto
:mod:`massgen.backends.errors`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import AsyncGenerator, Iterator
from contextlib import aclosing
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from massgen.backends import prompt_cache
from massgen.backends.errors import (
    BackendConnectionError,
    BackendError,
    ContextLengthError,
    ProviderError,
    RateLimitError,
)
from massgen.backends.http_errors import CONTEXT_HINTS
from massgen.backends.openai_http import OpenAIHTTPBackend, decode, sse_data
from massgen.messages import (
    Chunk,
    DoneChunk,
    MediaChunk,
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

#: Set while a call is made without the ``image_generation`` tool (:func:`without_image_tool`);
#: a context variable, so the calls in flight on one backend object are apart.
_NO_IMAGE_TOOL: ContextVar[bool] = ContextVar("massgen_no_image_tool", default=False)
#: Error codes (in-stream ``error`` events, ``response.failed``) that mean "slow down".
_RATE_LIMIT_CODES = frozenset({"rate_limit_exceeded", "too_many_requests"})
#: ``response.failed`` codes another attempt can fix.
_TRANSIENT_CODES = frozenset({"server_error", "vector_store_timeout"})
#: Output item types the provider runs itself, and the names shown for them.
_PROVIDER_TOOLS = {
    "web_search_call": "web_search",
    "code_interpreter_call": "code_interpreter",
    "image_generation_call": "image_generation",
}
_DETAIL_CHARS = 200


def convert_messages(messages: list[Message]) -> tuple[str | None, list[dict[str, Any]]]:
    """``instructions`` (the leading system messages) and the ``input`` items."""
    instructions: list[str] = []
    items: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            if not items:
                instructions.append(message.content)
            else:  # a system message later in the conversation stays where it is
                items.append({"type": "message", "role": "system", "content": message.content})
        elif message.role == "tool":
            items.append(
                {
                    "type": "function_call_output",
                    "call_id": message.tool_call_id or "",
                    "output": message.content,
                }
            )
        elif message.images:
            parts: list[dict[str, Any]] = [{"type": "input_text", "text": message.content}]
            parts += [{"type": "input_image", "image_url": i.data_url()} for i in message.images]
            items.append({"type": "message", "role": message.role, "content": parts})
        else:
            if message.content or not message.tool_calls:
                items.append({"type": "message", "role": message.role, "content": message.content})
            for call in message.tool_calls:
                items.append(
                    {
                        "type": "function_call",
                        "call_id": call.id,
                        "name": call.name,
                        "arguments": call.arguments,
                    }
                )
    return ("\n\n".join(instructions) if instructions else None), items


def convert_tool(tool: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "name": tool.name,
        "description": tool.description,
        "parameters": tool.parameters,
        "strict": False,
    }


def _usage_chunk(usage: Any) -> UsageChunk:
    input_details = getattr(usage, "input_tokens_details", None)
    output_details = getattr(usage, "output_tokens_details", None)
    return UsageChunk(
        prompt_tokens=getattr(usage, "input_tokens", None) or 0,
        completion_tokens=getattr(usage, "output_tokens", None) or 0,
        reasoning_tokens=getattr(output_details, "reasoning_tokens", None) or 0,
        cached_tokens=getattr(input_details, "cached_tokens", None) or 0,
    )


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _DETAIL_CHARS else text[: _DETAIL_CHARS - 1] + "…"


def _provider_detail(item: Any, finished: bool) -> str:
    """What to show for a provider tool call: the search query, else the code's output (when
    finished) or the code."""
    if item.type == "web_search_call":
        action = getattr(item, "action", None)
        query = getattr(action, "query", None) or getattr(action, "url", None)
        queries = getattr(action, "queries", None)
        return _short(query or (", ".join(queries) if queries else ""))
    if item.type == "image_generation_call":
        return _short(getattr(item, "revised_prompt", None) or "")
    if finished:
        logs = [getattr(o, "logs", "") for o in getattr(item, "outputs", None) or ()]
        if any(logs):
            return _short("\n".join(x for x in logs if x))
    return _short(getattr(item, "code", None) or "")


def _image_of(key: str, item: Any) -> list[Chunk]:
    """The image an ``image_generation_call`` made (its ``result`` is base64), if it made one."""
    result = getattr(item, "result", None)
    if not isinstance(result, str) or not result:
        return []
    try:
        data = base64.b64decode(result, validate=True)
    except (binascii.Error, ValueError):
        return []
    fmt = str(getattr(item, "output_format", None) or "png")
    mime = {"jpeg": "image/jpeg", "webp": "image/webp"}.get(fmt, "image/png")
    size, quality = getattr(item, "size", None), getattr(item, "quality", None)
    return [MediaChunk(key, "image_generation", "image", mime, data, size or "", quality or "")]


def _reasoning_of(item: Any) -> str:
    """The summary of a reasoning item, else its raw reasoning text."""
    parts = [s.text for s in getattr(item, "summary", None) or () if getattr(s, "text", "")]
    if not parts:
        parts = [c.text for c in getattr(item, "content", None) or () if getattr(c, "text", "")]
    return "\n\n".join(parts)


class _Calls:
    """Function calls and provider tool calls of one response, keyed by output item id, so
    each is reported once however the stream and the final response repeat it."""

    def __init__(self) -> None:
        self.arguments: dict[str, str] = {}  # item id -> streamed arguments so far
        self.functions: dict[str, tuple[str, str]] = {}  # item id -> (call id, name)
        self.started: set[str] = set()
        self.done: set[str] = set()

    def item_chunks(self, item: Any, *, finished: bool) -> list[Chunk]:
        """The chunks an output item (added or done) produces."""
        key = getattr(item, "id", None) or getattr(item, "call_id", None) or ""
        if item.type == "function_call":
            if not finished:
                self.functions.setdefault(key, (item.call_id, item.name))
            if not finished or key in self.done:
                return []
            self.done.add(key)
            arguments = item.arguments if item.arguments else self.arguments.get(key, "")
            return [ToolCallChunk(ToolCall(id=item.call_id, name=item.name, arguments=arguments))]
        name = _PROVIDER_TOOLS.get(item.type)
        if name is None or key in self.done:
            return []
        chunks: list[Chunk] = []
        if key not in self.started:
            self.started.add(key)
            chunks.append(ProviderToolChunk(key, name, "started", _provider_detail(item, False)))
        if finished:
            self.done.add(key)
            chunks.append(ProviderToolChunk(key, name, "finished", _provider_detail(item, True)))
            if item.type == "image_generation_call":
                chunks.extend(_image_of(key, item))
        return chunks

    def piece(self, item_id: str, delta: str) -> ToolArgumentsChunk | None:
        """Add a streamed piece of a function call's arguments; the chunk that shows it."""
        self.arguments[item_id] = self.arguments.get(item_id, "") + delta
        known = self.functions.get(item_id)
        if known is None or not delta:
            return None
        index = list(self.functions).index(item_id)
        return ToolArgumentsChunk(index, known[0], known[1], delta)


@contextlib.contextmanager
def without_image_tool() -> Iterator[None]:
    """The calls made inside (in this task) are sent without the ``image_generation`` tool
    (the run's budget cannot pay for an image)."""
    token = _NO_IMAGE_TOOL.set(True)
    try:
        yield
    finally:
        _NO_IMAGE_TOOL.reset(token)


class ResponsesBackend(OpenAIHTTPBackend):
    """The Responses API over a pooled ``httpx`` client."""

    type = "openai"

    def __init__(self, config: BackendConfig, api_key: str | None = None) -> None:
        super().__init__(config, api_key)
        self.base_url = endpoint(config)[0]
        #: The ``image_generation`` tool sent with each request, when the agent makes images
        #: that way (``generation.image.responses_tool``); its images come as MediaChunks.
        self.image_tool: dict[str, Any] | None = None

    def url(self) -> str:
        return self.base_url.rstrip("/") + "/responses"

    @property
    def openai_account(self) -> bool:
        return urlparse(self.base_url).hostname == "api.openai.com"

    supports_json_schema = True
    supports_images = True

    def request_params(
        self,
        messages: list[Message],
        tools: list[ToolSpec] | None = None,
        response_format: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The keyword arguments of ``responses.create`` for one call."""
        config = self.config
        instructions, items = convert_messages(messages)
        params: dict[str, Any] = {"model": self.model, "input": items, "store": False}
        if instructions is not None:
            params["instructions"] = instructions
        wire_tools = [convert_tool(t) for t in tools or ()]
        include: list[str] = []
        if config.enable_web_search:
            wire_tools.append({"type": "web_search"})
        if self.image_tool is not None and not _NO_IMAGE_TOOL.get():
            wire_tools.append(self.image_tool)
        if config.enable_code_interpreter or config.enable_code_execution:
            wire_tools.append({"type": "code_interpreter", "container": {"type": "auto"}})
            include.append("code_interpreter_call.outputs")  # else outputs come back null
        if wire_tools:
            params["tools"] = wire_tools
        if include:
            params["include"] = include
        if config.temperature is not None:
            params["temperature"] = config.temperature
        if config.top_p is not None:
            params["top_p"] = config.top_p
        if config.max_tokens is not None:
            params["max_output_tokens"] = config.max_tokens
        if config.reasoning is not None:
            reasoning = config.reasoning.model_dump(exclude_none=True)
            if reasoning:
                params["reasoning"] = reasoning
        text: dict[str, Any] = {}
        if config.text is not None:
            text = config.text.model_dump(exclude_none=True)
        if response_format is not None:
            text["format"] = {"type": "json_schema", "name": "action", "schema": response_format}
        if text:
            params["text"] = text
        if config.stream:
            params["stream"] = True
        if prompt_cache.sends_key(config.prompt_cache, self.openai_account):
            key = prompt_cache.cache_key(self.model, messages)
            if key is not None:
                params["prompt_cache_key"] = key
        return params

    async def _events(self, params: dict[str, Any]) -> AsyncGenerator[Any, None]:
        """The stream's events, decoded; an event carrying an ``error`` object is raised."""
        response = await self.send(params, stream=True)
        try:  # closing the response ends the HTTP request if the consumer stops or is cancelled
            async for data in sse_data(response.aiter_lines()):
                if data.startswith("[DONE]"):
                    break
                event = decode(data)
                error = getattr(event, "error", None)
                if error and getattr(event, "type", None) != "error":
                    raise self._stream_error(
                        getattr(error, "message", None) or str(error),
                        getattr(error, "code", None),
                        status=_int_code(getattr(error, "code", None)),
                    )
                yield event
        finally:
            await response.aclose()

    async def _streamed(self, params: dict[str, Any]) -> AsyncGenerator[Chunk, None]:
        calls = _Calls()
        async with aclosing(self._events(params)) as events:
            async for event in events:
                kind = getattr(event, "type", None)
                if kind == "response.output_text.delta" or kind == "response.refusal.delta":
                    if event.delta:
                        yield TextChunk(event.delta)
                elif kind in (
                    "response.reasoning_summary_text.delta",
                    "response.reasoning_text.delta",
                ):
                    if event.delta:
                        yield ReasoningChunk(event.delta)
                elif kind == "response.reasoning_summary_part.added":
                    if event.summary_index > 0:  # keep the summary's paragraphs apart
                        yield ReasoningChunk("\n\n")
                elif kind == "response.output_item.added":
                    for chunk in calls.item_chunks(event.item, finished=False):
                        yield chunk
                elif kind == "response.function_call_arguments.delta":
                    piece = calls.piece(event.item_id, event.delta)
                    if piece is not None:
                        yield piece
                elif kind == "response.function_call_arguments.done":
                    calls.arguments[event.item_id] = event.arguments
                elif kind == "response.output_item.done":
                    for chunk in calls.item_chunks(event.item, finished=True):
                        yield chunk
                elif kind in ("response.completed", "response.incomplete"):
                    for chunk in self._finish(event.response, calls):
                        yield chunk
                    return
                elif kind == "response.failed":
                    raise self._failed(event.response)
                elif kind == "error":  # flat (documented) or nested under "error"
                    error = getattr(event, "error", None) or event
                    raise self._stream_error(
                        getattr(error, "message", None) or "error in the stream",
                        getattr(error, "code", None),
                        status=_int_code(getattr(error, "code", None)),
                    )
        raise BackendConnectionError(
            "stream ended unexpectedly before the response completed", provider=self.provider
        )

    async def _complete(self, params: dict[str, Any]) -> AsyncGenerator[Chunk, None]:
        response = decode((await self.send(params, stream=False)).content)
        if response.status == "failed":
            raise self._failed(response)
        calls = _Calls()
        for item in response.output or ():  # in the order the model produced them
            if item.type == "reasoning":
                reasoning = _reasoning_of(item)
                if reasoning:
                    yield ReasoningChunk(reasoning)
            elif item.type == "message":
                text = "".join(
                    getattr(part, "text", None) or getattr(part, "refusal", None) or ""
                    for part in item.content or ()
                )
                if text:
                    yield TextChunk(text)
            else:
                for chunk in calls.item_chunks(item, finished=True):
                    yield chunk
        for chunk in self._finish(response, calls):
            yield chunk

    def _finish(self, response: Any, calls: _Calls) -> list[Chunk]:
        """Calls not yet reported (the final response is authoritative), usage, done."""
        chunks: list[Chunk] = []
        for item in response.output or ():
            chunks.extend(calls.item_chunks(item, finished=True))
        if response.usage is not None:
            chunks.append(_usage_chunk(response.usage))
        chunks.append(DoneChunk(response.status or "completed"))
        return chunks

    # ---- errors

    def _failed(self, response: Any) -> BackendError:
        """The error of a ``response.failed`` (or a response with status ``failed``)."""
        error = getattr(response, "error", None)
        message = getattr(error, "message", None) or "the response failed"
        return self._stream_error(message, getattr(error, "code", None), failed=True)

    def _stream_error(
        self, message: str, code: Any, *, status: int | None = None, failed: bool = False
    ) -> BackendError:
        """An error the provider reported inside a 200 response."""
        provider = self.provider
        message = self.scrub(message)
        code = code if isinstance(code, str) else None
        if code == "context_length_exceeded" or CONTEXT_HINTS.search(message):
            return ContextLengthError(message, provider=provider)
        if code in _RATE_LIMIT_CODES:
            return RateLimitError(message, provider=provider)
        error = ProviderError(message, provider=provider, status=status)
        if failed and code is not None and code not in _TRANSIENT_CODES:
            error.retryable = False  # e.g. invalid_prompt: the same request fails again
        return error


def _int_code(code: Any) -> int | None:
    """An HTTP status given as an error's ``code``, if it is one."""
    return code if isinstance(code, int) and 400 <= code < 600 else None
