"""The tool-calls view (key ``x``): the selected agent's tool calls as rows (name, time,
ok or error); the highlighted row opens in the pane beside it with its arguments and its
result (or error). ``n`` / ``p`` step to the next or previous agent. In a replay the
result is the recorded preview (the whole one is in the session's ``tools/`` folder)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from massgen.tui.ledger import ToolCallRecord
from massgen.tui.markdown_view import MarkdownView
from massgen.tui.screens import Dialog
from massgen.tui.state import RunView
from massgen.tui.text import one_line

#: How often an open view picks up new calls (seconds).
REFRESH_S = 0.5
MARKS = {
    "ok": ("✓", "green"),
    "error": ("✗", "red"),
    "running": ("⟳", "yellow"),
    "planned": ("◌", "cyan"),
}


def fenced(text: str, language: str = "") -> str:
    """``text`` in a code fence longer than any run of backticks inside it."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text.rstrip()}\n{fence}"


def pretty_arguments(raw: str) -> tuple[str, str]:
    """The arguments indented when they are JSON: (text, fence language)."""
    try:
        return json.dumps(json.loads(raw), indent=2, ensure_ascii=False), "json"
    except ValueError:
        return raw, ""


def call_row(call: ToolCallRecord, now: float) -> Text:
    mark, style = MARKS[call.state]
    row = Text(no_wrap=True, overflow="ellipsis")
    row.append(f"{mark} ", style=f"bold {style}")
    row.append(one_line(call.name, 40).ljust(14), style="bold")
    row.append(f"  {call.took(now):.2f}s  ", style="dim")
    row.append(call.state, style=style)
    return row


def call_markdown(call: ToolCallRecord, now: float) -> str:
    """One call expanded: its arguments and its result or error."""
    mark, _ = MARKS[call.state]
    turn = f" · turn {call.turn}" if call.turn else ""
    out = [f"### {mark} {call.name}", "", f"*{call.state} · {call.took(now):.2f} s{turn}*", ""]
    arguments, language = pretty_arguments(call.arguments)
    out += ["**Arguments**", "", fenced(arguments, language) if arguments else "*(none)*", ""]
    if call.state == "running":
        out.append("*Running: no result yet.*")
    else:
        heading = "**Error**" if call.is_error else "**Result** (preview)"
        out += [heading, "", fenced(call.result) if call.result else "*(empty)*"]
    return "\n".join(out) + "\n"


class ToolCallsScreen(Dialog):
    """One agent's tool calls: a list, and the highlighted call in full."""

    DEFAULT_CSS = """
    ToolCallsScreen #tool-calls Horizontal { height: 1fr; }
    ToolCallsScreen #calls { width: 2fr; height: 1fr; border: none; }
    ToolCallsScreen #call-detail {
        width: 3fr;
        border-left: solid $foreground 30%;
        padding-left: 1;
    }
    """
    BINDINGS = [  # noqa: RUF012
        Binding("x", "close", "Close", show=False),
        Binding("n", "step_agent(1)", "Next agent", show=False),
        Binding("p", "step_agent(-1)", "Previous agent", show=False),
    ]

    def __init__(self, view: Callable[[], RunView], agent_id: str) -> None:
        super().__init__()
        self.source, self.agent_id = view, agent_id
        self.shown: list[tuple[str, str]] = []  # (call id, state) per row, as drawn
        self.detail = ""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="tool-calls"), Horizontal():
            yield OptionList(id="calls")
            yield MarkdownView(id="call-detail", follow=False)

    def on_mount(self) -> None:
        self.query_one(".dialog").border_subtitle = "↑ ↓ a call · n / p agent · Esc closes"
        self.refresh_calls()
        self.query_one("#calls", OptionList).focus()
        self.set_interval(REFRESH_S, self.refresh_calls)

    def calls(self) -> list[ToolCallRecord]:
        return self.source().ledger.calls.get(self.agent_id, [])

    def refresh_calls(self) -> None:
        """The rows and the open call, when the run changed them."""
        view, calls = self.source(), self.calls()
        now = view.now()
        label = view.label_of(self.agent_id)
        title = f"Tool calls · {label} ({self.agent_id}) · {len(calls)}"
        self.query_one(".dialog").border_title = one_line(title, 100)
        listing = self.query_one("#calls", OptionList)
        shown = [(c.call_id, c.state) for c in calls]
        running = any(c.state == "running" for c in calls)
        if shown != self.shown or running:
            highlighted = listing.highlighted
            listing.clear_options()
            listing.add_options([Option(call_row(c, now), id=str(i)) for i, c in enumerate(calls)])
            if calls:
                listing.highlighted = min(highlighted or 0, len(calls) - 1)
            self.shown = shown
        self.show_detail()

    def show_detail(self) -> None:
        calls = self.calls()
        index = self.query_one("#calls", OptionList).highlighted
        if calls and index is not None and index < len(calls):
            detail = call_markdown(calls[index], self.source().now())
        else:
            label = self.source().label_of(self.agent_id)
            detail = (
                f"*{label} has made no tool calls yet.* Its own tools (custom functions, MCP "
                "servers) and its provider's (web search, code) are listed here as they run."
            )
        if detail != self.detail:
            self.detail = detail
            self.query_one("#call-detail", MarkdownView).update(detail)

    @on(OptionList.OptionHighlighted, "#calls")
    def highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self.show_detail()

    def action_step_agent(self, step: int) -> None:
        ids = list(self.source().agents)
        if not ids:
            return
        index = ids.index(self.agent_id) if self.agent_id in ids else 0
        self.agent_id = ids[(index + step) % len(ids)]
        self.shown = []
        self.refresh_calls()
