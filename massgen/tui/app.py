"""The terminal app: every agent in view as a card, a live scoreboard, the final answer, a
history of the conversation, and an input that is always enabled.

The app reads engine events from the bus and nothing else. Events are drained and drawn at
most :attr:`MassGenApp.REPAINT_HZ` times a second, so many fast streams stay smooth. Keys are
modal: while the input has focus, typing is text (app keys act once Esc leaves it; ``i`` or
Enter goes back), and focus only moves when the user moves it.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.css.query import NoMatches
from textual.events import Resize
from textual.geometry import Size
from textual.screen import Screen
from textual.widgets import Input, OptionList, Static

from massgen.exitcodes import ExitCode, for_status
from massgen.tui.cards import AgentCard, TabBar
from massgen.tui.chrome import KeyBar, RunHeader, elapsed
from massgen.tui.final import FinalPane
from massgen.tui.layout import SCOREBOARD_BOTTOM_HEIGHT, Plan, plan
from massgen.tui.scoreboard import Scoreboard
from massgen.tui.settings import Settings
from massgen.tui.state import ACTIVE, RunView
from massgen.tui.text import one_line

if TYPE_CHECKING:
    from massgen.config.schema import OrchestratorConfig
    from massgen.coordination.engine import RunResult
    from massgen.coordination.state import AgentSpec
    from massgen.events import Subscription
    from massgen.sessions.recorder import SessionRecorder
    from massgen.tui.player import ReplayPlayer

AgentSource = Sequence["AgentSpec"] | Callable[[], Sequence["AgentSpec"]]
WELCOME = (
    "Several agents answer your question in parallel, read each other's answers and vote;\n"
    "the most-voted agent writes the final answer.\n\n"
    "Type a question below and press Enter.  F1: help  ·  Ctrl+Q: quit"
)
PLACEHOLDERS = {
    "new": "Ask a question…  (F1 help)",
    "follow-up": "Ask a follow-up…  (/reset starts over · Esc for keys · F1 help)",
    "running": "Type the next question: Enter queues it for when this run ends",
    "starting": "Starting the agents… type your question (Enter queues it)",
    "replay": "Replaying a recorded session · Esc for keys · q quits",
}


def tune_gc() -> None:
    """Garbage collection for a long-lived process drawing many short-lived objects (each
    frame makes thousands of line strips): what is loaded so far moves out of the collector's
    way, and young collections run every 50,000 allocations instead of 700. With eight cards
    streaming, the default thresholds cost ~10% of the frames and push event-to-screen p95
    over 100 ms (benchmarks/bench_tui.py). Called by the CLI for the app's process."""
    import gc

    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


class MassGenApp(App[None]):
    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "massgen"
    REPAINT_HZ = 30
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("ctrl+c", "cancel_run", "Cancel run", priority=True, show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True, show=False),
        Binding("f1", "help", "Help", priority=True, show=False),
        Binding("escape", "leave_input", "Keys", show=False),
        Binding("i,enter", "focus_input", "Type", show=False),
        Binding("n", "next_agent", "Next agent", show=False),
        Binding("p", "previous_agent", "Previous agent", show=False),
        *(
            Binding(str(k), f"select_agent({k - 1})", f"Agent {k}", show=False)
            for k in range(1, 10)
        ),
        Binding("z", "zoom", "Zoom", show=False),
        Binding("t", "toggle_tabs", "Tabs", show=False),
        Binding("c", "toggle_scoreboard", "Scoreboard", show=False),
        Binding("a", "focus_scoreboard", "Answers", show=False),
        Binding("d", "diff_mark", "Compare", show=False),
        Binding("f", "toggle_final", "Final answer", show=False),
        Binding("slash", "search", "Search", show=False),
        Binding("w", "save_final", "Save", show=False),
        Binding("y", "copy_final", "Copy", show=False),
        Binding("h", "history", "History", show=False),
        Binding("question_mark", "help", "Help", show=False),
        Binding("q", "quit", "Quit", show=False),
        Binding("space", "toggle_pause", "Pause", show=False),
        Binding("left_square_bracket", "step_part(-1)", "Previous part", show=False),
        Binding("right_square_bracket", "step_part(1)", "Next part", show=False),
        Binding("comma", "seek(-10)", "Back 10 s", show=False),
        Binding("full_stop", "seek(10)", "Forward 10 s", show=False),
    ]

    def __init__(
        self,
        agents: AgentSource = (),
        orchestrator: OrchestratorConfig | None = None,
        *,
        question: str | None = None,
        history: Sequence[tuple[str, str]] = (),
        recorder: SessionRecorder | None = None,
        replay: Sequence[Sequence[dict[str, Any]]] | None = None,
        replay_speed: float = 1.0,
        settings_path: Path | None = None,
        clock: Callable[[], float] = time.time,
        images: Sequence[Any] = (),
    ) -> None:
        """``agents``: the agents, or a function building them (called in a thread after
        the first frame, so the screen paints before provider SDKs are imported).
        ``history`` continues an earlier conversation; ``recorder`` writes each run to the
        session log; ``replay`` (a recorded session's events, per part) plays them back at
        ``replay_speed`` instead of running agents. ``clock`` stamps live events' times.
        ``images`` go with the first question (``massgen --image``)."""
        super().__init__()
        self.agent_source = agents
        self.agents: list[AgentSpec] = [] if callable(agents) else list(agents)
        self.agents_ready = not callable(agents)
        self.orchestrator = orchestrator
        self.first_question = question
        self.pending_images = tuple(images)  # attached to the first question only
        self.history: list[tuple[str, str]] = list(history)
        self.recorder = recorder
        self.clock = clock
        self.player: ReplayPlayer | None = None
        if replay is not None:
            from massgen.tui.player import ReplayPlayer

            self.player = ReplayPlayer(replay, replay_speed)
        self.settings_path = settings_path
        self.settings = Settings.load(settings_path)
        self.view = RunView(clock=clock)
        self.parts: list[RunView] = []  # this conversation's parts, the live one last
        self.subscription: Subscription | None = None
        self.running = False
        self.queued: str | None = None
        self.selected = 0
        self.zoomed = False
        self.final_max = False
        self.diff_from: str | None = None
        self.layout_plan: Plan | None = None
        self.results: list[RunResult] = []
        self.last_status: str | None = None  # of the last run: ok, failed, timeout, ...
        self.quit_mid_run = False
        self.crash: BaseException | None = None
        self.startup_error: BaseException | None = None
        self.cards: list[AgentCard] = []  # as mounted, in agent order
        self.pending_cards: set[str] = set()  # agent ids whose card waits to be drawn
        self.pending_since: dict[str, float] = {}  # agent id -> publish time of oldest undrawn
        self.stats: dict[str, Any] = {
            "repaints": 0,
            "events": 0,
            "max_latency": 0.0,
            "drawn": deque(maxlen=50_000),  # (publish time of the oldest event, time drawn)
        }
        self.settings_ready = False
        self._drawn_keys: tuple[str, int, bool, str] | None = None
        self._header_drawn = ""

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield RunHeader(id="header")
        with Horizontal(id="body"):
            with Vertical(id="main"):
                yield TabBar(id="tabs")
                yield Static(WELCOME, id="welcome")
                yield Grid(id="cards")
                yield FinalPane(id="final")
            yield Scoreboard(id="scoreboard")
        yield Input(placeholder=PLACEHOLDERS["new"], id="ask", select_on_focus=False)
        yield KeyBar(id="keys")

    def on_mount(self) -> None:
        if self.settings.theme and self.settings.theme in self.available_themes:
            self.theme = self.settings.theme
        self.settings_ready = True  # theme changes from now on are the user's
        self.query_one(FinalPane).display = False
        if self.player is None:
            self.query_one("#ask", Input).focus()
        else:  # a replay takes no questions: its keys (space, [ ], h) work at once
            self.query_one("#score-list", OptionList).focus()
        self.apply_layout()
        self.draw_chrome()
        self.set_interval(1 / self.REPAINT_HZ, self.tick)
        if self.player is not None:
            self.running = not self.player.finished
            self.ask.placeholder = PLACEHOLDERS["replay"]
        elif not self.agents_ready:
            self.ask.placeholder = PLACEHOLDERS["starting"]
            if self.first_question:
                self.queued, self.first_question = self.first_question, None
            self.call_after_refresh(self.run_worker, self.build_agents, thread=True, group="build")
        elif self.first_question:
            self.start_run(self.first_question)

    def build_agents(self) -> None:
        """In a thread: build the agents (this imports the provider SDKs) and the engine."""
        try:
            source = self.agent_source
            agents = list(source()) if callable(source) else list(source)
            import massgen.coordination.engine  # noqa: F401 (imported here, not on screen)
        except Exception as exc:
            self.call_from_thread(self.agents_failed, exc)
            return
        self.call_from_thread(self.agents_built, agents)

    def agents_built(self, agents: list[AgentSpec]) -> None:
        self.agents, self.agents_ready = agents, True
        self.ask.placeholder = PLACEHOLDERS["new"]
        if self.queued:
            question, self.queued = self.queued, None
            self.start_run(question)

    def agents_failed(self, exc: BaseException) -> None:
        from massgen.errors import ConfigurationError

        if isinstance(exc, ConfigurationError):
            self.startup_error = exc  # reported by the CLI as a usage error
            self.exit()
        else:
            self._handle_exception(exc)  # type: ignore[arg-type]

    @property
    def ask(self) -> Input:
        return self.query_one("#ask", Input)

    def on_resize(self, event: Resize) -> None:
        self.apply_layout(event.size)

    def apply_layout(self, size: Size | None = None) -> None:
        """Lay the screen out for its current size (never a previous one)."""
        width, height = size or self.size
        view = self.view
        final = view.winner_id is not None or bool(view.final_text)
        settings = self.settings
        p = plan(
            width,
            height,
            len(view.agents),
            scoreboard=settings.scoreboard,
            final=final,
            tabs=settings.tabs,
        )
        self.layout_plan = p
        body = self.query_one("#body")
        board = self.query_one(Scoreboard)
        cards = self.query_one("#cards", Grid)
        final_pane = self.query_one(FinalPane)
        one = p.tabs or self.zoomed
        with self.batch_update():
            idle = not view.agents
            self.query_one("#welcome").display = idle and not view.final_text
            board.display = p.scoreboard != "hidden" and not self.final_max and not idle
            board.set_class(p.scoreboard == "bottom", "-bottom")
            if p.scoreboard == "bottom":
                body.styles.layout = "vertical"
                board.styles.width, board.styles.height = "1fr", SCOREBOARD_BOTTOM_HEIGHT
            else:
                body.styles.layout = "horizontal"
                board.styles.width, board.styles.height = p.scoreboard_width, "1fr"
            self.query_one(TabBar).display = one and bool(view.agents) and not self.final_max
            cards.display = bool(view.agents) and not self.final_max
            cards.styles.grid_size_columns = 1 if one else p.cols
            cards.styles.grid_size_rows = 1 if one else p.rows
            for card in self.query(AgentCard):
                card.display = not one or card.index == self.selected
            final_pane.display = final
            final_pane.styles.height = (
                "1fr" if self.final_max or not view.agents else (p.final_height or "auto")
            )
        self.fit_final()
        self.pending_cards |= set(view.agents)
        self.view.dirty |= {"tabs", "panel", "final"}

    def fit_final(self) -> None:
        """The final pane: as tall as its text, up to the layout's share (all of the main
        area when maximised), so a short answer leaves the cards their room."""
        pane, p = self.query_one(FinalPane), self.layout_plan
        if self.final_max or not self.view.agents:
            height: int | str = "1fr"
        else:
            limit = p.final_height if p is not None else 10
            height = max(3, min(limit, pane.wanted_height()))
        if pane.styles.height is None or str(pane.styles.height) != str(height):
            pane.styles.height = height

    async def sync_cards(self, view: RunView) -> None:
        """One card per agent of ``view``: the same cards when the agents are the same
        (a follow-up), so nothing the user focused goes away."""
        agents = list(view.agents.values())
        cards = list(self.query(AgentCard))
        if [(c.agent_id, c.label) for c in cards] == [(a.id, a.label) for a in agents]:
            return
        focused = next((c.index for c in cards if c.has_focus), None)
        grid = self.query_one("#cards", Grid)
        await grid.remove_children()
        new = [AgentCard(agent, i) for i, agent in enumerate(agents)]
        await grid.mount_all(new)
        self.cards = new
        self.selected = min(self.selected, max(0, len(new) - 1))
        for card in new:
            card.set_class(card.index == self.selected, "-selected")
        if focused is not None and new:  # the user was in a card: stay in one
            new[min(focused, len(new) - 1)].transcript.focus()

    # ------------------------------------------------------------------ runs

    def start_run(self, question: str) -> None:
        if not self.agents_ready or self.running:
            self.queue(question)
            return
        from massgen.config.schema import OrchestratorConfig
        from massgen.coordination.engine import Coordinator
        from massgen.events import EventBus

        bus = EventBus()
        self.subscription = bus.subscribe()
        self.view = RunView(clock=self.clock)
        self.parts.append(self.view)
        self.running = True
        self.last_status = "running"
        self.final_max = False
        self.ask.placeholder = PLACEHOLDERS["running"]
        images, self.pending_images = self.pending_images, ()
        log = self.recorder.attach(bus, images) if self.recorder is not None else None
        coordinator = Coordinator(
            self.agents,
            self.orchestrator or OrchestratorConfig(),
            bus,
            workspace_root=log.path if log is not None else None,
        )
        self.run_worker(
            self.run_coordination(coordinator, question, images), group="run", exclusive=True
        )

    def queue(self, question: str) -> None:
        replaced = self.queued is not None
        self.queued = question
        what = "Replaced the queued question" if replaced else "Queued"
        self.notify(f"{what}: it is sent when this run ends.", timeout=4)

    async def run_coordination(
        self, coordinator: Any, question: str, images: Sequence[Any] = ()
    ) -> None:
        from massgen.errors import ConfigurationError

        try:
            result = await coordinator.run(question, tuple(self.history), images)
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
            coordinator.bus.close()
            self.running = False
            if self.is_running:
                self.ask.placeholder = PLACEHOLDERS["follow-up"]
                if self.queued and not self.quit_mid_run:
                    question, self.queued = self.queued, None
                    self.call_later(self.start_run, question)

    def exit_code(self) -> int:
        """What ``massgen`` exits with: the last run's code, 130 if quit mid-run."""
        if self.quit_mid_run:
            return ExitCode.INTERRUPTED
        if self.last_status is None:
            return ExitCode.OK
        return for_status(self.last_status)

    # ------------------------------------------------------------------ frames

    async def tick(self) -> None:
        """Apply the events that arrived since the last tick, then draw what changed."""
        try:
            if self.player is not None:
                self.advance_replay()
            else:
                self.drain()
            if self.is_running:
                await self.draw(self.view)
        except NoMatches:
            if self.is_running and self.screen.is_attached:
                raise
            # the app is shutting down and its widgets are gone

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
        if count:
            self.stats["events"] += count
            self.stats["max_latency"] = max(self.stats["max_latency"], time.time() - oldest)

    def advance_replay(self) -> None:
        player = self.player
        assert player is not None
        player.advance(time.monotonic())
        if player.view is not self.view:
            self.view = player.view
            self.view.dirty.add("layout")
        was_running, self.running = self.running, not player.finished
        if was_running and player.finished:
            self.ask.placeholder = "Replay finished · h lists the parts · q quits"

    async def draw(self, view: RunView) -> None:
        dirty, view.dirty = view.dirty, set()
        if "layout" in dirty:
            await self.sync_cards(view)
            self.apply_layout()
            dirty |= {"tabs", "panel", "final", "header"}
        elif "layout-size" in dirty:  # the final pane appears: the grid gets shorter
            self.apply_layout()
        drew = False
        now = view.now()
        self.pending_cards |= {key[6:] for key in dirty if key.startswith("agent:")}
        working = any(a.status in ACTIVE for a in view.agents.values())
        # Every shown card whose agent changed, every frame: a card redraws only the lines
        # that changed, so this is cheap, and holding cards back for a later frame (tried)
        # only made events wait longer. Hidden cards catch up when shown.
        for card in self.cards:
            agent = view.agents.get(card.agent_id)
            if agent is None or not card.display:
                continue
            waiting = card.agent_id in self.pending_cards
            if not waiting and agent.status not in ACTIVE:
                continue
            card.draw(agent, now)
            if waiting:
                self.pending_cards.discard(card.agent_id)
                since = self.pending_since.pop(card.agent_id, None)
                if since is not None:
                    self.stats["drawn"].append((since, time.time()))
                drew = True
        if "tabs" in dirty or working:
            tabs = self.query_one(TabBar)
            if tabs.display:
                tabs.draw(list(view.agents.values()), self.selected, now)
        if "panel" in dirty:
            self.query_one(Scoreboard).draw(view)
            drew = True
        if "final" in dirty:
            self.query_one(FinalPane).draw(view)
            self.fit_final()
            drew = True
        self.draw_chrome()
        if drew:
            self.stats["repaints"] += 1

    def draw_chrome(self) -> None:
        """The header and the key bar, when what they show has changed."""
        view, width = self.view, self.size.width
        note = ""
        if not self.agents_ready and self.player is None:
            note = f"starting the agents… {one_line(self.queued or '', 60)}".rstrip()
        replay = self.replay_label()
        header = (view.status, elapsed(view), view.prompt_tokens, view.round, replay, note)
        key = repr(header) + str(width) + str(len(view.log)) + str(view.cost_usd)
        if key != self._header_drawn:
            self._header_drawn = key
            self.query_one(RunHeader).draw(view, width, replay, note)
        mode = self.key_mode()
        queued = f"queued: {one_line(self.queued, 30)}" if self.queued else ""
        keys = (mode, width, self.running, queued)
        if keys != self._drawn_keys:
            self._drawn_keys = keys
            self.query_one(KeyBar).draw(mode, width, self.running and not self.player, queued)

    def replay_label(self) -> str:
        player = self.player
        if player is None:
            return ""
        part = f"replay {player.part + 1}/{max(1, len(player.parts))}"
        if player.finished:
            return f"{part} · finished"
        if player.paused:
            return f"{part} · ⏸ paused"
        speed = "at once" if player.speed <= 0 else f"{player.speed:g}x"
        return f"{part} · ▶ {speed}"

    def key_mode(self) -> str:
        focused = self.focused
        if focused is not None and focused.id == "search":
            return "search"
        if isinstance(focused, Input) and focused.id == "ask":
            return "input"
        return "replay" if self.player is not None else "keys"

    # ------------------------------------------------------------------ input

    @on(Input.Submitted, "#ask")
    def submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        event.input.value = ""
        if not text:
            return
        if text.startswith("/"):
            self.slash_command(text)
        elif self.player is not None:
            self.notify("This is a replay: it takes no questions.", severity="warning")
        else:
            self.start_run(text)

    def slash_command(self, text: str) -> None:
        command, _, rest = text.partition(" ")
        command = command.lower()
        if command in ("/help", "/?"):
            self.action_help()
        elif command == "/reset":
            self.action_reset()
        elif command in ("/quit", "/exit"):
            self.run_worker(self.action_quit())
        elif command == "/save":
            self.save_final(rest.strip() or None)
        elif command == "/history":
            self.action_history()
        else:
            self.notify(f"Unknown command {one_line(command, 30)}: try /help", severity="warning")

    # ------------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        replay_only = {"toggle_pause", "step_part", "seek"}
        if action in replay_only:
            return self.player is not None
        return True

    def action_focus_input(self) -> None:
        self.ask.focus()

    def action_leave_input(self) -> None:
        """Esc: from the search box back to the answer; from the input to the selected card
        (letters then act as keys and the arrows scroll it)."""
        focused = self.focused
        if focused is not None and focused.id == "search":
            self.query_one(FinalPane).close_search()
            return
        cards = list(self.query(AgentCard))
        if cards:
            cards[min(self.selected, len(cards) - 1)].transcript.focus()
        elif self.query_one(FinalPane).display:
            self.query_one(FinalPane).text.focus()
        else:
            self.query_one("#score-list", OptionList).focus()

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
        if self.running and self.player is None:
            self.workers.cancel_group(self, "run")
            self.notify("Run cancelled; its events so far are kept.")
        elif self.player is not None:
            self.notify("A replay: space pauses it, q quits.")
        else:
            self.notify("Nothing to cancel. Ctrl+Q quits.")

    async def action_quit(self) -> None:
        from massgen.tui.screens import ConfirmScreen

        if self.running and self.player is None:
            if isinstance(self.screen, ConfirmScreen):
                return

            def answered(yes: bool | None) -> None:
                if yes:
                    self.quit_mid_run = True
                    self.exit()

            self.push_screen(ConfirmScreen("A run is going. Stop it and quit?"), answered)
            return
        self.exit()

    def select_agent(self, index: int) -> None:
        cards = list(self.query(AgentCard))
        if not cards:
            return
        index %= len(cards)
        if index == self.selected and cards[index].has_class("-selected"):
            return
        self.selected = index
        one = self.zoomed or (self.layout_plan is not None and self.layout_plan.tabs)
        with self.batch_update():
            for card in cards:
                card.set_class(card.index == index, "-selected")
                if one:
                    card.display = card.index == index
        self.pending_cards.add(cards[index].agent_id)
        self.view.dirty.add("tabs")

    def action_select_agent(self, index: int) -> None:
        if index < len(self.query(AgentCard)):
            self.select_agent(index)

    def action_next_agent(self) -> None:
        self.select_agent(self.selected + 1)

    def action_previous_agent(self) -> None:
        self.select_agent(self.selected - 1)

    def action_zoom(self) -> None:
        self.zoomed = not self.zoomed
        self.apply_layout()

    def action_toggle_tabs(self) -> None:
        self.settings.tabs = not self.settings.tabs
        self.save_settings()
        self.apply_layout()

    def action_toggle_scoreboard(self) -> None:
        self.settings.scoreboard = not self.settings.scoreboard
        self.save_settings()
        self.apply_layout()

    def action_focus_scoreboard(self) -> None:
        board = self.query_one(Scoreboard)
        if not board.display:
            self.notify("The scoreboard is hidden: c shows it.")
            return
        listing = board.options
        listing.focus()
        if listing.highlighted is None and listing.option_count:
            listing.action_first()

    @on(OptionList.OptionSelected, "#score-list")
    def open_entry(self, event: OptionList.OptionSelected) -> None:
        from massgen.tui.screens import TextScreen

        kind, _, key = str(event.option.id or "").partition(":")
        view = self.view
        if kind == "answer" and (answer := self.answer_at(key)):
            voters = [v for v in view.votes.values() if v.target_answer == answer.label]
            lines = [answer.content, "", "---", ""]
            lines += [
                f"- **{view.label_of(v.voter_id)}** voted for it: {v.reason or '(no reason)'}"
                for v in voters
            ] or ["*No votes for this answer yet.*"]
            title = f"{answer.label} · {answer.agent_label} ({answer.agent_id})"
            self.push_screen(TextScreen(title, "\n".join(lines)))
        elif kind == "vote" and (vote := view.votes.get(key)):
            target = view.answer(vote.target_answer)
            text = f"**Reason:** {vote.reason or '(none)'}\n\n---\n\n" + (
                target.content if target else ""
            )
            voter = view.label_of(vote.voter_id)
            self.push_screen(TextScreen(f"{voter} → {vote.target_answer}", text))

    def answer_at(self, index: str) -> Any:
        """The answer a scoreboard entry's id points to (``answer:<index>``)."""
        answers = self.view.answers
        return answers[int(index)] if index.isdigit() and int(index) < len(answers) else None

    def action_diff_mark(self) -> None:
        from massgen.tui.screens import DiffScreen

        selected = self.query_one(Scoreboard).selected() or ""
        kind, _, index = selected.partition(":")
        answer = self.answer_at(index) if kind == "answer" else None
        if answer is None:
            self.notify("Highlight an answer in the scoreboard first (a, then ↑ ↓).")
            return
        if self.diff_from is None or self.diff_from == answer.label:
            self.diff_from = answer.label
            self.notify(
                f"Compare {one_line(answer.label, 20)} with…: highlight another answer and press d."
            )
            return
        old, new = self.view.answer(self.diff_from), answer
        self.diff_from = None
        if old and new:
            self.push_screen(DiffScreen((old.label, old.content), (new.label, new.content)))

    def action_toggle_final(self) -> None:
        pane = self.query_one(FinalPane)
        if not self.view.final_text and not self.final_max:
            self.notify("No final answer yet.")
            return
        self.final_max = not self.final_max
        self.apply_layout()
        if self.final_max:
            pane.text.focus()

    def action_search(self) -> None:
        if not self.view.final_text:
            self.notify("No final answer to search yet.")
            return
        self.query_one(FinalPane).open_search()

    def action_save_final(self) -> None:
        from massgen.tui.screens import AskScreen

        if not self.view.final_text:
            self.notify("No final answer to save yet.")
            return
        default = time.strftime("massgen-answer-%Y%m%d-%H%M%S.md")
        self.push_screen(AskScreen("Save the final answer to:", default), self.save_final)

    def save_final(self, name: str | None) -> None:
        text = self.view.final_text
        if not text:
            self.notify("No final answer to save yet.")
            return
        if not name:
            name = time.strftime("massgen-answer-%Y%m%d-%H%M%S.md")
        path = Path(name).expanduser()
        try:
            with open(path, "x", encoding="utf-8") as handle:  # never overwrites
                handle.write(text.rstrip("\n") + "\n")
        except FileExistsError:
            self.notify(f"{one_line(path, 60)} exists: choose another name.", severity="error")
            return
        except OSError as exc:
            self.notify(f"Could not save: {one_line(exc, 80)}", severity="error")
            return
        self.notify(f"Saved the final answer to {one_line(path.resolve(), 80)}.")

    def action_copy_final(self) -> None:
        text = self.view.final_text
        if not text:
            self.notify("No final answer yet.")
            return
        from massgen.tui import clipboard  # (subprocess: imported when needed)

        if clipboard.copy(text):
            self.notify("Final answer copied to the clipboard.")
            return
        self.copy_to_clipboard(text)  # OSC 52: the terminal may or may not honour it
        self.notify(
            "Sent the answer to the terminal's clipboard (OSC 52). If it did not arrive, your "
            "terminal does not support that: press w to save it to a file.",
            timeout=8,
        )

    def action_help(self) -> None:
        from massgen.tui.screens import HelpScreen

        if isinstance(self.screen, HelpScreen):
            self.pop_screen()
        else:
            self.push_screen(HelpScreen())

    def action_history(self) -> None:
        from massgen.tui.screens import HistoryScreen

        if self.player is not None:
            player = self.player

            def chosen(index: int | None) -> None:
                if index is not None:
                    player.goto_part(index)

            screen = HistoryScreen(player.summaries(), player.part, seekable=True)
            self.push_screen(screen, chosen)
        else:
            self.push_screen(HistoryScreen(self.parts, len(self.parts) - 1, seekable=False))

    def action_toggle_pause(self) -> None:
        if self.player is not None:
            self.player.toggle_pause()

    def action_step_part(self, step: int) -> None:
        if self.player is not None:
            self.player.step_part(step)

    def action_seek(self, seconds: float) -> None:
        if self.player is not None:
            self.player.seek(seconds)
            self.view.dirty.add("layout")

    # ------------------------------------------------------------------ settings

    def watch_theme(self, theme: str) -> None:
        if self.settings_ready and theme != self.settings.theme:
            self.settings.theme = theme
            self.save_settings()

    def save_settings(self) -> None:
        try:
            self.settings.save(self.settings_path)
        except OSError as exc:
            self.notify(f"Settings not saved: {one_line(exc, 80)}", severity="warning")

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        actions = [
            ("Cancel run", "Cancel the running coordination", self.action_cancel_run),
            ("Next agent", "Select the next agent", self.action_next_agent),
            ("Previous agent", "Select the previous agent", self.action_previous_agent),
            ("Zoom agent", "Show only the selected agent", self.action_zoom),
            ("Toggle tabs", "Tabs instead of the grid", self.action_toggle_tabs),
            ("Toggle scoreboard", "Show or hide the scoreboard", self.action_toggle_scoreboard),
            ("Final answer", "Focus and maximise the final answer", self.action_toggle_final),
            ("Search final answer", "Find text in the final answer", self.action_search),
            ("Save final answer", "Write it to a file", self.action_save_final),
            ("Copy final answer", "Copy it to the clipboard", self.action_copy_final),
            ("History", "Every part of this conversation", self.action_history),
            ("Help", "Keys and commands", self.action_help),
            ("New conversation", "Forget the history (/reset)", self.action_reset),
        ]
        for title, help_text, callback in actions:
            yield SystemCommand(title, help_text, callback)

    # ------------------------------------------------------------------ the end

    def notify(self, message: str, **kwargs: Any) -> None:
        """A toast; plain text (a file name or label with ``[`` is not markup)."""
        kwargs.setdefault("markup", False)
        super().notify(message, **kwargs)

    def _handle_exception(self, error: Exception) -> None:
        """A crash: remember it for the CLI (one readable line, exit 2), no traceback on
        the screen (``--debug`` shows it)."""
        if self.crash is None:
            self.crash = error
        super()._handle_exception(error)

    def _fatal_error(self) -> None:
        self._close_messages_no_wait()

    async def on_unmount(self) -> None:
        for agent in self.agents:
            with contextlib.suppress(Exception):  # best effort on the way out
                await agent.backend.aclose()
