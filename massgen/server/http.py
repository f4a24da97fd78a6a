"""HTTP helpers shared by the endpoints: OpenAI-style errors (and the 404), bounded JSON
bodies, SSE responses, and the middleware that answers unhandled errors and counts requests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import traceback
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Match

from massgen.chat_messages import split_messages
from massgen.errors import ConfigurationError
from massgen.terminal import clean_text

log = logging.getLogger("massgen.server")

MiB = 1024 * 1024
#: Deeper JSON than this is refused before parsing (a chat request needs about 5 levels).
MAX_JSON_DEPTH = 64

_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
#: A UTF-16 surrogate left alone (JSON's ``\\ud800``): no encoder, database or header takes it.
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def nesting(raw: bytes) -> int:
    """The deepest ``[``/``{`` nesting in JSON text (brackets inside strings ignored)."""
    brackets = _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for byte in brackets:
        if byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def error_response(
    status: int,
    message: str,
    type_: str,
    code: str | None = None,
    *,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """An OpenAI-style error body (its message made encodable: it may quote the request);
    ``param`` names the request field at fault."""
    param = None if param is None else clean_text(param)
    error = {"message": clean_text(message), "type": type_, "code": code, "param": param}
    return JSONResponse({"error": error}, status_code=status, headers=headers)


class BadRequest(Exception):
    """A client mistake, answered with an OpenAI-style error body."""

    def __init__(
        self,
        status: int,
        message: str,
        type_: str = "invalid_request_error",
        code: str = "invalid_request",
        *,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type_, self.code = status, message, type_, code
        self.param = param

    def response(self) -> JSONResponse:
        return error_response(self.status, self.message, self.type_, self.code, param=self.param)


def surrogate_at(value: Any, where: str) -> str | None:
    """Where in ``value`` (a JSON value found at ``where``, e.g. ``metadata``) a string or
    key holds a lone surrogate (``metadata.ticket``, ``stop[1]``), or None."""
    if isinstance(value, str):
        return where if _SURROGATE.search(value) else None
    if isinstance(value, list):
        pairs = [(f"{where}[{i}]", item) for i, item in enumerate(value)]
    elif isinstance(value, dict):
        pairs = []
        for key, item in value.items():
            path = f"{where}.{clean_text(str(key))}"
            if _SURROGATE.search(str(key)):
                return path
            pairs.append((path, item))
    else:
        return None
    return next((found for path, item in pairs if (found := surrogate_at(item, path))), None)


def refuse_surrogates(value: Any, where: str) -> None:
    """A 400 naming where ``value`` holds a lone surrogate: text the server stores or sends
    back as given (metadata, stop sequences, webhook fields) is refused, not altered."""
    found = surrogate_at(value, where)
    if found is not None:
        raise BadRequest(
            400,
            f"{found}: contains a lone UTF-16 surrogate (such as \\ud800), which is not "
            "text; send valid Unicode",
            "invalid_request_error",
            "invalid_text",
            param=where,
        )


def without_surrogates(value: Any) -> Any:
    """``value`` (JSON) with every lone surrogate in its strings and keys replaced by U+FFFD,
    as the question's text is everywhere (see :func:`massgen.api.message_text`)."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [without_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {clean_text(str(k)): without_surrogates(v) for k, v in value.items()}
    return value


def parse_messages(messages: Any) -> tuple[str, list[tuple[str, str]]]:
    """The question and history of a request (see :func:`massgen.api.split_messages`)."""
    try:
        return split_messages(messages)
    except ConfigurationError as exc:
        raise BadRequest(400, str(exc), "invalid_request_error", "invalid_messages") from None


def request_images(messages: Any) -> list[Any]:
    """The ``image_url`` parts of a request's last user message (URLs only: a request never
    names a file the server would read)."""
    from massgen.chat_messages import message_images

    try:
        return message_images(messages)
    except ConfigurationError as exc:
        raise BadRequest(400, str(exc), "invalid_request_error", "invalid_image") from None


async def read_json(request: Request, max_bytes: int, seconds: float) -> dict[str, Any]:
    """The request body as a JSON object: bounded in size (413), in the time it may take
    to arrive (408), and in nesting depth (400); never a 500."""
    too_large = BadRequest(
        413, "request body too large", "invalid_request_error", "request_too_large"
    )
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > max_bytes:
        raise too_large
    chunks, size = [], 0
    try:
        async with asyncio.timeout(seconds):
            async for chunk in request.stream():
                size += len(chunk)
                if size > max_bytes:
                    raise too_large
                chunks.append(chunk)
    except TimeoutError:
        raise BadRequest(
            408,
            f"request body not received within {seconds:g}s",
            "invalid_request_error",
            "request_timeout",
        ) from None
    raw = b"".join(chunks)
    if nesting(raw) > MAX_JSON_DEPTH:
        raise BadRequest(
            400,
            f"request body is nested more than {MAX_JSON_DEPTH} levels deep",
            "invalid_request_error",
            "invalid_json",
        )
    try:
        body = json.loads(raw or b"null")
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise BadRequest(
            400, "request body is not valid JSON", "invalid_request_error", "invalid_json"
        ) from None
    if not isinstance(body, dict):
        raise BadRequest(
            400, "request body must be a JSON object", "invalid_request_error", "invalid_body"
        )
    return body


class SSEResponse(StreamingResponse):
    """A streaming response that watches for the client going away even while the stream
    is silent (the ASGI 2.4 path only notices on the next write), and always runs
    ``on_close`` (even when the body was never started)."""

    def __init__(
        self, content: AsyncIterator[str], on_close: Callable[[], None] | None = None
    ) -> None:
        super().__init__(
            content,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        self.on_close = on_close or (lambda: None)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        scope = {**scope, "asgi": {**scope.get("asgi", {}), "spec_version": "2.0"}}
        try:
            await super().__call__(scope, receive, send)
        finally:
            close = getattr(self.body_iterator, "aclose", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()
            self.on_close()


class JSONErrors:
    """ASGI middleware: an exception no endpoint handled is answered with the OpenAI-style
    500 (when no response has started) and logged as one line naming where it was raised,
    never a plain-text page and a traceback. ``redact`` masks secrets in that line."""

    def __init__(self, app: Any, redact: Callable[[str], str] = lambda text: text) -> None:
        self.app, self.redact = app, redact

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            detail = " ".join(clean_text(str(exc)).split())[:200]
            log.error(
                "massgen: %s %s: internal error: %s",
                scope.get("method", ""),
                scope.get("path", ""),
                self.redact(f"{type(exc).__name__}: {detail} ({frame.filename}:{frame.lineno})"),
            )
            if not started:
                response = error_response(
                    500, "internal server error", "server_error", "internal_error"
                )
                await response(scope, receive, send)


async def not_found(request: Request, exc: Exception) -> Response:
    """The OpenAI-style 404 (or 405) of a path (or method) no route takes."""
    status = getattr(exc, "status_code", 404)
    return error_response(
        status,
        f"{request.method} {request.url.path}: not found"
        if status == 404
        else "method not allowed",
        "invalid_request_error",
        "not_found" if status == 404 else "method_not_allowed",
    )


class Observed:
    """ASGI middleware around a Starlette app: each request is counted by
    ``count(route template, method, status)`` ("other" for a path no route takes, 499 for
    a client gone before the response). It passes the app's ``state`` on."""

    def __init__(self, app: Any, count: Callable[[str, str, str], None]) -> None:
        self.app, self.count = app, count
        self.state = app.state

    def _route(self, scope: Any) -> str:
        for route in self.app.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return str(route.path)
        return "other"

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 499}

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.count(self._route(scope), scope.get("method", ""), str(status["code"]))


T = TypeVar("T")


class ClientLeft(Exception):
    """The client disconnected before its answer was ready (the work was cancelled)."""


async def unless_client_leaves(request: Request, work: Coroutine[Any, Any, T]) -> T:
    """``work``'s result (its exception raised as is); when the client disconnects first,
    ``work`` is cancelled and :class:`ClientLeft` raised: a non-streamed answer nobody will
    read is not worked on."""

    async def left() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    answer, watcher = asyncio.create_task(work), asyncio.create_task(left())
    try:
        await asyncio.wait({answer, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (answer, watcher):
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
    if not answer.done() or answer.cancelled():
        raise ClientLeft
    return answer.result()
