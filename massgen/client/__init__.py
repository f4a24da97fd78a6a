"""``massgen.client``: a Python client of ``massgen serve``, in the resource layout of the
peer platforms' SDKs::

    from massgen.client import Client

    with Client(base_url="http://localhost:4000", api_key="...") as client:
        response = client.chat.completions.create(messages=[{"role": "user", "content": "Hi"}])
        print(response.choices[0].message.content)

:class:`AsyncClient` is the same on asyncio; :mod:`massgen.client.exceptions` has the errors,
:mod:`massgen.client.types` the responses. Importing it loads httpx and pydantic, nothing of
the engine or the server (docs/architecture.md, "The Python client").
"""

from __future__ import annotations

from massgen.client.async_client import AsyncClient, AsyncStream
from massgen.client.breaker import CircuitBreaker
from massgen.client.client import Client, Stream
from massgen.client.exceptions import (
    AuthenticationError,
    CircuitOpenError,
    MassGenClientError,
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    RateLimitError,
    ValidationError,
)
from massgen.client.signatures import SIGNATURE_HEADER, verify_webhook_signature

__all__ = [
    "SIGNATURE_HEADER",
    "AsyncClient",
    "AsyncStream",
    "AuthenticationError",
    "CircuitBreaker",
    "CircuitOpenError",
    "Client",
    "MassGenClientError",
    "NetworkError",
    "NotFoundError",
    "PermissionDeniedError",
    "ProviderError",
    "RateLimitError",
    "Stream",
    "ValidationError",
    "verify_webhook_signature",
]
