"""``Client(session=requests.Session())``: every call sent through a requests session of the
caller's, so what the session does to a request applies as requests applies it: its
``proxies`` (and the proxy variables of the environment while ``trust_env``), ``headers``
(under the client's own: ``Authorization``, ``Content-Type``, ``Accept``, ``User-Agent``),
``verify``, ``cert``, ``auth`` (which then replaces the API key's ``Authorization``), cookies,
hooks and mounted adapters (e.g. their retries).

It is an httpx transport, so the client's retries, timeouts (connect and read), logs and
streaming are unchanged: a response's body is read as it arrives (SSE too) and decoded by
httpx. Redirects are not followed (nor are they by the client otherwise). WebSockets
(``tasks.websocket``) do not go through the session. ``requests`` is not a dependency of
massgen: this module imports it only when a session is given.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx

#: Headers requests sets itself from the URL and the body.
_OWN_HEADERS = {"host", "content-length", "transfer-encoding"}


def transport_error(exc: Exception, request: httpx.Request) -> httpx.TransportError:
    """The httpx error of a requests (or urllib3) failure, so the client retries and reports
    it as it does its own."""
    from requests import exceptions as failed

    message = str(exc) or type(exc).__name__
    cause = exc.args[0] if exc.args else None
    kind: type[httpx.TransportError] = httpx.ReadError  # broke after the request went out
    if isinstance(exc, failed.ConnectTimeout):
        kind = httpx.ConnectTimeout
    elif isinstance(exc, failed.ProxyError):
        kind = httpx.ProxyError
    elif isinstance(exc, failed.ReadTimeout) or "read timed out" in message.lower():
        kind = httpx.ReadTimeout
    elif isinstance(exc, failed.ConnectionError) and type(cause).__name__ != "ProtocolError":
        kind = httpx.ConnectError  # never made (urllib3's ProtocolError: it was, then broke)
    return kind(message, request=request)


class SessionBody(httpx.SyncByteStream):
    """A requests response's body, as its bytes arrive (not yet decoded: httpx decodes)."""

    def __init__(self, response: Any, request: httpx.Request) -> None:
        self.response, self.request = response, request

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self.response.raw.stream(65536, decode_content=False)
        except Exception as exc:
            raise transport_error(exc, self.request) from exc

    def close(self) -> None:
        self.response.close()


class SessionTransport(httpx.BaseTransport):
    """An httpx transport that sends each request with ``session.request`` (see module).
    Closing it leaves the session open: it is the caller's."""

    def __init__(self, session: Any) -> None:
        if not callable(getattr(session, "request", None)):
            raise TypeError("session: expected a requests.Session (or an object like one)")
        self.session = session

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        from requests import exceptions as failed

        timeout = request.extensions.get("timeout") or {}
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _OWN_HEADERS}
        body = request.read()
        try:
            response = self.session.request(
                request.method,
                str(request.url),
                headers=headers,
                data=body or None,
                timeout=(timeout.get("connect"), timeout.get("read")),
                allow_redirects=False,
                stream=True,
            )
        except failed.RequestException as exc:
            raise transport_error(exc, request) from exc
        raw_headers = getattr(response.raw, "headers", None) or response.headers
        return httpx.Response(
            response.status_code,
            headers=list(raw_headers.items()),
            stream=SessionBody(response, request),
            request=request,
        )
