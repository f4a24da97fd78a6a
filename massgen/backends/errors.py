"""The one error tree every backend maps its provider's exceptions onto.

The engine and the retry policy only ever see these types. ``retryable`` tells the retry
policy whether another attempt can help; the provider's own message is kept in ``message``.
"""

from __future__ import annotations


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
    """The server could not be reached, or the connection dropped mid-stream."""

    retryable = True


class ProviderError(BackendError):
    """Anything else the provider reported. 5xx errors are retryable, 4xx are not."""

    def __init__(self, message: str, **kw) -> None:
        super().__init__(message, **kw)
        self.retryable = self.status is None or self.status >= 500
