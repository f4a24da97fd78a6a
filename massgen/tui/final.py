"""The final answer pane: streamed as the winner writes it, searchable with ``/``."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input

from massgen.tui import words
from massgen.tui.markdown_view import MarkdownView
from massgen.tui.media_view import MediaShelf
from massgen.tui.state import RunView
from massgen.tui.text import one_line

#: Columns of the final answer's text at most (app.tcss: ``#final-text``'s max-width, less
#: the scrollbar's column): lines longer than this are hard to read.
READING_WIDTH = 100


class FinalPane(Vertical):
    """The winner's answer. ``/`` searches it: in the search box Enter or ↓ goes to the next
    match and ↑ to the previous (letters are the query); Tab moves to the answer, where n and
    N step; Esc closes."""

    BINDINGS = [  # noqa: RUF012 (Textual's convention)
        Binding("n", "match(1)", "Next match", show=False),
        Binding("N", "match(-1)", "Previous match", show=False),
        # reached from the search box only: the answer itself scrolls with ↑ and ↓
        Binding("down", "match(1)", "Next match", show=False),
        Binding("up", "match(-1)", "Previous match", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield Input(
            placeholder="Search…  (Enter/↓ next · ↑ previous · Tab, then n/N · Esc close)",
            id="search",
        )
        yield MarkdownView(id="final-text", follow=False)  # read from the top
        yield MediaShelf(id="final-media")  # the media the agents made

    def on_mount(self) -> None:
        self.query_one("#search", Input).display = False
        self.media.display = False

    @property
    def media(self) -> MediaShelf:
        return self.query_one("#final-media", MediaShelf)

    @property
    def text(self) -> MarkdownView:
        return self.query_one("#final-text", MarkdownView)

    def draw(self, view: RunView) -> None:
        shown = view.winner_id is not None or bool(view.final_text)
        self.display = shown
        if not shown:
            self.text.update("")
            self.media.show([])
            return
        label = view.winner_label or "?"
        title = (
            f"Final answer · winner {one_line(label, 20)} ({one_line(view.winner_id or '?', 30)})"
        )
        if view.aggregates:  # judge: nobody won; one agent combined the answers
            title = "Final answer"
        if outcome := words.outcome(view, label):
            title += f" · {outcome}"
        if not view.final_done and view.running:
            title += " · writing…"
        self.border_title = title
        self.text.update(view.final_markdown())
        self.media.show(view.artifacts)

    def wanted_height(self) -> int:
        """Rows to show all of the answer: its lines, the border, the search box."""
        search = 1 if self.query_one("#search", Input).display else 0
        if self.media.display:
            search += self.media.wanted_rows
        lines = self.text.line_count
        if self.text.wanted and not self.text.source:  # not rendered yet: estimate
            width = max(20, min(self.size.width - 4, READING_WIDTH))
            lines = sum(1 + len(line) // width for line in self.text.wanted.splitlines())
        return lines + 2 + search

    # ------------------------------------------------------------------ search

    def open_search(self) -> None:
        search = self.query_one("#search", Input)
        search.display = True
        search.focus()
        self.app.fit_final()  # type: ignore[attr-defined]

    @on(Input.Changed, "#search")
    def _search_changed(self, event: Input.Changed) -> None:
        found = self.text.search(event.value)
        self.border_subtitle = f"{found} match(es)" if event.value else ""

    @on(Input.Submitted, "#search")
    def _search_next(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_match(1)

    def action_match(self, step: int) -> None:
        self.text.show_match(step)
        if self.text.matches:
            current = self.text.current_match + 1
            self.border_subtitle = f"match {current} of {self.text.matches}"

    def close_search(self) -> None:
        search = self.query_one("#search", Input)
        search.display = False
        self.text.search("")
        self.border_subtitle = ""
        self.text.focus()
        self.app.fit_final()  # type: ignore[attr-defined]
