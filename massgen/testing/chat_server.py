"""A protocol-faithful fake of the OpenAI Chat Completions API, for tests and benchmarks.

Starlette served by uvicorn on 127.0.0.1 (ephemeral port) in a background thread with its own
event loop. Responses are scripted with :class:`Reply` (FIFO queues, per model first) and
otherwise produced by a *brain*; the default :data:`coordination_brain` plays massgen's
workflow protocol (``new_answer`` / ``vote`` / final text) so whole runs can complete. Text
ends at a request's ``stop`` sequences and ``max_tokens`` (one piece a token), as a provider's
does.

Run standalone (benchmarks)::

    python -m massgen.testing.chat_server --port 0 --ttft 0.2 --tps 50 [--api-key K]

prints its base URL (``http://127.0.0.1:PORT/v1``) as the first stdout line, serves until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from massgen.testing.chat_wire import (
    COMPACT,
    Brain,
    CoordinationBrain,
    Cycle,
    RecordedRequest,
    Reply,
    Send_,
    error_body,
    estimate_prompt_tokens,
    fake_embedding,
    quiet_uvicorn,
    split_arguments,
    split_tokens,
    validate,
)
from massgen.testing.media_server import FakeMedia
from massgen.testing.prompt_caches import BreakpointCache, PrefixCache


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
        self._transcripts: deque[str] = deque()
        self._by_model: defaultdict[str, deque[Reply]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._hold_after: int | None = None
        self._released = threading.Event()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        #: OpenAI's media endpoints (images, speech, video): massgen.testing.media_server
        self.media = FakeMedia(lambda: self.api_key)
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
                Route("/v1/embeddings", self._embeddings, methods=["POST"]),
                *self.media.routes(),
                Route("/v1/audio/transcriptions", self._transcriptions, methods=["POST"]),
            ],
            exception_handlers={404: self._not_found, 405: self._not_found},
        )

    # ---- scripting

    def enqueue(self, *replies: Reply) -> None:
        """Replies for the next requests, in order, before falling back to the brain."""
        with self._lock:
            self._queue.extend(replies)

    def enqueue_transcript(self, *texts: str) -> None:
        """Transcripts for the next ``/v1/audio/transcriptions`` requests, in order (else
        ``fake transcript of <file name>``)."""
        with self._lock:
            self._transcripts.extend(texts)

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
        quiet_uvicorn()
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

    async def _embeddings(self, request: Request) -> JSONResponse:
        """OpenAI's embeddings endpoint: a fixed unit vector per model and text (256
        dimensions, or ``dimensions``), the request recorded as a chat request is."""
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            body: Any = json.loads(await request.body())
        except ValueError:
            body = None
        body = body if isinstance(body, dict) else {}
        record = RecordedRequest(body=body, headers=headers, started_at=time.monotonic(),
                                 path=request.url.path)  # fmt: skip
        with self._lock:
            self.requests.append(record)
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            error = error_body(401, "Incorrect API key provided.", "invalid_api_key")
            return JSONResponse(error, status_code=401)
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else texts
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            return JSONResponse(error_body(400, "input: a string or a list of strings"), 400)
        model, dims = str(body.get("model")), int(body.get("dimensions") or 256)
        data = [
            {"object": "embedding", "index": i, "embedding": fake_embedding(model, text, dims)}
            for i, text in enumerate(texts)
        ]
        tokens = sum(len(text) // 4 + 1 for text in texts)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return JSONResponse({"object": "list", "data": data, "model": model, "usage": usage})

    async def _transcriptions(self, request: Request) -> JSONResponse:
        """OpenAI's speech to text (multipart ``file``, ``model``, optional ``prompt`` and
        ``response_format``); the request is recorded with the upload's name, type and size
        in place of its bytes. Files that are not a known audio container are refused as the
        real API refuses them; usage is in tokens, as ``gpt-4o-transcribe`` reports it."""
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            form = await request.form()
        except Exception:
            return JSONResponse(error_body(400, "expected a multipart/form-data body"), 400)
        upload: Any = form.get("file")
        data = await upload.read() if hasattr(upload, "read") else b""
        body: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}
        body["file_name"] = getattr(upload, "filename", "") or ""
        body["file_type"] = getattr(upload, "content_type", "") or ""
        body["file_bytes"] = len(data)
        record = RecordedRequest(body=body, headers=headers, started_at=time.monotonic(),
                                 path=request.url.path)  # fmt: skip
        with self._lock:
            self.requests.append(record)
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            error = error_body(401, "Incorrect API key provided.", "invalid_api_key")
            return JSONResponse(error, status_code=401)
        if not body.get("model"):
            return JSONResponse(error_body(400, "you must provide a model parameter", None,
                                           "model"), 400)  # fmt: skip
        if not data:
            missing = error_body(400, "file: an audio file is required", None, "file")
            return JSONResponse(missing, 400)
        if not _audio_container(data):
            message = "Invalid file format. Supported formats: flac, m4a, mp3, mp4, ogg, wav, webm"
            return JSONResponse(error_body(400, message, None, "file"), 400)
        with self._lock:
            text = self._transcripts.popleft() if self._transcripts else ""
        text = text or f"fake transcript of {body['file_name']}"
        usage = {
            "type": "tokens",
            "input_tokens": len(data) // 1000 + 1,
            "output_tokens": len(text.split()),
            "total_tokens": len(data) // 1000 + 1 + len(text.split()),
        }
        return JSONResponse({"text": text, "usage": usage})

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

    def _respond(self, record: RecordedRequest, headers: dict[str, str], body: Any) -> Cycle:
        keys = {headers.get("authorization"), f"Bearer {headers.get('api-key')}"}  # or Azure's
        if self.api_key is not None and f"Bearer {self.api_key}" not in keys:
            return self._error(record, 401, "Incorrect API key provided.", "invalid_api_key", {})
        problem = validate(body)
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
        return Cycle(record, 200, headers_out, produce)

    def _error(
        self,
        record: RecordedRequest,
        status: int,
        message: str,
        code: str | None,
        headers: dict[str, str],
        param: str | None = None,
    ) -> Cycle:
        record.status = status
        data = json.dumps(error_body(status, message, code, param)).encode()

        async def produce(write: Send_) -> bool:
            await write(data)
            return True

        return Cycle(record, status, {"content-type": "application/json", **headers}, produce)


class Generation:
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
        self.text = split_tokens(before_stop(reply.text, body.get("stop")))
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
            r.prompt_tokens if r.prompt_tokens is not None else estimate_prompt_tokens(self.body)
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


def _audio_container(data: bytes) -> bool:
    """Whether ``data`` starts as one of the containers the transcription API takes."""
    return (
        (data[:4] == b"RIFF" and data[8:12] == b"WAVE")
        or data[:3] == b"ID3"
        or data[:2] in (b"\xff\xfb", b"\xff\xf3")
        or data[:4] in (b"OggS", b"fLaC", b"\x1a\x45\xdf\xa3")
        or data[4:8] == b"ftyp"
    )


def before_stop(text: str, stop: Any) -> str:
    """``text`` up to the first of the request's stop sequences, as a provider cuts it."""
    stops = [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else []
    ends = [text.find(s) for s in stops if isinstance(s, str) and s and s in text]
    return text[: min(ends)] if ends else text


class Cut(Exception):
    """The scripted end of a stream: ``clean`` ends the body properly, else it is dropped."""

    def __init__(self, clean: bool) -> None:
        self.clean = clean


class _Stream(Generation):
    async def produce(self, write: Send_) -> bool:
        try:
            await self._events(write)
        except Cut as cut:
            return cut.clean
        return True

    async def _events(self, write: Send_) -> None:
        reply = self.reply
        include_usage = bool((self.body.get("stream_options") or {}).get("include_usage"))
        sent = 0
        start = time.monotonic() + self.ttft
        token = 0

        async def event(payload: dict[str, Any] | str, *, timed: bool = False) -> None:
            """Send one SSE event (raises :class:`Cut` at a scripted cut point)."""
            nonlocal sent, token
            if reply.drop_after_chunks is not None and sent >= reply.drop_after_chunks:
                raise Cut(clean=False)
            if reply.end_after_chunks is not None and sent >= reply.end_after_chunks:
                raise Cut(clean=True)
            if timed:
                due = start + (token / self.tps if self.tps else 0.0)
                token += 1
                await asyncio.sleep(max(0.0, due - time.monotonic()))
            data = payload if isinstance(payload, str) else json.dumps(payload, separators=COMPACT)
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


class _Complete(Generation):
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
        data = json.dumps(response, separators=COMPACT).encode()
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
