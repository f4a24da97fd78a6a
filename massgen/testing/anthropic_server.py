"""A protocol-faithful fake of the Anthropic Messages API (``POST /v1/messages``).

Built on :mod:`tests.fakes.chat_server`: the same server machinery (uvicorn thread, FIFO
scripting per model then global, recorded requests, client-disconnect detection, timing) with
the Messages wire format instead of Chat Completions:

* SSE events ``message_start`` / ``content_block_start`` / ``ping`` / ``content_block_delta``
  (``text_delta``, ``thinking_delta``, ``signature_delta``, ``input_json_delta``) /
  ``content_block_stop`` / ``message_delta`` / ``message_stop``, and in-stream ``error``;
* the non-streamed ``Message`` object;
* server tools: ``server_tool_use`` blocks followed by ``web_search_tool_result`` or
  ``code_execution_tool_result`` blocks;
* Anthropic error bodies ``{"type": "error", "error": {"type": ..., "message": ...}}``;
* request validation like the API's (``anthropic-version``, the key from ``x-api-key`` or a
  bearer ``authorization`` header, which SDK 2.x sends, ``max_tokens``,
  alternating roles, ``tool_result`` after a matching ``tool_use``, thinking constraints, the
  code execution beta header).

Replies are :class:`~tests.fakes.chat_server.Reply` (``reasoning`` becomes a thinking block,
``error_code`` the error ``type``) or :class:`ClaudeReply` for server tools and cache usage.
The brain is a Chat Completions brain: it is given a chat-shaped view of the request (see
:func:`chat_view`), so :class:`~tests.fakes.chat_server.CoordinationBrain` plays massgen's
workflow here too.

Run standalone (benchmarks)::

    python -m tests.fakes.anthropic_server --port 0 --ttft 0.2 --tps 50 [--api-key K]

prints its base URL (``http://127.0.0.1:PORT``, what ``base_url`` takes) as the first line.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.chat_server import (
    _COMPACT,
    Brain,
    FakeChatServer,
    RecordedRequest,
    Reply,
    Send_,
    _Cut,
    _Cycle,
    _estimate_prompt_tokens,
    _Generation,
    serve,
    split_arguments,
    text_of,
)

__all__ = [
    "CODE_EXECUTION_BETA",
    "ClaudeReply",
    "FakeAnthropicServer",
    "RecordedRequest",
    "Reply",
    "chat_view",
    "error_body",
]

CODE_EXECUTION_BETA = "code-execution-2025-05-22"
_DOCS = "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"


@dataclass
class ClaudeReply(Reply):
    """A :class:`Reply` with Messages-API extras.

    ``web_searches`` are ``(query, [(title, url), ...])`` pairs and ``code_executions``
    ``(code, stdout, return_code)`` triples; each becomes a ``server_tool_use`` block and its
    result block, before the text. ``prompt_tokens`` is ``usage.input_tokens`` (the uncached
    part), ``cached_tokens`` ``cache_read_input_tokens``.
    """

    web_searches: Sequence[tuple[str, Sequence[tuple[str, str]]]] = ()
    code_executions: Sequence[tuple[str, str, int]] = ()
    cache_creation_tokens: int = 0
    stop_reason: str | None = None  # default: "tool_use" with tool calls, else "end_turn"


# ------------------------------------------------------------------------ wire helpers

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error_body(status: int, message: str, kind: str | None = None) -> dict[str, Any]:
    """An Anthropic-style error body; ``kind`` overrides the type the status implies."""
    kind = kind or _ERROR_TYPES.get(
        status, "api_error" if status >= 500 else "invalid_request_error"
    )
    return {
        "type": "error",
        "error": {"type": kind, "message": message},
        "request_id": f"req_{uuid.uuid4().hex[:24]}",
    }


def _sse(event: str, payload: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(payload, separators=_COMPACT)}\n\n".encode()


def _blocks_text(content: Any) -> str:
    """The text of a string or of a list of content blocks."""
    return text_of(content)


#: A text block that is only Claude Code's context for the model (environment, reminders).
_REMINDER = re.compile(r"\s*<system-reminder>.*</system-reminder>\s*", re.S)
_REMINDERS = re.compile(r"\s*<system-reminder>.*?</system-reminder>", re.S)


def chat_view(body: dict[str, Any]) -> dict[str, Any]:
    """A Chat Completions-shaped view of a Messages request, for chat brains: ``system`` as a
    system message, ``tool_use`` blocks as ``tool_calls``, ``tool_result`` blocks as ``tool``
    messages, custom tools as function tools (server tools left out), text blocks that are
    only Claude Code's ``<system-reminder>`` left out."""
    messages: list[dict[str, Any]] = []
    if body.get("system"):
        messages.append({"role": "system", "content": _blocks_text(body["system"])})
    for message in body.get("messages") or ():
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str):
            messages.append({"role": message.get("role"), "content": content})
            continue
        texts: list[str] = []
        calls: list[dict[str, Any]] = []
        for block in content or ():
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "text" and not _REMINDER.fullmatch(str(block.get("text", ""))):
                texts.append(str(block.get("text", "")))
            elif kind == "tool_use":
                arguments = json.dumps(block.get("input") or {})
                function = {"name": block.get("name"), "arguments": arguments}
                calls.append({"id": block.get("id"), "type": "function", "function": function})
            elif kind == "tool_result":
                messages.append(
                    {
                        "role": "tool",
                        "tool_call_id": block.get("tool_use_id"),
                        "content": _REMINDERS.sub("", _blocks_text(block.get("content"))).strip(),
                    }
                )
        if texts or calls:
            out: dict[str, Any] = {"role": message.get("role"), "content": " ".join(texts)}
            if calls:
                out["tool_calls"] = calls
            messages.append(out)
    tools = [
        {
            "type": "function",
            "function": {
                "name": tool.get("name"),
                "description": tool.get("description", ""),
                "parameters": tool.get("input_schema") or {},
            },
        }
        for tool in body.get("tools") or ()
        if isinstance(tool, dict) and "input_schema" in tool
    ]
    rest = {k: v for k, v in body.items() if k not in ("system", "messages", "tools")}
    return {**rest, "messages": messages, "tools": tools}


def _bare_mcp_names(view: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """``view`` with ``mcp__<server>__<tool>`` tools and calls renamed ``<tool>``, and the map
    from each bare name back to the full one."""
    full: dict[str, str] = {}
    for tool in view["tools"]:
        name = tool["function"]["name"] or ""
        if name.startswith("mcp__") and name.count("__") >= 2:
            full[name.split("__", 2)[2]] = name
    if not full:
        return view, full
    bare = {name: short for short, name in full.items()}

    def rename(item: dict[str, Any]) -> dict[str, Any]:
        return {**item, "name": bare.get(item.get("name") or "", item.get("name"))}

    tools = [{**t, "function": rename(t["function"])} for t in view["tools"]]
    messages = [
        {**m, "tool_calls": [{**c, "function": rename(c["function"])} for c in m["tool_calls"]]}
        if m.get("tool_calls")
        else m
        for m in view["messages"]
    ]
    return {**view, "tools": tools, "messages": messages}, full


# -------------------------------------------------------------------------- validation

_SERVER_TOOLS = {"web_search_20250305": "web_search", "code_execution_20250522": "code_execution"}


class _Invalid(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _validate(body: Any, headers: dict[str, str]) -> None:
    """Raise :class:`_Invalid` for a request the API would reject with a 400."""
    if not headers.get("anthropic-version"):
        raise _Invalid("anthropic-version: header is required")
    if not isinstance(body, dict):
        raise _Invalid("There was an issue with your request body: invalid JSON")
    for name in ("model", "max_tokens", "messages"):
        if name not in body:
            raise _Invalid(f"{name}: Field required")
    max_tokens = body["max_tokens"]
    if not isinstance(max_tokens, int) or max_tokens < 1:
        raise _Invalid("max_tokens: Input should be greater than or equal to 1")
    temperature = body.get("temperature")
    if temperature is not None and not 0 <= temperature <= 1:
        raise _Invalid("temperature: Input should be less than or equal to 1")
    _validate_tools(body.get("tools"), headers)
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        raise _Invalid("messages: at least one message is required")
    _validate_messages(messages)
    _validate_thinking(body, messages)


def _validate_tools(tools: Any, headers: dict[str, str]) -> None:
    betas = {b.strip() for b in headers.get("anthropic-beta", "").split(",")}
    names: set[str] = set()
    for i, tool in enumerate(tools or ()):
        kind = tool.get("type")
        if kind in _SERVER_TOOLS:
            if kind == "code_execution_20250522" and CODE_EXECUTION_BETA not in betas:
                raise _Invalid(
                    f"tools.{i}: Input tag '{kind}' found using 'type' does not match any of "
                    "the expected tags"
                )
            if tool.get("name") != _SERVER_TOOLS[kind]:
                raise _Invalid(f"tools.{i}.{kind}.name: Input should be '{_SERVER_TOOLS[kind]}'")
        elif kind in (None, "custom"):
            for field in ("name", "input_schema"):
                if field not in tool:
                    raise _Invalid(f"tools.{i}.custom.{field}: Field required")
        else:
            raise _Invalid(
                f"tools.{i}: Input tag '{kind}' found using 'type' does not match any of the "
                "expected tags"
            )
        if tool["name"] in names:
            raise _Invalid(f"tools: Tool names must be unique. Duplicate: {tool['name']}")
        names.add(tool["name"])


def _blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content or () if isinstance(b, dict)]


def _validate_messages(messages: list[Any]) -> None:
    previous_role = None
    open_ids: list[str] = []  # tool_use ids of the previous assistant message
    last = len(messages) - 1
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ("user", "assistant"):
            raise _Invalid(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        if role == previous_role:
            raise _Invalid(
                f'messages: roles must alternate between "user" and "assistant", but found '
                f'multiple "{role}" roles in a row'
            )
        blocks = _blocks(message)
        if not blocks and not (role == "assistant" and i == last):
            raise _Invalid(
                f"messages.{i}: all messages must have non-empty content except for the "
                "optional final assistant message"
            )
        results: list[str] = []
        uses: list[str] = []
        for j, block in enumerate(blocks):
            kind = block.get("type")
            if kind == "text" and not str(block.get("text", "")).strip():
                raise _Invalid("messages: text content blocks must contain non-whitespace text")
            if kind == "tool_use":
                if role != "assistant" or not block.get("id") or not block.get("name"):
                    raise _Invalid(f"messages.{i}.content.{j}: invalid tool_use block")
                if not isinstance(block.get("input"), dict):
                    raise _Invalid(
                        f"messages.{i}.content.{j}.tool_use.input: Input should be a valid "
                        "dictionary"
                    )
                uses.append(block["id"])
            elif kind == "tool_result":
                if block.get("tool_use_id") not in open_ids:
                    raise _Invalid(
                        f"messages.{i}.content.{j}: unexpected `tool_use_id` found in "
                        f"`tool_result` blocks: {block.get('tool_use_id')}. Each `tool_result` "
                        "block must have a corresponding `tool_use` block in the previous "
                        "message."
                    )
                results.append(block["tool_use_id"])
        missing = [tool_id for tool_id in open_ids if tool_id not in results]
        if missing:
            raise _Invalid(
                f"messages.{i - 1}: `tool_use` ids were found without `tool_result` blocks "
                f"immediately after: {', '.join(missing)}. Each `tool_use` block must have a "
                "corresponding `tool_result` block in the next message."
            )
        open_ids = uses
        previous_role = role
    if open_ids:
        raise _Invalid(
            f"messages.{last}: `tool_use` ids were found without `tool_result` blocks "
            f"immediately after: {', '.join(open_ids)}. Each `tool_use` block must have a "
            "corresponding `tool_result` block in the next message."
        )


def _validate_thinking(body: dict[str, Any], messages: list[dict[str, Any]]) -> None:
    thinking = body.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") != "enabled":
        return
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or budget < 1024:
        raise _Invalid(
            "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
        )
    if body["max_tokens"] <= budget:
        raise _Invalid(
            "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our "
            f"documentation at {_DOCS}#max-tokens-and-context-window-size"
        )
    if body.get("temperature") not in (None, 1):
        raise _Invalid(
            "`temperature` may only be set to 1 when thinking is enabled or in interleaved "
            f"thinking mode. Please consult our documentation at {_DOCS}"
        )
    if body.get("top_p") is not None and body["top_p"] < 0.95:
        raise _Invalid(
            "`top_p` must be greater than or equal to 0.95 or unset when thinking is enabled"
        )
    assistants = [(i, m) for i, m in enumerate(messages) if m.get("role") == "assistant"]
    if assistants:
        i, message = assistants[-1]
        blocks = _blocks(message)
        uses_tools = any(b.get("type") == "tool_use" for b in blocks)
        if uses_tools and blocks[0].get("type") not in ("thinking", "redacted_thinking"):
            raise _Invalid(
                f"messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but "
                f"found `{blocks[0].get('type')}`. When `thinking` is enabled, a final "
                "`assistant` message must start with a thinking block (preceeding the lastmost "
                "set of `tool_use` and `tool_result` blocks). We recommend you include thinking "
                "blocks from previous turns. To avoid this requirement, disable `thinking`. "
                f"Please consult our documentation at {_DOCS}"
            )


# ----------------------------------------------------------------------------- server


class FakeAnthropicServer(FakeChatServer):
    """The fake Messages API. ``url`` is the base URL the SDK takes (no ``/v1``)."""

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
            routes=[Route("/v1/messages", self._messages, methods=["POST"])],
            exception_handlers={404: self._not_found, 405: self._not_found},
        )

    def start(self) -> FakeAnthropicServer:
        super().start()
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    def __enter__(self) -> FakeAnthropicServer:
        return self.start()

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        """Scripted replies first; else the (chat-shaped) brain sees :func:`chat_view`, with
        MCP tools (``mcp__<server>__<tool>``, as Claude Code names them) under their own
        names, and its calls named back. With thinking on, a tool call starts with a thinking
        block, as a thinking model's does (the API requires it back on the next request)."""
        view, full_names = _bare_mcp_names(chat_view(body))
        reply = super()._next_reply(view)
        if reply.tool_calls:
            calls = [(full_names.get(name, name), args) for name, args in reply.tool_calls]
            reply = replace(reply, tool_calls=calls)
            thinking = body.get("thinking")
            if isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive"):
                reply = replace(reply, reasoning=reply.reasoning or "Which tool helps here?")
        return reply

    async def _not_found(self, request: Request, exc: Exception) -> JSONResponse:
        status = getattr(exc, "status_code", 404)
        return JSONResponse(error_body(status, "Not found", "not_found_error"), status_code=status)

    async def _messages(self, request: Request) -> Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        raw = await request.body()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = None
        record = RecordedRequest(
            body=body if isinstance(body, dict) else {},
            headers=headers,
            started_at=time.monotonic(),
        )
        with self._lock:
            self.requests.append(record)

        if self.api_key is not None:
            # ``x-api-key``, or (what SDK 2.x sends for anthropic-version 2026-10-21) a bearer
            # ``authorization`` header.
            bearer = headers.get("authorization", "")
            given = headers.get("x-api-key") or bearer.removeprefix("Bearer ") or None
            if not given:
                return self._fail(record, 401, "x-api-key header is required")
            if given != self.api_key:
                return self._fail(record, 401, "invalid x-api-key")
        try:
            _validate(body, headers)
        except _Invalid as problem:
            return self._fail(record, problem.status, problem.message)
        reply = self._next_reply(body)
        if reply.status != 200:
            message = reply.error_message or f"fake error {reply.status}"
            return self._fail(record, reply.status, message, reply.error_code, reply.headers)
        generation = _Message(self, body, reply)
        if body.get("stream"):
            content_type = "text/event-stream; charset=utf-8"
            produce = generation.stream
        else:
            content_type = "application/json"
            produce = generation.complete
        out = {"content-type": content_type, "request-id": generation.request_id, **reply.headers}
        return _Cycle(record, 200, out, produce)

    def _fail(
        self,
        record: RecordedRequest,
        status: int,
        message: str,
        kind: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        record.status = status
        body = error_body(status, message, kind)
        data = json.dumps(body).encode()

        async def produce(write: Send_) -> bool:
            await write(data)
            return True

        out = {"content-type": "application/json", "request-id": body["request_id"]}
        return _Cycle(record, status, {**out, **(headers or {})}, produce)


class _Message(_Generation):
    """One assistant message: its content blocks, usage, and both wire forms. Unless the
    reply scripts its cache fields, they come from the request's ``cache_control``
    breakpoints (:class:`tests.fakes.prompt_caches.BreakpointCache`)."""

    automatic_cache = False  # Anthropic caches at breakpoints only

    def __init__(self, server: FakeAnthropicServer, body: dict[str, Any], reply: Reply) -> None:
        super().__init__(server, body, reply)
        self.cache_read = reply.cached_tokens or 0
        self.cache_write = getattr(reply, "cache_creation_tokens", 0)
        self.auto_cache = reply.cached_tokens is None and not self.cache_write
        if self.auto_cache:
            total = reply.prompt_tokens
            if total is None:
                total = _estimate_prompt_tokens(chat_view(body))
            self.cache_read, self.cache_write = server.breakpoint_cache.usage(body, total)
        self.id = f"msg_{uuid.uuid4().hex[:24]}"
        self.request_id = f"req_{uuid.uuid4().hex[:24]}"
        self.calls = [
            (f"toolu_{uuid.uuid4().hex[:24]}", name, args) for _, name, args in self.calls
        ]
        self.searches = list(getattr(reply, "web_searches", ()))
        self.executions = list(getattr(reply, "code_executions", ()))
        explicit = getattr(reply, "stop_reason", None)
        self.stop_reason = explicit or ("tool_use" if self.calls else "end_turn")

    # ---- content

    def server_blocks(self) -> list[tuple[dict[str, Any], str, dict[str, Any]]]:
        """``(server_tool_use block, its input JSON, result block)`` per server tool call."""
        out = []
        for query, results in self.searches:
            tool_id = f"srvtoolu_{uuid.uuid4().hex[:24]}"
            use = {"type": "server_tool_use", "id": tool_id, "name": "web_search", "input": {}}
            content = [
                {
                    "type": "web_search_result",
                    "title": title,
                    "url": url,
                    "encrypted_content": uuid.uuid4().hex,
                    "page_age": None,
                }
                for title, url in results
            ]
            result = {"type": "web_search_tool_result", "tool_use_id": tool_id, "content": content}
            out.append((use, json.dumps({"query": query}), result))
        for code, stdout, return_code in self.executions:
            tool_id = f"srvtoolu_{uuid.uuid4().hex[:24]}"
            use = {"type": "server_tool_use", "id": tool_id, "name": "code_execution", "input": {}}
            outcome = {
                "type": "code_execution_result",
                "stdout": stdout,
                "stderr": "",
                "return_code": return_code,
                "content": [],
            }
            result = {
                "type": "code_execution_tool_result",
                "tool_use_id": tool_id,
                "content": outcome,
            }
            out.append((use, json.dumps({"code": code}), result))
        return out

    def usage(self, *, final: bool = True) -> dict[str, Any]:
        reply = self.reply
        chat = chat_view(self.body)
        prompt = reply.prompt_tokens
        if prompt is None:
            prompt = _estimate_prompt_tokens(chat)
        if self.auto_cache:  # input_tokens: the part neither read from nor written to it
            prompt -= self.cache_read + self.cache_write
        prompt += 100 * len(self.searches)  # search results are read as input
        output = reply.completion_tokens if reply.completion_tokens is not None else self.pieces
        usage: dict[str, Any] = {
            "input_tokens": prompt,
            "cache_creation_input_tokens": self.cache_write,
            "cache_read_input_tokens": self.cache_read,
            "output_tokens": max(1, output) if final else 1,
        }
        if self.reasoning and final:
            thinking = reply.reasoning_tokens
            usage["output_tokens_details"] = {
                "thinking_tokens": thinking if thinking is not None else len(self.reasoning)
            }
        if self.searches and final:
            usage["server_tool_use"] = {"web_search_requests": len(self.searches)}
        return usage

    def message(self, content: list[dict[str, Any]], *, final: bool) -> dict[str, Any]:
        usage = self.usage(final=final)
        if not final:  # message_start counts the input before any server tool ran
            usage["input_tokens"] -= 100 * len(self.searches)
            usage["service_tier"] = "standard"
        return {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": self.stop_reason if final else None,
            "stop_sequence": None,
            "usage": usage,
        }

    # ---- wire forms

    async def stream(self, write: Send_) -> bool:
        try:
            await self._events(write)
        except _Cut as cut:
            return cut.clean
        return True

    async def _events(self, write: Send_) -> None:
        reply = self.reply
        sent = 0
        token = 0
        start = time.monotonic() + self.ttft

        async def event(name: str, payload: dict[str, Any], *, timed: bool = False) -> None:
            nonlocal sent, token
            if reply.drop_after_chunks is not None and sent >= reply.drop_after_chunks:
                raise _Cut(clean=False)
            if reply.end_after_chunks is not None and sent >= reply.end_after_chunks:
                raise _Cut(clean=True)
            if timed:
                due = start + (token / self.tps if self.tps else 0.0)
                token += 1
                await asyncio.sleep(max(0.0, due - time.monotonic()))
            await write(_sse(name, payload))
            sent += 1

        index = 0

        async def block(first: dict[str, Any], deltas: list[dict[str, Any]]) -> None:
            nonlocal index
            await event(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": first},
            )
            for delta in deltas:
                timed = delta["type"] != "signature_delta"
                payload = {"type": "content_block_delta", "index": index, "delta": delta}
                await event("content_block_delta", payload, timed=timed)
            await event("content_block_stop", {"type": "content_block_stop", "index": index})
            index += 1

        await asyncio.sleep(self.ttft)
        await event(
            "message_start", {"type": "message_start", "message": self.message([], final=False)}
        )
        await event("ping", {"type": "ping"})
        if self.reasoning:
            deltas = [{"type": "thinking_delta", "thinking": piece} for piece in self.reasoning]
            deltas.append({"type": "signature_delta", "signature": f"EqQB{uuid.uuid4().hex}"})
            await block({"type": "thinking", "thinking": "", "signature": ""}, deltas)
        for use, arguments, result in self.server_blocks():
            pieces = [
                {"type": "input_json_delta", "partial_json": p} for p in split_arguments(arguments)
            ]
            await block(use, pieces)
            await block(result, [])
        if self.text:
            await block(
                {"type": "text", "text": ""},
                [{"type": "text_delta", "text": piece} for piece in self.text],
            )
        for call_id, name, pieces in self.calls:
            deltas = [{"type": "input_json_delta", "partial_json": ""}]  # as the API starts
            deltas += [{"type": "input_json_delta", "partial_json": p} for p in pieces if p]
            await block({"type": "tool_use", "id": call_id, "name": name, "input": {}}, deltas)
        if reply.error_message:  # an error reported inside the stream, then the end
            await event("error", error_body(500, reply.error_message, reply.error_code))
            return
        usage = self.usage()
        delta_usage: dict[str, Any] = {"output_tokens": usage["output_tokens"]}
        if self.searches:  # cumulative input once server tools added to it
            delta_usage.update(
                {
                    k: usage[k]
                    for k in (
                        "input_tokens",
                        "cache_creation_input_tokens",
                        "cache_read_input_tokens",
                        "server_tool_use",
                    )
                }
            )
        if "output_tokens_details" in usage:
            delta_usage["output_tokens_details"] = usage["output_tokens_details"]
        await event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": self.stop_reason, "stop_sequence": None},
                "usage": delta_usage,
            },
        )
        await event("message_stop", {"type": "message_stop"})

    async def complete(self, write: Send_) -> bool:
        await asyncio.sleep(self.ttft + (self.pieces / self.tps if self.tps else 0.0))
        content: list[dict[str, Any]] = []
        if self.reply.reasoning:
            signature = f"EqQB{uuid.uuid4().hex}"
            content.append(
                {"type": "thinking", "thinking": self.reply.reasoning, "signature": signature}
            )
        for use, arguments, result in self.server_blocks():
            content += [{**use, "input": json.loads(arguments)}, result]
        if self.reply.text:
            content.append({"type": "text", "text": self.reply.text})
        for call_id, name, pieces in self.calls:
            tool_input = _object_or_empty("".join(pieces))
            content.append({"type": "tool_use", "id": call_id, "name": name, "input": tool_input})
        data = json.dumps(self.message(content, final=True), separators=_COMPACT).encode()
        if self.reply.drop_after_chunks is not None:  # cut the body short
            await write(data[: len(data) // 2])
            return False
        await write(data)
        return True


def _object_or_empty(arguments: str) -> dict[str, Any]:
    """A non-streamed ``input`` is always an object: scripted malformed JSON becomes ``{}``."""
    try:
        value = json.loads(arguments or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def main(argv: Sequence[str] | None = None) -> None:
    serve(FakeAnthropicServer, "Fake Anthropic Messages API server.", argv)


if __name__ == "__main__":
    main()
