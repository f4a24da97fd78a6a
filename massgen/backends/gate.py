"""How many requests may be in flight to one endpoint at once.

Self-hosted servers often run one generation at a time. Some queue the others; some (the
llama.cpp server of llama-cpp-python, by default) *interrupt* the running request when another
arrives, so agents sharing one server keep cutting each other off. ``backend.
parallel_requests`` sets the limit for an endpoint; and when a self-hosted endpoint cuts a
stream off while other requests to it were in flight, it is limited to one request at a
time from then on (for the rest of the process), with one log line saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from weakref import WeakKeyDictionary

log = logging.getLogger("massgen")

#: Endpoints found to interrupt concurrent requests: served one at a time from then on.
_SERIAL: set[str] = set()
_IN_FLIGHT: dict[str, int] = {}
#: One semaphore per (event loop, endpoint): asyncio primitives belong to one loop.
_GATES: WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, int], asyncio.Semaphore]]
_GATES = WeakKeyDictionary()


def limit_for(endpoint: str, configured: int | None) -> int | None:
    if configured is not None:
        return configured
    return 1 if endpoint in _SERIAL else None


@contextlib.asynccontextmanager
async def request_slot(endpoint: str, configured: int | None) -> AsyncIterator[None]:
    """Hold a place among the requests in flight to ``endpoint`` for one request."""
    limit = limit_for(endpoint, configured)
    semaphore = None
    if limit is not None:
        gates = _GATES.setdefault(asyncio.get_running_loop(), {})
        semaphore = gates.setdefault((endpoint, limit), asyncio.Semaphore(limit))
        await semaphore.acquire()
    _IN_FLIGHT[endpoint] = _IN_FLIGHT.get(endpoint, 0) + 1
    try:
        yield
    finally:
        _IN_FLIGHT[endpoint] -= 1
        if semaphore is not None:
            semaphore.release()


def concurrent(endpoint: str) -> bool:
    """Whether another request to ``endpoint`` is in flight besides the caller's."""
    return _IN_FLIGHT.get(endpoint, 0) > 1


def serialize(endpoint: str) -> None:
    """Serve ``endpoint`` one request at a time from now on."""
    if endpoint not in _SERIAL:
        _SERIAL.add(endpoint)
        log.warning(
            "massgen: %s cut a stream off while serving another request; sending it one "
            "request at a time from now on (set backend.parallel_requests to choose)",
            endpoint,
        )
