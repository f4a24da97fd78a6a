"""The header (question, strategy, round, elapsed, cost), the key bar (the keys that act
now, which depend on where the focus is) and what the input says it takes."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.widgets import Static

from massgen.tui import words
from massgen.tui.cards import money
from massgen.tui.state import RunView
from massgen.tui.text import one_line

#: The input's placeholder, by what the app is doing.
PLACEHOLDERS = {
    "new": "Ask a question…  (F1 help)",
    "follow-up": "Ask a follow-up…  (/reset starts over · Esc for keys · F1 help)",
    "running": "Note to the agents (read at their next turn) · /next QUESTION to queue one",
    "starting": "Starting the agents… type your question (Enter queues it)",
    "replay": "Replaying a recorded session · Esc for keys · q quits",
}


def elapsed(view: RunView) -> str:
    """Whole seconds while the run goes (one redraw a second), tenths once it is over."""
    return f"{view.elapsed:,.0f}s" if view.running else f"{view.elapsed:,.1f}s"


class RunHeader(Static):
    """Two lines: the run's figures, then the question."""

    def draw(self, view: RunView, width: int, replay: str = "", note: str = "") -> None:
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(" massgen ", style="bold reverse")
        if replay:
            line.append(f" {replay} ", style="bold magenta")
        if view.status == "idle":
            line.append(f" {note or 'ask a question below'}")
            self.update(line, layout=False)
            return
        tokens = view.prompt_tokens + view.completion_tokens
        cost = money(view.cost_usd, view.cost_known) if view.prompt_tokens else "$0"
        status = "running" if view.running else view.status
        style = {
            "ok": "bold green",
            "failed": "bold red",
            "timeout": "bold yellow",
            "budget": "bold yellow",
        }.get(status)
        step = words.steps(view)  # the scoreboard's words
        line.append(f" {one_line(view.strategy, 20)} · {step} · {elapsed(view)} · ")
        line.append(f"{tokens:,} tokens · {cost} · ")
        line.append(one_line(status, 20), style=style or "bold")
        if view.answered_now:
            line.append(" · answered now, as you asked")
        if view.error and not view.running:
            line.append(" · " + one_line(view.error, 200), style="red")
        line.truncate(width, overflow="ellipsis")
        question = Text(no_wrap=True, overflow="ellipsis")
        attached = ""
        if view.attachments:
            names = ", ".join(str(a.get("name") or "image") for a in view.attachments)
            attached = f"  [attached: {one_line(names, 60)}]"
        room = max(1, width - 2 - len(attached))
        question.append(" " + one_line(view.question, room), style="italic")
        if attached:
            question.append(attached, style="dim")
        self.update(Text("\n").join([line, question]), layout=False)


#: (key, what it does) per mode, most useful first: what does not fit is left off the end.
KEYS = {
    "input": [
        ("Enter", "send"),
        ("Esc", "keys"),
        ("F1", "help"),
        ("^C", "cancel run"),
        ("^F", "answer now"),
        ("^Q", "quit"),
        ("^P", "palette"),
    ],
    "keys": [
        ("i", "type"),
        ("q", "quit"),
        ("?", "help"),
        ("^C", "cancel run"),
        ("^F", "answer now"),
        ("n/p", "agent"),
        ("z", "zoom"),
        ("a", "answers"),
        ("f", "final"),
        ("/", "search"),
        ("h", "history"),
        ("o", "sessions"),
        ("t", "tabs"),
        ("c", "scoreboard"),
        ("w", "save"),
        ("y", "copy"),
        ("v", "votes"),
        ("x", "tools"),
        ("s", "shot"),
    ],
    "replay": [
        ("space", "pause"),
        ("q", "quit"),
        ("?", "help"),
        ("[ ]", "part"),
        (", .", "seek"),
        ("h", "parts"),
        ("n/p", "agent"),
        ("z", "zoom"),
        ("f", "final"),
        ("/", "search"),
        ("v", "votes"),
        ("x", "tools"),
        ("s", "shot"),
    ],
    "search": [("Enter", "next match"), ("Esc", "close search")],
}
KEY_ACTIONS = {
    "i": "app.focus_input",
    "Esc": "app.leave_input",
    "F1": "app.help",
    "?": "app.help",
    "^Q": "app.quit",
    "q": "app.quit",
    "^C": "app.copy_or_cancel",
    "^F": "app.answer_now",
    "^P": "app.command_palette",
    "z": "app.zoom",
    "a": "app.focus_scoreboard",
    "f": "app.toggle_final",
    "/": "app.search",
    "h": "app.history",
    "o": "app.open_session",
    "t": "app.toggle_tabs",
    "c": "app.toggle_scoreboard",
    "w": "app.save_final",
    "y": "app.copy_final",
    "space": "app.toggle_pause",
    "v": "app.show_votes",
    "x": "app.show_tool_calls",
    "s": "app.save_screenshot",
}


class KeyBar(Static):
    """The keys of the current mode, one line, clickable."""

    def draw(self, mode: str, width: int, running: bool, note: str = "") -> None:
        out = Text(no_wrap=True, overflow="ellipsis")
        if note:
            out.append(f" {note} ", style="bold reverse")
        for key, what in KEYS[mode]:
            if key in ("^C", "^F") and not running:
                continue
            item = Text()
            action = KEY_ACTIONS.get(key)
            click = Style.from_meta({"@click": action}) if action else Style()
            item.append(f" {key}", style=Style(bold=True) + click)
            item.append(f" {what} ", style=click)
            if out.cell_len + item.cell_len > width:
                break
            out.append_text(item)
        self.update(out, layout=False)
