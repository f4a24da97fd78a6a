"""The errors of :mod:`massgen.client`, one class per thing a caller acts on differently.

Every error is a :class:`MassGenClientError`; an error the server answered carries its HTTP
status and the OpenAI-style body's ``type``, ``code`` and ``param``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthenticationError",
    "CircuitOpenError",
    "MassGenClientError",
    "NetworkError",
    "NotFoundError",
    "PermissionDeniedError",
    "ProviderError",
    "RateLimitError",
    "ValidationError",
    "error_from_response",
]


class MassGenClientError(Exception):
    """The base of every client error. ``status_code`` is None for an error raised before
    (or without) an answer from the server."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.type = type
        self.code = code
        self.param = param
        self.body = body


class AuthenticationError(MassGenClientError):
    """The API key is missing or not one the server takes (401), or may not do this (403:
    :class:`PermissionDeniedError`)."""


class PermissionDeniedError(AuthenticationError):
    """The key is good but what it asked is not allowed (403): an MCP tool the operator did
    not allow. An :class:`AuthenticationError`, so code that catches that still does."""


class RateLimitError(MassGenClientError):
    """The server is busy (429); ``retry_after`` is when it expects a run to be free."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ValidationError(MassGenClientError):
    """The request was refused as it stands (400, 404, 408, 413, 422), or the client refused
    a call the server cannot honour before sending it."""


class NotFoundError(ValidationError):
    """No such task or webhook for this API key, or no such endpoint (404)."""


class ProviderError(MassGenClientError):
    """The server or the team's providers failed the request (5xx, or an error inside a
    stream): the run produced no answer, the task store is down."""


class NetworkError(MassGenClientError):
    """The server could not be reached, or the connection broke or timed out."""


class CircuitOpenError(NetworkError):
    """Not sent: the client's circuit breaker is open after calls in a row failed;
    ``retry_after`` is when it lets a call through again."""

    def __init__(self, message: str, *, retry_after: float, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


def retry_after_seconds(headers: Any) -> float | None:
    """The wait a response asks for: ``retry-after-ms`` (exact), else ``Retry-After``
    (seconds; an HTTP date is not used)."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            value = float(raw) / scale
        except ValueError:
            continue
        if value >= 0:
            return value
    return None


def error_from_response(status: int, body: Any, headers: Any = None) -> MassGenClientError:
    """The error of a response with ``status`` (an HTTP error code) and ``body`` (its JSON,
    or its text)."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        message = str(error.get("message") or f"HTTP {status}")
        details = {
            "type": error.get("type"),
            "code": error.get("code"),
            "param": error.get("param"),
        }
    else:
        text = body if isinstance(body, str) else ""
        message = f"HTTP {status}" + (f": {text.strip()[:300]}" if text.strip() else "")
        details = {"type": None, "code": None, "param": None}
    kw: dict[str, Any] = {"status_code": status, "body": body, **details}
    if status == 403:
        return PermissionDeniedError(message, **kw)
    if status == 401:
        return AuthenticationError(message, **kw)
    if status == 429:
        return RateLimitError(message, retry_after=retry_after_seconds(headers or {}), **kw)
    if status == 404:
        return NotFoundError(message, **kw)
    if status >= 500:
        return ProviderError(message, **kw)
    return ValidationError(message, **kw)


def stream_error(body: dict[str, Any]) -> ProviderError:
    """The error a server sent inside a stream (``data: {"error": ...}``)."""
    found = body.get("error")
    error: dict[str, Any] = found if isinstance(found, dict) else {}
    return ProviderError(
        str(error.get("message") or "the stream ended with an error"),
        type=error.get("type"),
        code=error.get("code"),
        body=body,
    )
