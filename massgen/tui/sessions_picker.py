"""The session picker: the recorded conversations, newest first (date, first question,
parts, status), to reopen one and go on with it. ``massgen --resume`` shows it before the app
(:func:`pick_session`); in the app, ``o`` shows it when no run is going
(:class:`SessionActions`, a part of :class:`massgen.tui.app.MassGenApp`): the picked
session's questions and answers come on screen and the next question is its next part."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from massgen.sessions.listing import SessionEntry, recent_sessions
from massgen.tui.app_part import AppPart
from massgen.tui.chrome import PLACEHOLDERS
from massgen.tui.state import RunView
from massgen.tui.text import one_line

if TYPE_CHECKING:
    from collections.abc import Callable

    from textual.widgets import Input

    from massgen.sessions.recorder import SessionRecorder
    from massgen.tui.player import ReplayPlayer

STATUS_STYLE = {"ok": "green", "failed": "red", "interrupted": "yellow", "unreadable": "red"}


def entry_line(entry: SessionEntry, current: bool = False) -> Text:
    """One row: when, status, parts, the first question."""
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append(f"{entry.started:16}  ", style="dim")
    status = one_line(entry.status, 11)
    line.append(f"{status:11}  ", style=STATUS_STYLE.get(entry.status, "bold"))
    parts = f"{entry.parts} part" + ("" if entry.parts == 1 else "s")
    line.append(f"{parts:>8}  ", style="dim")
    line.append(one_line(entry.question or "(no question)", 300))
    if current:
        line.append("  (on screen)", style="bold")
    return line


class SessionsScreen(ModalScreen["Path | None"]):
    """The sessions, newest first: Enter opens the highlighted one, Esc closes."""

    BINDINGS = [Binding("escape,q", "close", "Close")]  # noqa: RUF012

    def __init__(self, entries: Sequence[SessionEntry], current: Path | None = None) -> None:
        super().__init__()
        self.entries, self.current = list(entries), current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="sessions"):
            yield OptionList(id="session-list")

    def on_mount(self) -> None:
        panel = self.query_one("#sessions")
        panel.border_title = f"Sessions · {len(self.entries)} · newest first"
        panel.border_subtitle = "Enter goes on with it · Esc closes"
        listing = self.query_one("#session-list", OptionList)
        listing.add_options(
            Option(
                entry_line(e, e.path == self.current),
                id=str(i),
                disabled=e.status == "unreadable",
            )
            for i, e in enumerate(self.entries)
        )
        listing.highlighted = next(
            (i for i, e in enumerate(self.entries) if e.status != "unreadable"), None
        )
        listing.focus()

    @on(OptionList.OptionSelected, "#session-list")
    def _open(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(self.entries[int(event.option.id or 0)].path)

    def action_close(self) -> None:
        self.dismiss(None)


class PickerApp(App["Path | None"]):
    """The picker on its own (``massgen --resume``): returns the session picked, or None."""

    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "massgen · sessions"

    def __init__(self, entries: Sequence[SessionEntry], theme: str | None = None) -> None:
        super().__init__()
        self.entries, self.chosen_theme = list(entries), theme

    def on_mount(self) -> None:
        if self.chosen_theme and self.chosen_theme in self.available_themes:
            self.theme = self.chosen_theme
        self.push_screen(SessionsScreen(self.entries), self.exit)


def pick_session(root: Path, settings_path: Path | None = None) -> Path | None:
    """The session under ``root`` the user picks in a full-screen list (None: Esc).
    Raises :class:`massgen.sessions.store.SessionNotFoundError` when there is none."""
    from massgen.sessions.store import SessionNotFoundError
    from massgen.tui.settings import Settings

    entries = recent_sessions(root)
    if not entries:
        raise SessionNotFoundError(f"no sessions in {root}")
    app = PickerApp(entries, Settings.load(settings_path).theme)
    app.run()
    return app.return_value


class SessionActions(AppPart):
    """Reopening a recorded conversation in the app (a part of the app)."""

    player: ReplayPlayer | None
    running: bool
    recorder: SessionRecorder | None
    history: list[tuple[str, str]]
    parts: list[RunView]
    view: RunView
    clock: Callable[[], float]
    final_max: bool

    if TYPE_CHECKING:

        @property
        def ask(self) -> Input: ...  # the app's question box

    def sessions_root(self) -> Path:
        from massgen.sessions.store import sessions_root

        return self.recorder.root if self.recorder is not None else sessions_root()

    def current_session(self) -> Path | None:
        """The session the next question is recorded in, if it exists already."""
        recorder = self.recorder
        return None if recorder is None else (recorder.path or recorder.resume)

    def action_open_session(self) -> None:
        if self.player is not None:
            self.notify("This is a replay: h lists its parts.")
            return
        if self.running:
            self.notify(
                "A run is going: open a session when it ends (Ctrl+C cancels it).",
                severity="warning",
            )
            return
        root = self.sessions_root()
        entries = recent_sessions(root)
        if not entries:
            self.notify(f"No recorded sessions yet in {root}.")
            return
        self.push_screen(SessionsScreen(entries, self.current_session()), self.open_session)

    def open_session(self, path: Path | None) -> None:
        """Go on with the conversation recorded at ``path``: its questions and answers on
        screen, the next question sent with them and recorded as its next part."""
        from massgen.sessions import store

        if path is None or self.running:
            return
        if path == self.current_session():
            self.notify("That is the conversation on screen.")
            return
        try:
            summary = store.load_summary(path)
        except store.SessionUnreadableError as exc:
            self.notify(f"Cannot open it: {one_line(exc, 100)}", severity="error")
            return
        turns = store.conversation(summary)
        if self.recorder is not None:
            self.recorder.continue_session(path)
        self.history = turns
        self.parts.clear()
        self.view = RunView(clock=self.clock)
        self.view.dirty |= {"layout", "header", "panel", "final"}
        self.final_max = False
        self.ask.placeholder = PLACEHOLDERS["follow-up"]
        self.ask.focus()
        count = len(summary.get("parts") or [])
        recorded = f"its part {count + 1}" if self.recorder else "not recorded (--no-log)"
        self.notify(
            f"Going on with {path.name}: {len(turns)} earlier question(s) above; "
            f"the next one is {recorded}."
        )
