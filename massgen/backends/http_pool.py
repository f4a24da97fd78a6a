"""HTTP clients kept warm between the runs of a process, per endpoint origin.

Backends that speak HTTP themselves (the OpenAI protocols, :mod:`.openai_http`) take a
client here instead of building their own, and give it back when they close: the next run's
agents (the server's next request, a second ``massgen.run``) then start on connections
already open, with no new TCP or TLS handshake before their first model call.

Each client serves one backend at a time. One client shared by every agent of a busy server
would put hundreds of streams in one connection pool, and httpcore's pool does work
quadratic in the requests it holds (a burst of 32 runs took 4x the CPU). A returned client
waits :data:`LINGER_SECONDS` for a next backend, then closes; a loop shutting down
(``asyncio.run`` cancels what is pending) closes it at once. Clients belong to one event loop
(their connections do), so the idle ones are kept per loop. See docs/architecture.md,
"Backends".
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl
from urllib.parse import urlsplit
from weakref import WeakKeyDictionary

import httpx

from massgen.backends.http_client import shared_ssl_context

#: How long a returned client waits for a next backend before it closes.
LINGER_SECONDS = 10.0
#: Idle connections are kept this long: under the 5 s after which common servers (uvicorn,
#: so vLLM and SGLang) close them, so that a request seldom meets a connection being closed
#: (:mod:`.openai_http` sends once more when one does).
KEEPALIVE_SECONDS = 4.0
#: At most this many returned clients wait per endpoint; more are closed at once.
MAX_IDLE = 64

#: Per loop, per origin: the returned clients, each with the task that will close it.
_IDLE: WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[str, dict[httpx.AsyncClient, asyncio.Task[None]]]
] = WeakKeyDictionary()


#: Clients being closed (held so their tasks are not collected mid-way).
_CLOSING: set[asyncio.Task[None]] = set()


def origin_of(url: str) -> str:
    """``scheme://host:port`` of ``url``: what one client's connections can serve."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


@functools.cache
def _plain_context() -> ssl.SSLContext:
    """The TLS context of clients that only ever speak plain HTTP: never used, but httpx wants
    one, and building its own costs ~1 ms a client (a server's burst makes ~100)."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def _new_client(origin: str) -> httpx.AsyncClient:
    # a plain-HTTP origin never loads the CA bundle (tens of ms on the way to a first request)
    verify = shared_ssl_context() if origin.startswith("https:") else _plain_context()
    # no cap on connections: backend.parallel_requests and gate.py bound them where asked
    limits = httpx.Limits(max_connections=None, keepalive_expiry=KEEPALIVE_SECONDS)
    return httpx.AsyncClient(verify=verify, limits=limits, timeout=None)


def lease(url: str) -> httpx.AsyncClient:
    """A client for ``url``'s origin, a warm one if a backend gave one back; return it with
    :func:`release`."""
    idle = _IDLE.setdefault(asyncio.get_running_loop(), {}).setdefault(origin_of(url), {})
    while idle:
        client, closer = idle.popitem()
        closer.cancel()  # taken again: stays open
        if not client.is_closed:
            return client
    return _new_client(origin_of(url))


def release(client: httpx.AsyncClient, url: str) -> None:
    """Give back a client leased for ``url``: it waits for a next backend, then closes."""
    if client.is_closed:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # no loop runs: nothing can close it now but the loop's own end
        return
    idle = _IDLE.setdefault(loop, {}).setdefault(origin_of(url), {})
    if len(idle) >= MAX_IDLE:
        closing = loop.create_task(client.aclose())
        _CLOSING.add(closing)
        closing.add_done_callback(_CLOSING.discard)
        return
    idle[client] = loop.create_task(_linger(idle, client))


async def _linger(idle: dict[httpx.AsyncClient, asyncio.Task[None]], client: httpx.AsyncClient):
    taken = False
    try:
        await asyncio.sleep(LINGER_SECONDS)
    except asyncio.CancelledError:
        # lease() cancels the closer of a client it takes; any other cancel is the loop
        # shutting down
        taken = client not in idle
        if not taken:
            raise
    finally:
        if not taken:
            idle.pop(client, None)
            with contextlib.suppress(Exception):
                await asyncio.shield(client.aclose())


def idle_clients() -> int:
    """How many returned clients the running loop keeps open (for tests and diagnostics)."""
    pools = _IDLE.get(asyncio.get_running_loop(), {})
    return sum(1 for idle in pools.values() for client in idle if not client.is_closed)
