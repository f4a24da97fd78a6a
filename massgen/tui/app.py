"""The terminal app: every agent in view as a card, a live scoreboard, the final answer, a
history of the conversation, and an input that is always enabled.

The app starts each run as a :class:`massgen.runs.ActiveRun` and reads its events and nothing
else (:mod:`massgen.tui.run_control`); a recorded session is replayed by
:mod:`massgen.tui.replay_control`. Events are drained and drawn at
most :attr:`MassGenApp.REPAINT_HZ` times a second, so many fast streams stay smooth. Keys are
modal: while the input has focus, typing is text (app keys act once Esc leaves it; ``i`` or
Enter goes back), and focus only moves when the user moves it.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.css.query import NoMatches
from textual.events import Resize
from textual.geometry import Size
from textual.screen import Screen
from textual.widgets import Input, OptionList

from massgen.tui.agent_view import ACTIVE
from massgen.tui.answer_actions import AnswerActions
from massgen.tui.cards import AgentCard, TabBar
from massgen.tui.chrome import PLACEHOLDERS, KeyBar, RunHeader, elapsed
from massgen.tui.conversation import ConversationLog, ConversationView
from massgen.tui.copy_keys import CopyKeys
from massgen.tui.final import FinalPane
from massgen.tui.inspect_keys import InspectKeys
from massgen.tui.layout import SCOREBOARD_BOTTOM_HEIGHT, Plan, plan
from massgen.tui.opener import open_file
from massgen.tui.remote_control import RemoteControl, TaskServer
from massgen.tui.replay_control import ReplayControl
from massgen.tui.run_control import AgentSource, Outcome, RunControl
from massgen.tui.scoreboard import Scoreboard
from massgen.tui.sessions_picker import SessionActions
from massgen.tui.settings import Settings
from massgen.tui.state import RunView
from massgen.tui.steer_control import SteerControl
from massgen.tui.text import one_line
from massgen.tui.view_keys import ViewKeys
from massgen.tui.welcome import Team, Welcome

if TYPE_CHECKING:
    from massgen.config.schema import OrchestratorConfig
    from massgen.coordination.state import AgentSpec
    from massgen.events import Subscription
    from massgen.sessions.recorder import SessionRecorder
    from massgen.tui.player import ReplayPlayer


def tune_gc() -> None:
    """Garbage collection for a long-lived process drawing many short-lived objects (each
    frame makes thousands of line strips): what is loaded so far moves out of the collector's
    way, and young collections run every 50,000 allocations instead of 700. With eight cards
    streaming, the default thresholds cost ~10% of the frames and push event-to-screen p95
    over 100 ms (benchmarks/bench_tui.py). Called by the CLI for the app's process."""
    import gc

    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


class MassGenApp(
    RunControl,
    RemoteControl,
    ReplayControl,
    AnswerActions,
    ViewKeys,
    InspectKeys,
    CopyKeys,
    SteerControl,
    ConversationView,
    SessionActions,
    App[None],
):
    """The app: its layout, frames, input and keys; runs, replays and the answer actions
    are its parts (the classes it is made of)."""

    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "massgen"
    REPAINT_HZ = 30
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+c", "copy_or_cancel", "Copy or cancel", priority=True, show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True, show=False),
        Binding("f1", "help", "Help", priority=True, show=False),
        Binding("ctrl+f", "answer_now", "Answer now", priority=True, show=False),
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
        Binding("o", "open_session", "Open a session", show=False),
        Binding("v", "show_votes", "Votes", show=False),
        Binding("x", "show_tool_calls", "Tool calls", show=False),
        Binding("s", "save_screenshot", "Screenshot", show=False),
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
        team: Team | None = None,
        server: TaskServer | None = None,
        attach: str | None = None,
        task_timeout: float | None = None,
    ) -> None:
        """``agents``: the agents, or a function building them (called in a thread after
        the first frame, so the screen paints before provider SDKs are imported).
        ``history`` continues an earlier conversation; ``recorder`` writes each run to the
        session log; ``replay`` (a recorded session's events, per part) plays them back at
        ``replay_speed`` instead of running agents. ``clock`` stamps live events' times.
        ``images`` go with the first question (``massgen --image``). ``team`` (from the
        config): what the welcome screen shows before the first question (the agents, checked;
        examples), and with a first question the agents' cards, up while ``agents`` are still
        being built. ``server``: every question goes to that massgen serve as a task
        (``task_timeout`` its timeout), and ``attach`` (a task id) is followed first."""
        super().__init__()
        self.agent_source = agents
        self.agents: list[AgentSpec] = [] if callable(agents) else list(agents)
        self.agents_ready = not callable(agents)
        self.orchestrator = orchestrator
        self.first_question = question
        self.pending_images = tuple(images)  # attached to the first question only
        self.team = team
        self.history: list[tuple[str, str]] = list(history)
        self.recorder = recorder
        self.clock = clock
        self.server = server
        self.attach_id = attach
        self.task_timeout = task_timeout
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
        self.results: list[Outcome] = []
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
        self.opener: Callable[[str], str | None] = open_file
        self._drawn_keys: tuple[str, int, bool, str] | None = None
        self._header_drawn = ""

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield RunHeader(id="header")
        with Horizontal(id="body"):
            with Vertical(id="main"):
                yield ConversationLog(id="conversation")
                yield TabBar(id="tabs")
                yield Welcome(self.team, id="welcome")
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
            if self.first_question and self.team:  # it starts when the agents are built
                # the cards right after the first frame, which stays as light as it was
                preview = self.team.preview()
                self.call_after_refresh(self.view.preview, preview, self.first_question)
            self.call_after_refresh(self.run_worker, self.build_agents, thread=True, group="build")
        elif self.first_question:
            self.start_run(self.first_question)
        elif self.attach_id:
            self.start_remote(None, self.attach_id)

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

    def on_agent_card_resized(self, message: AgentCard.Resized) -> None:
        self.pending_cards.add(message.agent_id)

    def apply_layout(self, size: Size | None = None) -> None:
        """Lay the screen out for its current size (never a previous one)."""
        width, height = size or self.size
        view = self.view
        final = view.winner_id is not None or bool(view.final_text)
        settings = self.settings
        p = plan(
            width,
            height - self.fit_conversation(height),
            len(view.agents),
            scoreboard=settings.scoreboard,
            final=final,
            ended=not view.running,
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
        """The final pane: the layout's share from its first streamed line until the answer
        is complete (so nothing moves while it streams), then as tall as its text up to that
        share, so a short answer gives the cards their room back; all of the main area when
        maximised."""
        pane, p, view = self.query_one(FinalPane), self.layout_plan, self.view
        if self.final_max or not view.agents:
            height: int | str = "1fr"
        else:
            limit = p.final_height if p is not None else 10
            streaming = view.running and not view.final_done
            height = limit if streaming else max(3, min(limit, pane.wanted_height()))
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

    async def draw(self, view: RunView) -> None:
        self.draw_conversation()
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
            if not card.size.width:  # mounted but not laid out yet: it waits for a later tick
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
        replay = self.replay_label() or self.remote_label()
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
            self.send_text(text)  # a question, or during a run a note to the agents

    @on(Welcome.Picked)
    def example_picked(self, message: Welcome.Picked) -> None:
        """An example question from the welcome screen: into the input, to edit or send."""
        self.ask.value = message.question
        self.ask.cursor_position = len(message.question)
        self.ask.focus()

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
        elif command == "/next":
            self.next_question(rest.strip())
        else:
            self.notify(f"Unknown command {one_line(command, 30)}: try /help", severity="warning")

    # ------------------------------------------------------------------ actions

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

    async def action_quit(self) -> None:
        from massgen.tui.screens import ConfirmScreen

        if self.running and self.server is not None:
            self.leave_remote()  # the task goes on on the server
            return
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

    @on(OptionList.OptionSelected, "#score-list")
    def open_entry(self, event: OptionList.OptionSelected) -> None:
        self.open_score_entry(str(event.option.id or ""))

    def action_help(self) -> None:
        from massgen.tui.screens import HelpScreen

        if isinstance(self.screen, HelpScreen):
            self.pop_screen()
        else:
            self.push_screen(HelpScreen())

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
            ("Open a session", "Go on with a recorded conversation", self.action_open_session),
            ("Votes", "Who voted for whom, with the reasons", self.action_show_votes),
            ("Tool calls", "The selected agent's tool calls", self.action_show_tool_calls),
            ("Screenshot into the session", "An SVG of the screen", self.action_save_screenshot),
            ("Help", "Keys and commands", self.action_help),
            ("New conversation", "Forget the history (/reset)", self.action_reset),
        ]
        for title, help_text, callback in actions:
            yield SystemCommand(title, help_text, callback)

    # ------------------------------------------------------------------ the end

    def notify(self, message: str, **kwargs: Any) -> None:
        """A toast. Ours are plain text (a file name or label with ``[`` is not markup);
        Textual's own ("Saved screenshot to [$text-success]…") are written in its markup."""
        if "markup" not in kwargs:
            caller = sys._getframe(1).f_globals.get("__name__", "")
            kwargs["markup"] = caller.startswith("textual.")
        super().notify(message, **kwargs)

    def deliver_screenshot(
        self, filename: str | None = None, path: str | None = None, time_format: str | None = None
    ) -> str | None:
        """The palette's Screenshot: saved where a folder exists (see screenshot.folder);
        Textual's toast then says where."""
        from massgen.tui.screenshot import folder

        session = self.recorder.path if self.recorder is not None else None
        path = path or str(folder(session))
        return super().deliver_screenshot(filename, path, time_format)

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
