"""The ``chatcompletion`` backend: OpenAI Chat Completions, spoken directly over ``httpx``.

Serves every OpenAI-compatible endpoint (every :data:`massgen.providers.PRESETS` entry: grok,
vllm, ollama, ...). The protocol is small (one POST, server-sent events back), so it is not
worth the ``openai`` SDK's import (half a second) on the way to a run's first request;
connections come from :mod:`massgen.backends.http_pool`, shared by the run's agents and kept
for the next run. :mod:`massgen.backends.retry` retries above this module. Every transport
error is mapped onto :mod:`massgen.backends.errors` (docs/architecture.md, "Backends").
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from massgen.backends import gate, prompt_cache
from massgen.backends.errors import (
    BackendConnectionError,
    BackendError,
    ContextLengthError,
    ProviderError,
)
from massgen.backends.http_errors import CONTEXT_HINTS
from massgen.backends.openai_http import OpenAIHTTPBackend, sse_data
from massgen.messages import (
    Chunk,
    DoneChunk,
    Message,
    ReasoningChunk,
    TextChunk,
    ToolArgumentsChunk,
    ToolCall,
    ToolCallChunk,
    ToolSpec,
    UsageChunk,
)
from massgen.providers import LOCAL_SERVERS, endpoint

if TYPE_CHECKING:
    from massgen.config.schema import BackendConfig
    from massgen.tools.lending import AgentTurn

#: Presets for servers people run themselves (vLLM, SGLang, LM Studio, Ollama).
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def convert_message(message: Message) -> dict[str, Any]:
    """A :class:`Message` as a Chat Completions message dict."""
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.images:
        out["content"] = [
            {"type": "text", "text": message.content},
            *({"type": "image_url", "image_url": {"url": i.data_url()}} for i in message.images),
        ]
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


def _field(obj: Any, name: str) -> Any:
    """``obj[name]`` for a dict (streamed chunks), ``obj.name`` for an SDK object."""
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _reasoning_of(obj: Any) -> str:
    """Reasoning text a provider put in an extra field (DeepSeek/vLLM/OpenRouter style)."""
    extra = obj if isinstance(obj, dict) else (getattr(obj, "model_extra", None) or {})
    for key in ("reasoning_content", "reasoning"):
        value = extra.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def _usage_chunk(usage: Any) -> UsageChunk:
    completion_details = _field(usage, "completion_tokens_details")
    prompt_details = _field(usage, "prompt_tokens_details")
    return UsageChunk(
        prompt_tokens=_field(usage, "prompt_tokens") or 0,
        completion_tokens=_field(usage, "completion_tokens") or 0,
        reasoning_tokens=(
            _field(completion_details, "reasoning_tokens") if completion_details else 0
        )
        or 0,
        cached_tokens=(_field(prompt_details, "cached_tokens") if prompt_details else 0) or 0,
    )


class ToolCallAssembler:
    """Joins streamed tool-call deltas (keyed by ``index``) into complete calls."""

    def __init__(self) -> None:
        self._calls: list[dict[str, str]] = []
        self._by_index: dict[int, dict[str, str]] = {}

    def add(self, delta: dict[str, Any]) -> ToolArgumentsChunk | None:
        """Fold one delta in; the piece of arguments it carried, if any."""
        index = delta.get("index")
        index = index if isinstance(index, int) else len(self._calls)
        call_id = delta.get("id") or ""
        call = self._by_index.get(index)
        # Some servers reuse index 0 for parallel calls; a new id means a new call.
        if call is None or (call_id and call["id"] and call_id != call["id"]):
            call = {"id": "", "name": "", "arguments": ""}
            self._calls.append(call)
            self._by_index[index] = call
        if call_id:
            call["id"] = str(call_id)
        function = delta.get("function")
        if isinstance(function, dict):
            if function.get("name") and not call["name"]:
                call["name"] = str(function["name"])
            arguments = function.get("arguments")
            if arguments:
                piece = arguments if isinstance(arguments, str) else json.dumps(arguments)
                call["arguments"] += piece
                number = next(i for i, c in enumerate(self._calls) if c is call)
                call_id = call["id"] or f"call_{number}"
                return ToolArgumentsChunk(number, call_id, call["name"], piece)
        return None

    @property
    def pending(self) -> bool:
        return bool(self._calls)

    def flush(self) -> list[ToolCall]:
        calls = [
            ToolCall(id=c["id"] or f"call_{i}", name=c["name"], arguments=c["arguments"])
            for i, c in enumerate(self._calls)
        ]
        self._calls.clear()
        self._by_index.clear()
        return calls


class ChatCompletionsBackend(OpenAIHTTPBackend):
    """Chat Completions over a pooled ``httpx`` client; ``config.type`` may be any preset."""

    type = "chatcompletion"
    supports_stop = True

    def __init__(self, config: BackendConfig, api_key: str | None = None) -> None:
        super().__init__(config, api_key)
        self.base_url = endpoint(config)[0]

    def url(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"

    @property
    def self_hosted(self) -> bool:
        """A local server preset (vllm, sglang, lmstudio, ollama), or what ``self_hosted``
        says. A generic endpoint on this machine may be a gateway (a LiteLLM proxy) in front
        of a paid provider, so it is priced by its model like any other."""
        if self.config.self_hosted is not None:
            return self.config.self_hosted
        return self.config.type in LOCAL_SERVERS

    @property
    def on_this_machine(self) -> bool:
        """A server the user runs here (a local preset, or an endpoint on loopback): one
        that may serve one request at a time (:mod:`gate`)."""
        host = urlparse(self.base_url).hostname or ""
        return self.config.type in LOCAL_SERVERS or host in LOOPBACK_HOSTS

    @property
    def supports_images(self) -> bool:
        """Azure's deployments take images; other OpenAI-compatible servers when the config
        says so (``vision: true``), since the endpoint cannot tell."""
        return bool(self.config.vision) or self.config.type == "azure_openai"

    @property
    def openai_account(self) -> bool:
        return urlparse(self.base_url).hostname == "api.openai.com"

    @property
    def openai_hosted(self) -> bool:
        """OpenAI's own service, which wants ``max_completion_tokens`` (reasoning models
        reject ``max_tokens``); other servers mostly know only ``max_tokens``."""
        return urlparse(self.base_url).hostname == "api.openai.com"

    supports_json_schema = True
    #: How this server takes a JSON schema: OpenAI's ``json_schema`` form, or llama.cpp's
    #: ``json_object`` with a ``schema`` (switched to once a server refuses the first).
    json_style = "json_schema"

    def request_params(
        self,
        messages: list[Message],
        tools: list[ToolSpec] | None = None,
        response_format: dict[str, Any] | None = None,
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
        if config.seed is not None:
            params["seed"] = config.seed
        if self.stop:
            params["stop"] = list(self.stop)
        # Chat Completions' names for the Responses API's reasoning.effort and text.verbosity
        if config.reasoning is not None and config.reasoning.effort is not None:
            params["reasoning_effort"] = config.reasoning.effort
        if config.text is not None and config.text.verbosity is not None:
            params["verbosity"] = config.text.verbosity
        if config.stream:
            params["stream"] = True
            params["stream_options"] = {"include_usage": True}
        if response_format is not None:
            params["response_format"] = self.json_format(response_format)
        extra = self.extra_body()
        if extra:
            params["extra_body"] = extra
        # the round's shared prompt prefix, for OpenAI's cache (massgen.backends.prompt_cache)
        if prompt_cache.sends_key(config.prompt_cache, self.openai_hosted):
            cache_key = prompt_cache.cache_key(self.model, messages)
            if cache_key is not None:
                params["prompt_cache_key"] = cache_key
        return params

    def json_format(self, schema: dict[str, Any]) -> dict[str, Any]:
        if self.json_style == "json_object":
            return {"type": "json_object", "schema": schema}
        return {"type": "json_schema", "json_schema": {"name": "action", "schema": schema}}

    async def stream(
        self,
        messages: list[Message],
        tools: list[ToolSpec] | None = None,
        *,
        response_format: dict[str, Any] | None = None,
        turn: AgentTurn | None = None,
    ) -> AsyncGenerator[Chunk, None]:
        """One call, within the endpoint's limit of requests in flight (:mod:`gate`); a
        self-hosted server that cuts a stream off while serving another is served one request
        at a time from then on."""
        async with gate.request_slot(self.base_url, self.config.parallel_requests):
            try:
                async for chunk in self._stream_once(messages, tools, response_format):
                    yield chunk
            except BackendConnectionError as exc:
                # a server that is down refuses every request: only a cut-off stream says
                # that it cannot serve two at once
                if exc.answered and self.on_this_machine and gate.concurrent(self.base_url):
                    gate.serialize(self.base_url)
                raise

    async def _stream_once(
        self,
        messages: list[Message],
        tools: list[ToolSpec] | None,
        response_format: dict[str, Any] | None,
    ) -> AsyncGenerator[Chunk, None]:
        """A server that refuses OpenAI's ``json_schema`` response format (llama.cpp takes
        ``json_object`` with a schema) is asked again in the other form, from then on."""
        started = False
        try:
            async for chunk in self.call(messages, tools, response_format):
                started = True
                yield chunk
        except ProviderError as exc:
            # llama.cpp's server answers a json_schema format with a validation error (as a
            # 500); others may say 400 or 422: what matters is that it names the field
            text = exc.message.lower()
            refused = response_format is not None and (
                "response_format" in text or "json_schema" in text
            )
            if started or not refused or self.json_style != "json_schema":
                raise
            self.json_style = "json_object"
            async for chunk in self.call(messages, tools, response_format):
                yield chunk

    def extra_body(self) -> dict[str, Any]:
        """Fields outside the OpenAI schema: servers' sampling extensions (vLLM, SGLang,
        llama.cpp and Ollama read ``top_k`` and ``repetition_penalty``), SGLang's
        ``separate_reasoning``, xAI's live search for grok's ``enable_web_search``, and
        ``backend.extra_body`` as given (it wins over the others)."""
        config = self.config
        extra: dict[str, Any] = {}
        if config.top_k is not None:
            extra["top_k"] = config.top_k
        if config.repetition_penalty is not None:
            extra["repetition_penalty"] = config.repetition_penalty
        if config.separate_reasoning is not None:
            extra["separate_reasoning"] = config.separate_reasoning
        if config.enable_web_search and config.type == "grok":
            extra["search_parameters"] = {"mode": "auto", "return_citations": True}
        extra.update(config.extra_body or {})
        return extra

    async def _streamed(self, params: dict[str, Any]) -> AsyncGenerator[Chunk, None]:
        """Read the server-sent events here: ``[DONE]`` is seen (a stream that ends with it
        is complete even when a server never sent a ``finish_reason``; one cut off without
        it is an error), and each chunk is a plain dict."""
        calls = ToolCallAssembler()
        usage: Any = None
        finish_reason: str | None = None
        done = produced = False
        response = await self.send(params, stream=True)
        try:  # closing the response ends the HTTP request if the consumer stops or is cancelled
            async for data in sse_data(response.aiter_lines()):
                if done:  # read to the end, so the connection can serve the next request
                    continue
                if data.strip() == "[DONE]":
                    done = True
                    continue
                chunk = json.loads(data)
                if not isinstance(chunk, dict):
                    continue
                error = chunk.get("error")
                if error:
                    raise self._inline_error(error)
                if chunk.get("usage"):
                    usage = chunk["usage"]
                for choice in chunk.get("choices") or ():
                    if not isinstance(choice, dict) or (choice.get("index") or 0) != 0:
                        continue
                    delta = choice.get("delta")
                    if isinstance(delta, dict):
                        reasoning = _reasoning_of(delta)
                        if reasoning:
                            yield ReasoningChunk(reasoning)
                        if delta.get("content"):
                            produced = True
                            yield TextChunk(str(delta["content"]))
                        for call_delta in delta.get("tool_calls") or ():
                            if isinstance(call_delta, dict):
                                piece = calls.add(call_delta)
                                if piece is not None:
                                    yield piece
                    if choice.get("finish_reason"):
                        finish_reason = str(choice["finish_reason"])
                        for call in calls.flush():
                            yield ToolCallChunk(call)
        finally:
            await response.aclose()
        if finish_reason is None and not done:
            raise BackendConnectionError(
                "stream ended unexpectedly before the model finished", provider=self.provider
            )
        if finish_reason is None and not produced and not calls.pending:
            # [DONE] and nothing else: a server that dropped the request (llama.cpp's does
            # when another request interrupts it) - worth another try, not an answer
            raise BackendConnectionError(
                "the server ended the stream without any output", provider=self.provider
            )
        for call in calls.flush():
            yield ToolCallChunk(call)
        if usage is not None:
            yield _usage_chunk(usage)
        yield DoneChunk(finish_reason or "stop")

    def _inline_error(self, error: Any) -> BackendError:
        """An ``{"error": ...}`` event inside a 200 stream."""
        if isinstance(error, dict):
            message = str(error.get("message") or error)
            code = error.get("code")
            status = code if isinstance(code, int) and 400 <= code < 600 else None
            return self._stream_error(message, code, status=status)
        return self._stream_error(str(error), None)

    async def _complete(self, params: dict[str, Any]) -> AsyncGenerator[Chunk, None]:
        """One response that is not streamed, read as the same chunks."""
        response = await self.send(params, stream=False)
        completion = json.loads(response.content)
        choices = completion.get("choices") if isinstance(completion, dict) else None
        if not choices or not isinstance(choices[0], dict):
            raise ProviderError("the response has no choices", provider=self.provider)
        choice = choices[0]
        message = choice.get("message") or {}
        reasoning = _reasoning_of(message)
        if reasoning:
            yield ReasoningChunk(reasoning)
        if message.get("content"):
            yield TextChunk(str(message["content"]))
        for call in message.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                arguments = function.get("arguments") or ""
                if not isinstance(arguments, str):
                    arguments = json.dumps(arguments)
                yield ToolCallChunk(ToolCall(str(call.get("id")), function["name"], arguments))
        if completion.get("usage"):
            yield _usage_chunk(completion["usage"])
        yield DoneChunk(choice.get("finish_reason") or "stop")

    def _stream_error(self, message: str, code: Any, *, status: int | None = None) -> BackendError:
        """An error the provider reported inside a 200 response."""
        message = self.scrub(message)
        code = code if isinstance(code, str) else None
        if code == "context_length_exceeded" or CONTEXT_HINTS.search(message):
            return ContextLengthError(message, provider=self.provider)
        return ProviderError(message, provider=self.provider, status=status)
