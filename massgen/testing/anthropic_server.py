"""A protocol-faithful fake of the Anthropic Messages API (``POST /v1/messages``).

Built on :mod:`massgen.testing.chat_server`: the same server machinery (uvicorn thread, FIFO
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

Replies are :class:`~massgen.testing.chat_server.Reply` (``reasoning`` becomes a thinking block,
``error_code`` the error ``type``) or :class:`ClaudeReply` for server tools and cache usage.
The brain is a Chat Completions brain: it is given a chat-shaped view of the request (see
:func:`chat_view`), so :class:`~massgen.testing.chat_server.CoordinationBrain` plays massgen's
workflow here too.

Run standalone (benchmarks)::

    python -m massgen.testing.anthropic_server --port 0 --ttft 0.2 --tps 50 [--api-key K]

prints its base URL (``http://127.0.0.1:PORT``, what ``base_url`` takes) as the first line.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from massgen.testing.anthropic_wire import (
    CODE_EXECUTION_BETA,
    ClaudeReply,
    Invalid,
    bare_mcp_names,
    chat_view,
    error_body,
    sse,
    validate,
)
from massgen.testing.chat_server import (
    Cut,
    FakeChatServer,
    Generation,
    serve,
)
from massgen.testing.chat_wire import (
    COMPACT,
    Brain,
    Cycle,
    RecordedRequest,
    Reply,
    Send_,
    estimate_prompt_tokens,
    split_arguments,
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
        view, full_names = bare_mcp_names(chat_view(body))
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
            validate(body, headers)
        except Invalid as problem:
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
        return Cycle(record, 200, out, produce)

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
        return Cycle(record, status, {**out, **(headers or {})}, produce)


class _Message(Generation):
    """One assistant message: its content blocks, usage, and both wire forms. Unless the
    reply scripts its cache fields, they come from the request's ``cache_control``
    breakpoints (:class:`massgen.testing.prompt_caches.BreakpointCache`)."""

    automatic_cache = False  # Anthropic caches at breakpoints only

    def __init__(self, server: FakeAnthropicServer, body: dict[str, Any], reply: Reply) -> None:
        super().__init__(server, body, reply)
        self.cache_read = reply.cached_tokens or 0
        self.cache_write = getattr(reply, "cache_creation_tokens", 0)
        self.auto_cache = reply.cached_tokens is None and not self.cache_write
        if self.auto_cache:
            total = reply.prompt_tokens
            if total is None:
                total = estimate_prompt_tokens(chat_view(body))
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
        out: list[tuple[dict[str, Any], str, dict[str, Any]]] = []
        result: dict[str, Any]
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
            prompt = estimate_prompt_tokens(chat)
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
        except Cut as cut:
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
                raise Cut(clean=False)
            if reply.end_after_chunks is not None and sent >= reply.end_after_chunks:
                raise Cut(clean=True)
            if timed:
                due = start + (token / self.tps if self.tps else 0.0)
                token += 1
                await asyncio.sleep(max(0.0, due - time.monotonic()))
            await write(sse(name, payload))
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
            deltas: list[dict[str, Any]] = [
                {"type": "thinking_delta", "thinking": piece} for piece in self.reasoning
            ]
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
        for call_id, name, arg_pieces in self.calls:
            deltas = [{"type": "input_json_delta", "partial_json": ""}]  # as the API starts
            deltas += [{"type": "input_json_delta", "partial_json": p} for p in arg_pieces if p]
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
        data = json.dumps(self.message(content, final=True), separators=COMPACT).encode()
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
