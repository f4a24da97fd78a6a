"""Retries with exponential backoff and ``Retry-After``, in one place above every backend.

SDK-level retries are always off (``max_retries=0``) so a failed call is never retried twice.
A retry after text was already streamed restarts the call; ``on_retry`` lets the caller
discard the partial text and tell the user.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from massgen.backends.base import Backend
from massgen.backends.errors import BackendError, RateLimitError
from massgen.messages import Chunk, Message, ToolSpec
from massgen.tools.lending import AgentTurn


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    initial_delay: float = 1.0
    max_delay: float = 30.0
    #: A ``Retry-After`` longer than this is not waited for: the error is raised instead.
    max_retry_after: float = 60.0

    def delay(self, attempt: int, error: BackendError) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or None to give up."""
        if not error.retryable or attempt >= self.max_attempts:
            return None
        if isinstance(error, RateLimitError) and error.retry_after is not None:
            return error.retry_after if error.retry_after <= self.max_retry_after else None
        backoff = min(self.max_delay, self.initial_delay * 2 ** (attempt - 1))
        return backoff * random.uniform(0.5, 1.0)


RetryCallback = Callable[[int, float, BackendError], None]


async def stream_with_retries(
    backend: Backend,
    messages: list[Message],
    tools: list[ToolSpec] | None,
    policy: RetryPolicy,
    on_retry: RetryCallback | None = None,
    turn: AgentTurn | None = None,
) -> AsyncIterator[Chunk]:
    """Stream ``backend`` and retry retryable errors per ``policy``.

    Each attempt must finish within the backend's ``timeout`` (seconds for one request,
    from sending it to its last chunk): a response that trickles in forever is cut off and
    counts as a timeout. ``on_retry(attempt, delay, error)`` is called before each wait.
    """
    loop = asyncio.get_running_loop()
    limit = float(backend.config.timeout)
    attempt = 1
    while True:
        deadline = loop.time() + limit
        try:
            # ``turn`` only for a backend that runs its own loop (the runner lends it none else)
            call = (
                backend.stream(messages, tools, turn=turn)
                if turn
                else backend.stream(messages, tools)
            )
            async with contextlib.aclosing(call) as stream:
                while True:
                    try:
                        # the deadline covers each wait for a chunk, never the consumer's
                        # work between chunks (no timeout scope spans a yield)
                        async with asyncio.timeout_at(deadline):
                            chunk = await anext(stream)
                    except StopAsyncIteration:
                        break
                    except TimeoutError:
                        raise backend.total_timeout_error() from None
                    yield chunk
            return
        except BackendError as error:
            delay = policy.delay(attempt, error)
            if delay is None:
                raise
            if on_retry is not None:
                on_retry(attempt, delay, error)
            await asyncio.sleep(delay)
            attempt += 1
