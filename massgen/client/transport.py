"""What the sync and the async client share about sending a call: the call itself, the
headers, when to retry and how long to wait, the structured log events, and the SSE decoder.
No I/O here: :mod:`massgen.client.client` and :mod:`massgen.client.async_client` do it."""

from __future__ import annotations

import json
import logging
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from massgen.__about__ import __version__
from massgen.client.exceptions import (
    MassGenClientError,
    NetworkError,
    error_from_response,
    retry_after_seconds,
)

DEFAULT_BASE_URL = "http://localhost:4000"
DEFAULT_TIMEOUT = 600.0
DEFAULT_MAX_RETRIES = 2
#: Backoff without a Retry-After: 0.5 s, 1 s, 2 s, ... (with jitter), at most this.
MAX_BACKOFF = 8.0
#: A Retry-After longer than this is not waited for: the error is raised instead.
MAX_RETRY_AFTER = 60.0
#: Statuses that mean the server did not do the work and asks to be asked again.
RETRY_STATUSES = frozenset({429, 503})
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "DELETE", "PUT"})


@dataclass(frozen=True)
class Call:
    """One API call: ``name`` is the SDK method (``chat.completions.create``) for logs."""

    name: str
    method: str
    path: str
    json: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    stream: bool = False

    @property
    def idempotent(self) -> bool:
        return self.method in IDEMPOTENT


def base_url_from(base_url: str | None) -> str:
    """``base_url``, else ``$MASSGEN_BASE_URL``, else :data:`DEFAULT_BASE_URL` (no trailing
    slash; a trailing ``/v1`` is taken off, since every path starts with it)."""
    url = (base_url or os.environ.get("MASSGEN_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


def headers_for(api_key: str | None, extra: dict[str, str] | None = None) -> dict[str, str]:
    headers = {"User-Agent": f"massgen-client/{__version__}", "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    headers.update(extra or {})
    return headers


def retry_delay(attempt: int, response: httpx.Response | None) -> float | None:
    """Seconds to wait before attempt ``attempt + 1``: the response's Retry-After when it
    gives one (None when that is longer than :data:`MAX_RETRY_AFTER`), else exponential
    backoff with jitter."""
    if response is not None:
        asked = retry_after_seconds(response.headers)
        if asked is not None:
            return asked if asked <= MAX_RETRY_AFTER else None
    backoff = min(MAX_BACKOFF, 0.5 * 2**attempt)
    return backoff * (0.5 + random.random() / 2)


def retryable_error(call: Call, exc: httpx.TransportError) -> bool:
    """A connection that was never made may be tried again for any call; one that broke
    after the request went out only for an idempotent call (a POST may have started a run)."""
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout) or call.idempotent


def network_error(call: Call, exc: httpx.TransportError) -> NetworkError:
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
    detail = str(exc) or type(exc).__name__
    return NetworkError(f"{call.method} {call.path} {kind}: {detail}")


def response_error(response: httpx.Response) -> MassGenClientError:
    """The error of a read response with an error status."""
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    return error_from_response(response.status_code, body, response.headers)


class EventLog:
    """Structured request/response events on ``logger``: a ``logging.Logger`` (the event in
    the message as ``key=value`` and in ``record.massgen_client``) or a structlog-style
    logger (``logger.info(event, **fields)``). Fields never hold the API key or headers."""

    def __init__(self, logger: Any = None) -> None:
        self.logger = logger if logger is not None else logging.getLogger("massgen.client")
        self.stdlib = isinstance(self.logger, logging.Logger | logging.LoggerAdapter)

    def emit(self, event: str, level: int = logging.DEBUG, **fields: Any) -> None:
        fields = {k: v for k, v in fields.items() if v is not None}
        if self.stdlib:
            if not self.logger.isEnabledFor(level):
                return
            text = " ".join(f"{k}={json.dumps(v, default=str)}" for k, v in fields.items())
            self.logger.log(
                level, "%s %s", event, text, extra={"massgen_client": {"event": event, **fields}}
            )
            return
        method = {logging.WARNING: "warning", logging.INFO: "info"}.get(level, "debug")
        getattr(self.logger, method, self.logger.info)(event, **fields)

    def request(self, call: Call, attempt: int) -> None:
        model = (call.json or {}).get("model")
        self.emit(
            "api_request",
            method=call.name,
            http_method=call.method,
            path=call.path,
            attempt=attempt,
            model=model if isinstance(model, str) else None,
            stream=call.stream or None,
        )

    def response(self, call: Call, response: httpx.Response, started: float, now: float) -> None:
        tokens = None
        if not call.stream and response.is_success:
            try:
                usage = response.json().get("usage")
                tokens = usage.get("total_tokens") if isinstance(usage, dict) else None
            except (ValueError, AttributeError):
                tokens = None
        self.emit(
            "api_response",
            method=call.name,
            status=response.status_code,
            latency_ms=round((now - started) * 1000, 1),
            tokens=tokens,
            request_id=response.headers.get("x-request-id"),
        )

    def retry(self, call: Call, attempt: int, delay: float, reason: str) -> None:
        self.emit(
            "api_retry",
            logging.INFO,
            method=call.name,
            attempt=attempt,
            delay_s=round(delay, 3),
            reason=reason,
        )


@dataclass
class SSEMessage:
    event: str = "message"
    data: str = ""
    id: str | None = None


class SSEDecoder:
    """Server-sent events from the lines of a body (comments and ``retry:`` skipped)."""

    def __init__(self) -> None:
        self.current = SSEMessage()
        self.lines: list[str] = []

    def feed(self, line: str) -> SSEMessage | None:
        """The event that ``line`` completes (a blank line), or None."""
        if not line:
            if not self.lines:
                self.current = SSEMessage()
                return None
            message = self.current
            message.data = "\n".join(self.lines)
            self.current, self.lines = SSEMessage(), []
            return message
        if line.startswith(":"):
            return None
        key, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if key == "data":
            self.lines.append(value)
        elif key == "event":
            self.current.event = value
        elif key == "id":
            self.current.id = value
        return None

    def feed_all(self, lines: list[str]) -> Iterator[SSEMessage]:
        for line in lines:
            message = self.feed(line)
            if message is not None:
                yield message
