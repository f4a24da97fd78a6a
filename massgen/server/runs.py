"""The server's runs: the team its config names (a request may only pick
``massgen/model:<id>``, the same team on another model), each run observed by its listeners
(session log, metrics, traces), and the one loop that consumes a run into a
:class:`~massgen.server.completions.Completion` for the chat endpoints, their SSE streams and
the task runner alike (docs/architecture.md, "The server").
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncGenerator, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from massgen.api import prepare
from massgen.errors import ConfigurationError
from massgen.runs import ActiveRun, Prepared
from massgen.server.completions import Completion, NoAnswer, trace_line
from massgen.server.http import BadRequest
from massgen.server.tracing import run_listener
from massgen.server.writer import SessionRelay, Writer

if TYPE_CHECKING:
    from massgen.server.metrics import Metrics
    from massgen.sessions.recorder import SessionHeader

log = logging.getLogger("massgen.server")

#: The model name of the server's own team (and of its answers, unless a request names one).
MODEL_NAME = "massgen"
#: ``massgen/model:<id>``: the server's team on model ``<id>``.
MODEL_PREFIX = "massgen/model:"


class RunListener(Protocol):
    """A bus listener that is closed when its run ends."""

    def __call__(self, event: Any) -> None: ...

    def close(self) -> Any: ...


def load_team(config: str | Path | dict[str, Any] | None, model: str | None) -> Prepared:
    """The server's team, resolved once at start-up (a bad config fails then). Its files
    are the config's as the CLI reads it: workspaces and file tools only when the config
    asks for them (``enable_filesystem``, context paths or commands), not the Python API's
    default of a workspace for every agent (docs/architecture.md, "Server")."""
    if model is None:
        prepared = prepare(config=config, enable_filesystem=None)
    else:
        prepared = prepare(model=model, enable_filesystem=None)
    check_cost_caps(prepared)
    return prepared


def check_cost_caps(prepared: Prepared) -> None:
    """A cost cap on a model without a price fails at startup, not in every request."""
    config = prepared.config
    orchestrator = config.orchestrator
    caps = [orchestrator.max_cost_usd, orchestrator.agent_max_cost_usd]
    caps += [agent.max_cost_usd for agent in config.agents]
    if all(cap is None for cap in caps):
        return
    from massgen.coordination.budget import check_prices
    from massgen.coordination.build import build_agents

    check_prices(build_agents(config), orchestrator)


class RunStream:
    """One run's events as they come (closing the stream cancels the run), keeping what
    its completion needs: the trace lines and the ``run_finished`` event."""

    def __init__(self, events: AsyncGenerator[dict[str, Any], None]) -> None:
        self.events = events
        self.trace: list[str] = []
        #: The trace line of the event last returned (None: it has none).
        self.line: str | None = None
        self.finished: dict[str, Any] | None = None

    def __aiter__(self) -> RunStream:
        return self

    async def __anext__(self) -> dict[str, Any]:
        event = await self.events.__anext__()
        self.line = trace_line(event)
        if self.line:
            self.trace.append(self.line)
        if event.get("type") == "run_finished":
            self.finished = event
        return event

    async def aclose(self) -> None:
        await self.events.aclose()

    def outcome(self) -> Completion | NoAnswer:
        """The answer, once the events are consumed."""
        finished = self.finished
        if not finished or not finished.get("final_answer"):
            return NoAnswer(str((finished or {}).get("status", "failed")))
        return Completion(finished, list(self.trace))


class RunService:
    """Starts the server's runs (see module): every run is recorded as its own session
    unless ``enable_logging`` is False (written in a thread, off the event loop), counted in
    ``metrics``, and traced when there is a ``tracer_provider``."""

    def __init__(
        self,
        prepared: Prepared,
        metrics: Metrics,
        *,
        tracer_provider: Any = None,
        enable_logging: bool = True,
        log_dir: str | Path | None = None,
    ) -> None:
        self.prepared = prepared
        self.metrics = metrics
        self.tracer_provider = tracer_provider
        self.enable_logging = enable_logging
        self.log_dir = log_dir
        self.sessions = Writer("massgen-sessions")
        #: The server's own config as every session starts it, made once (its first run).
        self.header: SessionHeader | None = None
        #: The runs going on now.
        self.tasks: set[asyncio.Task[Any]] = set()
        self.warming: asyncio.Task[None] | None = None
        #: Set by ``massgen serve`` (a process of its own, not an app inside another
        #: program): after the warm-up, freeze the objects made so far (``gc.freeze``).
        self.freeze_after_warm = False

    def model_ids(self) -> list[str]:
        """``massgen``, then ``massgen/model:<id>`` for each model of the team."""
        team = {
            f"{MODEL_PREFIX}{a.backend.model}"
            for a in self.prepared.config.agents
            if getattr(a.backend, "model", None)
        }
        return [MODEL_NAME, *sorted(team)]

    def resolve(self, requested: Any) -> Prepared:
        """The team a request runs: the server's own, or with ``massgen/model:<id>`` the
        same team on another model through an endpoint the server's config already uses.
        Nothing in a request is expanded (``${VAR}``) or read from disk."""
        if not (isinstance(requested, str) and requested.startswith(MODEL_PREFIX)):
            return self.prepared
        name = requested[len(MODEL_PREFIX) :].strip()
        if not name:
            raise BadRequest(400, "empty model id", "invalid_request_error", "invalid_model")
        if len(name) > 200 or not name.isprintable():
            raise BadRequest(400, "invalid model id", "invalid_request_error", "invalid_model")
        from massgen.config.models import override_model

        try:
            config = override_model(self.prepared.config, name)
        except ConfigurationError as exc:
            raise BadRequest(400, str(exc), "invalid_request_error", "invalid_model") from None
        return Prepared(config, f"{self.prepared.source} (model {name})")

    def stream(
        self,
        prepared: Prepared,
        question: str,
        history: list[tuple[str, str]],
        images: Sequence[Any] = (),
    ) -> RunStream:
        """Start a run; its events as they come."""
        return RunStream(self._events(prepared, question, history, images))

    async def complete(
        self,
        prepared: Prepared,
        question: str,
        history: list[tuple[str, str]],
        images: Sequence[Any] = (),
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> Completion | NoAnswer:
        """Run to the end (``on_event`` sees each event); cancelling it cancels the run."""
        run = self.stream(prepared, question, history, images)
        try:
            async for event in run:
                if on_event is not None:
                    on_event(event)
        finally:
            await run.aclose()
        return run.outcome()

    async def _events(
        self,
        prepared: Prepared,
        question: str,
        history: list[tuple[str, str]],
        images: Sequence[Any],
    ) -> AsyncGenerator[dict[str, Any], None]:
        warming = self.warming
        if warming is not None and not warming.done():
            # the first runs wait for the warm-up's imports here, not on the event loop
            # (building a backend meanwhile would block the loop on the import lock)
            await asyncio.shield(warming)
        active = ActiveRun(prepared, question, history, None, images)
        listeners: list[RunListener] = []
        if self.enable_logging:
            from massgen.sessions import recorder as sessions

            header = None
            if prepared is self.prepared:  # not a model override or a request's options
                header = self.header = self.header or sessions.SessionHeader.of(prepared.config)
            recorder = sessions.SessionRecorder(
                prepared.config, prepared.source, log_dir=self.log_dir, header=header
            )
            listeners.append(SessionRelay(recorder, self.sessions))
        listeners.append(self.metrics.listener())
        tracer = run_listener(self.tracer_provider)
        if tracer is not None:
            listeners.append(tracer)
        for listener in listeners:
            active.bus.add_listener(listener)

        def finished(_: asyncio.Task[Any]) -> None:
            self.tasks.discard(active.task)
            for listener in listeners:
                with contextlib.suppress(Exception):
                    listener.close()

        self.tasks.add(active.task)
        active.task.add_done_callback(finished)
        async for event in active.events():
            yield event
        with contextlib.suppress(Exception):
            await active.result()

    def start(self) -> None:
        """Warm up in the background (see :meth:`warm`)."""
        self.warming = asyncio.create_task(self.warm())

    async def warm(self) -> None:
        """Import the engine and the provider SDKs now (in a thread, ~0.5 s), so the first
        run does not pay for it (then, in ``massgen serve``, freeze what start-up made out
        of the garbage collector's sight); the local model is left to load on first use."""

        def build() -> list[Any]:
            from massgen.coordination import coordinator  # noqa: F401
            from massgen.coordination.build import build_agents

            remote = [a for a in self.prepared.config.agents if a.backend.type != "local"]
            if not remote:
                return []
            return build_agents(self.prepared.config.model_copy(update={"agents": remote}))

        try:
            agents = await asyncio.to_thread(build)
        except Exception as exc:  # a run will report the same problem, with context
            log.debug("massgen: warm-up: %s", exc)
            agents = []
        for agent in agents:
            with contextlib.suppress(Exception):
                await agent.backend.aclose()
        if self.freeze_after_warm:
            # What start-up made (the engine, the SDKs: ~200,000 objects) lives as long as
            # the process: out of the collector's sight, a full collection during a burst
            # walks ~10x fewer objects (docs/architecture.md, "The server").
            gc.freeze()

    async def stop(self) -> None:
        """Wait for the warm-up, then for the session logs to be written."""
        if self.warming is not None:
            with contextlib.suppress(Exception):
                await self.warming
        await asyncio.to_thread(self.sessions.flush, 10)
