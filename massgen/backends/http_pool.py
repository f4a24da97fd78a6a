"""One HTTP client per endpoint origin, shared by every backend of the running event loop.

Backends that speak HTTP themselves (the OpenAI wire protocol, :mod:`.openai_wire`) lease a
client here instead of building their own, so the agents of a run share connections, and a
run that follows another (the server's next request, the app's next question, a second
``massgen.run``) reuses them: no new TCP or TLS handshake before its first model call.

A client belongs to one event loop (its connections do), so the pool is per loop. When its
last lease is returned a client lingers :data:`LINGER_SECONDS`, then closes; a loop shutting
down (``asyncio.run`` cancels what is pending) closes it at once. See docs/architecture.md,
"Backends".
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from urllib.parse import urlsplit
from weakref import WeakKeyDictionary

import httpx

from massgen.backends.http_client import shared_ssl_context

#: How long a client no backend holds stays open for the next run.
LINGER_SECONDS = 10.0
#: Idle connections are kept this long: under the 5 s after which common servers (uvicorn,
#: so vLLM and SGLang) close them, so that a request seldom meets a connection being closed
#: (:mod:`.openai_http` sends once more when one does).
KEEPALIVE_SECONDS = 4.0


@dataclass
class _Entry:
    client: httpx.AsyncClient
    leases: int = 0
    closer: asyncio.Task[None] | None = field(default=None, repr=False)


_POOLS: WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Entry]] = WeakKeyDictionary()


def origin_of(url: str) -> str:
    """``scheme://host:port`` of ``url``: what one client's connections can serve."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _new_client(origin: str) -> httpx.AsyncClient:
    # a plain-HTTP origin never loads the CA bundle (tens of ms on the way to a first request)
    verify = shared_ssl_context() if origin.startswith("https:") else False
    # no cap on connections (a server's burst may hold hundreds of calls to one provider;
    # backend.parallel_requests and gate.py bound them where a config asks), a generous one
    # on those kept idle for the next calls
    limits = httpx.Limits(
        max_connections=None, max_keepalive_connections=128, keepalive_expiry=KEEPALIVE_SECONDS
    )
    return httpx.AsyncClient(verify=verify, limits=limits, timeout=None)


def lease(url: str) -> httpx.AsyncClient:
    """The running loop's client for ``url``'s origin; give it back with :func:`release`."""
    pool = _POOLS.setdefault(asyncio.get_running_loop(), {})
    origin = origin_of(url)
    entry = pool.get(origin)
    if entry is None or entry.client.is_closed:
        entry = pool[origin] = _Entry(_new_client(origin))
    if entry.closer is not None:
        entry.closer.cancel()  # in use again: stays open
        entry.closer = None
    entry.leases += 1
    return entry.client


def release(client: httpx.AsyncClient) -> None:
    """Return a leased client; the last return starts its linger."""
    try:
        pool = _POOLS.get(asyncio.get_running_loop(), {})
    except RuntimeError:  # no loop runs: nothing can close it now but the loop's own end
        return
    for origin, entry in pool.items():
        if entry.client is client:
            entry.leases = max(0, entry.leases - 1)
            if entry.leases == 0 and entry.closer is None:
                entry.closer = asyncio.create_task(_linger(pool, origin, entry))
            return


async def _linger(pool: dict[str, _Entry], origin: str, entry: _Entry) -> None:
    reused = False
    try:
        await asyncio.sleep(LINGER_SECONDS)
    except asyncio.CancelledError:
        # lease() cancels a closer it replaces; any other cancel is the loop shutting down
        reused = entry.closer is not asyncio.current_task()
        if not reused:
            raise
    finally:
        if not reused:
            if pool.get(origin) is entry:
                del pool[origin]
            with contextlib.suppress(Exception):
                await asyncio.shield(entry.client.aclose())


def open_clients() -> int:
    """How many pooled clients the running loop holds open (for tests and diagnostics)."""
    pool = _POOLS.get(asyncio.get_running_loop(), {})
    return sum(1 for entry in pool.values() if not entry.client.is_closed)
