"""uvicorn's HTTP/1.1 protocol with the two bounds it lacks: the time a client may take to
send a request's headers, and the number of open connections.

Without them a slow client ("slowloris": headers at one byte a second) holds a connection for
ever, and a few hundred such clients exhaust the process's file descriptors, so ``/health``
times out for everybody. Here a connection that has not finished its headers within
``request_timeout`` seconds (of opening, or of its previous response) is answered 408 and
closed; and when ``max_connections`` are open, a new connection evicts the one that has
waited longest for its headers (a slow client, never a request being served), or is closed
when every open connection is busy with a request.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from massgen.server.options import DEFAULT_REQUEST_TIMEOUT

log = logging.getLogger("massgen.server")

_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
)
DEFAULT_MAX_CONNECTIONS = 512


def default_max_connections() -> int:
    """:data:`DEFAULT_MAX_CONNECTIONS`, lowered to leave file descriptors for the runs'
    own sockets and files when the process's limit is small."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return DEFAULT_MAX_CONNECTIONS
    return max(16, min(DEFAULT_MAX_CONNECTIONS, soft // 4))


class GuardedH11Protocol(H11Protocol):
    """A uvicorn H11 protocol bounded in header time and connection count (see module)."""

    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    max_connections: int = DEFAULT_MAX_CONNECTIONS

    #: loop time since which this connection waits for a request's headers (None: serving)
    waiting_since: float | None = None
    _header_timer: asyncio.TimerHandle | None = None
    _served: Any = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._wait_for_headers()
        if len(self.connections) > self.max_connections:
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not None and self.cycle is not self._served:
            self._served = self.cycle  # a request's headers are complete: it is served
            self._stop_waiting()

    def handle_websocket_upgrade(self, event: Any) -> None:
        self._stop_waiting()  # the socket's protocol takes the connection over
        super().handle_websocket_upgrade(event)

    def on_response_complete(self) -> None:
        served = self._served
        super().on_response_complete()  # may start a pipelined request at once
        if not self.transport.is_closing() and self._served is served:
            self._wait_for_headers()  # keep-alive: the next request has the same bound

    # ------------------------------------------------------------------ internals

    def _wait_for_headers(self) -> None:
        self._stop_waiting()
        self.waiting_since = self.loop.time()
        self._header_timer = self.loop.call_later(self.request_timeout, self._headers_late)

    def _stop_waiting(self) -> None:
        self.waiting_since = None
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.waiting_since is not None and not self.transport.is_closing():
            self.drop(_TIMEOUT_RESPONSE)

    def _make_room(self) -> None:
        waiting = [
            c
            for c in self.connections
            if isinstance(c, GuardedH11Protocol)
            and c.waiting_since is not None
            and not c.transport.is_closing()
        ]
        oldest = min(waiting, key=lambda c: c.waiting_since or 0.0, default=None)
        if oldest is None:  # every connection is busy with a request: refuse this one
            oldest = self
        _warn_evicted(self.loop.time(), self.max_connections)
        oldest.drop(b"")

    def drop(self, response: bytes) -> None:
        """Close this connection now, after writing ``response`` (if any)."""
        self._stop_waiting()
        if response:
            self.transport.write(response)
        self.transport.close()
        self.connections.discard(self)


@dataclass
class _Evictions:
    """Connections closed for room since the last warning, and when that was."""

    count: int = 0
    warned_at: float | None = None


_evictions = _Evictions()

#: At most one warning about the connection limit per this many seconds.
WARN_EVERY = 10.0


def _warn_evicted(now: float, limit: int) -> None:
    _evictions.count += 1
    warned_at = _evictions.warned_at
    if warned_at is None or now - warned_at >= WARN_EVERY:
        log.warning(
            "massgen: the connection limit (%d) was reached: closed %d connection(s) that had "
            "not sent a request",
            limit,
            _evictions.count,
        )
        _evictions.count, _evictions.warned_at = 0, now


def accept_backlog(max_connections: int) -> int:
    """The listen backlog, which asyncio also uses as the number of connections it accepts
    in one go: kept small next to ``max_connections``, so a burst of connections cannot use
    up the descriptors before the evicted ones are closed."""
    return max(8, min(2048, max_connections // 4))


def guarded_protocol(request_timeout: float, max_connections: int) -> type[GuardedH11Protocol]:
    """A :class:`GuardedH11Protocol` subclass with these bounds, for ``uvicorn.run(http=...)``."""
    return type(
        "MassGenH11Protocol",
        (GuardedH11Protocol,),
        {"request_timeout": float(request_timeout), "max_connections": int(max_connections)},
    )
