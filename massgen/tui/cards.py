"""Agent cards (one per agent, in a grid) and the tab bar used when cards would be too small.

Each draws an :class:`AgentView`; neither reads the engine.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.message import Message
from textual.strip import Strip
from textual.widgets import Static

from massgen.tui.agent_view import ACTIVE, CHARS_PER_TOKEN, AgentView
from massgen.tui.artifacts import ArtifactView
from massgen.tui.markdown_view import MarkdownView
from massgen.tui.media_view import card_lines
from massgen.tui.state import TURN_TITLES
from massgen.tui.text import one_line

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
#: Per status: the mark in a tab, and the badge's style.
MARKS = {
    "starting": ("…", "dim"),  # its backend is being built
    "waiting": ("·", "dim"),
    "thinking": ("●", "bold yellow"),
    "retrying": ("⟳", "bold magenta"),
    "restarting": ("↻", "bold magenta"),
    "answered": ("◆", "bold cyan"),
    "voted": ("✓", "bold green"),
    "abstained": ("○", "yellow"),
    "winner": ("★", "bold green"),
    "aggregator": ("★", "bold green"),  # judge: wrote the final answer from the others'
    "failed": ("✗", "bold red"),
    "cancelled": ("–", "dim red"),
}


def spinner(now: float) -> str:
    return SPINNER[int(now * 5) % len(SPINNER)]  # 5 frames a second: alive, not busy


def money(value: float | None, known: bool = True) -> str:
    if value is None or not known:
        return "$?"
    return f"${value:.4f}" if value < 10 else f"${value:,.2f}"


def tokens(count: int) -> str:
    return f"{count:,} tok" if count < 100_000 else f"{count / 1000:,.0f}k tok"


def status_line(agent: AgentView, now: float, width: int) -> Text:
    """Badge, what the agent is doing (its turn, the tool it calls, a retry), and on the
    right how long it has worked. The spinner turns while the agent works and shows nothing
    else (streaming text is sign of life enough, and one less thing to redraw)."""
    status = agent.shown_status
    mark, style = MARKS.get(status, ("?", ""))
    line = Text(no_wrap=True, overflow="ellipsis")
    working = status in ("thinking", "retrying", "restarting")
    if working and now - agent.last_output > 1.0:
        mark = spinner(now)
    line.append(f" {mark} {status} ", style=f"reverse {style}")
    if agent.retry is not None and status == "retrying":
        retry = agent.retry
        line.append(f" attempt {retry.attempt + 1} in {retry.left(now):.1f}s", style="magenta")
    elif agent.activity:  # as long as the card is wide (a tool's name can be long)
        line.append(f" {one_line(agent.activity, width)}…", style="bold")
        if agent.streamed_chars:  # an estimate while a call's arguments stream
            line.append(f" ~{tokens(agent.streamed_chars // CHARS_PER_TOKEN)}", style="dim")
    elif agent.turn_kind and status != "failed":  # a failure's reason is in the transcript
        line.append(f" turn {agent.turn} · {TURN_TITLES.get(agent.turn_kind, agent.turn_kind)}")
    elapsed = f" {agent.elapsed(now):.0f}s"
    line.truncate(max(1, width - len(elapsed)), overflow="ellipsis", pad=True)
    line.append(elapsed, style="dim")
    return line


def marks_line(agent: AgentView, width: int) -> Text:
    """The agent's answer labels and its vote."""
    line = Text(no_wrap=True, overflow="ellipsis")
    if agent.answers:
        line.append(" " + one_line(" ".join(agent.answers), 200) + " ", style="bold cyan")
    else:
        line.append(" no answer yet", style="dim")
    if agent.vote:
        line.append("  vote → ", style="green")
        line.append(one_line(agent.vote, 20), style="bold green")
    if agent.restarts:
        line.append(f"  ↻{agent.restarts}", style="magenta")
    line.truncate(width, overflow="ellipsis")
    return line


def meta_line(agent: AgentView, width: int, mark: str = "") -> str:
    """``mark`` (following / paused), model, tokens, cost: the card's bottom border (redrawn
    with the whole card, so nothing that changes every second: the estimate of tokens being
    streamed is on the status line); the whole model name when it fits, shortened only
    when it must."""
    counted = agent.prompt_tokens + agent.completion_tokens
    cost = money(agent.cost_usd, agent.cost_known) if counted else "$0"
    parts = [mark] if mark else []
    figures = " · ".join([*parts, tokens(counted), cost])
    room = width - len(figures) - 3
    if room < 6 or not agent.model:
        return figures
    return " · ".join([*parts, one_line(agent.model, room), tokens(counted), cost])


def follow_mark(overflowing: bool, following: bool, working: bool) -> str:
    """A card's scrolling: ``paused`` once its reader scrolled up from the newest text,
    ``following`` while it moves with the text of an agent at work."""
    if not overflowing:
        return ""
    if not following:
        return "∥ paused"
    return "↓ following" if working else ""


class AgentCard(MarkdownView):
    """One agent: status and activity, answers and vote (two fixed rows), then everything
    it writes; model, tokens and cost on the bottom border. One widget, so that eight cards
    streaming at once stay cheap to compose."""

    HEAD_ROWS = 2

    class Resized(Message):
        """The card got a new size: its status lines must be drawn again for it (a run can
        end before the first layout gives the cards their size)."""

        def __init__(self, agent_id: str) -> None:
            super().__init__()
            self.agent_id = agent_id

    def __init__(self, agent: AgentView, index: int) -> None:
        super().__init__(id=f"card-{index}", classes="card")
        self.agent_id = agent.id
        self.label = agent.label
        self.index = index
        # labels and ids may come from a recording: text, not markup or escapes; the id
        # only when it says something the label does not
        title = one_line(agent.label, 20)
        if agent.id != agent.label:
            title += f" · {one_line(agent.id, 40)}"
        self.border_title = title
        self.drawn: tuple[str, ...] = ()  # (status line, marks line, border subtitle)
        self.agent: AgentView | None = None  # as last drawn
        self.now = 0.0
        self.media: dict[str, ArtifactView] = {}  # what its transcript's media lines name

    @property
    def transcript(self) -> MarkdownView:
        return self

    @property
    def status_text(self) -> str:
        """The status line as text ("" before the first draw)."""
        return self.drawn[0] if self.drawn else ""

    @property
    def marks_text(self) -> str:
        return self.drawn[1] if self.drawn else ""

    def draw(self, agent: AgentView, now: float) -> None:
        width = max(1, self.size.width - 1)
        status = agent.shown_status
        head = (status_line(agent, now, width), marks_line(agent, width))
        self.media = agent.media
        self.update(agent.transcript)
        if status not in ACTIVE:  # its text is complete: the view ends on its last line
            self.settle()
        self.agent, self.now = agent, now
        mark = follow_mark(self.line_count > self.rows, self.following, status in ACTIVE)
        key = (str(head[0]), str(head[1]), meta_line(agent, self.outer_size.width - 6, mark))
        old = self.drawn or ("", "", "")
        # Each part only when it changed: the head rows alone for a new spinner frame, the
        # whole card for a new border subtitle.
        if key[:2] != old[:2]:
            self.set_head(list(head))
        if key[2] != old[2]:
            self.border_subtitle = key[2]
        self.drawn = key
        for name in (*ACTIVE, "failed", "voted", "abstained", "answered", "winner", "aggregator"):
            self.set_class(status == name, f"-{name}")

    def render_block(self, key: str, width: int) -> list[Strip] | None:
        """A medium the agent made: its thumbnail (an image) and its caption."""
        artifact = self.media.get(key)
        if artifact is None:
            return None
        return card_lines(artifact, width, self.app.console, self.base)

    def follow_changed(self) -> None:
        """The reader scrolled up (paused) or back to the end (following): the border says so."""
        if self.agent is not None:
            self.drawn = (*self.drawn[:2], "") if self.drawn else ()
            self.draw(self.agent, self.now)

    def on_resize(self) -> None:
        super().on_resize()  # the Markdown is wrapped again for the new width
        self.drawn = ()
        self.post_message(self.Resized(self.agent_id))

    def on_focus(self) -> None:
        self.app.call_later(self.app.select_agent, self.index)  # type: ignore[attr-defined]


class TabBar(Static):
    """One tab per agent with its status mark; click or n/p (1-9) to switch."""

    def draw(self, agents: list[AgentView], selected: int, now: float) -> None:
        out = self._tabs(agents, selected, now, short=False)
        if out.cell_len > self.size.width:  # too many: numbers, the selected one named
            out = self._tabs(agents, selected, now, short=True)
        self.update(out, layout=False)

    @staticmethod
    def _tabs(agents: list[AgentView], selected: int, now: float, *, short: bool) -> Text:
        out = Text(no_wrap=True, overflow="ellipsis")
        for i, agent in enumerate(agents):
            status = agent.shown_status
            mark, style = MARKS.get(status, ("?", ""))
            if status in ("thinking", "retrying", "restarting"):
                mark = spinner(now)
            click = Style.from_meta({"@click": f"app.select_agent({i})"})
            tab = Style(reverse=True, bold=True) if i == selected else Style()
            out.append(" ", style=tab + click)
            out.append(mark, style=Style.parse(style) + tab + click)
            name = str(i + 1) if short and i != selected else one_line(agent.label, 20)
            out.append(f" {name} ", style=tab + click)
            out.append(" " if not short else "")
        return out
