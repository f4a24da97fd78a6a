"""The Gemini ``generateContent`` wire of the fake server: :class:`GeminiReply`, the recorded
:class:`GeminiRequest`, the chat-shaped view of a request its brain reads, Google's error
bodies and the request checks.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from massgen.testing.chat_wire import (
    RecordedRequest,
    Reply,
)


@dataclass
class GeminiReply(Reply):
    """A :class:`Reply` with what only Gemini has. Plain :class:`Reply` objects work too.

    Inherited fields map as: ``reasoning`` -> ``thought`` parts, ``tool_calls`` ->
    ``functionCall`` parts (arguments that are not a JSON object make the server answer
    ``MALFORMED_FUNCTION_CALL`` instead, as Gemini does), ``completion_tokens`` ->
    ``candidatesTokenCount`` (which excludes thinking on Gemini), ``reasoning_tokens`` ->
    ``thoughtsTokenCount``, ``cached_tokens`` -> ``cachedContentTokenCount``, ``error_code`` ->
    the error's ``status`` name. With status 200 a non-empty ``error_message`` is sent as an
    error event inside the stream.
    """

    code_executions: Sequence[tuple[str, str]] = ()  # (code, output) run by the provider
    search_queries: Sequence[str] = ()  # web searches reported in groundingMetadata
    call_ids: bool = False  # give functionCall parts an ``id`` (newer models do)
    thought_signature: bool = True  # sign the first functionCall part (Gemini 2.5+)
    finish_reason: str | None = None  # default STOP (also for function calls)
    continuation_token: str | None = None  # with finish_reason CONTINUATION: resume token
    checkpoints: bool = False  # every chunk carries a mid-stream continuationToken
    retry_delay: str | None = None  # e.g. "2s": a google.rpc.RetryInfo detail on errors
    tool_use_prompt_tokens: int = 0  # toolUsePromptTokenCount (search results read)
    block_reason: str | None = None  # e.g. "SAFETY": promptFeedback and no candidates


@dataclass
class GeminiRequest(RecordedRequest):
    """A ``POST /{version}/models/{model}:{method}`` the server received."""

    model_name: str = ""
    api_version: str = ""
    method: str = ""  # generateContent or streamGenerateContent
    query: dict[str, str] = field(default_factory=dict)

    @property
    def model(self) -> str:
        return self.model_name

    @property
    def stream(self) -> bool:
        return self.method == "streamGenerateContent"


# ------------------------------------------------------------------- Gemini -> chat shape


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _get(obj: Any, name: str, default: Any = None) -> Any:
    """A field by its JSON (lowerCamel) name or its proto (snake_case) name: Google's JSON
    parser accepts both, and the SDK sends some nested fields in snake_case."""
    if not isinstance(obj, dict):
        return default
    if name in obj:
        return obj[name]
    return obj.get(_snake(name), default)


def _parts_text(content: Any, *, thoughts: bool = False) -> str:
    parts = (content or {}).get("parts") or () if isinstance(content, dict) else ()
    return "".join(
        str(p.get("text", ""))
        for p in parts
        if isinstance(p, dict) and "text" in p and bool(p.get("thought")) == thoughts
    )


def chat_view(body: dict[str, Any], model: str) -> dict[str, Any]:
    """The request as the chat-shaped dict brains read: ``model``, ``messages`` (system /
    user / assistant with ``tool_calls`` / tool) and ``tools`` (``type: function``)."""
    messages: list[dict[str, Any]] = []
    system = _parts_text(_get(body, "systemInstruction"))
    if system:
        messages.append({"role": "system", "content": system})
    for content in body.get("contents") or ():
        if not isinstance(content, dict):
            continue
        parts = [p for p in content.get("parts") or () if isinstance(p, dict)]
        if content.get("role") == "model":
            calls = [
                {
                    "id": _get(p, "functionCall").get("id") or f"call_{i}",
                    "type": "function",
                    "function": {
                        "name": _get(p, "functionCall").get("name", ""),
                        "arguments": json.dumps(_get(p, "functionCall").get("args") or {}),
                    },
                }
                for i, p in enumerate(parts)
                if isinstance(_get(p, "functionCall"), dict)
            ]
            message: dict[str, Any] = {"role": "assistant", "content": _parts_text(content)}
            if calls:
                message["tool_calls"] = calls
            messages.append(message)
            continue
        for part in parts:
            response = _get(part, "functionResponse")
            if isinstance(response, dict):
                messages.append(
                    {
                        "role": "tool",
                        "tool_call_id": response.get("id"),
                        "name": response.get("name"),
                        "content": json.dumps(response.get("response")),
                    }
                )
        text = _parts_text(content)
        if text:
            messages.append({"role": "user", "content": text})
    tools = [
        {
            "type": "function",
            "function": {
                "name": d.get("name", ""),
                "description": d.get("description", ""),
                "parameters": _get(d, "parametersJsonSchema") or d.get("parameters") or {},
            },
        }
        for tool in body.get("tools") or ()
        if isinstance(tool, dict)
        for d in _get(tool, "functionDeclarations") or ()
        if isinstance(d, dict)
    ]
    view: dict[str, Any] = {"model": model, "messages": messages}
    if tools:
        view["tools"] = tools
    return view


# ------------------------------------------------------------------------ wire helpers

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def error_body(
    code: int,
    message: str,
    status: str | None = None,
    details: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """A Google API error body."""
    error: dict[str, Any] = {
        "code": code,
        "message": message,
        "status": status or STATUS_NAMES.get(code, "UNKNOWN"),
    }
    if details:
        error["details"] = list(details)
    return {"error": error}


INVALID_KEY_DETAILS = (
    {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "API_KEY_INVALID",
        "domain": "googleapis.com",
        "metadata": {"service": "generativelanguage.googleapis.com"},
    },
    {
        "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
        "locale": "en-US",
        "message": "API key not valid. Please pass a valid API key.",
    },
)

#: Top-level fields of a GenerateContentRequest; anything else is rejected like Google does.
REQUEST_FIELDS = frozenset(
    {
        "contents",
        "systemInstruction",
        "tools",
        "toolConfig",
        "generationConfig",
        "safetySettings",
        "cachedContent",
        "labels",
        "continuationToken",
        "store",
        "serviceTier",
    }
)


_SNAKE_FIELDS = frozenset(_snake(name) for name in REQUEST_FIELDS)


def validate(body: Any, require_thought_signatures: bool) -> str | None:
    """The message of a 400 INVALID_ARGUMENT for an invalid request, like Gemini's checks."""
    if not isinstance(body, dict):
        return "Invalid JSON payload received. Expected an object."
    for name in body:
        if name not in REQUEST_FIELDS and name not in _SNAKE_FIELDS:
            return f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.'
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        return "* GenerateContentRequest.contents: contents is not specified"
    pending_calls = 0
    for i, content in enumerate(contents):
        role = content.get("role") if isinstance(content, dict) else None
        parts = content.get("parts") if isinstance(content, dict) else None
        if role not in ("user", "model"):
            return f"Please use a valid role: user, model. (contents[{i}].role: {role!r})"
        if not isinstance(parts, list) or not parts:
            return (
                f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty."
            )
        calls = [p for p in parts if isinstance(_get(p, "functionCall"), dict)]
        responses = [p for p in parts if isinstance(_get(p, "functionResponse"), dict)]
        if role == "model":
            for call in calls:
                if not isinstance(_get(call, "functionCall").get("args", {}), dict):
                    return f"* contents[{i}]: functionCall.args must be an object"
            signed = _get(calls[0], "thoughtSignature") if calls else None
            if calls and require_thought_signatures and not signed:
                name = _get(calls[0], "functionCall").get("name", "")
                return (
                    "Function call is missing a thought_signature in functionCall parts. This "
                    "is required for tools to work correctly, and missing thought_signature may "
                    "lead to degraded model performance. Additional data, function call "
                    f"`default_api:{name}` , position {i + 1}. Please refer to "
                    "https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
                )
            pending_calls = len(calls)
        elif responses:
            if len(responses) != pending_calls:
                return (
                    "Please ensure that the number of function response parts is equal to the "
                    "number of function call parts of the function call turn."
                )
            pending_calls = 0
    return None


def estimate_prompt_tokens(body: dict[str, Any]) -> int:
    chars = len(json.dumps(body.get("contents") or [])) + len(
        json.dumps(_get(body, "systemInstruction") or {})
    )
    return max(1, chars // 4)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


# ----------------------------------------------------------------------------- server
