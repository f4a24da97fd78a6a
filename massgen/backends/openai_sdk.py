"""The ``openai`` SDK's exceptions mapped onto massgen's error tree, for the one backend whose
calls go through that SDK: ``ag2``, whose framework calls it itself. massgen's own OpenAI
backends speak the protocol directly (:mod:`massgen.backends.openai_http`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx
import openai

from massgen.backends.base import Backend
from massgen.backends.errors import BackendError, ContextLengthError, ProviderError
from massgen.backends.http_errors import CONTEXT_HINTS, status_error


class OpenAISDKBackend(Backend):
    """The base of a backend whose calls go through the openai SDK: its exceptions mapped
    onto massgen's (:meth:`_map_error`); ``_stream_error`` maps an error reported inside a
    200 response and may be refined."""

    @property
    def provider(self) -> str:
        return self.config.type

    def _stream_error(
        self, message: str, code: Any, *, status: int | None = None, failed: bool = False
    ) -> BackendError:
        """An error the provider reported inside a 200 response."""
        message = self.scrub(message)
        code = code if isinstance(code, str) else None
        if code == "context_length_exceeded" or CONTEXT_HINTS.search(message):
            return ContextLengthError(message, provider=self.provider)
        return ProviderError(message, provider=self.provider, status=status)

    def _map_error(self, exc: Exception) -> BackendError:
        provider = self.provider
        if isinstance(exc, (openai.APITimeoutError, httpx.TimeoutException)):
            return self.timeout_error(provider)
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc
            return self.connection_error(cause, provider)
        if isinstance(exc, openai.APIStatusError):
            return self._map_status_error(exc)
        if isinstance(exc, openai.APIError):  # an error event inside the stream
            return self._stream_error(message_of(exc), exc.code, status=int_code(exc.body))
        if isinstance(exc, json.JSONDecodeError):
            return ProviderError(f"malformed data in the stream: {exc.msg}", provider=provider)
        return self.connection_error(exc, provider)  # the connection failed mid-response

    def _map_status_error(self, exc: openai.APIStatusError) -> BackendError:
        code = exc.code if isinstance(exc.code, str) else None
        message = self.scrub(message_of(exc))
        return status_error(
            exc.status_code, message, code, exc.response.headers, provider=self.provider
        )


def message_of(exc: openai.APIError) -> str:
    """The provider's own message, not the SDK's ``Error code: ...`` wrapper."""
    body = exc.body
    if isinstance(body, Mapping):
        message = body.get("message")
        if isinstance(message, str) and message:
            return message
    if isinstance(body, str) and body.strip():
        return body.strip()[:500]
    return exc.message


def int_code(body: object) -> int | None:
    code = body.get("code") if isinstance(body, Mapping) else None
    return code if isinstance(code, int) and 400 <= code < 600 else None
