"""A run: the one handle on a coordination, used by every surface (the Python API and
LiteLLM, the CLI, the terminal app, the server and eval).

An :class:`ActiveRun` owns the run's event bus, builds the team (or runs on agents its
caller keeps), starts the MCP servers and checks their tool names, then attaches the session
recorder (so a config error records nothing), gives the engine the session directory as its
workspace root, runs, closes the bus and the backends it built (docs/architecture.md, "A
run, step by step").

Importing this module is cheap: the engine is imported when a run starts (:func:`preload`
imports it ahead of time).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from massgen.coordination.controls import ControlReply, RunControls
from massgen.errors import ConfigurationError, RunFailedError
from massgen.events import EventBus, Subscription

if TYPE_CHECKING:
    from massgen.config.schema import MassGenConfig, OrchestratorConfig
    from massgen.coordination.state import AgentSpec
    from massgen.coordination.strategy import RunResult
    from massgen.sessions.recorder import SessionLog, SessionRecorder
    from massgen.tools.base import Tool


@dataclass
class Prepared:
    """A validated config and where it came from (a path, a model list, ``<dict>``, ...)."""

    config: MassGenConfig
    source: str


def build_team(config: MassGenConfig, tools: Sequence[Tool] = ()) -> list[AgentSpec]:
    """One agent per configured agent, each also given ``tools`` (this imports the provider
    SDKs the config uses). Raises :class:`ConfigurationError` (a missing key, a custom tool
    that cannot be loaded) before any model is called."""
    from massgen.coordination.build import build_agents

    return build_agents(config, tools)


def preload() -> None:
    """Import the engine now (about half a second), e.g. in a thread while a screen is up,
    so the first run does not wait for it."""
    import massgen.coordination.coordinator  # noqa: F401


class ActiveRun:
    """One coordination running in its own task, observed through its events.

    ``ActiveRun(prepared, query, ...)`` builds the config's agents and closes them when the
    run ends; :meth:`on_agents` runs on agents the caller built and closes (the terminal
    app's follow-ups, eval's items). ``recorder`` records the run as the session's next part;
    its owner closes it. Iterate :meth:`events` (dicts, in order, ending with
    ``run_finished``), or read :attr:`subscription` directly; then :meth:`result` gives the
    :class:`RunResult`. Leaving :meth:`events` early, or :meth:`cancel`, cancels the run and
    waits for its agents to close; :meth:`steer` and :meth:`answer_now` are the user's hand
    on it while it coordinates. Create it inside a running event loop."""

    def __init__(
        self,
        prepared: Prepared,
        query: str,
        history: Sequence[tuple[str, str]] = (),
        recorder: SessionRecorder | None = None,
        images: Sequence[Any] = (),
        tools: Sequence[Tool] = (),
        *,
        watch: bool = True,
    ) -> None:
        """``watch=False``: nobody reads the events (no :attr:`subscription` buffers them)."""
        config = prepared.config
        self._start(
            lambda: build_team(config, tools),
            True,
            config.orchestrator,
            prepared.source,
            query,
            history,
            recorder,
            images,
            watch,
        )

    @classmethod
    def on_agents(
        cls,
        agents: Sequence[AgentSpec],
        orchestrator: OrchestratorConfig,
        query: str,
        history: Sequence[tuple[str, str]] = (),
        *,
        recorder: SessionRecorder | None = None,
        images: Sequence[Any] = (),
        source: str = "",
        watch: bool = True,
    ) -> ActiveRun:
        """A run of ``agents`` under ``orchestrator``; the caller closes their backends."""
        run = cls.__new__(cls)
        team = list(agents)
        run._start(
            lambda: team, False, orchestrator, source, query, history, recorder, images, watch
        )
        return run

    def _start(
        self,
        build: Callable[[], list[AgentSpec]],
        owned: bool,
        orchestrator: OrchestratorConfig,
        source: str,
        query: str,
        history: Sequence[tuple[str, str]],
        recorder: SessionRecorder | None,
        images: Sequence[Any],
        watch: bool,
    ) -> None:
        self.source = source
        self.bus = EventBus()
        self.subscription: Subscription | None = self.bus.subscribe() if watch else None
        self.recorder = recorder
        self.session: SessionLog | None = None  # set once the run is recorded
        self.controls = RunControls()
        self.task: asyncio.Task[RunResult] = asyncio.create_task(
            self._execute(build, owned, orchestrator, query, tuple(history), tuple(images))
        )
        self.task.add_done_callback(self._finished)

    async def _execute(
        self,
        build: Callable[[], list[AgentSpec]],
        owned: bool,
        orchestrator: OrchestratorConfig,
        query: str,
        history: tuple[tuple[str, str], ...],
        images: tuple[Any, ...],
    ) -> RunResult:
        """Build, check, record, run, close (the one place a Coordinator is made)."""
        from massgen.coordination.coordinator import Coordinator

        if not query or not query.strip():
            raise ConfigurationError("query is empty")
        agents = build()
        try:
            coordinator = Coordinator(agents, orchestrator, self.bus)
            await coordinator.prepare()  # MCP servers start; a tool name they lack: no session
            if self.recorder is not None:
                self.session = self.recorder.attach(self.bus, images)
                if self.session is not None:
                    coordinator.workspace_root = self.session.path
            return await coordinator.run(query, history, images, self.controls)
        finally:
            if owned:
                for agent in agents:
                    await agent.backend.aclose()
                    for maker in agent.generation.values():  # their media clients
                        await maker.close()

    def _finished(self, _: asyncio.Task[Any]) -> None:
        self.bus.close()

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """The run's events as dicts, as they happen; leaving early cancels the run."""
        if self.subscription is None:
            raise RuntimeError("this run was started with watch=False")
        try:
            async for event in self.subscription:
                yield event.to_dict()
        finally:
            if not self.task.done():
                await self.cancel()

    async def result(self) -> RunResult:
        """The :class:`RunResult` (raises what the run raised)."""
        return await self.task

    async def outcome(self) -> dict[str, Any]:
        """The result in :func:`massgen.run`'s documented shape (raises
        :class:`RunFailedError` when no agent produced an answer)."""
        data = result_dict(await self.task, self.source)
        if self.session is not None:
            data["session_id"], data["session_dir"] = self.session.id, str(self.session.path)
        return data

    def steer(self, text: str) -> ControlReply:
        """A note for the agents, typed mid-run: each reads it, marked as the user's, at its
        next turn, and the final answer's turn too (recorded as ``user_note``)."""
        return self.controls.steer(text)

    def answer_now(self) -> ControlReply:
        """End the coordination now: turns in flight are cancelled and the leader presents
        at once (``Steering.answer_now`` says who leads); without an answer yet the run goes
        on. Recorded as ``answer_now``; the result's ``answered_now`` says it."""
        return self.controls.answer_now()

    async def cancel(self) -> None:
        """Cancel the run and wait until its agents are closed."""
        self.task.cancel()
        # shield: a cancelled caller must not interrupt the run's own cleanup
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.shield(self.task)


def result_dict(result: Any, config_used: str) -> dict[str, Any]:
    """A :class:`RunResult` in the documented shape."""
    if result.status == "failed" and result.final_answer is None:
        raise RunFailedError(result.error or "no agent produced an answer")
    by_label = {label: agent_id for agent_id, label in result.labels.items()}
    voters: dict[str, list[dict[str, str]]] = {}
    for vote in result.votes:
        voters.setdefault(by_label[vote.target_label], []).append(
            {"voter": vote.voter_id, "reason": vote.reason}
        )
    usage = result.total_usage
    return {
        "final_answer": result.final_answer,
        "config_used": config_used,
        "session_id": result.run_id,
        "status": result.status,
        "selected_agent": result.winner,
        "vote_results": {
            "vote_counts": {by_label[label]: n for label, n in result.tally.items()},
            "voters": voters,
            "winner": result.winner,
            "is_tie": result.is_tie,
        },
        "answers": [
            {"label": a.label, "agent_id": a.agent_id, "content": a.content} for a in result.answers
        ],
        "files_changed": list(result.files_changed),
        "artifacts": [
            {k: a[k] for k in ("path", "name", "kind", "mime", "size", "agent", "tool")}
            | {"workspace_path": a.get("workspace_path")}
            for a in result.artifacts
        ],
        "answered_now": result.answered_now,
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.prompt_tokens + usage.completion_tokens,
            "reasoning_tokens": usage.reasoning_tokens,
            "cached_tokens": usage.cached_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
            "requests": usage.requests,
            "cost_usd": usage.cost,
            "per_agent": {
                agent_id: {
                    "prompt_tokens": u.prompt_tokens,
                    "completion_tokens": u.completion_tokens,
                    "cached_tokens": u.cached_tokens,
                    "cost_usd": u.cost,
                }
                for agent_id, u in result.usage.items()
            },
        },
    }
