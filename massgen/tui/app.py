"""The terminal app: one live column per agent, the coordination panel, the final answer, and
an input for the next question (multi-turn).

The app reads engine events from the bus and nothing else. Events are drained and drawn at
most :attr:`MassGenApp.REPAINT_HZ` times a second, so many fast streams stay smooth.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Footer, Input, Tab, Tabs

from massgen.config.schema import OrchestratorConfig
from massgen.coordination.engine import Coordinator, RunResult
from massgen.coordination.state import AgentSpec
from massgen.events import EventBus, Subscription
from massgen.tui.state import RunView
from massgen.tui.widgets import AgentColumn, CoordinationPanel, FinalPane, RunHeader

if TYPE_CHECKING:
    from massgen.sessions.recorder import SessionRecorder

#: A column narrower than this switches the agents to tabs.
MIN_COLUMN_WIDTH = 34
HELP = (
    "Type a question and press Enter. Follow-ups carry the conversation. "
    "/reset starts a new conversation, /quit leaves. Keys: n/p switch agent, z zoom, "
    "c coordination panel, y copy the final answer, Ctrl+C cancel the run, q quit "
    "(Esc leaves the input so keys work). Ctrl+P opens the command palette."
)


class MassGenApp(App[None]):
    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "massgen"
    REPAINT_HZ = 30
    COLUMN_HZ = 8  # how often one agent column's Markdown may be redrawn
    COLUMNS_PER_TICK = 2  # how many agent columns one frame may redraw
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("ctrl+c", "cancel_run", "Cancel run", priority=True),
        Binding("n", "next_agent", "Next agent"),
        Binding("p", "previous_agent", "Prev agent"),
        Binding("z", "zoom", "Zoom"),
        Binding("c", "toggle_panel", "Panel"),
        Binding("y", "copy_final", "Copy answer"),
        Binding("escape", "leave_input", "Keys", show=False),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        agents: Sequence[AgentSpec],
        orchestrator: OrchestratorConfig | None = None,
        *,
        question: str | None = None,
        history: Sequence[tuple[str, str]] = (),
        recorder: SessionRecorder | None = None,
        replay: Sequence[list[dict[str, Any]]] | None = None,
        replay_speed: float = 1.0,
    ) -> None:
        """``history`` continues an earlier conversation; ``recorder`` writes each run to
        the session log; ``replay`` (a recorded session's events, per part) plays them
        back at ``replay_speed`` instead of running agents."""
        super().__init__()
        self.agents = list(agents)
        self.orchestrator = orchestrator or OrchestratorConfig()
        self.first_question = question
        self.history: list[tuple[str, str]] = list(history)
        self.recorder = recorder
        self.replay = list(replay) if replay is not None else None
        self.replay_speed = replay_speed
        self.view = RunView()
        self.subscription: Subscription | None = None
        self.running = False
        self.selected = 0
        self.results: list[RunResult] = []
        self.stats = {"repaints": 0, "events": 0, "max_latency": 0.0}

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield RunHeader(id="header")
        with Horizontal(id="body"):
            with Vertical(id="agents-area"):
                yield Tabs(id="agent-tabs")
                yield Horizontal(id="agents")
            yield CoordinationPanel(id="panel")
        yield FinalPane(id="final")
        yield Input(placeholder="Ask a question…  (/help)", id="ask")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(FinalPane).display = False
        self.query_one(RunHeader).draw(self.view)
        self.query_one(CoordinationPanel).draw(self.view)
        self.set_interval(1 / self.REPAINT_HZ, self.tick)
        if self.replay is not None:
            self.start_replay()
        elif self.first_question:
            self.start_run(self.first_question)
        else:
            self.query_one("#ask", Input).focus()

    def on_resize(self) -> None:
        self.fit_layout()

    def fit_layout(self) -> None:
        area = self.query_one("#agents-area")
        count = max(1, len(self.view.agents))
        panel = self.query_one(CoordinationPanel)
        panel_width = panel.outer_size.width if panel.display else 0
        narrow = (self.size.width - panel_width) // count < MIN_COLUMN_WIDTH and count > 1
        area.set_class(narrow, "-tabs")

    async def rebuild_agents(self, view: RunView) -> None:
        """One column and one tab per agent of ``view`` (the view being drawn: a new run may
        replace ``self.view`` while this awaits)."""
        agents = list(view.agents.values())
        container = self.query_one("#agents", Horizontal)
        await container.remove_children()
        columns = [AgentColumn(agent) for agent in agents]
        await container.mount_all(columns)
        await self.query_one("#agent-tabs", Tabs).remove()
        tabs = Tabs(
            *(Tab(f"{a.label} {a.id}", id=f"tab-{a.label}") for a in agents),
            id="agent-tabs",
        )
        await self.query_one("#agents-area").mount(tabs, before=container)
        self.selected = 0
        self.select_agent(0)
        self.fit_layout()

    # ------------------------------------------------------------------ runs

    def start_run(self, question: str) -> None:
        if self.running:
            self.notify("A run is in progress: Ctrl+C cancels it.", severity="warning")
            return
        bus = EventBus()
        self.subscription = bus.subscribe()
        self.view = RunView()
        self.running = True
        ask = self.query_one("#ask", Input)
        ask.disabled = True
        ask.value = ""
        if self.recorder is not None:
            self.recorder.attach(bus)
        coordinator = Coordinator(self.agents, self.orchestrator, bus)
        self.run_worker(self.run_coordination(coordinator, question), group="run", exclusive=True)

    async def run_coordination(self, coordinator: Coordinator, question: str) -> None:
        try:
            result = await coordinator.run(question, tuple(self.history))
            self.results.append(result)
            if result.final_answer is not None:
                self.history.append((question, result.final_answer))
            if not result.ok and result.error:
                self.notify(result.error, severity="error", timeout=8)
        finally:
            coordinator.bus.close()
            self.running = False
            ask = self.query_one("#ask", Input)
            ask.disabled = False
            ask.placeholder = "Ask a follow-up…  (/help, /reset · Esc shows the keys)"
            self.set_focus(ask)  # now, not deferred: a key pressed next must not race it

    def start_replay(self) -> None:
        self.running = True
        ask = self.query_one("#ask", Input)
        ask.disabled = True
        ask.placeholder = "Replaying a recorded session…  (Ctrl+C stops, q quits)"
        self.run_worker(self.play_replay(), group="run", exclusive=True)

    async def play_replay(self) -> None:
        """Publish each recorded part on a fresh bus, as a live run would, and let the
        frames catch up before the next part."""
        import asyncio

        from massgen.sessions.replay import play

        try:
            for index, events in enumerate(self.replay or ()):
                if index and self.replay_speed > 0:
                    await asyncio.sleep(1.0)  # leave the finished part on screen a moment
                bus = EventBus()
                self.subscription = bus.subscribe()
                self.view = RunView()
                await play(events, bus, self.replay_speed)
                while self.subscription.pending():  # noqa: ASYNC110 (the frame timer drains it)
                    await asyncio.sleep(1 / self.REPAINT_HZ)
        finally:
            self.running = False
            ask = self.query_one("#ask", Input)
            ask.placeholder = "Replay finished · q quits"
            self.action_leave_input()

    async def tick(self) -> None:
        """Apply the events that arrived since the last tick, then draw what changed."""
        sub = self.subscription
        if sub is None:
            return
        view = self.view
        oldest: float | None = None
        count = 0
        while (event := sub.get_nowait()) is not None:
            view.apply(event)
            count += 1
            oldest = event.ts if oldest is None else oldest
        if view.status == "running":
            view.dirty.add("header")  # the elapsed time moves
        if not view.dirty or not self.is_running:
            return
        try:
            await self.draw(view)
        except NoMatches:
            if self.is_running:
                raise
            return  # the app is shutting down and its widgets are gone
        self.stats["repaints"] += 1
        self.stats["events"] += count
        if oldest is not None:
            self.stats["max_latency"] = max(self.stats["max_latency"], time.time() - oldest)

    async def draw(self, view: RunView) -> None:
        dirty, view.dirty = view.dirty, set()
        if "layout" in dirty:
            await self.rebuild_agents(view)
            dirty |= {f"agent:{a}" for a in view.agents}
        if "header" in dirty:
            self.query_one(RunHeader).draw(view)
        # Rendering an agent's Markdown is the expensive part of a frame: draw only columns
        # the user can see, the longest-waiting first, at most COLUMNS_PER_TICK a frame and
        # COLUMN_HZ times a second each; the others stay dirty for a later frame.
        now = time.monotonic()
        waiting = sorted(
            (c for c in self.query(AgentColumn) if f"agent:{c.agent_id}" in dirty),
            key=lambda c: c.drawn_at,
        )
        budget = self.COLUMNS_PER_TICK
        for column in waiting:
            ready = column.region.width > 0 and now - column.drawn_at >= 1 / self.COLUMN_HZ
            if not ready or budget == 0:
                view.dirty.add(f"agent:{column.agent_id}")
                continue
            budget -= 1
            column.drawn_at = now
            column.draw(view.agents[column.agent_id])
        if "panel" in dirty:
            self.query_one(CoordinationPanel).draw(view)
        if "final" in dirty or "final:reset" in dirty:
            reset = "final:reset" in dirty or "layout" in dirty
            await self.query_one(FinalPane).draw(view, reset=reset)

    # ------------------------------------------------------------------ input

    @on(Input.Submitted, "#ask")
    def ask(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            return
        if text.startswith("/"):
            self.slash_command(text)
            event.input.value = ""
            return
        self.start_run(text)

    def slash_command(self, text: str) -> None:
        command = text.split()[0].lower()
        if command == "/help":
            self.notify(HELP, title="massgen", timeout=15)
        elif command == "/reset":
            self.action_reset()
        elif command in ("/quit", "/exit"):
            self.exit()
        else:
            self.notify(f"Unknown command {command}: try /help", severity="warning")

    # ------------------------------------------------------------------ actions

    def action_reset(self) -> None:
        if self.replay is not None:
            return
        if self.running:
            self.notify("Cancel the run first (Ctrl+C).", severity="warning")
            return
        self.history.clear()
        if self.recorder is not None:
            self.recorder.new_conversation()
        self.view = RunView()
        self.view.dirty |= {"layout", "header", "panel", "final"}
        self.notify("New conversation.")

    def action_cancel_run(self) -> None:
        if self.running:
            self.workers.cancel_group(self, "run")
            self.notify("Run cancelled; its events so far are kept.")
        else:
            self.notify("Nothing to cancel. Press q (or Ctrl+Q) to quit.")

    def select_agent(self, index: int) -> None:
        columns = list(self.query(AgentColumn))
        if not columns:
            return
        self.selected = index % len(columns)
        for i, column in enumerate(columns):
            column.set_class(i == self.selected, "-selected")
        tabs = self.query_one("#agent-tabs", Tabs)
        tab_id = f"tab-{columns[self.selected].id.removeprefix('agent-')}"
        if tabs.active != tab_id:
            tabs.active = tab_id

    @on(Tabs.TabActivated, "#agent-tabs")
    def tab_activated(self, event: Tabs.TabActivated) -> None:
        ids = [c.id for c in self.query(AgentColumn)]
        wanted = f"agent-{(event.tab.id or '').removeprefix('tab-')}"
        if wanted in ids and ids.index(wanted) != self.selected:
            self.select_agent(ids.index(wanted))

    def action_next_agent(self) -> None:
        self.select_agent(self.selected + 1)

    def action_previous_agent(self) -> None:
        self.select_agent(self.selected - 1)

    def action_zoom(self) -> None:
        self.query_one("#agents-area").toggle_class("-zoom")

    def action_toggle_panel(self) -> None:
        panel = self.query_one(CoordinationPanel)
        panel.display = not panel.display
        self.fit_layout()

    def action_copy_final(self) -> None:
        if not self.view.final_text:
            self.notify("No final answer yet.")
            return
        self.copy_to_clipboard(self.view.final_text)
        self.notify("Final answer copied to the clipboard.")

    def action_leave_input(self) -> None:
        """Move focus to the selected agent's column: letter keys then act as commands and
        the arrow keys scroll that column. (A concrete widget, not "no focus", which the
        terminal regaining focus would turn back into the input.)"""
        columns = list(self.query(AgentColumn))
        scrolls = columns[self.selected].query(".turn") if columns else []
        self.set_focus(scrolls[0] if scrolls else None)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Cancel run", "Cancel the running coordination", self.action_cancel_run)
        yield SystemCommand("Next agent", "Select the next agent", self.action_next_agent)
        yield SystemCommand(
            "Previous agent", "Select the previous agent", self.action_previous_agent
        )
        yield SystemCommand("Zoom agent", "Show only the selected agent", self.action_zoom)
        yield SystemCommand(
            "Toggle coordination panel", "Show or hide answers and votes", self.action_toggle_panel
        )
        yield SystemCommand("Copy final answer", "Copy it to the clipboard", self.action_copy_final)
        yield SystemCommand("New conversation", "Forget the history (/reset)", self.action_reset)

    async def on_unmount(self) -> None:
        for agent in self.agents:
            await agent.backend.aclose()
