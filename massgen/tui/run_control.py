"""The app's live runs: the agents built off screen, each question run as a
:class:`massgen.runs.ActiveRun`, one question queued while a run goes, the results and the
conversation's history, the exit code. Part of :class:`massgen.tui.app.MassGenApp`."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from massgen.exitcodes import ExitCode, for_status
from massgen.tui.app_part import AppPart
from massgen.tui.chrome import PLACEHOLDERS
from massgen.tui.state import RunView

if TYPE_CHECKING:
    from textual.widgets import Input

    from massgen.config.schema import OrchestratorConfig
    from massgen.coordination.state import AgentSpec
    from massgen.events import Subscription
    from massgen.runs import ActiveRun
    from massgen.sessions.recorder import SessionRecorder
    from massgen.tui.player import ReplayPlayer

AgentSource = Sequence["AgentSpec"] | Callable[[], Sequence["AgentSpec"]]


class Outcome(Protocol):
    """How a run ended, local (``RunResult``) or on a server (``RemoteResult``)."""

    status: str
    final_answer: str | None


class RunControl(AppPart):
    """Starting, queueing and finishing the app's runs (a part of the app)."""

    agent_source: AgentSource
    agents: list[AgentSpec]
    agents_ready: bool
    orchestrator: OrchestratorConfig | None
    pending_images: tuple[Any, ...]
    history: list[tuple[str, str]]
    recorder: SessionRecorder | None
    clock: Callable[[], float]
    view: RunView
    parts: list[RunView]
    subscription: Subscription | None
    running: bool
    first_question: str | None
    queued: str | None
    final_max: bool
    results: list[Outcome]
    last_status: str | None
    quit_mid_run: bool
    pending_since: dict[str, float]
    stats: dict[str, Any]
    player: ReplayPlayer | None
    active_run: ActiveRun | None = None  # the run going, for notes and "answer now"
    server: Any = None  # a massgen serve the app's runs go to (remote_control.py)
    start_remote: Callable[..., None]  # remote_control's: a question as a server's task
    cancel_remote: Callable[[], None]  # remote_control's: Ctrl+C on a server's task

    if TYPE_CHECKING:

        @property
        def ask(self) -> Input: ...  # the app's question box

    agents_failed: Callable[[BaseException], None]  # the app's: a failure to start, reported
    count_earlier_turns: Callable[[], None]  # the app's: the turns shown above this run

    def build_agents(self) -> None:
        """In a thread: build the agents (this imports the provider SDKs) and the engine."""
        try:
            source = self.agent_source
            agents = list(source()) if callable(source) else list(source)
            from massgen.runs import preload

            preload()  # the engine, imported here rather than on screen
        except Exception as exc:
            self.call_from_thread(self.agents_failed, exc)
            return
        self.call_from_thread(self.agents_built, agents)

    def agents_built(self, agents: list[AgentSpec]) -> None:
        self.agents, self.agents_ready = agents, True
        self.ask.placeholder = PLACEHOLDERS["follow-up" if self.history else "new"]
        # the command line's question first; one typed meanwhile stays queued behind it
        question = self.first_question or self.queued
        if question is not None:
            if question == self.first_question:
                self.first_question = None
            else:
                self.queued = None
            self.start_run(question)

    def start_run(self, question: str) -> None:
        if not self.agents_ready or self.running:
            self.queue(question)
            return
        if self.server is not None:
            self.start_remote(question)
            return
        self.drain()  # the last run's events not drawn yet belong to its part
        self.view = RunView(clock=self.clock)
        self.count_earlier_turns()
        self.parts.append(self.view)
        self.running = True
        self.last_status = "running"
        self.final_max = False
        self.ask.placeholder = PLACEHOLDERS["running"]
        images, self.pending_images = self.pending_images, ()
        self.run_worker(self.run_coordination(question, images), group="run", exclusive=True)

    def queue(self, question: str) -> None:
        replaced = self.queued is not None
        self.queued = question
        what = "Replaced the queued question" if replaced else "Queued"
        self.notify(f"{what}: it is sent when this run ends.", timeout=4)

    async def run_coordination(self, question: str, images: Sequence[Any] = ()) -> None:
        """The run of ``question``, as a :class:`massgen.runs.ActiveRun` on the app's agents
        (recorded as the session's next part); its events are drawn as they come."""
        from massgen.config.schema import OrchestratorConfig
        from massgen.errors import ConfigurationError
        from massgen.runs import ActiveRun

        active = ActiveRun.on_agents(
            self.agents,
            self.orchestrator or OrchestratorConfig(),
            question,
            self.history,
            recorder=self.recorder,
            images=images,
        )
        self.subscription, self.active_run = active.subscription, active
        try:
            result = await active.result()
            self.results.append(result)
            self.last_status = result.status
            if result.final_answer is not None:
                self.history.append((question, result.final_answer))
        except ConfigurationError as exc:  # found as the run starts (an MCP tool name)
            self.agents_failed(exc)
        except BaseException:
            self.last_status = "cancelled"
            raise
        finally:
            self.running, self.active_run = False, None
            if self.is_running:
                self.ask.placeholder = PLACEHOLDERS["follow-up"]
                if self.queued and not self.quit_mid_run:
                    question, self.queued = self.queued, None
                    self.call_later(self.start_run, question)

    def exit_code(self) -> ExitCode:
        """What ``massgen`` exits with: the last run's code, 130 if quit mid-run."""
        if self.quit_mid_run:
            return ExitCode.INTERRUPTED
        if self.last_status is None:
            return ExitCode.OK
        return for_status(self.last_status)

    def drain(self) -> None:
        sub, view = self.subscription, self.view
        if sub is None:
            return
        count, oldest = 0, None
        pending = self.pending_since
        while (event := sub.get_nowait()) is not None:
            view.apply(event)
            count += 1
            oldest = event.ts if oldest is None else oldest
            if event.agent_id and event.agent_id not in pending:
                pending[event.agent_id] = event.ts
        if oldest is not None:
            self.stats["events"] += count
            self.stats["max_latency"] = max(self.stats["max_latency"], time.time() - oldest)

    def action_reset(self) -> None:
        if self.player is not None:
            return
        if self.running:
            self.notify("A run is going: cancel it first (Ctrl+C).", severity="warning")
            return
        self.history.clear()
        self.parts.clear()
        if self.recorder is not None:
            self.recorder.new_conversation()
        self.view = RunView(clock=self.clock)
        self.view.dirty |= {"layout", "header", "panel", "final"}
        self.final_max = False
        self.ask.placeholder = PLACEHOLDERS["new"]
        self.notify("New conversation.")

    def action_cancel_run(self) -> None:
        if self.server is not None:
            self.cancel_remote()
        elif self.running and self.player is None:
            self.workers.cancel_group(self, "run")
            self.notify("Run cancelled; its events so far are kept.")
        elif self.player is not None:
            self.notify("A replay: space pauses it, q quits.")
        else:
            self.notify("Nothing to cancel. Ctrl+Q quits.")
