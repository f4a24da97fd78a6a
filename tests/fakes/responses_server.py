"""A protocol-faithful fake of the OpenAI Responses API (``POST /v1/responses``).

Built on :mod:`tests.fakes.chat_server`: the same lifecycle, scripting (``enqueue``,
``enqueue_for``, :class:`Reply`), recording (:class:`RecordedRequest`), timing (``ttft``,
``tokens_per_second``), drops and error bodies. Brains (the default
:class:`CoordinationBrain` included) see each request converted to the Chat Completions body
they read (``model``, ``messages``, ``tools``), so any chat brain works unchanged.

Streams are SSE with ``event: <type>`` and ``data: {...}`` lines carrying ``sequence_number``
in the order OpenAI sends them: ``response.created``, ``response.in_progress``, then per
output item ``response.output_item.added`` ... ``response.output_item.done`` (reasoning,
provider tools, the message, function calls), then ``response.completed`` (or
``response.incomplete`` when ``max_output_tokens`` cuts the output) with the whole response and
its usage. There is no ``[DONE]``.

Run standalone (benchmarks)::

    python -m tests.fakes.responses_server --port 0 --ttft 0.2 --tps 50 [--api-key K]
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from massgen.testing.media_server import png
from tests.fakes import chat_server
from tests.fakes.chat_server import (
    _COMPACT,
    Brain,
    CoordinationBrain,
    FakeChatServer,
    RecordedRequest,
    Reply,
    Send_,
    _Cut,
    _Cycle,
    serve,
    split_tokens,
)

__all__ = [
    "CoordinationBrain",
    "FakeResponsesServer",
    "RecordedRequest",
    "Reply",
    "ResponsesReply",
    "chat_view",
]


@dataclass
class ResponsesReply(Reply):
    """A :class:`Reply` with what only the Responses API has.

    ``web_searches`` (queries), ``code_runs`` (code, logs) and ``images`` (prompts) become
    provider tool call items before the message, when the request offers that tool. ``refusal`` replaces the message's
    text with a refusal. ``raw_reasoning`` sends the reasoning as ``reasoning_text`` content
    (gpt-oss on vLLM style) instead of a summary. ``stream_error`` says how a non-empty
    ``error_message`` with status 200 is reported in the stream: ``response.failed`` (its
    ``error_code`` must be one of OpenAI's response error codes, default ``server_error``), an
    ``error`` event shaped as the live API sends it (nested ``error`` object), or shaped as
    the API reference documents it (flat).
    """

    web_searches: Sequence[str] = ()
    code_runs: Sequence[tuple[str, str]] = ()
    images: Sequence[str] = ()  # prompts: image_generation_call items (a real PNG each)
    refusal: str = ""
    raw_reasoning: bool = False
    stream_error: Literal["failed", "error", "error_flat"] = "failed"


# --------------------------------------------------------------- the request, chat-shaped


def chat_view(body: dict[str, Any]) -> dict[str, Any]:
    """A Responses request body as the Chat Completions body a brain reads."""
    messages: list[dict[str, Any]] = []
    if body.get("instructions"):
        messages.append({"role": "system", "content": body["instructions"]})
    items = body.get("input")
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    for item in items or ():
        if not isinstance(item, dict):
            continue
        kind = item.get("type", "message")
        if kind == "message":
            messages.append({"role": item.get("role"), "content": item.get("content")})
        elif kind == "function_call":
            call = {
                "id": item.get("call_id"),
                "type": "function",
                "function": {"name": item.get("name"), "arguments": item.get("arguments")},
            }
            last = messages[-1] if messages else None
            if last and last["role"] == "assistant" and "tool_calls" in last:
                last["tool_calls"].append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            messages.append(
                {"role": "tool", "tool_call_id": item.get("call_id"), "content": item.get("output")}
            )
    tools = [
        {
            "type": "function",
            "function": {
                "name": t.get("name"),
                "description": t.get("description"),
                "parameters": t.get("parameters"),
            },
        }
        for t, _ in functions(body)
    ]
    view: dict[str, Any] = {"model": body.get("model"), "messages": messages}
    if tools:
        view["tools"] = tools
    return view


def functions(body: dict[str, Any]) -> list[tuple[dict[str, Any], str | None]]:
    """The function tools a request offers, each with its namespace (None at the top level).

    A ``namespace`` tool groups functions under a name (Codex offers each MCP server's tools
    as ``mcp__<server>``); the model calls them by their own name with that ``namespace``."""
    found: list[tuple[dict[str, Any], str | None]] = []
    for tool in body.get("tools") or ():
        if not isinstance(tool, dict):
            continue
        if tool.get("type") == "function":
            found.append((tool, None))
        elif tool.get("type") == "namespace":
            found += [
                (inner, str(tool.get("name")))
                for inner in tool.get("tools") or ()
                if isinstance(inner, dict) and inner.get("type") == "function"
            ]
    return found


_TOOL_TYPES = (
    "function",
    "namespace",
    "custom",
    "web_search",
    "web_search_preview",
    "code_interpreter",
    "image_generation",
    "local_shell",
)
#: Input items a client sends back from earlier output (``store: false`` keeps no state).
_REPLAYED = ("reasoning", "web_search_call", "code_interpreter_call", "image_generation_call")
_ROLES = ("user", "assistant", "system", "developer")


def _validate(body: Any) -> tuple[str, str | None] | None:
    """The message and param of a 400 for an invalid request, like OpenAI's checks."""
    if not isinstance(body, dict):
        return "We could not parse the JSON body of your request.", None
    if not body.get("model"):
        return "Missing required parameter: 'model'.", "model"
    items = body.get("input")
    if isinstance(items, str):
        items = []
    elif not isinstance(items, list):
        return "Invalid type for 'input': expected a string or an array.", "input"
    calls: set[str] = set()
    for i, item in enumerate(items):
        kind = item.get("type", "message") if isinstance(item, dict) else None
        if kind == "message":
            if item.get("role") not in _ROLES:
                return f"Invalid value: '{item.get('role')}'.", f"input[{i}].role"
        elif kind == "function_call":
            for key in ("call_id", "name", "arguments"):
                if not isinstance(item.get(key), str) or (key != "arguments" and not item[key]):
                    return f"Missing required parameter: 'input[{i}].{key}'.", f"input[{i}].{key}"
            calls.add(item["call_id"])
        elif kind == "function_call_output":
            if item.get("call_id") not in calls:
                return (
                    f"No tool call found for function call output with call_id "
                    f"{item.get('call_id')}.",
                    "input",
                )
        elif kind not in _REPLAYED:
            return f"Invalid value: '{kind}'.", f"input[{i}].type"
    for i, tool in enumerate(body.get("tools") or ()):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind not in _TOOL_TYPES:
            supported = ", ".join(f"'{t}'" for t in _TOOL_TYPES)
            return (
                f"Invalid value: '{kind}'. Supported values are: {supported}.",
                f"tools[{i}].type",
            )
        if kind in ("function", "namespace", "custom") and not tool.get("name"):
            return f"Missing required parameter: 'tools[{i}].name'.", f"tools[{i}].name"
        if kind == "namespace":
            for j, inner in enumerate(tool.get("tools") or ()):
                inner_kind = inner.get("type") if isinstance(inner, dict) else None
                if inner_kind not in ("function", "custom") or not inner.get("name"):
                    return (
                        f"Invalid value: '{inner_kind}'. A namespace holds named function or "
                        "custom tools.",
                        f"tools[{i}].tools[{j}]",
                    )
    limit = body.get("max_output_tokens")
    if limit is not None and (not isinstance(limit, int) or limit < 16):
        return (
            f"Invalid 'max_output_tokens': integer below minimum value. Expected a value >= "
            f"16, but got {limit} instead.",
            "max_output_tokens",
        )
    return None


# ----------------------------------------------------------------------------- server


class FakeResponsesServer(FakeChatServer):
    """The fake Responses server: the chat server's API, serving ``POST /v1/responses``."""

    def __init__(
        self,
        *,
        ttft: float = 0.0,
        tokens_per_second: float | None = None,
        api_key: str | None = None,
        brain: Brain | None = None,
        port: int = 0,
    ) -> None:
        super().__init__(
            ttft=ttft, tokens_per_second=tokens_per_second, api_key=api_key, brain=brain, port=port
        )
        self.app = Starlette(
            routes=[
                Route("/v1/responses", self._responses, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
                # the rest of OpenAI's API a type: openai agent's tools reach at the same URL
                *self.media.routes(),
                Route("/v1/audio/transcriptions", self._transcriptions, methods=["POST"]),
            ],
            exception_handlers={404: self._not_found, 405: self._not_found},
        )

    def start(self) -> FakeResponsesServer:
        super().start()
        return self

    def __enter__(self) -> FakeResponsesServer:
        return self.start()

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        return super()._next_reply(chat_view(body))  # brains read Chat Completions bodies

    async def _responses(self, request: Request) -> Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            body: Any = json.loads(await request.body())
        except ValueError:
            body = None
        record = RecordedRequest(
            body=body if isinstance(body, dict) else {},
            headers=headers,
            started_at=time.monotonic(),
        )
        with self._lock:
            self.requests.append(record)

        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            message = f"Incorrect API key provided: {_redact(headers.get('authorization'))}."
            return self._error(record, 401, message, "invalid_api_key", {})
        problem = _validate(body)
        if problem is not None:
            return self._error(record, 400, problem[0], None, {}, param=problem[1])
        reply = self._next_reply(body)
        if reply.status != 200:
            message = reply.error_message or f"fake error {reply.status}"
            return self._error(record, reply.status, message, reply.error_code, reply.headers)
        generation = _Generation(self, body, reply)
        if body.get("stream"):
            produce = generation.stream
            headers_out = {"content-type": "text/event-stream; charset=utf-8", **reply.headers}
        else:
            produce = generation.complete
            headers_out = {"content-type": "application/json", **reply.headers}
        return _Cycle(record, 200, headers_out, produce)


def _redact(authorization: str | None) -> str:
    """How OpenAI names a wrong key in its 401: ``sk-tes*******6789``."""
    key = (authorization or "").removeprefix("Bearer ").strip()
    return f"{key[:6]}{'*' * max(0, len(key) - 10)}{key[-4:]}" if len(key) > 10 else "***"


def _item_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


class _Generation(chat_server._Generation):
    """One response: its output items, the stream of events and the final object."""

    def __init__(self, server: FakeResponsesServer, body: dict[str, Any], reply: Reply) -> None:
        super().__init__(server, chat_view(body), reply)
        self.request = body
        self.id = _item_id("resp")
        offered = {t.get("type") for t in body.get("tools") or () if isinstance(t, dict)}
        searches = offered & {"web_search", "web_search_preview"}
        # the model can only use the provider tools the request offers
        self.web_searches = list(getattr(reply, "web_searches", ())) if searches else []
        code = "code_interpreter" in offered
        self.code_runs = list(getattr(reply, "code_runs", ())) if code else []
        tools = [t for t in body.get("tools") or () if isinstance(t, dict)]
        self.image_tool = next((t for t in tools if t.get("type") == "image_generation"), None)
        self.images = list(getattr(reply, "images", ())) if self.image_tool else []
        self.refusal = split_tokens(getattr(reply, "refusal", ""))
        self.raw_reasoning = bool(getattr(reply, "raw_reasoning", False))
        self.stream_error = getattr(reply, "stream_error", "failed")
        self.namespaces = {t.get("name"): ns for t, ns in functions(body) if ns is not None}
        self.encrypted = "reasoning.encrypted_content" in (body.get("include") or ())
        self.summary = bool((body.get("reasoning") or {}).get("summary"))
        self.outputs_included = "code_interpreter_call.outputs" in (body.get("include") or ())
        self.incomplete = False
        limit = body.get("max_output_tokens")
        if limit is not None and len(self.reasoning) + len(self.text) > limit:
            # reasoning spends the budget first; what does not fit is never generated
            self.reasoning = self.reasoning[:limit]
            self.text = self.text[: max(0, limit - len(self.reasoning))]
            self.calls, self.web_searches, self.code_runs = [], [], []
            self.incomplete = True
            self.pieces = limit

    # ---- the response object

    def usage(self) -> dict[str, Any]:
        chat = super().usage()
        return {
            "input_tokens": chat["prompt_tokens"],
            "input_tokens_details": {
                "cached_tokens": chat["prompt_tokens_details"]["cached_tokens"],
                "cache_write_tokens": 0,
            },
            "output_tokens": chat["completion_tokens"],
            "output_tokens_details": {
                "reasoning_tokens": chat["completion_tokens_details"]["reasoning_tokens"]
            },
            "total_tokens": chat["total_tokens"],
        }

    def response(
        self, status: str, output: list[dict[str, Any]], error: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        body = self.request
        reasoning = body.get("reasoning") or {}
        text = body.get("text") or {}
        finished = status in ("completed", "incomplete", "failed")
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created,
            "status": status,
            "background": False,
            "completed_at": int(time.time()) if status == "completed" else None,
            "error": error,
            "incomplete_details": {"reason": "max_output_tokens"}
            if status == "incomplete"
            else None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "max_tool_calls": None,
            "model": self.model,
            "output": output,
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": None,
            "prompt_cache_key": None,
            "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
            "safety_identifier": None,
            "service_tier": "default",
            "store": body.get("store", True),
            "temperature": body.get("temperature", 1.0),
            "text": {"format": {"type": "text"}, "verbosity": text.get("verbosity", "medium")},
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools") or [],
            "top_logprobs": 0,
            "top_p": body.get("top_p", 1.0),
            "truncation": "disabled",
            "usage": self.usage() if finished and status != "failed" else None,
            "user": None,
            "metadata": {},
        }

    # ---- output items and their events

    def items(self) -> Iterator[tuple[dict[str, Any], list[tuple[dict[str, Any], bool]]]]:
        """Each output item (as in the final response) with its stream events between
        ``output_item.added`` and ``.done``: ``(event, timed)`` pairs without sequence numbers.
        ``output_index`` is filled in by the caller's order."""
        if self.reasoning:
            item, events = self._reasoning_item()
            if self.encrypted:  # asked for with include: opaque, for a stateless client
                sealed = base64.b64encode(f"fake-sealed:{''.join(self.reasoning)}".encode())
                item = {**item, "encrypted_content": sealed.decode()}
            yield item, events
        for query in self.web_searches:
            yield self._web_search_item(query)
        for code, logs in self.code_runs:
            yield self._code_item(code, logs)
        for prompt in self.images:
            yield self._image_item(prompt)
        if self.text or self.refusal:
            yield self._message_item()
        for call_id, name, pieces in self.calls:
            yield self._call_item(call_id, name, pieces)

    def _reasoning_item(self) -> tuple[dict[str, Any], list]:
        item_id = _item_id("rs")
        full = "".join(self.reasoning)
        events: list[tuple[dict[str, Any], bool]] = []
        if self.raw_reasoning:
            part = {"type": "reasoning_text", "text": full}
            base = {"item_id": item_id, "content_index": 0}
            events.append(
                (
                    {"type": "response.content_part.added", **base, "part": {**part, "text": ""}},
                    False,
                )
            )
            for piece in self.reasoning:
                events.append(
                    ({"type": "response.reasoning_text.delta", **base, "delta": piece}, True)
                )
            events.append(({"type": "response.reasoning_text.done", **base, "text": full}, False))
            events.append(({"type": "response.content_part.done", **base, "part": part}, False))
            return {"id": item_id, "type": "reasoning", "summary": [], "content": [part]}, events
        if not self.summary:  # reasoning happened, but no summary was asked for
            return {"id": item_id, "type": "reasoning", "summary": []}, events
        summaries: list[dict[str, Any]] = []
        paragraphs = _paragraphs(self.reasoning)
        for index, pieces in enumerate(paragraphs):
            text = "".join(pieces)
            base = {"item_id": item_id, "summary_index": index}
            part = {"type": "summary_text", "text": text}
            events.append(
                (
                    {
                        "type": "response.reasoning_summary_part.added",
                        **base,
                        "part": {**part, "text": ""},
                    },
                    False,
                )
            )
            for piece in pieces:
                events.append(
                    (
                        {"type": "response.reasoning_summary_text.delta", **base, "delta": piece},
                        True,
                    )
                )
            events.append(
                ({"type": "response.reasoning_summary_text.done", **base, "text": text}, False)
            )
            events.append(
                ({"type": "response.reasoning_summary_part.done", **base, "part": part}, False)
            )
            summaries.append(part)
        return {"id": item_id, "type": "reasoning", "summary": summaries}, events

    def _web_search_item(self, query: str) -> tuple[dict[str, Any], list]:
        item_id = _item_id("ws")
        events = [
            ({"type": f"response.web_search_call.{phase}", "item_id": item_id}, False)
            for phase in ("in_progress", "searching", "completed")
        ]
        item = {
            "id": item_id,
            "type": "web_search_call",
            "status": "completed",
            "action": {"type": "search", "query": query},
        }
        return item, events

    def _code_item(self, code: str, logs: str) -> tuple[dict[str, Any], list]:
        item_id = _item_id("ci")
        base = {"item_id": item_id}
        events: list[tuple[dict[str, Any], bool]] = [
            ({"type": "response.code_interpreter_call.in_progress", **base}, False)
        ]
        for piece in split_tokens(code):
            events.append(
                (
                    {"type": "response.code_interpreter_call_code.delta", **base, "delta": piece},
                    True,
                )
            )
        events.append(
            ({"type": "response.code_interpreter_call_code.done", **base, "code": code}, False)
        )
        events.append(({"type": "response.code_interpreter_call.interpreting", **base}, False))
        events.append(({"type": "response.code_interpreter_call.completed", **base}, False))
        item = {
            "id": item_id,
            "type": "code_interpreter_call",
            "status": "completed",
            "code": code,
            "container_id": "cntr_fake",
            "outputs": [{"type": "logs", "logs": logs}] if self.outputs_included else None,
        }
        return item, events

    def _image_item(self, prompt: str) -> tuple[dict[str, Any], list]:
        """An ``image_generation_call``: a real PNG (or the format asked for) as ``result``."""
        item_id = _item_id("ig")
        tool = self.image_tool or {}
        fmt = tool.get("output_format") or "png"
        size = tool.get("size") or "1024x1024"
        events = [
            ({"type": f"response.image_generation_call.{phase}", "item_id": item_id}, False)
            for phase in ("in_progress", "generating", "completed")
        ]
        item = {
            "id": item_id,
            "type": "image_generation_call",
            "status": "completed",
            "result": base64.b64encode(png(64, 64, fmt)).decode(),
            "revised_prompt": prompt,
            "output_format": fmt,
            "size": size,
            "quality": tool.get("quality") or "medium",
            "background": "opaque",
        }
        return item, events

    def _message_item(self) -> tuple[dict[str, Any], list]:
        item_id = _item_id("msg")
        base = {"item_id": item_id, "content_index": 0}
        if self.refusal:
            kind, pieces, extra = "refusal", self.refusal, {}
            part: dict[str, Any] = {"type": "refusal", "refusal": "".join(pieces)}
            empty = {**part, "refusal": ""}
        else:
            kind, pieces, extra = "output_text", self.text, {"logprobs": []}
            part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
            empty, part = part, {**part, "text": "".join(pieces)}
        done_field = "refusal" if self.refusal else "text"
        events: list[tuple[dict[str, Any], bool]] = [
            ({"type": "response.content_part.added", **base, "part": empty}, False)
        ]
        for piece in pieces:
            delta = {"type": f"response.{kind}.delta", **base, "delta": piece, **extra}
            events.append((delta, True))
        done = {"type": f"response.{kind}.done", **base, done_field: part[done_field], **extra}
        events.append((done, False))
        events.append(({"type": "response.content_part.done", **base, "part": part}, False))
        status = "incomplete" if self.incomplete else "completed"
        item = {
            "id": item_id,
            "type": "message",
            "status": status,
            "content": [part],
            "role": "assistant",
        }
        return item, events

    def _call_item(self, call_id: str, name: str, pieces: list[str]) -> tuple[dict[str, Any], list]:
        item_id = _item_id("fc")
        arguments = "".join(pieces)
        base = {"item_id": item_id}
        events: list[tuple[dict[str, Any], bool]] = [
            ({"type": "response.function_call_arguments.delta", **base, "delta": p}, True)
            for p in pieces
        ]
        events.append(
            (
                {
                    "type": "response.function_call_arguments.done",
                    **base,
                    "name": name,
                    "arguments": arguments,
                },
                False,
            )
        )
        item = {
            "id": item_id,
            "type": "function_call",
            "status": "completed",
            "arguments": arguments,
            "call_id": call_id,
            "name": name,
        }
        if self.namespaces.get(name):  # a namespaced tool is called by name and namespace
            item["namespace"] = self.namespaces[name]
        return item, events

    # ---- the stream

    async def stream(self, write: Send_) -> bool:
        try:
            await self._events(write)
        except _Cut as cut:
            return cut.clean
        return True

    async def _events(self, write: Send_) -> None:
        reply = self.reply
        sent = 0
        start = time.monotonic() + self.ttft
        token = 0

        async def event(payload: dict[str, Any], *, timed: bool = False) -> None:
            """Send one SSE event (raises :class:`_Cut` at a scripted cut point)."""
            nonlocal sent, token
            if reply.drop_after_chunks is not None and sent >= reply.drop_after_chunks:
                raise _Cut(clean=False)
            if reply.end_after_chunks is not None and sent >= reply.end_after_chunks:
                raise _Cut(clean=True)
            if timed:
                due = start + (token / self.tps if self.tps else 0.0)
                token += 1
                await asyncio.sleep(max(0.0, due - time.monotonic()))
            payload = {"type": payload["type"], "sequence_number": sent, **payload}
            data = json.dumps(payload, separators=_COMPACT)
            await write(f"event: {payload['type']}\ndata: {data}\n\n".encode())
            sent += 1

        await asyncio.sleep(self.ttft)
        await event({"type": "response.created", "response": self.response("in_progress", [])})
        await event({"type": "response.in_progress", "response": self.response("in_progress", [])})
        output: list[dict[str, Any]] = []
        for index, (item, events) in enumerate(self.items()):
            await event(
                {
                    "type": "response.output_item.added",
                    "output_index": index,
                    "item": _started(item),
                }
            )
            for payload, timed in events:
                await event({**payload, "output_index": index}, timed=timed)
            await event({"type": "response.output_item.done", "output_index": index, "item": item})
            output.append(item)
        if reply.error_message:  # an error reported inside the stream, then the end
            await event(self._error_event(output))
            return
        status = "incomplete" if self.incomplete else "completed"
        await event({"type": f"response.{status}", "response": self.response(status, output)})

    def _error_event(self, output: list[dict[str, Any]]) -> dict[str, Any]:
        reply = self.reply
        if self.stream_error == "failed":
            error = {"code": reply.error_code or "server_error", "message": reply.error_message}
            return {"type": "response.failed", "response": self.response("failed", output, error)}
        fields = {"code": reply.error_code, "message": reply.error_message, "param": None}
        if self.stream_error == "error_flat":  # as the API reference documents it
            return {"type": "error", **fields}
        # as the live API sends it: the SDK raises on the nested ``error`` object
        return {"type": "error", "error": {"type": "server_error", **fields}}

    # ---- the non-streamed response

    async def complete(self, write: Send_) -> bool:
        await asyncio.sleep(self.ttft + (self.pieces / self.tps if self.tps else 0.0))
        output = [item for item, _ in self.items()]
        if self.reply.error_message:
            error = {
                "code": self.reply.error_code or "server_error",
                "message": self.reply.error_message,
            }
            response = self.response("failed", output, error)
        else:
            response = self.response("incomplete" if self.incomplete else "completed", output)
        data = json.dumps(response, separators=_COMPACT).encode()
        if self.reply.drop_after_chunks is not None:  # cut the body short
            await write(data[: len(data) // 2])
            return False
        await write(data)
        return True


def _paragraphs(pieces: list[str]) -> list[list[str]]:
    """Token pieces grouped into summary parts at blank lines (the blank line dropped)."""
    parts: list[list[str]] = [[]]
    for piece in pieces:
        if "\n\n" in piece and parts[-1]:
            parts.append([piece.lstrip()] if piece.strip() else [])
        else:
            parts[-1].append(piece)
    return [p for p in parts if p]


def _started(item: dict[str, Any]) -> dict[str, Any]:
    """An output item as ``response.output_item.added`` announces it: nothing generated yet."""
    kind = item["type"]
    if kind == "reasoning":
        return {"id": item["id"], "type": "reasoning", "summary": []}
    if kind == "message":
        return {**item, "status": "in_progress", "content": []}
    if kind == "function_call":
        return {**item, "status": "in_progress", "arguments": ""}
    if kind == "web_search_call":
        return {**item, "status": "in_progress", "action": {"type": "search"}}
    if kind == "code_interpreter_call":
        return {**item, "status": "in_progress", "code": "", "outputs": None}
    if kind == "image_generation_call":
        return {**item, "status": "in_progress", "result": None}
    return item


def main(argv: Sequence[str] | None = None) -> None:
    serve(FakeResponsesServer, "Fake OpenAI Responses API server.", argv)


if __name__ == "__main__":
    main()
