"""The terminal app's widgets. Each draws part of a :class:`RunView`; none reads the engine."""

from __future__ import annotations

from textwrap import shorten

from rich.markdown import Markdown as RichMarkdown
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Markdown, Static

from massgen.tui.state import TURN_TITLES, AgentView, RunView

STATUS_STYLE = {
    "waiting": "dim",
    "thinking": "bold yellow",
    "answered": "bold cyan",
    "voted": "bold green",
    "restarting": "bold magenta",
    "failed": "bold red",
    "cancelled": "dim red",
}


def _format_tokens(view: RunView) -> str:
    tokens = f"{view.prompt_tokens + view.completion_tokens:,} tokens"
    if view.cost_usd is not None and view.cost_known:
        return f"{tokens} · ${view.cost_usd:.4f}"
    return f"{tokens} · cost unknown" if view.prompt_tokens else tokens


def split_settled(markdown: str) -> tuple[str, str]:
    """Split at the last blank line outside a code fence: (finished part, paragraph being
    written)."""
    cut = markdown.rfind("\n\n")
    while cut > 0 and markdown.count("```", 0, cut) % 2:
        cut = markdown.rfind("\n\n", 0, cut)
    return (markdown[:cut], markdown[cut + 2 :]) if cut > 0 else ("", markdown)


class RunHeader(Static):
    """Question, strategy, elapsed time, tokens and cost."""

    def draw(self, view: RunView) -> None:
        if not view.question:
            self.update(Text("massgen · ask a question below", style="bold"))
            return
        status = "" if view.status == "running" else f" · {view.status}"
        line = Text()
        line.append("massgen ", style="bold")
        line.append(f"· {view.strategy} · {view.elapsed:,.1f}s · {_format_tokens(view)}{status}")
        line.append("\n")
        line.append(view.question, style="italic")
        self.update(line)


class AgentColumn(Vertical):
    """One agent: title, status badge, answer/vote markers, and its turns as Markdown.

    Turns render with Rich's Markdown in two plain widgets (earlier turns, the current one)
    rather than Textual's Markdown widget, whose per-block widgets made eight streaming
    columns cost ~100 ms a frame; re-rendering the current turn costs a few ms.
    """

    def __init__(self, agent: AgentView) -> None:
        super().__init__(id=f"agent-{agent.label}", classes="agent-column")
        self.agent_id = agent.id
        self.drawn_at = 0.0  # monotonic time of the last draw
        self.border_title = f"{agent.label} · {agent.id}"
        self.border_subtitle = agent.model
        self.shown = ("", "")  # (earlier turns, current turn) as drawn

    @property
    def source(self) -> str:
        """The Markdown text the column shows."""
        return "".join(self.shown)

    def compose(self) -> ComposeResult:
        yield Static(classes="badge")
        yield Static(classes="markers")
        with VerticalScroll(classes="turn"), Vertical(classes="turn-body"):
            yield Static(classes="turn-done")  # earlier turns
            yield Static(classes="turn-settled")  # the current turn's finished paragraphs
            yield Static(classes="turn-live")  # the paragraph being written

    def on_mount(self) -> None:
        # Follow new text while the reader is at the bottom; Textual releases the anchor when
        # they scroll up and restores it when they scroll back down. (The text fills at least
        # the viewport, see app.tcss, so short text stays at the top.)
        self.query_one(".turn", VerticalScroll).anchor()

    def draw(self, agent: AgentView) -> None:
        badge = Text()
        badge.append(f" {agent.status} ", style=f"reverse {STATUS_STYLE.get(agent.status, '')}")
        if agent.turn_kind:
            badge.append(
                f"  turn {agent.turn}: {TURN_TITLES.get(agent.turn_kind, agent.turn_kind)}"
            )
        self.query_one(".badge", Static).update(badge)
        markers = Text()
        for label in agent.answers:
            markers.append(f" {label} ", style="black on cyan")
            markers.append(" ")
        if agent.vote:
            markers.append(f" vote → {agent.vote} ", style="black on green")
        if agent.error:
            markers.append(f" {agent.error} ", style="white on red")
        self.query_one(".markers", Static).update(markers)
        self.set_class(agent.status == "failed", "-failed")
        self.set_class(agent.status == "thinking", "-active")
        done, text = self.shown
        if agent.done != done:
            earlier = self.query_one(".turn-done", Static)
            earlier.update(RichMarkdown(agent.done))
            earlier.display = bool(agent.done)
        if agent.text != text:
            # Only the paragraph being written re-renders on every draw, so a long turn
            # costs no more to stream than a short one.
            settled, live = split_settled(agent.text)
            if settled != split_settled(text)[0]:
                finished = self.query_one(".turn-settled", Static)
                finished.update(RichMarkdown(settled))
                finished.display = bool(settled)
            self.query_one(".turn-live", Static).update(RichMarkdown(live))
        self.shown = (agent.done, agent.text)


class CoordinationPanel(VerticalScroll):
    """Answers with their labels, the vote tally, who voted for whom and why, restarts."""

    def compose(self) -> ComposeResult:
        yield Static(id="panel-body")

    def on_mount(self) -> None:
        self.border_title = "Coordination"

    def draw(self, view: RunView) -> None:
        out = Text()
        out.append("Answers\n", style="bold underline")
        if not view.answers:
            out.append("  none yet\n", style="dim")
        for answer in view.answers:
            preview = shorten(answer.content, 60, placeholder="…")
            out.append(f"  {answer.label}", style="bold cyan")
            out.append(f" {answer.agent_id}: {preview}\n")
        out.append("\nVotes\n", style="bold underline")
        if not view.votes:
            out.append("  none yet\n", style="dim")
        for vote in view.votes.values():
            out.append(f"  {vote.voter_id}", style="bold")
            out.append(" → ")
            out.append(vote.target_answer, style="bold green")
            if vote.reason:
                out.append(f": {vote.reason}", style="italic")
            out.append("\n")
        if view.tally:
            out.append("\nTally\n", style="bold underline")
            for label, count in view.tally.items():
                mark = "  ★ " if label == view.winner_label else "    "
                out.append(f"{mark}{label}: {count}\n", style="bold" if mark.strip() else "")
            if view.is_tie:
                out.append("  tie: the earliest answer wins\n", style="dim")
        if view.log:
            out.append("\nLog\n", style="bold underline")
            for line in view.log[-30:]:
                out.append(f"  {line}\n", style="dim")
        self.query_one("#panel-body", Static).update(out)


class FinalPane(VerticalScroll):
    """The final answer, streamed, with the winner named."""

    def compose(self) -> ComposeResult:
        yield Markdown(id="final-text")

    def on_mount(self) -> None:
        self.anchor()

    async def draw(self, view: RunView, *, reset: bool) -> None:
        text = self.query_one("#final-text", Markdown)
        if view.winner_id is None:
            self.display = False
            if reset:
                await text.update("")
            return
        self.display = True
        agent = view.agents.get(view.winner_id)
        label = agent.label if agent else view.winner_label
        votes, total = view.tally.get(view.winner_label or "", 0), sum(view.tally.values())
        self.border_title = f"Final answer · winner {label} ({view.winner_id})" + (
            f" with {votes} of {total} votes" if total else ""
        )
        if reset:
            view.final_pending = ""
            await text.update(view.final_text)
        elif view.final_pending:
            pending, view.final_pending = view.final_pending, ""
            await text.append(pending)
