"""The OpenAI Chat Completions wire of the fake servers: scripted :class:`Reply` objects, the
recorded requests, the brain that plays massgen's workflow, error bodies, request checks,
and :class:`Cycle`, the response that watches for the client going away.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import math
import random
import re
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

Send_ = Callable[[bytes], Awaitable[None]]


@dataclass
class Reply:
    """One scripted response.

    ``status`` other than 200 sends an OpenAI-style error body. With status 200, a non-empty
    ``error_message`` sends the error *inside* the SSE stream (after the text), then ends it
    without ``[DONE]``. ``drop_after_chunks`` closes the connection abruptly after that many
    SSE events (broken chunked encoding); ``end_after_chunks`` ends the body properly there, as
    a proxy cutting the stream would, without ``finish_reason`` or ``[DONE]``. ``ttft`` /
    ``tokens_per_second`` override the server's timing for this reply.
    """

    text: str = ""
    reasoning: str = ""
    tool_calls: Sequence[tuple[str, str]] = ()  # (function name, raw arguments string)
    status: int = 200
    error_message: str = ""
    error_code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    drop_after_chunks: int | None = None
    end_after_chunks: int | None = None  # end the body cleanly after N events (no [DONE])
    finish_reason_sent: bool = True  # False: [DONE] without any finish_reason (llama.cpp)
    prompt_tokens: int | None = None  # default: ≈ chars/4 of the request's messages
    completion_tokens: int | None = None  # default: one per streamed piece
    reasoning_tokens: int | None = None  # default: one per streamed reasoning piece
    cached_tokens: int | None = None  # default: the prefix cache's (massgen.testing.prompt_caches)
    reasoning_field: str = "reasoning_content"  # or "reasoning" (OpenRouter / vLLM style)
    ttft: float | None = None
    tokens_per_second: float | None = None


@dataclass
class RecordedRequest:
    """A ``POST /v1/chat/completions`` the server received."""

    body: dict[str, Any]
    headers: dict[str, str]
    started_at: float
    finished_at: float | None = None
    status: int = 200
    completed: bool = False  # the whole response was sent
    client_closed: bool = False  # the client went away before the response finished
    path: str = ""
    query: dict[str, str] = field(default_factory=dict)
    peer: str = ""  # the client's host:port: requests on one connection share it

    @property
    def model(self) -> str:
        return str(self.body.get("model", ""))


Brain = Callable[[dict[str, Any]], Reply]

# ----------------------------------------------------------------------------- the brain


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def tool_named(body: dict[str, Any], name: str) -> dict[str, Any] | None:
    for tool in body.get("tools") or ():
        function = tool.get("function") or {}
        if tool.get("type") == "function" and function.get("name") == name:
            return function
    return None


def tool_results(body: dict[str, Any]) -> dict[str, str]:
    """The results of tool calls already in the conversation, by tool name."""
    names: dict[str, str] = {}
    results: dict[str, str] = {}
    for message in body.get("messages") or ():
        for call in message.get("tool_calls") or ():
            names[call.get("id", "")] = (call.get("function") or {}).get("name", "")
        if message.get("role") == "tool":
            name = names.get(message.get("tool_call_id", ""), message.get("name") or "")
            results[name] = text_of(message.get("content"))
    return results


class CoordinationBrain:
    """Plays massgen's workflow deterministically: vote when ``vote`` is offered (for the first
    label in sorted order, with a confidence of 0.8 when the tool asks for one), else
    ``new_answer`` (unique content), else a final text answer.

    With a ``tool_plan`` (tool name -> arguments) it first calls each planned tool the request
    offers and has no result for yet, then answers with the results quoted in its answer, as a
    model using its tools would."""

    def __init__(self, tool_plan: dict[str, dict[str, Any]] | None = None) -> None:
        self._counter = itertools.count(1)
        self.tool_plan = dict(tool_plan or {})

    @staticmethod
    def question(body: dict[str, Any]) -> str:
        """A short snippet of the last user message (the part inside massgen's
        ``<ORIGINAL MESSAGE>`` tags when present)."""
        for message in reversed(body.get("messages") or ()):
            if message.get("role") == "user":
                text = text_of(message.get("content"))
                inner = re.search(r"<ORIGINAL MESSAGE>(.*?)</ORIGINAL MESSAGE>", text, re.S)
                inner = inner or re.search(r"\nQuestion: (.*?)\n", text)  # the presentation
                return " ".join((inner.group(1) if inner else text).split())[:80]
        return ""

    def __call__(self, body: dict[str, Any]) -> Reply:
        n = next(self._counter)
        model = body.get("model", "")
        question = self.question(body)
        results = tool_results(body)
        for name, arguments in self.tool_plan.items():
            if tool_named(body, name) is not None and name not in results:
                return Reply(tool_calls=[(name, json.dumps(arguments))])
        used = "".join(f" [{name} said: {text}]" for name, text in results.items())
        vote = tool_named(body, "vote")
        if vote is not None:
            props = (vote.get("parameters") or {}).get("properties") or {}
            labels = sorted((props.get("agent_id") or {}).get("enum") or ["agent1"])
            args: dict[str, Any] = {"agent_id": labels[0], "reason": f"fake vote #{n} by {model}"}
            if "confidence" in props:  # vote_weighting: confidence asks for one
                args["confidence"] = 0.8
            return Reply(tool_calls=[("vote", json.dumps(args))])
        if tool_named(body, "new_answer") is not None:
            content = f"Answer #{n} from {model} to: {question}{used}"
            return Reply(tool_calls=[("new_answer", json.dumps({"content": content}))])
        return Reply(text=f"Final answer: {question} (#{n} from {model}){used}")


#: The default brain of a server started without one (each server gets its own counter).
coordination_brain = CoordinationBrain()

# ------------------------------------------------------------------------ wire helpers

COMPACT = (",", ":")
_WORD = re.compile(r"\s*\S+|\s+")


def split_tokens(text: str) -> list[str]:
    """Word-ish pieces (leading whitespace kept) that join back to ``text``."""
    return _WORD.findall(text)


def split_arguments(arguments: str, size: int = 8) -> list[str]:
    return [arguments[i : i + size] for i in range(0, len(arguments), size)] or [""]


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    429: "rate_limit_error",
}


def error_body(
    status: int, message: str, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    """An OpenAI-style error body."""
    kind = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "code": code, "param": param}}


def estimate_prompt_tokens(body: dict[str, Any]) -> int:
    chars = sum(len(text_of(m.get("content"))) for m in body.get("messages") or ())
    return max(1, chars // 4)


def validate(body: Any) -> tuple[str, str | None] | None:
    """The message and param of a 400 for an invalid request, like OpenAI's checks."""
    if not isinstance(body, dict):
        return "We could not parse the JSON body of your request.", None
    if not body.get("model"):
        return "you must provide a model parameter", "model"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty array", "messages"
    open_calls: set[str] = set()
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ("system", "developer", "user", "assistant", "tool"):
            return f"Invalid value for 'role' in messages[{i}]", f"messages.[{i}].role"
        if role == "assistant":
            for call in message.get("tool_calls") or ():
                if not call.get("id") or not (call.get("function") or {}).get("name"):
                    return f"Invalid tool call in messages[{i}]", f"messages.[{i}].tool_calls"
                open_calls.add(call["id"])
        elif role == "tool" and message.get("tool_call_id") not in open_calls:
            return (
                "Invalid parameter: messages with role 'tool' must be a response to a "
                "preceeding message with 'tool_calls'.",
                f"messages.[{i}].role",
            )
    return None


# ----------------------------------------------------------------------------- server


class Cycle(Response):
    """Runs ``produce`` while watching for the client going away; records the outcome."""

    def __init__(
        self,
        record: RecordedRequest,
        status: int,
        headers: dict[str, str],
        produce: Callable[[Send_], Awaitable[bool]],
    ) -> None:
        self.record = record
        self.status = status
        self.extra_headers = headers
        self.produce = produce
        #: Set by the server to keep the response unstarted until the event is set.
        self.hold: threading.Event | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw_headers = [(k.lower().encode(), v.encode()) for k, v in self.extra_headers.items()]

        async def write(data: bytes) -> None:
            await send({"type": "http.response.body", "body": data, "more_body": True})

        async def run() -> None:
            # the test's thread sets the event: poll it rather than block a thread on it
            while self.hold is not None and not self.hold.is_set():  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            await send(
                {"type": "http.response.start", "status": self.status, "headers": raw_headers}
            )
            if await self.produce(write):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                self.record.completed = True

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        producer = asyncio.ensure_future(run())
        watcher = asyncio.ensure_future(watch())
        try:
            await asyncio.wait({producer, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not producer.done():  # the client went away first
                producer.cancel()
                self.record.client_closed = True
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await producer
            self.record.finished_at = time.monotonic()
        # Returning without finishing the body makes uvicorn close the connection abruptly.


class _QuietDrops(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "returned without completing response" not in record.getMessage()


_QUIET = _QuietDrops()


def quiet_uvicorn() -> None:
    """Scripted drops are intended: keep uvicorn from logging them as app errors."""
    logger = logging.getLogger("uvicorn.error")
    if _QUIET not in logger.filters:
        logger.addFilter(_QUIET)


def fake_embedding(model: str, text: str, dimensions: int) -> list[float]:
    """A unit vector that depends only on ``model`` and ``text`` (equal texts, equal
    vectors), as the fake's embeddings endpoint returns it."""
    seed = int.from_bytes(hashlib.sha256(f"{model}\0{text}".encode()).digest()[:8], "big")
    rng = random.Random(seed)
    vector = [rng.uniform(-1.0, 1.0) for _ in range(dimensions)]
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]
