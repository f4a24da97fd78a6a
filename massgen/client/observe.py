"""What the client reports about each call besides its log: an OpenTelemetry span (when given
a ``tracer``) and Prometheus metrics (with ``enable_metrics``). Neither library is imported
unless asked for: a tracer brings its own, metrics import ``prometheus_client`` then."""

from __future__ import annotations

import threading
import time
from typing import Any

from massgen.client.transport import Call

#: One set of metrics per (registry, prefix): a second client with the same prefix shares
#: them (prometheus_client refuses a name registered twice).
_SHARED: dict[tuple[int, str], Metrics] = {}
_LOCK = threading.Lock()


class Metrics:
    """``<prefix>_requests_total{method, status}`` (status: success or error),
    ``<prefix>_request_duration_seconds{method}`` and ``<prefix>_tokens_used_total{type}``
    (input, output: from non-streamed answers' usage)."""

    def __init__(self, prefix: str, registry: Any = None) -> None:
        from prometheus_client import REGISTRY, Counter, Histogram

        registry = registry if registry is not None else REGISTRY
        self.requests = Counter(
            f"{prefix}_requests_total",
            "massgen client calls by SDK method and outcome",
            ["method", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            f"{prefix}_request_duration_seconds",
            "massgen client call duration (retries included)",
            ["method"],
            registry=registry,
        )
        self.tokens = Counter(
            f"{prefix}_tokens_used_total",
            "tokens of the answers received (non-streamed calls)",
            ["type"],
            registry=registry,
        )

    @classmethod
    def shared(cls, prefix: str, registry: Any = None) -> Metrics:
        with _LOCK:
            key = (id(registry), prefix)
            if key not in _SHARED:
                _SHARED[key] = cls(prefix, registry)
            return _SHARED[key]


class Observation:
    """One call being observed: :meth:`retry` for each retry, :meth:`end` once."""

    def __init__(self, call: Call, tracer: Any, metrics: Metrics | None) -> None:
        self.call, self.metrics = call, metrics
        self.started = time.monotonic()
        self.span: Any = None
        if tracer is not None:
            from opentelemetry.trace import SpanKind

            model = (call.json or {}).get("model")
            attributes = {
                "massgen.client.method": call.name,
                "http.request.method": call.method,
                "url.path": call.path,
            }
            if isinstance(model, str):
                attributes["gen_ai.request.model"] = model
            self.span = tracer.start_span(
                f"massgen.client {call.name}", kind=SpanKind.CLIENT, attributes=attributes
            )

    def retry(self, attempt: int, delay: float, reason: str) -> None:
        if self.span is not None:
            self.span.add_event(
                "retry", {"attempt": attempt, "delay_s": round(delay, 3), "reason": reason}
            )

    def end(
        self, status: int | None, usage: Any = None, error: BaseException | None = None
    ) -> None:
        failed = error is not None or status is None or status >= 400
        if self.metrics is not None:
            method = self.call.name
            self.metrics.requests.labels(method, "error" if failed else "success").inc()
            self.metrics.duration.labels(method).observe(time.monotonic() - self.started)
            if isinstance(usage, dict):
                for kind, field in (("input", "prompt_tokens"), ("output", "completion_tokens")):
                    if isinstance(usage.get(field), int):
                        self.metrics.tokens.labels(kind).inc(usage[field])
        if self.span is None:
            return
        if status is not None:
            self.span.set_attribute("http.response.status_code", status)
        if isinstance(usage, dict) and isinstance(usage.get("total_tokens"), int):
            self.span.set_attribute("gen_ai.usage.total_tokens", usage["total_tokens"])
        if failed:
            from opentelemetry.trace import Status, StatusCode

            if error is not None:
                self.span.record_exception(error)
                self.span.set_attribute("error.type", type(error).__name__)
            self.span.set_status(Status(StatusCode.ERROR))
        self.span.end()


class Observer:
    """The client's tracer and metrics (either may be off)."""

    def __init__(self, tracer: Any = None, metrics: Metrics | None = None) -> None:
        self.tracer, self.metrics = tracer, metrics

    def begin(self, call: Call) -> Observation:
        return Observation(call, self.tracer, self.metrics)


def usage_of(response: Any) -> Any:
    """The ``usage`` of a read, non-streamed JSON answer, else None."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("usage") if isinstance(body, dict) else None
