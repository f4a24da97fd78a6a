"""The ``gemini`` backend: Google's Gemini API through the official ``google-genai`` SDK.

Importing this module imports ``google.genai`` (slow): the registry imports it only when a
gemini agent is built. Everything the SDK would do on its own is off, so one :meth:`stream`
is one model call that :mod:`massgen.backends.retry` alone retries:

- HTTP retries (``HttpRetryOptions(attempts=1)``; setting it also stops the aiohttp transport's
  implicit reconnect-and-resend);
- automatic function calling (the engine executes ``new_answer`` / ``vote``, not the SDK);
- automatic continuation, which also reconnects a dropped stream from a checkpoint. A response
  that really ends with ``finish_reason=CONTINUATION`` is continued here instead (same request
  plus ``continuation_token``), without reconnecting dropped streams.

Streams are closed explicitly: the SDK nests several async generators around the HTTP response
and closing the outer one leaves the response open until garbage collection, so the backend
tracks the responses its stream opened (an httpx event hook) and closes them itself.

The workflow action always goes through function calling, never JSON-schema output: Gemini
calls functions reliably (constrained output is kept for models that cannot), the text
the user watches stream stays prose instead of JSON, and one request shape serves both the
workflow tools and provider tools. Function calls keep their provider id and thought signature
in the backend, keyed by call id, so replaying them (the engine's feedback after an invalid
action) sends back what Gemini 3 models require.
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections import OrderedDict
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pydantic
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from massgen.backends.base import Backend
from massgen.backends.errors import (
    AuthenticationError,
    BackendConnectionError,
    BackendError,
    ContextLengthError,
    ProviderError,
    RateLimitError,
)
from massgen.backends.http_client import shared_ssl_context
from massgen.messages import (
    Chunk,
    DoneChunk,
    Message,
    ProviderToolChunk,
    ReasoningChunk,
    TextChunk,
    ToolCall,
    ToolCallChunk,
    ToolSpec,
    UsageChunk,
)
from massgen.providers import NATIVE, endpoint

if TYPE_CHECKING:
    from massgen.config.schema import BackendConfig
    from massgen.tools.lending import AgentTurn

DEFAULT_BASE_URL = NATIVE["gemini"].base_url

# ------------------------------------------------------------- transport error classes


def _transport_errors() -> tuple[tuple[type[BaseException], ...], ...]:
    """(timeouts, connect failures, any transport error) of every HTTP library the SDK may
    use: httpx2 (its default), httpx (``GOOGLE_GENAI_HTTP_CLIENT=httpx``), aiohttp (used
    whenever it is installed)."""
    timeouts: list[type[BaseException]] = [TimeoutError, httpx.TimeoutException]
    connects: list[type[BaseException]] = [httpx.ConnectError]
    transport: list[type[BaseException]] = [httpx.HTTPError, httpx.StreamError]
    try:
        import httpx2
    except ImportError:  # pragma: no cover - a dependency of google-genai 3.x
        pass
    else:
        timeouts.append(httpx2.TimeoutException)
        connects.append(httpx2.ConnectError)
        transport += [httpx2.HTTPError, httpx2.StreamError]
    try:
        import aiohttp
    except ImportError:
        pass
    else:  # pragma: no cover - not installed in the test environment
        timeouts.append(aiohttp.ServerTimeoutError)
        connects.append(aiohttp.ClientConnectorError)
        transport.append(aiohttp.ClientError)
    return tuple(timeouts), tuple(connects), tuple(transport)


_TIMEOUTS, _CONNECT_ERRORS, _TRANSPORT_ERRORS = _transport_errors()
_MALFORMED = (genai_errors.UnknownApiResponseError, json.JSONDecodeError, pydantic.ValidationError)
#: Every error of a call that becomes a :class:`BackendError`.
_CALL_ERRORS: tuple[type[BaseException], ...] = (
    genai_errors.APIError,
    *_TRANSPORT_ERRORS,
    *_TIMEOUTS,
    *_MALFORMED,
)

_CONTEXT_HINTS = re.compile(
    r"input token count.*exceeds|exceeds the maximum number of tokens|context (length|window)"
    r"|too many (input )?tokens",
    re.IGNORECASE | re.DOTALL,
)
_VERSION = re.compile(r"v\d+(?:alpha|beta)?\d*")

#: The HTTP responses opened by the stream currently sending a request (see ``_track``).
_OPEN_RESPONSES: ContextVar[list[Any] | None] = ContextVar("gemini_open_responses", default=None)


async def _track(response: Any) -> None:
    """httpx event hook: remember the response for the stream that sent the request."""
    sink = _OPEN_RESPONSES.get()
    if sink is not None:
        sink.append(response)


def _async_transport(context: Any) -> Any:
    import httpx2

    return httpx2.AsyncHTTPTransport(verify=context)


def split_base_url(url: str) -> tuple[str, str | None]:
    """``https://host/v1beta`` -> (``https://host``, ``v1beta``): the SDK adds the version
    itself, so a base URL copied with one would otherwise end up in the path twice."""
    parts = urlsplit(url.rstrip("/"))
    head, _, last = parts.path.rpartition("/")
    if _VERSION.fullmatch(last):
        return urlunsplit(parts._replace(path=head)), last
    return url.rstrip("/"), None


# --------------------------------------------------------------------- request building


@dataclass(frozen=True)
class _CallMeta:
    """What a function call came with that the API wants back when it is replayed."""

    provider_id: str | None
    thought_signature: bytes | None


def _arguments_object(call: ToolCall) -> dict[str, Any]:
    """A call's arguments as the object Gemini requires. Malformed JSON (a model of another
    provider, or a corrupted history) is kept verbatim under ``_raw_arguments`` rather than
    dropped: the call must stay so its function response still pairs with it, and the model
    then sees what it sent next to the error the response reports."""
    try:
        return call.parsed_arguments()
    except ValueError:
        return {"_raw_arguments": call.arguments}


def convert_tool(tool: ToolSpec) -> types.FunctionDeclaration:
    return types.FunctionDeclaration(
        name=tool.name, description=tool.description, parameters_json_schema=tool.parameters
    )


# ------------------------------------------------------------------- response mapping


def _finish_name(reason: Any) -> str:
    return str(getattr(reason, "value", reason))


class _ResponseMapper:
    """Turns GenerateContentResponse objects (chunks or whole) into :data:`Chunk` items."""

    def __init__(self, backend: GeminiBackend) -> None:
        self.backend = backend
        self.finish: str | None = None
        self.continuation: bytes | None = None
        self.called = False
        self.blocked: str | None = None
        self.hop_usage: Any = None
        self.usage = UsageChunk()
        self.has_usage = False
        self.code_calls: list[str] = []  # started code executions not finished yet
        self.searches: set[str] = set()

    @staticmethod
    def _id(kind: str) -> str:
        return f"{kind}_{uuid.uuid4().hex[:16]}"  # unique across calls, for the UI

    def feed(self, response: types.GenerateContentResponse) -> list[Chunk]:
        out: list[Chunk] = []
        if response.usage_metadata is not None:
            self.hop_usage = response.usage_metadata  # running totals: the last one counts
        feedback = response.prompt_feedback
        if feedback is not None and feedback.block_reason is not None:
            self.blocked = _finish_name(feedback.block_reason)
        if not response.candidates:
            return out
        candidate = response.candidates[0]
        for part in (candidate.content.parts if candidate.content else None) or ():
            out.extend(self._part(part))
        grounding = candidate.grounding_metadata
        sources = len(grounding.grounding_chunks or ()) if grounding else 0
        for query in (grounding.web_search_queries if grounding else None) or ():
            if query in self.searches:  # metadata may repeat on later chunks
                continue
            self.searches.add(query)
            call_id = self._id("web_search")
            out.append(ProviderToolChunk(call_id, "web_search", "started", query))
            out.append(ProviderToolChunk(call_id, "web_search", "finished", f"{sources} sources"))
        if candidate.finish_reason is not None:
            self.finish = _finish_name(candidate.finish_reason)
            self.continuation = candidate.continuation_token
        return out

    def _part(self, part: types.Part) -> list[Chunk]:
        if part.function_call is not None:
            call = part.function_call
            call_id = self.backend.remember_call(call.id, part.thought_signature)
            arguments = json.dumps(call.args or {}, ensure_ascii=False)
            self.called = True
            return [ToolCallChunk(ToolCall(call_id, call.name or "", arguments))]
        if part.executable_code is not None:
            call_id = part.executable_code.id or self._id("code_execution")
            self.code_calls.append(call_id)
            code = part.executable_code.code or ""
            return [ProviderToolChunk(call_id, "code_execution", "started", code)]
        if part.code_execution_result is not None:
            result = part.code_execution_result
            if result.id and result.id in self.code_calls:
                call_id = result.id
            else:
                call_id = self.code_calls[-1] if self.code_calls else self._id("code_execution")
            if call_id in self.code_calls:
                self.code_calls.remove(call_id)
            detail = result.output or ""
            outcome = _finish_name(result.outcome) if result.outcome else "OUTCOME_OK"
            if outcome != "OUTCOME_OK":
                detail = f"{outcome}: {detail}".rstrip(": ")
            return [ProviderToolChunk(call_id, "code_execution", "finished", detail)]
        if part.text:
            return [ReasoningChunk(part.text) if part.thought else TextChunk(part.text)]
        return []

    def end_hop(self) -> bytes | None:
        """Close one HTTP request's response; the continuation token if another is due."""
        usage = self.hop_usage
        if usage is not None:
            thoughts = usage.thoughts_token_count or 0
            self.usage.prompt_tokens += (usage.prompt_token_count or 0) + (
                usage.tool_use_prompt_token_count or 0
            )
            self.usage.completion_tokens += (usage.candidates_token_count or 0) + thoughts
            self.usage.reasoning_tokens += thoughts
            self.usage.cached_tokens += usage.cached_content_token_count or 0
            self.has_usage = True
        self.hop_usage = None
        if self.finish == "CONTINUATION" and self.continuation:
            self.finish = None
            return self.continuation
        return None

    def finish_reason(self) -> str:
        reason = self.finish or "STOP"
        if reason == "STOP":
            return "tool_calls" if self.called else "stop"
        return "length" if reason == "MAX_TOKENS" else reason.lower()


# ------------------------------------------------------------------------------ backend


class GeminiBackend(Backend):
    """Gemini over ``genai.Client(...).aio``, streaming with ``generate_content_stream``."""

    type = "gemini"
    supports_stop = True
    provider = "gemini"
    #: How many function calls' ids and thought signatures are kept for replaying them.
    MAX_REMEMBERED_CALLS = 512

    def __init__(self, config: BackendConfig, api_key: str | None = None) -> None:
        super().__init__(config, api_key)
        self.base_url, self.api_version = split_base_url(endpoint(config)[0] or DEFAULT_BASE_URL)
        self._calls: OrderedDict[str, _CallMeta] = OrderedDict()
        # Made here, not on the first call, so building it never blocks a running coordination.
        self._client: genai.Client | None = self._make_client()

    def _make_client(self) -> genai.Client:
        context = shared_ssl_context()
        options = types.HttpOptions(
            base_url=self.base_url,
            api_version=self.api_version,  # None: the SDK's default
            timeout=max(1, round(self.config.timeout * 1000)),  # milliseconds
            retry_options=types.HttpRetryOptions(attempts=1),  # retries live in retry.py
            client_args={"verify": context},
            async_client_args={
                # An explicit transport keeps the SDK on httpx2 even when aiohttp is
                # installed (litellm brings it): only httpx2 lets massgen close a
                # response the moment a turn stops reading (the event hook below).
                "transport": _async_transport(context),
                "event_hooks": {"response": [_track]},
            },
        )
        return genai.Client(
            vertexai=False,  # never switched by GOOGLE_GENAI_USE_VERTEXAI
            api_key=self.api_key or "not-needed",  # a custom endpoint may need no key
            http_options=options,
        )

    async def _close_client(self, client: genai.Client) -> None:
        await client.aio.aclose()
        client.close()

    # ---- function call bookkeeping

    def remember_call(self, provider_id: str | None, signature: bytes | None) -> str:
        """The id a streamed function call gets (the provider's, else a new one); its
        provider id and thought signature are kept to send back when it is replayed."""
        call_id = provider_id or f"call_{uuid.uuid4().hex[:24]}"
        self._calls[call_id] = _CallMeta(provider_id, signature)
        while len(self._calls) > self.MAX_REMEMBERED_CALLS:
            self._calls.popitem(last=False)
        return call_id

    # ---- request

    def request_contents(self, messages: list[Message]) -> tuple[str | None, list[types.Content]]:
        """The system instruction and the contents for ``messages``."""
        system: list[str] = []
        contents: list[types.Content] = []
        names: dict[str, str] = {}  # tool call id -> function name

        def add(role: str, parts: list[types.Part]) -> None:
            if not parts:
                return
            if contents and contents[-1].role == role:  # merge consecutive turns of one role
                contents[-1].parts = [*(contents[-1].parts or ()), *parts]
            else:
                contents.append(types.Content(role=role, parts=parts))

        for message in messages:
            if message.role == "system":
                if message.content:
                    system.append(message.content)
            elif message.role == "user":
                parts = [types.Part(text=message.content)] if message.content else []
                for image in message.images:
                    if image.data is not None:
                        blob = types.Blob(mime_type=image.media_type, data=image.data)
                        parts.append(types.Part(inline_data=blob))
                    else:
                        uri = types.FileData(file_uri=image.url, mime_type=image.media_type)
                        parts.append(types.Part(file_data=uri))
                add("user", parts)
            elif message.role == "assistant":
                parts = [types.Part(text=message.content)] if message.content else []
                for call in message.tool_calls:
                    names[call.id] = call.name
                    meta = self._calls.get(call.id)
                    function_call = types.FunctionCall(
                        id=meta.provider_id if meta else None,
                        name=call.name,
                        args=_arguments_object(call),
                    )
                    parts.append(
                        types.Part(
                            function_call=function_call,
                            thought_signature=meta.thought_signature if meta else None,
                        )
                    )
                add("model", parts)
            elif message.role == "tool":
                call_id = message.tool_call_id or ""
                meta = self._calls.get(call_id)
                response = types.FunctionResponse(
                    id=meta.provider_id if meta else None,
                    name=names.get(call_id) or message.name or "tool",
                    response={"result": message.content},
                )
                add("user", [types.Part(function_response=response)])
        return ("\n\n".join(system) or None), contents

    def request_config(
        self, system: str | None, tools: list[ToolSpec] | None = None
    ) -> types.GenerateContentConfig:
        config = self.config
        sdk_tools: types.ToolListUnion = []
        if tools:
            sdk_tools.append(types.Tool(function_declarations=[convert_tool(t) for t in tools]))
        if config.enable_web_search:
            sdk_tools.append(types.Tool(google_search=types.GoogleSearch()))
        if config.enable_code_execution or config.enable_code_interpreter:
            sdk_tools.append(types.Tool(code_execution=types.ToolCodeExecution()))
        thinking = None
        if config.thinking_budget is not None:
            thinking = types.ThinkingConfig(
                thinking_budget=config.thinking_budget,
                include_thoughts=config.thinking_budget > 0,
            )
        return types.GenerateContentConfig(
            system_instruction=system,
            temperature=config.temperature,
            top_p=config.top_p,
            top_k=config.top_k,
            safety_settings=[
                types.SafetySetting(
                    category=types.HarmCategory(category),
                    threshold=types.HarmBlockThreshold(threshold),
                )
                for category, threshold in (config.safety_settings or {}).items()
            ]
            or None,
            max_output_tokens=config.max_tokens,
            stop_sequences=list(self.stop) or None,
            seed=config.seed,
            thinking_config=thinking,
            tools=sdk_tools or None,
            tool_config=types.ToolConfig(
                function_calling_config=types.FunctionCallingConfig(
                    mode=types.FunctionCallingConfigMode.AUTO
                )
            )
            if tools
            else None,
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
            automatic_continuation=False,
        )

    # ---- calls

    supports_json_schema = True
    supports_images = True

    async def stream(
        self,
        messages: list[Message],
        tools: list[ToolSpec] | None = None,
        *,
        response_format: dict[str, Any] | None = None,
        turn: AgentTurn | None = None,
    ) -> AsyncGenerator[Chunk, None]:
        system, contents = self.request_contents(messages)
        config = self.request_config(system, tools)
        if response_format is not None:
            config.response_mime_type = "application/json"
            config.response_json_schema = response_format
        try:
            async with aclosing(self._generate(contents, config)) as chunks:
                async for chunk in chunks:
                    yield chunk
        except BackendError:
            raise
        except _CALL_ERRORS as exc:
            raise self._map_error(exc) from exc

    async def generate_once(
        self, contents: list[types.Content], config: types.GenerateContentConfig
    ) -> types.GenerateContentResponse:
        """One ``generateContent`` call, not streamed (media generation: the image comes
        whole, as ``inline_data``), its errors mapped onto massgen's."""
        try:
            return await self.client.aio.models.generate_content(
                model=self.model, contents=contents, config=config
            )
        except _CALL_ERRORS as exc:
            raise self._map_error(exc) from exc

    async def _generate(
        self, contents: list[types.Content], config: types.GenerateContentConfig
    ) -> AsyncGenerator[Chunk, None]:
        mapper = _ResponseMapper(self)
        hop_config = config
        while True:
            if self.config.stream:
                async with aclosing(self._stream_hop(contents, hop_config)) as responses:
                    async for response in responses:
                        for chunk in mapper.feed(response):
                            yield chunk
            else:
                response = await self.client.aio.models.generate_content(
                    model=self.model, contents=contents, config=hop_config
                )
                for chunk in mapper.feed(response):
                    yield chunk
            token = mapper.end_hop()
            if token is None:
                break
            hop_config = config.model_copy(update={"continuation_token": token})
        if mapper.blocked is not None:
            error = ProviderError(f"the prompt was blocked ({mapper.blocked})", provider="gemini")
            error.retryable = False
            raise error
        if mapper.finish is None:
            raise BackendConnectionError(
                "stream ended unexpectedly before the model finished", provider=self.provider
            )
        if mapper.has_usage:
            yield mapper.usage
        yield DoneChunk(mapper.finish_reason())

    async def _stream_hop(
        self, contents: list[types.Content], config: types.GenerateContentConfig
    ) -> AsyncGenerator[types.GenerateContentResponse, None]:
        """One streamed request; its HTTP response is closed when this generator is."""
        opened: list[Any] = []
        iterator = await self.client.aio.models.generate_content_stream(
            model=self.model, contents=contents, config=config
        )
        try:
            tracking = _OPEN_RESPONSES.set(opened)  # the request is sent by the first step
            try:
                first = await anext(iterator, None)
            finally:
                _OPEN_RESPONSES.reset(tracking)
            if first is not None:
                yield first
                async for response in iterator:
                    yield response
        finally:
            with contextlib.suppress(Exception):
                await iterator.aclose()
            for response in opened:  # the SDK's inner generators would only close at GC
                with contextlib.suppress(Exception):
                    await response.aclose()

    # ---- errors

    def _map_error(self, exc: BaseException) -> BackendError:
        provider = self.provider
        if isinstance(exc, genai_errors.APIError):
            return self._map_api_error(exc)
        if isinstance(exc, _TIMEOUTS):
            return self.timeout_error(provider)
        if isinstance(exc, _CONNECT_ERRORS):
            return self.connection_error(exc, provider)
        if isinstance(exc, _MALFORMED):
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return ProviderError(self.scrub(f"malformed response: {text[:300]}"), provider=provider)
        return self.connection_error(exc, provider)  # the connection failed mid-response

    def _map_api_error(self, exc: genai_errors.APIError) -> BackendError:
        provider = self.provider
        code = exc.code if isinstance(exc.code, int) else None
        status = (exc.status or "").upper()
        message = self.scrub(exc.message or str(exc))
        details = _error_details(exc)
        reasons = {d.get("reason") for d in details}
        if code in (401, 403) or status in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
            return AuthenticationError(message, provider=provider, status=code)
        if "API_KEY_INVALID" in reasons:  # Google answers a wrong key with 400
            return AuthenticationError(message, provider=provider, status=code)
        if code == 429 or status == "RESOURCE_EXHAUSTED":
            retry_after = _retry_after(exc, details)
            return RateLimitError(message, retry_after=retry_after, provider=provider, status=code)
        if code in (400, 413) and _CONTEXT_HINTS.search(message):
            return ContextLengthError(message, provider=provider, status=code)
        return ProviderError(message, provider=provider, status=code)


def _error_details(exc: genai_errors.APIError) -> list[Mapping[str, Any]]:
    body = exc.details
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        body = body["error"]
    details = body.get("details") if isinstance(body, Mapping) else None
    return [d for d in details or () if isinstance(d, Mapping)]


def _retry_after(exc: genai_errors.APIError, details: list[Mapping[str, Any]]) -> float | None:
    """Seconds from a ``retry-after`` header, else the error's ``RetryInfo.retryDelay``."""
    headers = getattr(exc.response, "headers", None) or {}
    with contextlib.suppress(AttributeError, TypeError):
        headers = {str(k).lower(): v for k, v in headers.items()}
    value = headers.get("retry-after") if isinstance(headers, Mapping) else None
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
    for detail in details:
        if str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            delay = str(detail.get("retryDelay", "")).strip()
            with contextlib.suppress(ValueError):
                return max(0.0, float(delay.removesuffix("s")))
    return None
