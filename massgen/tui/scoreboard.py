"""The live scoreboard: the step, who has voted, the outcome so far in the strategy's words
(tally, agreement groups, aggregator), restarts, the answers and the votes with short
reasons (Enter opens one in full, ``d`` compares two)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from massgen.tui import words
from massgen.tui.cards import money
from massgen.tui.state import RunView
from massgen.tui.text import one_line

BAR = "█"


def summary(view: RunView, width: int) -> Text:
    """Step, votes so far, cost, the outcome in the strategy's words (vote: the tally as
    bars, leader starred; debate: who agrees with whom, per round; judge: the aggregator),
    restarts, the log's last lines."""
    out = Text()
    if view.status == "idle":
        out.append("No run yet.", style="dim")
        return out
    state = "running" if view.running else view.status
    out.append(words.steps(view).capitalize(), style="bold")
    if not view.has_votes:  # steps of answers (debate's rounds, judge's layers)
        if view.agreement is not None:
            out.append(f" · {view.agreement:.0%} agree")
    else:
        out.append(f" · {len(view.votes)}/{view.voters} voted")
    out.append(f" · {state}\n")
    cost = money(view.cost_usd, view.cost_known) if view.prompt_tokens else "$0"
    out.append(f"{view.prompt_tokens + view.completion_tokens:,} tokens · {cost}", style="dim")
    if view.restarts:
        out.append(f" · restarts {view.restarts}", style="magenta")
    out.append("\n")
    if view.groups:
        agreement(out, view, width)
    elif view.has_votes:
        bars(out, view, width)
    elif not view.aggregates and not view.winner_label:
        out.append("no result yet\n", style="dim")
    if view.aggregates:
        who = words.aggregator(view)
        done = not view.running and bool(view.final_text)
        out.append(f"Aggregated by {who}\n" if done else f"Aggregator {who}\n", style="bold")
    if view.winner_label and not view.aggregates:
        tie = " (tie: earliest answer)" if view.is_tie else ""
        out.append(f"Winner {view.winner_label}{tie}\n", style="bold green")
    log(out, view, width)
    out.rstrip()
    return out


def bars(out: Text, view: RunView, width: int) -> None:
    """The tally: one bar per agent voted for, scaled against every agent (1/1/1 of three
    agents is three third-bars, not three full ones), the leader starred."""
    tally, leader = view.tally, view.leader
    order = [a.label for a in view.agents.values()]
    labels = sorted(
        tally, key=lambda label: (-tally[label], order.index(label) if label in order else 0)
    )
    if not labels and not view.winner_label:
        out.append("no votes yet\n", style="dim")
    scale, room = words.bar_scale(view), max(1, min(20, width - 16))
    for label in labels:
        count = tally.get(label, 0)
        star = "★" if label == leader and count else " "
        style = "bold green" if star == "★" else "cyan"
        out.append(f"{star} {one_line(label, 12):<8} ", style="bold" if star == "★" else "")
        out.append(BAR * round(room * count / scale), style=style)
        out.append(f" {words.count(count)}\n" if count else "\n", style="bold" if count else "dim")


def agreement(out: Text, view: RunView, width: int) -> None:
    """Debate: per round, which agents agree with which (``agent1 = agent2 · agent3``); in
    the last round the largest group is starred (a tie: none). One line a round, so the
    winner and the log keep their rows in a short scoreboard."""
    out.append("Agreement\n", style="bold underline")
    last = max(view.groups)
    for number, groups in sorted(view.groups.items()):
        out.append(f"{view.step_noun} {number}: ", style="dim")
        for index, group in enumerate(groups):
            if index:
                out.append(" · ")
            lead = number == last and index == 0 and len(group) > 1
            lead = lead and (len(groups) == 1 or len(group) > len(groups[1]))
            if lead:
                out.append(f"★ {words.group_line(group)}", style="bold green")
            else:
                out.append(words.group_line(group))
        out.append("\n")


#: The log lines the summary shows (the newest); the ones before are counted.
LOG_LINES = 3


def log(out: Text, view: RunView, width: int) -> None:
    """The log's last lines, after a count of the earlier ones (nothing goes silently)."""
    earlier = len(view.log) - LOG_LINES
    if earlier > 0:
        out.append(f"+{earlier} earlier\n", style="dim italic")
    for line in view.log[-LOG_LINES:]:
        out.append(one_line(line, width) + "\n", style="dim")


def entries(view: RunView, width: int) -> list[Option]:
    """The answers, then the current votes: one line each, ids saying what Enter opens."""
    options: list[Option] = []
    if view.answers:
        options.append(Option(Text("Answers", style="bold underline"), disabled=True))
    for index, answer in enumerate(view.answers):
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(f"{one_line(answer.label, 16):<10}", style="bold cyan")
        line.append(one_line(answer.content, max(1, width - 12)))
        options.append(Option(line, id=f"answer:{index}"))
    if view.votes:
        options.append(Option(Text("Votes", style="bold underline"), disabled=True))
    for vote in view.votes.values():
        line = Text(no_wrap=True, overflow="ellipsis")
        voter, target = one_line(view.label_of(vote.voter_id), 16), one_line(vote.target_answer, 16)
        line.append(f"{voter} → ", style="bold")
        line.append(target, style="bold green")
        if vote.reason:
            room = max(1, width - len(voter) - len(target) - 6)
            line.append(" " + one_line(vote.reason, room), style="italic")
        options.append(Option(line, id=f"vote:{vote.voter_id}"))
    return options


class Scoreboard(Vertical):
    """Summary on top, then the answers and votes in a list (focus it with ``a``)."""

    def compose(self) -> ComposeResult:
        yield Static(id="score-summary")
        yield OptionList(id="score-list")

    def on_mount(self) -> None:
        self.border_title = "Scoreboard"
        self.drawn: tuple[str, list[str]] = ("", [])

    @property
    def options(self) -> OptionList:
        return self.query_one("#score-list", OptionList)

    def draw(self, view: RunView) -> None:
        width = max(10, self.size.width - 4)
        if self.has_class("-bottom"):
            width = width // 2 - 1
        head = summary(view, width)
        options = entries(view, width)
        ids = [str(o.id) + str(o.prompt) for o in options]
        if (str(head), ids) == self.drawn:
            return
        self.drawn = (str(head), ids)
        self.query_one("#score-summary", Static).update(head)
        listing = self.options
        keep = listing.highlighted_option.id if listing.highlighted_option else None
        listing.clear_options()
        listing.add_options(options)
        if keep is not None:
            for index, option in enumerate(options):
                if option.id == keep:
                    listing.highlighted = index
        self.set_class(not options, "-empty")

    def selected(self) -> str | None:
        """The id of the highlighted entry (``answer:0``, an index in the answers, or
        ``vote:a2``, a voter's id)."""
        option = self.options.highlighted_option
        return str(option.id) if option is not None and option.id else None
