"""HTTP helpers shared by the endpoints: OpenAI-style errors and bounded JSON bodies."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse

from massgen.api import split_messages
from massgen.errors import ConfigurationError

MiB = 1024 * 1024
#: Deeper JSON than this is refused before parsing (a chat request needs about 5 levels).
MAX_JSON_DEPTH = 64

_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
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


def error_response(status: int, message: str, type_: str, code: str | None = None) -> JSONResponse:
    """An OpenAI-style error body."""
    body = {"error": {"message": message, "type": type_, "code": code, "param": None}}
    return JSONResponse(body, status_code=status)


class BadRequest(Exception):
    """A client mistake, answered with an OpenAI-style error body."""

    def __init__(
        self,
        status: int,
        message: str,
        type_: str = "invalid_request_error",
        code: str = "invalid_request",
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type_, self.code = status, message, type_, code

    def response(self) -> JSONResponse:
        return error_response(self.status, self.message, self.type_, self.code)


def parse_messages(messages: Any) -> tuple[str, list[tuple[str, str]]]:
    """The question and history of a request (see :func:`massgen.api.split_messages`)."""
    try:
        return split_messages(messages)
    except ConfigurationError as exc:
        raise BadRequest(400, str(exc), "invalid_request_error", "invalid_messages") from None


def request_images(messages: Any) -> list[Any]:
    """The ``image_url`` parts of a request's last user message (URLs only: a request never
    names a file the server would read)."""
    from massgen.api import message_images

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
            with contextlib.suppress(Exception):
                await self.body_iterator.aclose()  # type: ignore[attr-defined]
            self.on_close()
