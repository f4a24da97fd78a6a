"""An HTTP error response of an OpenAI-style API as a :mod:`massgen.backends.errors` type.

Shared by the backends that speak the protocol themselves and those on the ``openai`` SDK, so
a 401, a 429 or a context-length refusal reads the same whichever path made the call.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from massgen.backends.errors import (
    AuthenticationError,
    BackendError,
    ContextLengthError,
    ProviderError,
    RateLimitError,
)
from massgen.backends.http_client import parse_retry_after

CONTEXT_HINTS = re.compile(r"context.length|context window|maximum context", re.IGNORECASE)


def error_object(body: Any) -> Any:
    """The ``error`` member of a decoded error body, else the body itself."""
    if isinstance(body, Mapping) and "error" in body:
        return body["error"]
    return body


def message_and_code(raw: bytes | str, reason: str = "") -> tuple[str, str | None]:
    """The provider's own message and error code from a raw error body (JSON or text)."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    try:
        body: Any = error_object(json.loads(text))
    except ValueError:
        body = text
    if isinstance(body, Mapping):
        message, code = body.get("message"), body.get("code")
        return (
            message if isinstance(message, str) and message else (text.strip()[:500] or reason),
            code if isinstance(code, str) else None,
        )
    if isinstance(body, str) and body.strip():
        return body.strip()[:500], None
    return reason or "error", None


def status_error(
    status: int,
    message: str,
    code: str | None,
    headers: Mapping[str, str],
    *,
    provider: str,
) -> BackendError:
    """The error for an HTTP ``status`` response (``message`` already scrubbed of keys)."""
    if status in (401, 403):
        return AuthenticationError(message, provider=provider, status=status)
    if status == 429 and code != "insufficient_quota":
        retry_after = parse_retry_after(headers)
        return RateLimitError(message, retry_after=retry_after, provider=provider, status=429)
    context = code == "context_length_exceeded" or CONTEXT_HINTS.search(message)
    if status in (400, 413) and context:
        return ContextLengthError(message, provider=provider, status=status)
    return ProviderError(message, provider=provider, status=status)
