"""The synchronous client: :class:`Client` sends each call with retries (see
:mod:`massgen.client.transport`) and exposes the resources of
:mod:`massgen.client.resources`; :class:`Stream` iterates a streamed completion."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

import httpx
from pydantic import BaseModel

from massgen.client import resources
from massgen.client.breaker import CircuitBreaker
from massgen.client.calls import chunk_data, usage_stats
from massgen.client.debates import Debates, Ensemble
from massgen.client.embeddings import Embeddings
from massgen.client.exceptions import MassGenClientError
from massgen.client.mcp import MCP
from massgen.client.observe import Metrics, Observation, Observer, usage_of
from massgen.client.session_transport import SessionTransport
from massgen.client.transport import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    RETRY_STATUSES,
    Call,
    EventLog,
    SSEDecoder,
    base_url_from,
    headers_for,
    network_error,
    response_error,
    retry_delay,
    retryable_error,
)
from massgen.client.types import UsageStats
from massgen.client.vision import Vision

M = TypeVar("M", bound=BaseModel)


class Stream(Generic[M]):
    """The chunks of a streamed completion, as they arrive; closes its connection when
    iterated to the end, on ``break`` inside ``with``, or on :meth:`close`."""

    def __init__(self, response: httpx.Response, model: type[M], call: Call) -> None:
        self.response, self.model, self.call = response, model, call

    def __iter__(self) -> Iterator[M]:
        decoder = SSEDecoder()
        try:
            for line in self.response.iter_lines():
                message = decoder.feed(line)
                if message is None or not message.data:
                    continue
                data = chunk_data(message.data)
                if data is None:
                    return
                yield self.model.model_validate(data)
        except httpx.TransportError as exc:
            raise network_error(self.call, exc) from exc
        finally:
            self.close()

    def close(self) -> None:
        self.response.close()

    def __enter__(self) -> Stream[M]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Client:
    """A client of ``massgen serve``.

    ``api_key`` (default ``$MASSGEN_API_KEY``) is sent as a bearer token; ``base_url``
    defaults to ``$MASSGEN_BASE_URL``, else ``http://localhost:4000``. ``timeout`` bounds each
    request (seconds or an ``httpx.Timeout``). ``max_retries``: calls refused with 429 or 503
    are tried again after the server's ``Retry-After`` (else exponential backoff), as are
    connection failures (any call whose connection was never made; idempotent calls whose
    connection broke). ``http_client``: an ``httpx.Client`` of your own (proxies, TLS); it is
    not closed by :meth:`close`. ``session``: a ``requests.Session`` (or one like it) that
    sends every call instead, its proxies, headers, TLS settings and auth applied as requests
    applies them (:mod:`massgen.client.session_transport`); not closed either. ``logger``:
    a ``logging.Logger`` or structlog-style logger for ``api_request`` / ``api_response`` /
    ``api_retry`` events (default: the ``massgen.client`` logger at DEBUG); the API key is
    never logged. ``tracer``: an
    OpenTelemetry tracer, for a client span per call (retries as its events).
    ``enable_metrics``: Prometheus counters and a histogram per method, named
    ``<metrics_prefix>_...`` in ``metrics_registry`` (default: prometheus_client's).
    ``circuit_breaker``: a :class:`~massgen.client.breaker.CircuitBreaker` of this client's
    own, which fails calls at once while the server keeps failing. ``token``: a JWT the
    server verifies (``massgen serve --jwt-*``), sent as the bearer token instead of
    ``api_key``."""

    def __init__(
        self,
        api_key: str | None = None,
        *,
        token: str | None = None,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        http_client: httpx.Client | None = None,
        session: Any = None,
        logger: Any = None,
        default_headers: dict[str, str] | None = None,
        tracer: Any = None,
        enable_metrics: bool = False,
        metrics_prefix: str = "massgen_client",
        metrics_registry: Any = None,
        circuit_breaker: CircuitBreaker | None = None,
    ) -> None:
        import os

        self.api_key = api_key if api_key is not None else os.environ.get("MASSGEN_API_KEY")
        self.base_url = base_url_from(base_url)
        self.timeout = timeout if timeout is not None else DEFAULT_TIMEOUT
        self.max_retries = max(0, int(max_retries))
        self.log = EventLog(logger)
        metrics = Metrics.shared(metrics_prefix, metrics_registry) if enable_metrics else None
        self.observer = Observer(tracer, metrics)
        self.breaker = circuit_breaker
        self.token = token
        self.headers = headers_for(token or self.api_key, default_headers)
        if session is not None and http_client is not None:
            raise ValueError("give http_client or session, not both")
        self.owns_http = http_client is None
        if http_client is not None:
            self.http = http_client
        elif session is not None:  # the session stays open: it is the caller's
            self.http = httpx.Client(transport=SessionTransport(session))
        else:
            self.http = httpx.Client()

    # ------------------------------------------------------------------ resources
    @functools.cached_property
    def chat(self) -> resources.Chat:
        return resources.Chat(self)

    @functools.cached_property
    def completions(self) -> resources.Completions:
        return resources.Completions(self)

    @functools.cached_property
    def tasks(self) -> resources.Tasks:
        return resources.Tasks(self)

    @functools.cached_property
    def webhooks(self) -> resources.Webhooks:
        return resources.Webhooks(self)

    @functools.cached_property
    def providers(self) -> resources.Providers:
        return resources.Providers(self)

    @functools.cached_property
    def vision(self) -> Vision:
        return Vision(self)

    @functools.cached_property
    def embeddings(self) -> Embeddings:
        return Embeddings(self)

    @functools.cached_property
    def mcp(self) -> MCP:
        """The MCP servers of the server's config."""
        return MCP(self)

    @functools.cached_property
    def debates(self) -> Debates:
        return Debates(self)

    @functools.cached_property
    def ensemble(self) -> Ensemble:
        return Ensemble(self)

    @functools.cached_property
    def models(self) -> resources.Models:
        return resources.Models(self)

    def __repr__(self) -> str:
        return f"Client(base_url={self.base_url!r})"

    # ------------------------------------------------------------------ sending

    def send(self, call: Call) -> httpx.Response:
        """The response to ``call`` (2xx), after retries; an error status is raised as its
        :mod:`~massgen.client.exceptions` class. A streamed call's response is left open."""
        if self.breaker is not None:
            self.breaker.before(call.name)
        observation = self.observer.begin(call)
        attempt = 0
        while True:
            self.log.request(call, attempt)
            started = time.monotonic()
            request = self.http.build_request(
                call.method,
                self.base_url + call.path,
                json=call.json,
                params=call.params,
                headers={**self.headers, **call.headers},
                timeout=self.timeout,
            )
            try:
                response = self.http.send(request, stream=call.stream)
            except httpx.TransportError as exc:
                if attempt < self.max_retries and retryable_error(call, exc):
                    delay, reason = retry_delay(attempt, None) or 0.0, type(exc).__name__
                    observation.retry(attempt + 1, delay, reason)
                    self.wait(call, attempt, delay, reason)
                    attempt += 1
                    continue
                failure = network_error(call, exc)
                self.ended(observation, None, error=failure)
                raise failure from exc
            self.log.response(call, response, started, time.monotonic())
            if response.is_success:
                self.ended(
                    observation, response.status_code, None if call.stream else usage_of(response)
                )
                return response
            if call.stream:
                response.read()
                response.close()
            error = response_error(response)
            if response.status_code in RETRY_STATUSES and attempt < self.max_retries:
                asked = retry_delay(attempt, response)
                if asked is not None:
                    delay = asked
                    observation.retry(attempt + 1, delay, f"HTTP {response.status_code}")
                    self.wait(call, attempt, delay, f"HTTP {response.status_code}")
                    attempt += 1
                    continue
            self.ended(observation, response.status_code, error=error)
            raise error

    def ended(
        self,
        observation: Observation,
        status: int | None,
        usage: Any = None,
        error: MassGenClientError | None = None,
    ) -> None:
        """A call's outcome, to its observation and the circuit breaker."""
        observation.end(status, usage, error)
        if self.breaker is not None:
            self.breaker.record(error)

    def wait(self, call: Call, attempt: int, delay: float, reason: str) -> None:
        self.log.retry(call, attempt + 1, delay, reason)
        time.sleep(delay)

    def fetch(self, call: Call, model: type[M]) -> M:
        """``call``'s JSON answer as ``model``."""
        return model.model_validate(self.send(call).json())

    def stream(self, call: Call, model: type[M]) -> Stream[M]:
        return Stream(self.send(call), model, call)

    # ------------------------------------------------------------------ the server's state

    def get_usage_stats(self) -> UsageStats:
        """The server's runs, tokens and cost since it started, over every caller (its
        ``/metrics``)."""
        call = Call("get_usage_stats", "GET", "/metrics", headers={"Accept": "text/plain"})
        return usage_stats((self.send(call)).text)

    def enable_logging(self, level: int = logging.DEBUG) -> None:
        """Show this client's ``api_request`` / ``api_response`` events: its logger (a
        ``logging.Logger``) at ``level``, writing to stderr if it has no handler."""
        if isinstance(self.log.logger, logging.Logger):
            if not self.log.logger.handlers:
                handler = logging.StreamHandler()
                handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
                self.log.logger.addHandler(handler)
            self.log.logger.setLevel(level)

    # ------------------------------------------------------------------ lifetime

    def close(self) -> None:
        if self.owns_http:
            self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
