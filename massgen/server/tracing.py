"""OpenTelemetry traces of the runs, derived from their events (the engine knows nothing of
tracing): a span per run, and under it per agent turn, and under a turn per model call and
tool call, with token and cost attributes. Times are the events' own timestamps.

Optional (``pip install 'massgen[otel]'``). :func:`provider_from_env` builds a tracer
provider from the standard variables: ``OTEL_TRACES_EXPORTER`` (``otlp``, the default when
``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set;
``console``; ``none``), ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES`` and the OTLP
exporter's own ``OTEL_EXPORTER_OTLP_*`` settings; ``OTEL_SDK_DISABLED=true`` turns it off.
"""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger("massgen.server")

#: Events that end the turn of the agent they name.
_TURN_ENDS = frozenset({"answer_submitted", "vote_cast", "agent_cancelled", "agent_failed"})


def provider_from_env() -> Any | None:
    """A tracer provider configured by the ``OTEL_*`` variables, or None (no exporter
    asked for, SDK disabled, or the ``otel`` extra missing)."""
    env = os.environ
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return None
    exporter_name = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if not exporter_name:
        has_endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
        )
        exporter_name = "otlp" if has_endpoint else "none"
    if exporter_name == "none":
        return None
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError:
        log.warning("massgen: OTEL_* is set but the 'otel' extra is not installed; no traces")
        return None
    if exporter_name == "console":
        exporter: Any = ConsoleSpanExporter()
    elif exporter_name == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            log.warning("massgen: the OTLP exporter is not installed; no traces")
            return None
        exporter = OTLPSpanExporter()
    else:
        log.warning("massgen: OTEL_TRACES_EXPORTER=%s is not supported; no traces", exporter_name)
        return None
    resource = Resource.create({"service.name": env.get("OTEL_SERVICE_NAME") or "massgen"})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def _ns(ts: float) -> int:
    return int(ts * 1e9)


class RunTracer:
    """Turns one run's events into spans (a bus listener: call it with each event)."""

    def __init__(self, tracer: Any, attributes: dict[str, Any] | None = None) -> None:
        from opentelemetry import trace

        self._trace = trace
        self.tracer = tracer
        self.attributes = attributes or {}
        self.run: Any = None
        self.agents: dict[str, dict[str, Any]] = {}
        self.turns: dict[str, Any] = {}
        self.call_start: dict[str, float] = {}
        self.tools: dict[str, tuple[Any, float]] = {}

    def _child(self, name: str, parent: Any, start: float, **attributes: Any) -> Any:
        context = self._trace.set_span_in_context(parent) if parent is not None else None
        clean = {k: v for k, v in attributes.items() if v is not None}
        return self.tracer.start_span(
            name, context=context, start_time=_ns(start), attributes=clean
        )

    def _end_turn(self, agent_id: str, ts: float) -> None:
        span = self.turns.pop(agent_id, None)
        if span is not None:
            span.end(end_time=_ns(ts))

    def __call__(self, event: Any) -> None:
        try:
            self._on(event)
        except Exception as exc:  # tracing never breaks a run
            log.debug("massgen: tracing: %s", exc)

    def _on(self, event: Any) -> None:
        kind, ts, agent_id = event.type, event.ts, event.agent_id
        if kind == "run_started":
            self.run = self._child(
                "massgen.run",
                None,
                ts,
                **{
                    "massgen.run_id": event.run_id,
                    "massgen.strategy": event.strategy,
                    "massgen.agents": len(event.agents or []),
                    **self.attributes,
                },
            )
            for agent in event.agents or []:
                self.agents[str(agent.get("id"))] = agent
            return
        if self.run is None:
            return
        agent = self.agents.get(str(agent_id), {})
        if kind == "agent_turn_started":
            self._end_turn(agent_id, ts)
            self.turns[agent_id] = self._child(
                "massgen.agent_turn",
                self.run,
                ts,
                **{
                    "massgen.agent_id": agent_id,
                    "massgen.agent_label": agent.get("label"),
                    "massgen.turn": event.turn,
                    "massgen.turn_kind": event.kind,
                    "massgen.round": event.round,
                },
            )
            self.call_start[agent_id] = ts
        elif kind == "tool_call_started":
            parent = self.turns.get(agent_id, self.run)
            span = self._child(
                "massgen.tool_call",
                parent,
                ts,
                **{"massgen.agent_id": agent_id, "gen_ai.tool.name": event.name},
            )
            self.tools[event.call_id] = (span, ts)
        elif kind == "tool_call_finished":
            span, _ = self.tools.pop(event.call_id, (None, ts))
            if span is not None:
                span.set_attribute("massgen.tool.is_error", bool(event.is_error))
                span.end(end_time=_ns(ts))
            self.call_start[agent_id] = ts
        elif kind == "usage":
            start = self.call_start.get(agent_id, ts)
            span = self._child(
                "massgen.model_call",
                self.turns.get(agent_id, self.run),
                start,
                **{
                    "massgen.agent_id": agent_id,
                    "gen_ai.system": agent.get("backend"),
                    "gen_ai.request.model": agent.get("model"),
                    "gen_ai.usage.input_tokens": event.prompt_tokens,
                    "gen_ai.usage.output_tokens": event.completion_tokens,
                    "massgen.usage.reasoning_tokens": event.reasoning_tokens,
                    "massgen.usage.cached_tokens": event.cached_tokens,
                    "massgen.cost_usd": event.cost_usd,
                },
            )
            span.end(end_time=_ns(ts))
            self.call_start[agent_id] = ts
        elif kind in _TURN_ENDS or kind == "final_answer":
            self._end_turn(agent_id, ts)
        elif kind == "run_finished":
            for open_agent in list(self.turns):
                self._end_turn(open_agent, ts)
            for span, _ in self.tools.values():
                span.end(end_time=_ns(ts))
            self.tools.clear()
            run = self.run
            for key, value in {
                "massgen.status": event.status,
                "gen_ai.usage.input_tokens": event.prompt_tokens,
                "gen_ai.usage.output_tokens": event.completion_tokens,
                "massgen.requests": event.requests,
                "massgen.cost_usd": event.cost_usd,
                "massgen.winner": event.winner,
            }.items():
                if value is not None:
                    run.set_attribute(key, value)
            if event.status not in ("ok", "timeout", "budget"):
                run.set_status(self._trace.Status(self._trace.StatusCode.ERROR, event.status))
            run.end(end_time=_ns(ts))
            self.run = None

    def close(self) -> None:
        """End whatever is open (a run cancelled before ``run_finished``)."""
        import time

        now = time.time()
        for agent_id in list(self.turns):
            self._end_turn(agent_id, now)
        if self.run is not None:
            self.run.end(end_time=_ns(now))
            self.run = None


def run_listener(provider: Any | None, **attributes: Any) -> RunTracer | None:
    """A :class:`RunTracer` for one run (None without a tracer provider)."""
    if provider is None:
        return None
    return RunTracer(provider.get_tracer("massgen"), attributes)
