"""The one error tree every backend maps its provider's exceptions onto.

The engine and the retry policy only ever see these types. ``retryable`` tells the retry
policy whether another attempt can help; the provider's own message is kept in ``message``.
"""

from __future__ import annotations

import errno
import socket


class BackendError(Exception):
    """A model call failed. ``provider`` names the backend type, ``status`` the HTTP status."""

    retryable = False

    #: A provider's message is kept, but as one line of at most this many characters (some
    #: servers send whole tracebacks as their error body).
    MAX_MESSAGE = 400

    def __init__(self, message: str, *, provider: str = "", status: int | None = None) -> None:
        message = " ".join(str(message).split())
        if len(message) > self.MAX_MESSAGE:
            message = message[: self.MAX_MESSAGE - 1] + "…"
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status = status

    def __str__(self) -> str:
        prefix = f"{self.provider}: " if self.provider else ""
        status = f" (HTTP {self.status})" if self.status else ""
        return f"{prefix}{self.message}{status}"


class AuthenticationError(BackendError):
    """The key is missing, wrong or lacks permission (401/403)."""


class RateLimitError(BackendError):
    """Too many requests (429). ``retry_after`` is the server's hint in seconds, if any."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ContextLengthError(BackendError):
    """The prompt does not fit the model's context window."""


class BackendTimeoutError(BackendError):
    """The provider did not answer in time."""

    retryable = True


class BackendConnectionError(BackendError):
    """The server could not be reached (``unreachable``), or the connection dropped after the
    request was sent: before any response (``answered`` false) or with a stream cut off
    mid-body."""

    retryable = True

    def __init__(
        self, message: str, *, unreachable: bool = False, answered: bool = True, **kw
    ) -> None:
        super().__init__(message, **kw)
        self.unreachable = unreachable
        self.answered = answered and not unreachable


class ProviderError(BackendError):
    """Anything else the provider reported. 5xx errors are retryable, 4xx are not."""

    def __init__(self, message: str, **kw) -> None:
        super().__init__(message, **kw)
        self.retryable = self.status is None or self.status >= 500


_CONNECT_ERRNOS = {
    errno.ECONNREFUSED: "connection refused",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
    errno.EADDRNOTAVAIL: "address not available",
}


def could_not_connect(exc: BaseException) -> str | None:
    """Why no connection could be made, when that is what ``exc`` or one of its causes says
    (``"connection refused"``, ``"name not resolved"``, ...); None when a connection was made
    and something went wrong after it (a dropped stream).

    The HTTP libraries wrap the socket's error a few levels deep (``openai.APIConnectionError``
    → ``httpx.ConnectError`` → ``OSError("All connection attempts failed")`` → a group of
    ``ConnectionRefusedError``), and anthropic's SDK uses its own copy of httpx (``httpx2``):
    so the chain is walked and the connect errors are known by name as well as by errno."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    connect_error = False
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, socket.gaierror):
            return "its host name does not resolve"
        if isinstance(current, OSError) and current.errno in _CONNECT_ERRNOS:
            return _CONNECT_ERRNOS[current.errno]
        name = type(current).__name__
        if name == "ConnectTimeout":
            return "the connection timed out"
        connect_error = connect_error or name == "ConnectError"
        stack += [current.__cause__, current.__context__]
        stack += list(getattr(current, "exceptions", None) or ())
    return "could not connect" if connect_error else None
