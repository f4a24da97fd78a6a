"""A protocol-faithful fake of the OpenAI Chat Completions API, for tests and benchmarks.

Starlette served by uvicorn on 127.0.0.1 (ephemeral port) in a background thread with its own
event loop. Responses are scripted with :class:`Reply` (FIFO queues, per model first) and
otherwise produced by a *brain*; the default :data:`coordination_brain` plays massgen's
workflow protocol (``new_answer`` / ``vote`` / final text) so whole runs can complete. Text
ends at a request's ``stop`` sequences and ``max_tokens`` (one piece a token), as a provider's
does.

Run standalone (benchmarks)::

    python -m tests.fakes.chat_server --port 0 --ttft 0.2 --tps 50 [--api-key K]

prints its base URL (``http://127.0.0.1:PORT/v1``) as the first stdout line, serves until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import re
import socket
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from tests.fakes.prompt_caches import BreakpointCache, PrefixCache

Send_ = Callable[[bytes], Awaitable[None]]


@dataclass
class Reply:
    """One scripted response.

    ``status`` other than 200 sends an OpenAI-style error body. With status 200, a non-empty
    ``error_message`` sends the error *inside* the SSE stream (after the text), then ends it
    without ``[DONE]``. ``drop_after_chunks`` closes the connection abruptly after that many
    SSE events (broken chunked encoding); ``end_after_chunks`` ends the body properly there, as
    a proxy cutting the stream would, without ``finish_reason`` or ``[DONE]``. ``ttft`` / ``tokens_per_second`` override the
    server's timing for this reply.
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
    cached_tokens: int | None = None  # default: the prefix cache's (tests.fakes.prompt_caches)
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


def _tool_named(body: dict[str, Any], name: str) -> dict[str, Any] | None:
    for tool in body.get("tools") or ():
        function = tool.get("function") or {}
        if tool.get("type") == "function" and function.get("name") == name:
            return function
    return None


def _tool_results(body: dict[str, Any]) -> dict[str, str]:
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
    label in sorted order), else ``new_answer`` (unique content), else a final text answer.

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
        results = _tool_results(body)
        for name, arguments in self.tool_plan.items():
            if _tool_named(body, name) is not None and name not in results:
                return Reply(tool_calls=[(name, json.dumps(arguments))])
        used = "".join(f" [{name} said: {text}]" for name, text in results.items())
        vote = _tool_named(body, "vote")
        if vote is not None:
            props = (vote.get("parameters") or {}).get("properties") or {}
            labels = sorted((props.get("agent_id") or {}).get("enum") or ["agent1"])
            args = {"agent_id": labels[0], "reason": f"fake vote #{n} by {model}"}
            return Reply(tool_calls=[("vote", json.dumps(args))])
        if _tool_named(body, "new_answer") is not None:
            content = f"Answer #{n} from {model} to: {question}{used}"
            return Reply(tool_calls=[("new_answer", json.dumps({"content": content}))])
        return Reply(text=f"Final answer: {question} (#{n} from {model}){used}")


#: The default brain of a server started without one (each server gets its own counter).
coordination_brain = CoordinationBrain()

# ------------------------------------------------------------------------ wire helpers

_COMPACT = (",", ":")
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


def _estimate_prompt_tokens(body: dict[str, Any]) -> int:
    chars = sum(len(text_of(m.get("content"))) for m in body.get("messages") or ())
    return max(1, chars // 4)


def _validate(body: Any) -> tuple[str, str | None] | None:
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


class _Cycle(Response):
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


def _quiet_uvicorn() -> None:
    """Scripted drops are intended: keep uvicorn from logging them as app errors."""
    logger = logging.getLogger("uvicorn.error")
    if _QUIET not in logger.filters:
        logger.addFilter(_QUIET)


class FakeChatServer:
    """The fake server. Use as a context manager or ``start()`` / ``stop()``."""

    def __init__(
        self,
        *,
        ttft: float = 0.0,
        tokens_per_second: float | None = None,
        api_key: str | None = None,
        brain: Brain | None = None,
        port: int = 0,
    ) -> None:
        self.ttft = ttft
        self.tokens_per_second = tokens_per_second
        self.api_key = api_key
        self.brain: Brain = brain or CoordinationBrain()
        self.port = port
        self.url = ""
        self.requests: list[RecordedRequest] = []
        self.prefix_cache = PrefixCache()  # OpenAI's automatic prompt caching
        self.breakpoint_cache = BreakpointCache()  # Anthropic's cache_control breakpoints
        self._queue: deque[Reply] = deque()
        self._by_model: defaultdict[str, deque[Reply]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._hold_after: int | None = None
        self._released = threading.Event()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                # Azure OpenAI: the deployment is in the path, the version in the query
                Route(
                    "/openai/deployments/{deployment}/chat/completions",
                    self._chat,
                    methods=["POST"],
                ),
                Route("/v1/models", self._models, methods=["GET"]),
            ],
            exception_handlers={404: self._not_found, 405: self._not_found},
        )

    # ---- scripting

    def enqueue(self, *replies: Reply) -> None:
        """Replies for the next requests, in order, before falling back to the brain."""
        with self._lock:
            self._queue.extend(replies)

    def enqueue_for(self, model: str, *replies: Reply) -> None:
        """Replies for the next requests naming ``model`` (checked before :meth:`enqueue`)."""
        with self._lock:
            self._by_model[model].extend(replies)

    def reset(self) -> None:
        """Forget queued replies and recorded requests."""
        with self._lock:
            self._queue.clear()
            self._by_model.clear()
            self.requests.clear()
        self.prefix_cache.clear()
        self.breakpoint_cache.clear()

    def hold_after(self, count: int) -> None:
        """Answer the next ``count`` requests, then hold every later one unanswered until
        :meth:`release`: a test that signals a client can first wait for a held request,
        and so knows the client is mid-run, whatever the machine's load."""
        with self._lock:
            self._hold_after = len(self.requests) + count
            self._released.clear()

    def release(self) -> None:
        """Answer the held requests (and every later one)."""
        self._released.set()

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            queue = self._by_model.get(str(body.get("model")))
            if queue:
                return queue.popleft()
            if self._queue:
                return self._queue.popleft()
        return self.brain(body)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Block until ``predicate()`` is true; raise ``TimeoutError`` after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {timeout}s")
            time.sleep(0.01)
        return True

    async def await_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:  # noqa: ASYNC109
        """:meth:`wait_for` for async tests (does not block the caller's event loop)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {timeout}s")
            await asyncio.sleep(0.01)
        return True

    # ---- lifecycle

    def start(self) -> FakeChatServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        _quiet_uvicorn()
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True, name="fake-chat"
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("fake chat server failed to start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        self.release()
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._server.force_exit = True
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeChatServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- endpoints

    async def _not_found(self, request: Request, exc: Exception) -> JSONResponse:
        status = getattr(exc, "status_code", 404)
        message = f"Invalid URL ({request.method} {request.url.path})"
        return JSONResponse(error_body(status, message), status_code=status)

    async def _models(self, request: Request) -> JSONResponse:
        with self._lock:
            names = sorted({"fake-model", *self._by_model})
        data = [{"id": n, "object": "model", "created": 0, "owned_by": "fake"} for n in names]
        return JSONResponse({"object": "list", "data": data})

    async def _chat(self, request: Request) -> Response:
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
            path=request.url.path,
            query=dict(request.query_params),
            peer=f"{request.client.host}:{request.client.port}" if request.client else "",
        )
        with self._lock:
            self.requests.append(record)
            held = self._hold_after is not None and len(self.requests) > self._hold_after
        response = self._respond(record, headers, body)
        response.hold = self._released if held else None
        return response

    def _respond(self, record: RecordedRequest, headers: dict[str, str], body: Any) -> _Cycle:
        keys = {headers.get("authorization"), f"Bearer {headers.get('api-key')}"}  # or Azure's
        if self.api_key is not None and f"Bearer {self.api_key}" not in keys:
            return self._error(record, 401, "Incorrect API key provided.", "invalid_api_key", {})
        problem = _validate(body)
        if problem is not None:
            return self._error(record, 400, problem[0], None, {}, param=problem[1])
        reply = self._next_reply(body)
        if reply.status != 200:
            message = reply.error_message or f"fake error {reply.status}"
            return self._error(record, reply.status, message, reply.error_code, reply.headers)
        if body.get("stream"):
            produce = _Stream(self, body, reply).produce
            headers_out = {"content-type": "text/event-stream; charset=utf-8", **reply.headers}
        else:
            produce = _Complete(self, body, reply).produce
            headers_out = {"content-type": "application/json", **reply.headers}
        return _Cycle(record, 200, headers_out, produce)

    def _error(
        self,
        record: RecordedRequest,
        status: int,
        message: str,
        code: str | None,
        headers: dict[str, str],
        param: str | None = None,
    ) -> _Cycle:
        record.status = status
        data = json.dumps(error_body(status, message, code, param)).encode()

        async def produce(write: Send_) -> bool:
            await write(data)
            return True

        return _Cycle(record, status, {"content-type": "application/json", **headers}, produce)


class _Generation:
    """Timing and content shared by the streamed and the non-streamed response."""

    #: The provider caches repeated prompt prefixes by itself (OpenAI); reported as cached.
    automatic_cache = True

    def __init__(self, server: FakeChatServer, body: dict[str, Any], reply: Reply) -> None:
        self.body = body
        self.reply = reply
        self.cached_tokens = reply.cached_tokens or 0
        if reply.cached_tokens is None and self.automatic_cache:
            self.cached_tokens = server.prefix_cache.cached_tokens(body)
        self.ttft = server.ttft if reply.ttft is None else reply.ttft
        self.tps = reply.tokens_per_second or server.tokens_per_second
        self.id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        self.created = int(time.time())
        self.model = str(body.get("model"))
        self.reasoning = split_tokens(reply.reasoning) if reply.reasoning else []
        self.text = split_tokens(_before_stop(reply.text, body.get("stop")))
        self.calls = [
            (f"call_{uuid.uuid4().hex[:24]}", name, split_arguments(args))
            for name, args in reply.tool_calls
        ]
        # as a provider does: the text ends at max_tokens (one piece a token here)
        limit = body.get("max_tokens") or body.get("max_completion_tokens")
        cut = isinstance(limit, int) and len(self.text) > limit
        if cut:
            self.text = self.text[:limit]
        self.pieces = len(self.reasoning) + len(self.text) + sum(len(a) for *_, a in self.calls)
        self.finish_reason = "tool_calls" if self.calls else "length" if cut else "stop"

    def usage(self) -> dict[str, Any]:
        r = self.reply
        prompt = (
            r.prompt_tokens if r.prompt_tokens is not None else _estimate_prompt_tokens(self.body)
        )
        completion = r.completion_tokens if r.completion_tokens is not None else self.pieces
        reasoning = r.reasoning_tokens if r.reasoning_tokens is not None else len(self.reasoning)
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": reasoning,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }


def _before_stop(text: str, stop: Any) -> str:
    """``text`` up to the first of the request's stop sequences, as a provider cuts it."""
    stops = [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else []
    ends = [text.find(s) for s in stops if isinstance(s, str) and s and s in text]
    return text[: min(ends)] if ends else text


class _Cut(Exception):
    """The scripted end of a stream: ``clean`` ends the body properly, else it is dropped."""

    def __init__(self, clean: bool) -> None:
        self.clean = clean


class _Stream(_Generation):
    async def produce(self, write: Send_) -> bool:
        try:
            await self._events(write)
        except _Cut as cut:
            return cut.clean
        return True

    async def _events(self, write: Send_) -> None:
        reply = self.reply
        include_usage = bool((self.body.get("stream_options") or {}).get("include_usage"))
        sent = 0
        start = time.monotonic() + self.ttft
        token = 0

        async def event(payload: dict[str, Any] | str, *, timed: bool = False) -> None:
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
            data = payload if isinstance(payload, str) else json.dumps(payload, separators=_COMPACT)
            await write(f"data: {data}\n\n".encode())
            sent += 1

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            out: dict[str, Any] = {
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "system_fingerprint": "fp_fake",
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
            }
            if include_usage:
                out["usage"] = None
            return out

        await asyncio.sleep(self.ttft)
        await event(chunk({"role": "assistant", "content": "", "refusal": None}))
        for piece in self.reasoning:
            await event(chunk({reply.reasoning_field: piece}), timed=True)
        for piece in self.text:
            await event(chunk({"content": piece}), timed=True)
        for index, (call_id, name, arg_pieces) in enumerate(self.calls):
            first = {"index": index, "id": call_id, "type": "function"}
            first["function"] = {"name": name, "arguments": ""}
            await event(chunk({"tool_calls": [first]}))
            for piece in arg_pieces:
                delta = {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}
                await event(chunk(delta), timed=True)
        if reply.error_message:  # an error reported inside the stream, then the end
            await event(error_body(500, reply.error_message, reply.error_code))
            return
        if reply.finish_reason_sent:
            await event(chunk({}, self.finish_reason))
        if include_usage:
            usage = chunk({})
            usage["choices"] = []
            usage["usage"] = self.usage()
            await event(usage)
        await event("[DONE]")


class _Complete(_Generation):
    async def produce(self, write: Send_) -> bool:
        await asyncio.sleep(self.ttft + (self.pieces / self.tps if self.tps else 0.0))
        message: dict[str, Any] = {
            "role": "assistant",
            "content": "".join(self.text) or None,
            "refusal": None,
        }
        if self.reply.reasoning:
            message[self.reply.reasoning_field] = self.reply.reasoning
        if self.calls:
            message["tool_calls"] = [
                {"id": cid, "type": "function", "function": {"name": n, "arguments": "".join(a)}}
                for cid, n, a in self.calls
            ]
        response = {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_fake",
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": self.finish_reason,
                }
            ],
            "usage": self.usage(),
        }
        data = json.dumps(response, separators=_COMPACT).encode()
        if self.reply.drop_after_chunks is not None:  # cut the body short
            await write(data[: len(data) // 2])
            return False
        await write(data)
        return True


def serve(server_class: type[FakeChatServer], description: str, argv: Sequence[str] | None) -> None:
    """Run a fake server from the command line: print its URL, serve until interrupted."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ttft", type=float, default=0.0, help="seconds to the first token")
    parser.add_argument("--tps", type=float, default=None, help="tokens per second")
    parser.add_argument("--api-key", default=None, help="require this key")
    parser.add_argument(
        "--tool-plan", default=None, help='call these tools first: {"name": {arguments}}'
    )
    args = parser.parse_args(argv)
    brain = CoordinationBrain(json.loads(args.tool_plan)) if args.tool_plan else None
    server = server_class(
        ttft=args.ttft,
        tokens_per_second=args.tps,
        api_key=args.api_key,
        port=args.port,
        brain=brain,
    ).start()
    print(server.url, flush=True)
    try:
        while server._thread is not None and server._thread.is_alive():
            server._thread.join(timeout=1.0)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


def main(argv: Sequence[str] | None = None) -> None:
    serve(FakeChatServer, "Fake OpenAI Chat Completions server.", argv)


if __name__ == "__main__":
    main()
