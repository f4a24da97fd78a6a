"""The backend interface: given messages, tools and settings, stream model events.

Messages and tools are :mod:`massgen.messages`'s dataclasses, shaped like Chat Completions;
each backend converts them to its wire protocol. A backend yields
:data:`~massgen.messages.Chunk` items and raises only :mod:`massgen.backends.errors` types.
Backends never retry: :mod:`massgen.backends.retry` does, in one place.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from massgen.backends.errors import (
    BackendConnectionError,
    BackendTimeoutError,
    could_not_connect,
)
from massgen.messages import Chunk, Message, ToolSpec
from massgen.tools.lending import AgentTurn

if TYPE_CHECKING:
    from massgen.config.schema import BackendConfig


class Backend(ABC):
    """One configured model endpoint. Instances are cheap; SDK clients are made lazily."""

    type: ClassVar[str]
    #: Whether the model can be trusted with function tools. Backends that cannot (the small
    #: local model) produce the workflow action through constrained output instead.
    supports_tools: ClassVar[bool] = True
    #: Whether the backend can constrain its output to a JSON schema (``response_format``);
    #: without it, the ``json`` workflow mode relies on the instructions alone.
    supports_json_schema: ClassVar[bool] = False
    #: A cap on string arguments in the ``json`` mode's schema, so that a complete object
    #: fits a small model's ``max_tokens`` (None: no cap).
    max_action_chars: ClassVar[int | None] = None
    #: The backend is an agent framework with its own tool loop (Claude Code, AG2): it runs the
    #: agent's tools itself through the ``turn`` each call is given, always in the ``tools``
    #: workflow mode.
    runs_own_loop: ClassVar[bool] = False
    #: The completion length the backend asks for when ``max_tokens`` is not set (None: the
    #: provider's own default), the bound a budget assumes for its calls.
    default_max_tokens: ClassVar[int | None] = None
    #: Whether the provider takes stop sequences (sent while :attr:`stop` is set).
    supports_stop: ClassVar[bool] = False
    #: The stop sequences of the calls made now: the final answer's (:meth:`final_call`).
    stop: tuple[str, ...] = ()

    def __init__(self, config: BackendConfig, api_key: str | None = None) -> None:
        self.config = config
        self.api_key = api_key

    @contextlib.contextmanager
    def final_call(self, max_tokens: int | None, stop: Sequence[str] = ()) -> Iterator[None]:
        """The calls made inside write the final answer: at most ``max_tokens`` tokens (the
        config's own ``max_tokens`` still bounds it) and ending before any of ``stop``."""
        if stop and not self.supports_stop:
            raise ValueError(f"{self.type} cannot send stop sequences")
        saved = self.config, self.stop
        if max_tokens is not None:
            own = self.config.max_tokens
            capped = min(max_tokens, own) if own else max_tokens
            self.config = self.config.model_copy(update={"max_tokens": capped})
        self.stop = tuple(stop)
        try:
            yield
        finally:
            self.config, self.stop = saved

    @property
    def model(self) -> str:
        return self.config.model or ""

    @property
    def supports_images(self) -> bool:
        """Whether the model can see images in user messages (backends that can say so)."""
        return False

    @property
    def self_hosted(self) -> bool:
        """Runs on the user's own machine or server, so calls cost nothing."""
        return False

    @abstractmethod
    def stream(
        self,
        messages: list[Message],
        tools: list[ToolSpec] | None = None,
        *,
        response_format: dict[str, Any] | None = None,
        turn: AgentTurn | None = None,
    ) -> AsyncGenerator[Chunk, None]:
        """Stream one model call. Cancelling the consumer must close the HTTP request.
        ``response_format`` is a JSON schema the reply must follow (backends with
        :attr:`supports_json_schema`; others ignore it). ``turn`` is what this call may use
        of the agent's tools and files (given only to backends that :attr:`runs_own_loop`):
        an argument, never state on the backend, so one backend can serve calls at once."""

    #: The provider SDK's client, if the backend uses one (see :meth:`_make_client`).
    _client: Any = None

    def _make_client(self) -> Any:
        """Build the SDK client. Backends call it in ``__init__``: building a client inside
        a run would block the event loop while other agents stream."""
        raise NotImplementedError

    @property
    def client(self) -> Any:
        """The SDK client (made again if the backend was closed and is used anew)."""
        if self._client is None:
            self._client = self._make_client()
        return self._client

    #: The endpoint, for error messages (set by backends that talk HTTP).
    base_url: str = ""

    def timeout_error(self, provider: str) -> BackendTimeoutError:
        """The error for a call that got no response within the configured timeout."""
        return BackendTimeoutError(
            f"no response from {self.base_url} within {self.config.timeout:g}s",
            provider=provider,
        )

    def total_timeout_error(self) -> BackendTimeoutError:
        """The error for a request still unfinished when its ``timeout`` ran out."""
        return BackendTimeoutError(
            f"request to {self.base_url or self.type} did not finish within "
            f"{self.config.timeout:g}s (backend.timeout)",
            provider=self.type,
        )

    def connection_error(self, cause: BaseException, provider: str) -> BackendConnectionError:
        """The error for a connection that failed (key masked): the endpoint could not be
        reached at all, or it dropped the connection after the request was sent."""
        reason = could_not_connect(cause)
        if reason is not None:
            return BackendConnectionError(
                self.scrub(f"cannot reach {self.base_url}: {reason}"),
                provider=provider,
                unreachable=True,
            )
        return self.dropped_error(cause, provider)

    def dropped_error(self, cause: BaseException, provider: str) -> BackendConnectionError:
        """The error for a connection the endpoint closed before its answer was complete."""
        detail = str(cause) or type(cause).__name__
        what = "stream ended unexpectedly" if self.config.stream else "connection closed early"
        return BackendConnectionError(self.scrub(f"{what}: {detail}"), provider=provider)

    def scrub(self, text: str) -> str:
        """``text`` with this backend's API key masked: provider messages may echo it."""
        if self.api_key and len(self.api_key) >= 4:
            text = text.replace(self.api_key, "***")
        return text

    async def _close_client(self, client: Any) -> None:
        await client.close()

    async def aclose(self) -> None:
        """Release the client and its connections."""
        if self._client is not None:
            client, self._client = self._client, None
            await self._close_client(client)
