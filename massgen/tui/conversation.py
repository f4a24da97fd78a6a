"""The conversation so far stays on screen: each earlier question and its final answer is one
collapsed row above the run (``▶ Q: … → A: …``), and Enter or a click on a row unfolds the
whole answer. The rows are built only when the earlier turns change (a new run, a reset, a
session reopened), never while a run streams, so they cost nothing per frame and nothing
moves while the final answer is written (see docs/architecture.md, "tui/").

:class:`ConversationView` is the part of :class:`massgen.tui.app.MassGenApp` that keeps the
strip in step with the app's history; :class:`ConversationLog` is the strip."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from rich.console import Group
from rich.text import Text
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.events import Click
from textual.message import Message
from textual.widgets import Static

from massgen.tui.app_part import AppPart
from massgen.tui.layout import CHROME_HEIGHT
from massgen.tui.text import one_line, safe

if TYPE_CHECKING:
    from massgen.events import Event
    from massgen.tui.player import ReplayPlayer
    from massgen.tui.state import RunView


def recorded_turns(parts: Sequence[Sequence[Event]]) -> list[tuple[str, str] | None]:
    """Each recorded part's question and final answer (None for a part without one)."""
    from massgen.events import RunFinished, RunStarted

    out: list[tuple[str, str] | None] = []
    for events in parts:
        question = next((e.question for e in events if isinstance(e, RunStarted)), "")
        final = next((e.final_answer for e in events if isinstance(e, RunFinished)), None)
        out.append((question, final) if question and final else None)
    return out


class TurnRow(Static, can_focus=True):
    """One earlier question and its final answer: one line, or unfolded in full."""

    BINDINGS = [  # noqa: RUF012 (Textual's convention)
        Binding("enter,space", "fold", "Unfold or fold", show=False),
    ]

    class Toggled(Message):
        """A row was unfolded or folded: the strip's height changes."""

        def __init__(self, row: TurnRow) -> None:
            super().__init__()
            self.row = row

    def __init__(self, question: str, answer: str) -> None:
        super().__init__(classes="turn")
        self.question, self.answer = question, answer
        self.expanded = False

    def on_mount(self) -> None:
        self.show()

    def on_resize(self) -> None:
        if not self.expanded:
            self.show()  # the question's share of the line depends on the width

    def show(self) -> None:
        if not self.expanded:
            # A long question takes at most 3/5 of the line, so some answer always shows.
            room = self.size.width - 14
            question = one_line(self.question, max(12, room * 3 // 5) if room > 0 else 300)
            line = Text(no_wrap=True, overflow="ellipsis")
            line.append("▶ Q: ", style="bold")
            line.append(question)
            line.append("  →  A: ", style="bold")
            line.append(one_line(self.answer, 600), style="dim")
            self.update(line)
            return
        from massgen.tui.markdown import SafeMarkdown

        head = Text()
        head.append("▼ Q: ", style="bold")
        head.append(safe(self.question))
        self.update(Group(head, Text("A:", style="bold"), SafeMarkdown(self.answer)))

    def action_fold(self) -> None:
        self.expanded = not self.expanded
        self.set_class(self.expanded, "-expanded")
        self.show()
        self.post_message(self.Toggled(self))

    def on_click(self, event: Click) -> None:
        event.stop()
        self.focus()
        self.action_fold()


class ConversationLog(VerticalScroll, can_focus=False):
    """The earlier turns of the conversation, oldest first, above the run."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.turns: list[tuple[str, str]] = []

    @property
    def rows(self) -> list[TurnRow]:
        return list(self.query(TurnRow))

    async def show(self, turns: Sequence[tuple[str, str]]) -> None:
        self.turns = list(turns)
        with self.app.batch_update():
            await self.remove_children()
            await self.mount_all(TurnRow(q, a) for q, a in self.turns)
        self.scroll_end(animate=False, immediate=True)

    def height_for(self, body: int) -> int:
        """The rows the strip may take in a body of ``body`` rows: one per turn up to a
        sixth of it (the latest in view, the rest a scroll away), up to half of it while a
        turn is unfolded; 0 without earlier turns."""
        if not self.turns:
            return 0
        folded = min(len(self.turns), max(1, body // 6))
        return max(folded, body // 2) if self.unfolded else folded

    @property
    def unfolded(self) -> bool:
        return any(row.expanded for row in self.rows)


class ConversationView(AppPart):
    """Keeping the strip of earlier turns in step with the app's history (a part of the
    app). The turns shown are those the history held when the current run's view was made:
    the run on screen adds its own turn only when the next one starts."""

    history: list[tuple[str, str]]
    view: RunView
    player: ReplayPlayer | None
    apply_layout: Callable[[], None]  # the app's
    turns_for: RunView | None = None  # the view the earlier turns were counted for
    turns_before = 0  # how many of the history's turns came before that view
    turns_shown: tuple[int, ...] | None = None  # what the strip was built from
    recorded: list[tuple[str, str] | None] | None = None  # a replay's turns, once read

    def count_earlier_turns(self) -> None:
        """The view on screen is new: the history so far is what came before it (called as
        a run starts, before it can add its own turn)."""
        self.turns_for, self.turns_before = self.view, len(self.history)

    def draw_conversation(self) -> None:
        """Every frame, before the frame's layout: rebuilds the strip only when the earlier
        turns changed (then the layout makes room for it). A replay shows the recorded
        parts before the one playing."""
        if self.player is not None:
            self.draw_recorded_turns(self.player)
            return
        if self.view is not self.turns_for:  # a reset, a session reopened, the first frame
            self.count_earlier_turns()
        history = self.history
        count = min(self.turns_before, len(history))
        key = (id(history), count, id(history[count - 1]) if count else 0)
        if key == self.turns_shown:
            return
        self.turns_shown = key
        self.run_worker(self.show_turns(history[:count]), group="conversation", exclusive=True)

    def draw_recorded_turns(self, player: ReplayPlayer) -> None:
        key = (-1, player.part)
        if key == self.turns_shown:
            return
        self.turns_shown = key
        if self.recorded is None:
            self.recorded = recorded_turns(player.parts)
        turns = [turn for turn in self.recorded[: player.part] if turn is not None]
        self.run_worker(self.show_turns(turns), group="conversation", exclusive=True)

    async def show_turns(self, turns: list[tuple[str, str]]) -> None:
        await self.query_one(ConversationLog).show(turns)
        self.apply_layout()

    def fit_conversation(self, height: int) -> int:
        """Size the strip for a terminal ``height`` rows tall; returns the rows it takes
        (the layout plans the rest of the screen without them)."""
        log = self.query_one(ConversationLog)
        rows = log.height_for(max(1, height - CHROME_HEIGHT))
        log.display = rows > 0
        # folded: one row a turn; unfolded: as tall as the text, up to ``rows``
        unfolded = log.unfolded
        log.styles.height = "auto" if unfolded else rows
        log.styles.max_height = rows if unfolded else None
        return rows

    def on_turn_row_toggled(self, message: TurnRow.Toggled) -> None:
        self.apply_layout()
        log = self.query_one(ConversationLog)
        self.call_after_refresh(log.scroll_to_widget, message.row, animate=False)
