"""The app's screens over the main view: help, an answer in full, a diff of two answers, a
question (quit? save where?), and the conversation's history."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from massgen.tui import words
from massgen.tui.cards import money
from massgen.tui.markdown_view import MarkdownView
from massgen.tui.state import RunView
from massgen.tui.text import one_line, safe

HELP = """\
## Keys

The input at the bottom is always ready: type a question and press **Enter**. While a run
is going, Enter sends the text to the agents as a note (each reads it at its next turn) and
`/next QUESTION` queues a question for when the run ends. **Esc** leaves the input so that
letters act as keys; **i** or **Enter** goes back to it.

| key | does |
|---|---|
| `n` / `p`, `1`-`9` | next / previous agent, agent N |
| `z` | zoom the selected agent (again: back to the grid) |
| `t` | tabs instead of the grid (kept in your settings) |
| `c` | show or hide the scoreboard (kept in your settings) |
| `a` | go to the scoreboard's answers and votes: **Enter** opens one, `d` marks two to compare |
| `f` | focus and maximise the final answer (again: restore) |
| `/` | search the final answer (Enter or `n` next match, `N` previous, Esc closes) |
| `w` | save the final answer to a file |
| `y` | copy the final answer (OSC 52 too: works over SSH; in tmux with `set-clipboard on`) |
| `v` | votes: who voted for whom with the full reasons, per round, the tally and the winner |
| `x` | the selected agent's tool calls: arguments, result or error, time (`n` / `p` agent) |
| `s` | save a screenshot (SVG) into the session's folder |
| `h` | history: every question of this conversation, its winner, votes and cost |
| `o` | open a recorded session and go on with its conversation (when no run is going) |
| `?`, F1 | this help |
| Ctrl+C | copy the mouse selection; without one, cancel the run (its log is kept) |
| Ctrl+F | answer now: the coordination ends and the leader presents at once |
| `q`, Ctrl+Q | quit (asks first while a run is going) |
| Ctrl+P | command palette (themes and every action) |
| ↑ ↓ PgUp PgDn | scroll the focused card or pane |

Earlier questions of the conversation stay above the run, one row each: **Enter** or a
click on a row unfolds its answer.

**Media** the agents make (pictures, sounds, videos) show under the answer that made them
and on the final answer's shelf: a click on one, or **Enter** on its tile (Tab to it), opens
it with the system's player. `MASSGEN_IMAGES` = `kitty`, `sixel`, `halfblock` or `off` says
how pictures are drawn (by default: the terminal's way, half blocks where it has none).

**Replay**: `space` pause or play, `[` / `]` previous / next part, `,` / `.` seek 10 s back
or forward (of the recording), `h` lists the parts.

## Commands

`/help` · `/reset` new conversation · `/save [FILE]` save the final answer · `/next QUESTION`
queue a question during a run · `/quit`
"""


class Dialog(ModalScreen[None]):
    """A closable screen: Esc, q, or its own key closes it."""

    BINDINGS = [  # noqa: RUF012
        Binding("escape", "close", "Close"),
        Binding("q", "close", "Close", show=False),
    ]

    def action_close(self) -> None:
        self.dismiss(None)


class HelpScreen(Dialog):
    BINDINGS = [  # noqa: RUF012
        Binding("question_mark", "close", show=False),
        Binding("f1", "close", show=False),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="help"):
            yield MarkdownView(id="help-text", follow=False)  # read from the top

    def on_mount(self) -> None:
        panel = self.query_one("#help")
        panel.border_title = "massgen · help"
        panel.border_subtitle = "Esc closes"
        self.call_after_refresh(self.query_one("#help-text", MarkdownView).update, HELP)
        self.query_one("#help-text", MarkdownView).focus()


class TextScreen(Dialog):
    """One text in full (an answer, a vote's reason), as Markdown."""

    def __init__(self, title: str, markdown: str) -> None:
        super().__init__()
        self.title_text, self.markdown = title, markdown

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield MarkdownView(id="full-text", follow=False)  # read from the top

    def on_mount(self) -> None:
        panel = self.query_one(".dialog")
        panel.border_title = one_line(self.title_text, 100)
        panel.border_subtitle = "Esc closes"
        view = self.query_one("#full-text", MarkdownView)
        self.call_after_refresh(view.update, self.markdown)
        view.focus()


def diff_text(old: str, new: str, old_name: str, new_name: str) -> Text:
    """A unified diff of two answers, line by line, coloured."""
    out = Text()
    lines = list(
        difflib.unified_diff(
            safe(old).splitlines(), safe(new).splitlines(), old_name, new_name, lineterm="", n=3
        )
    )
    if not lines:
        out.append("The two answers are the same.", style="dim")
    for line in lines:
        style = ""
        if line.startswith(("+++", "---")):
            style = "bold"
        elif line.startswith("+"):
            style = "green"
        elif line.startswith("-"):
            style = "red"
        elif line.startswith("@@"):
            style = "cyan"
        out.append(line + "\n", style=style)
    return out


class DiffScreen(Dialog):
    def __init__(self, old: tuple[str, str], new: tuple[str, str]) -> None:
        super().__init__()
        self.old, self.new = old, new

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(diff_text(self.old[1], self.new[1], self.old[0], self.new[0]), id="diff")

    def on_mount(self) -> None:
        panel = self.query_one(".dialog")
        panel.border_title = f"{one_line(self.old[0], 30)} → {one_line(self.new[0], 30)}"
        panel.border_subtitle = "Esc closes"


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question: y or Enter says yes, n or Esc says no."""

    BINDINGS = [  # noqa: RUF012
        Binding("y,enter", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog small"):
            question = Text(self.question + "\n\n", style="bold")
            yield Static(question + Text("y / Enter: yes · n / Esc: no"))

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class AskScreen(ModalScreen[str | None]):
    """One line of input (a file name): Enter accepts, Esc cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]  # noqa: RUF012

    def __init__(self, question: str, value: str = "") -> None:
        super().__init__()
        self.question, self.value = question, value

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog small"):
            yield Static(self.question)
            yield Input(value=self.value, id="answer")

    def on_mount(self) -> None:
        self.query_one("#answer", Input).focus()

    @on(Input.Submitted, "#answer")
    def _accept(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


def part_line(number: int, part: RunView, width: int) -> Text:
    """Two lines: the question, then status, winner and how it won (the strategy's words:
    votes, agreement, aggregator), and cost."""
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append(f"{number:>2}. ", style="bold")
    line.append(one_line(part.question or "(no question)", max(10, width)))
    status = one_line(part.status, 20)
    label = part.winner_label or "-"
    winner = "" if part.aggregates else f"winner {one_line(label, 20)} · "
    outcome = words.outcome(part, label) or ("no votes" if part.has_votes else "no result")
    cost = money(part.cost_usd, part.cost_known) if part.prompt_tokens else "$0"
    line.append(f"\n    {status} · {winner}{outcome} · {cost}", style="dim")
    return line


def part_detail(part: RunView) -> str:
    """A part's answers, votes and final answer, as Markdown."""
    out = [f"## {safe(part.question) or '(no question)'}", ""]
    status = part.status
    out.append(
        f"*{status} · {part.elapsed:.1f}s · "
        f"{part.prompt_tokens + part.completion_tokens:,} tokens · "
        f"{money(part.cost_usd, part.cost_known) if part.prompt_tokens else '$0'}*"
    )
    if part.groups:
        out += ["", "### Agreement", ""]
        for number, groups in sorted(part.groups.items()):
            line = " · ".join(words.group_line(g) for g in groups)
            out.append(f"- {part.step_noun} {number}: {line}")
    if part.aggregates and (who := words.aggregator(part)):
        out += ["", f"*aggregated by {who}*"]
    if part.has_votes:
        out += ["", "### Votes", ""]
        tally = part.tally
        out += [f"- **{label}**: {words.count(n)}" for label, n in tally.items()] or ["- none"]
    for vote in part.votes.values():
        reason = f": {vote.reason}" if vote.reason else ""
        out.append(f"- {part.label_of(vote.voter_id)} → {vote.target_answer}{reason}")
    out += ["", "### Answers", ""]
    for answer in part.answers:
        out += [f"**{answer.label}** ({answer.agent_id})", "", answer.content, ""]
    if part.final_text:
        out += ["### Final answer", "", part.final_text]
    return "\n".join(out)


class HistoryScreen(ModalScreen[int | None]):
    """Every part of the conversation. Moving through the list shows a part's answers and
    votes; Enter (in a replay) jumps there."""

    BINDINGS = [  # noqa: RUF012
        Binding("escape,q,h", "close", "Close"),
    ]

    def __init__(self, parts: Sequence[RunView], current: int, *, seekable: bool) -> None:
        super().__init__()
        self.parts, self.current, self.seekable = list(parts), current, seekable

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="history"), Horizontal():
            yield OptionList(id="parts")
            yield MarkdownView(id="part-detail", follow=False)  # read from the top

    def on_mount(self) -> None:
        panel = self.query_one("#history")
        panel.border_title = f"History · {len(self.parts)} part(s)"
        panel.border_subtitle = "Enter jumps there · Esc closes" if self.seekable else "Esc closes"
        listing = self.query_one("#parts", OptionList)
        listing.add_options(
            [Option(part_line(i, p, 40), id=str(i - 1)) for i, p in enumerate(self.parts, 1)]
        )
        if self.parts:
            listing.highlighted = min(max(0, self.current), len(self.parts) - 1)
        listing.focus()

    @on(OptionList.OptionHighlighted, "#parts")
    def _show(self, event: OptionList.OptionHighlighted) -> None:
        index = int(event.option.id or 0)
        detail = self.query_one("#part-detail", MarkdownView)
        self.call_after_refresh(self._detail, detail, part_detail(self.parts[index]))

    @staticmethod
    def _detail(detail: MarkdownView, markdown: str) -> None:
        """Another part's detail, from its top."""
        detail.update(markdown)
        detail.scroll_home(animate=False, immediate=True)

    @on(OptionList.OptionSelected, "#parts")
    def _select(self, event: OptionList.OptionSelected) -> None:
        if self.seekable:
            self.dismiss(int(event.option.id or 0))

    def action_close(self) -> None:
        self.dismiss(None)
