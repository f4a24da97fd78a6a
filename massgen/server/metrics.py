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
        self.counts, self.cached, self.at = counts, {}, 0.0

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
            multiprocess.MultiProcessCollector(registry)
            if self._task_collector is not None:
                registry.register(self._task_collector)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def listener(self) -> Callable[[Any], None]:
        """A bus listener counting one run's events."""
        agents: dict[str, tuple[str, str]] = {}
        state = {"strategy": "unknown", "started": None}

        def on_event(event: Any) -> None:
            kind = event.type
            if kind == "run_started":
                state["strategy"] = str(event.strategy or "unknown")[:40]
                state["started"] = time.monotonic()
                for agent in event.agents or []:
                    agents[str(agent.get("id"))] = (
                        str(agent.get("backend") or "unknown")[:40],
                        self.model_label(agent.get("model")),
                    )
                self.active.inc()
            elif kind == "usage":
                provider, model = agents.get(str(event.agent_id), ("unknown", "unknown"))
                self.model_calls.labels(provider, model).inc()
                self.tokens.labels(provider, model, "prompt").inc(event.prompt_tokens or 0)
                self.tokens.labels(provider, model, "completion").inc(event.completion_tokens or 0)
                if event.cost_usd:
                    self.cost.labels(provider, model).inc(event.cost_usd)
            elif kind == "stream_retry":
                provider, model = agents.get(str(event.agent_id), ("unknown", "unknown"))
                self.retries.labels(provider, model).inc()
            elif kind == "run_finished":
                strategy = state["strategy"]
                self.runs.labels(strategy, str(event.status)[:20]).inc()
                self.run_duration.labels(strategy).observe(float(event.duration_s or 0))
                if state["started"] is not None:
                    self.active.dec()
                    state["started"] = None

        def close() -> None:  # the run ended without run_finished (cancelled)
            if state["started"] is not None:
                self.active.dec()
                state["started"] = None

        on_event.close = close  # type: ignore[attr-defined]
        return on_event
