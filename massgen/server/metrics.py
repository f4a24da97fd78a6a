"""Prometheus metrics (``GET /metrics``), counted from the runs' events and the HTTP layer.

Each app has its own registry. With ``--workers N`` the processes share their counters
through prometheus_client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, set by
``massgen serve``), so any worker's ``/metrics`` shows the whole server. Labels carry only
names the operator chose or bounded values (route templates, statuses, strategies, the
config's providers and models), never request text or secrets.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily

#: Distinct values a free-form label (a model name) may take; later ones count as "other".
MAX_LABEL_VALUES = 50
DURATION_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800)


class _Bounded:
    """Maps label values to themselves until ``limit`` distinct ones were seen."""

    def __init__(self, limit: int = MAX_LABEL_VALUES) -> None:
        self.limit, self.seen = limit, set[str]()

    def __call__(self, value: Any) -> str:
        text = str(value or "unknown")[:100]
        if text in self.seen:
            return text
        if len(self.seen) >= self.limit:
            return "other"
        self.seen.add(text)
        return text


class _TaskCollector:
    """``massgen_tasks{status}`` from the store at scrape time (cached for a second)."""

    def __init__(self, counts: Callable[[], dict[str, int]]) -> None:
        self.counts = counts
        self.cached: dict[str, int] = {}
        self.at = 0.0

    def describe(self) -> Any:  # without querying the store
        yield GaugeMetricFamily("massgen_tasks", "Tasks in the store by status", labels=["status"])

    def collect(self) -> Any:
        family = GaugeMetricFamily(
            "massgen_tasks", "Tasks in the store by status", labels=["status"]
        )
        if time.monotonic() - self.at > 1.0:
            with contextlib.suppress(Exception):  # the database is down: last counts
                self.cached, self.at = self.counts(), time.monotonic()
        for status, n in self.cached.items():
            family.add_metric([status], n)
        yield family


class Metrics:
    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "massgen_http_requests", "HTTP requests", ["route", "method", "status"], registry=r
        )
        self.runs = Counter("massgen_runs", "Runs finished", ["strategy", "status"], registry=r)
        self.run_duration = Histogram(
            "massgen_run_duration_seconds",
            "Run wall time",
            ["strategy"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.active = Gauge(
            "massgen_runs_active", "Runs in progress", registry=r, multiprocess_mode="livesum"
        )
        labels = ["provider", "model"]
        self.model_calls = Counter("massgen_model_calls", "Model calls", labels, registry=r)
        self.tokens = Counter(
            "massgen_tokens", "Tokens by provider and model", [*labels, "kind"], registry=r
        )
        self.cost = Counter("massgen_cost_usd", "Cost in US dollars", labels, registry=r)
        self.retries = Counter("massgen_model_retries", "Model calls retried", labels, registry=r)
        self.tasks_submitted = Counter("massgen_tasks_submitted", "Tasks submitted", registry=r)
        self.deliveries = Counter(
            "massgen_webhook_deliveries",
            "Webhook delivery attempts by outcome",
            ["outcome"],
            registry=r,
        )
        self.model_label = _Bounded()
        self._task_collector: _TaskCollector | None = None

    def watch_tasks(self, counts: Callable[[], dict[str, int]]) -> None:
        if self._task_collector is None:
            self._task_collector = _TaskCollector(counts)
            if not self.multiprocess:
                self.registry.register(self._task_collector)

    def render(self) -> tuple[bytes, str]:
        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            if self._task_collector is not None:
                registry.register(self._task_collector)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def listener(self) -> RunCounter:
        """A bus listener counting one run's events."""
        return RunCounter(self)


class RunCounter:
    """Counts one run's events into :class:`Metrics` (a bus listener: call it with each
    event); :meth:`close` when the run ends, with or without ``run_finished``."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.agents: dict[str, tuple[str, str]] = {}
        self.strategy = "unknown"
        self.started: float | None = None

    def __call__(self, event: Any) -> None:
        metrics, kind = self.metrics, event.type
        if kind == "run_started":
            self.strategy = str(event.strategy or "unknown")[:40]
            self.started = time.monotonic()
            for agent in event.agents or []:
                self.agents[str(agent.get("id"))] = (
                    str(agent.get("backend") or "unknown")[:40],
                    metrics.model_label(agent.get("model")),
                )
            metrics.active.inc()
        elif kind == "usage":
            provider, model = self.agents.get(str(event.agent_id), ("unknown", "unknown"))
            metrics.model_calls.labels(provider, model).inc()
            metrics.tokens.labels(provider, model, "prompt").inc(event.prompt_tokens or 0)
            metrics.tokens.labels(provider, model, "completion").inc(event.completion_tokens or 0)
            if event.cost_usd:
                metrics.cost.labels(provider, model).inc(event.cost_usd)
        elif kind == "stream_retry":
            provider, model = self.agents.get(str(event.agent_id), ("unknown", "unknown"))
            metrics.retries.labels(provider, model).inc()
        elif kind == "run_finished":
            metrics.runs.labels(self.strategy, str(event.status)[:20]).inc()
            metrics.run_duration.labels(self.strategy).observe(float(event.duration_s or 0))
            self.close()

    def close(self) -> None:
        """The run ended (a cancelled one without ``run_finished``): it is no longer active."""
        if self.started is not None:
            self.metrics.active.dec()
            self.started = None
