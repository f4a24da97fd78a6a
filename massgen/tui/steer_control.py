"""The user's hand on a live run: during a run Enter sends the text to the agents as a note
(each reads it at its next turn, and it is recorded), ``/next QUESTION`` queues a question
for when the run ends, and Ctrl+F asks for the (final) answer now (the coordination ends and the
leader presents at once). Both go through :class:`massgen.runs.ActiveRun`. Part of
:class:`massgen.tui.app.MassGenApp`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from textual.actions import SkipAction

from massgen.tui.app_part import AppPart
from massgen.tui.text import one_line

if TYPE_CHECKING:
    from massgen.runs import ActiveRun
    from massgen.tui.player import ReplayPlayer


class SteerControl(AppPart):
    """Notes to the agents and "answer now" (a part of the app)."""

    active_run: ActiveRun | None
    running: bool
    player: ReplayPlayer | None
    start_run: Callable[[str], None]  # run_control's: starts, or queues during a run

    @property
    def live(self) -> ActiveRun | None:
        """The run the user can steer: a live one (not a replay) that is going."""
        return self.active_run if self.running and self.player is None else None

    def send_text(self, text: str) -> None:
        """Enter in the input: a note to the agents during a live run, else a question."""
        run = self.live
        if run is None:
            self.start_run(text)
            return
        reply = run.steer(text)
        if reply.accepted:
            self.notify(f"Note sent: each agent reads it at its next turn. {one_line(text, 60)}")
        else:
            self.notify(
                f"Note not sent: {reply.message} (/next QUESTION queues a question).",
                severity="warning",
            )

    def next_question(self, question: str) -> None:
        """``/next QUESTION``: the question, queued for when the run ends (at once if none)."""
        if not question:
            self.notify("/next QUESTION queues a question for when this run ends.")
            return
        self.start_run(question)

    def action_answer_now(self) -> None:
        """Ctrl+F: end the coordination, the leader presents now. Not Ctrl+E, the input's
        "end of line": editing a note must not end a run."""
        run = self.live
        if run is None:
            raise SkipAction
        reply = run.answer_now()
        if reply.accepted:
            self.notify(f"Answer now: {reply.message}.")
        else:
            self.notify(f"Answer now: {reply.message}.", severity="warning")
