"""What the user does with the answers: open a scoreboard entry, compare two answers, and
maximise, search, save or copy the final answer. Part of :class:`massgen.tui.app.MassGenApp`."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from massgen.tui import words
from massgen.tui.artifacts import NOT_HERE
from massgen.tui.copy_keys import CopyKeys
from massgen.tui.final import FinalPane
from massgen.tui.scoreboard import Scoreboard
from massgen.tui.text import one_line

if TYPE_CHECKING:
    from massgen.tui.state import RunView


class AnswerActions(CopyKeys):
    """The answer and final-answer keys (a part of the app)."""

    view: RunView
    final_max: bool
    diff_from: str | None

    apply_layout: Callable[[], None]  # the app's
    #: opens a file with the system's player: None, or the line to tell the user
    opener: Callable[[str], str | None]

    def action_focus_scoreboard(self) -> None:
        board = self.query_one(Scoreboard)
        if not board.display:
            self.notify("The scoreboard is hidden: c shows it.")
            return
        listing = board.options
        listing.focus()
        if listing.highlighted is None and listing.option_count:
            listing.action_first()

    def open_score_entry(self, entry: str) -> None:
        """A scoreboard entry (``answer:<index>`` or ``vote:<voter>``) on its own screen."""
        from massgen.tui.screens import TextScreen

        kind, _, key = entry.partition(":")
        view = self.view
        if kind == "answer" and (answer := self.answer_at(key)):
            voters = [v for v in view.votes.values() if v.target_answer == answer.label]
            notes = [
                f"- **{view.label_of(v.voter_id)}** voted for it: {v.reason or '(no reason)'}"
                for v in voters
            ] or ["*No votes for this answer yet.*"]
            if not view.has_votes:  # a debate's agreement, or nothing (judge)
                notes = words.answer_notes(view, answer.agent_label)
            lines = [answer.content, *(["", "---", "", *notes] if notes else [])]
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
        self.copy_out(text, "Final answer", "press w to save it to a file")

    def action_open_artifact(self, path: str) -> None:
        """A medium an agent made, with the system's player (a click on it; Enter on its
        tile in the final answer's pane)."""
        if not path:  # a server's medium with no copy here
            self.notify(f"Nothing to open: {NOT_HERE}.", severity="warning")
            return
        problem = self.opener(path)
        if problem:
            self.notify(problem, severity="warning")
        else:
            self.notify(f"Opening {one_line(Path(path).name, 60)}…")
