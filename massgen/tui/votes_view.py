"""The votes view (key ``v``): who voted for whom with the full reasons, round by round
(votes a later event replaced are marked superseded), the tally and the winner. A strategy
without votes (debate, judge) gets what it did instead: its rounds or layers, their answers,
debate's agreement groups and judge's aggregator."""

from __future__ import annotations

from collections.abc import Callable
from itertools import groupby

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical

from massgen.tui.ledger import Ballot
from massgen.tui.markdown_view import MarkdownView
from massgen.tui.screens import TextScreen
from massgen.tui.state import RunView
from massgen.tui.text import one_line

#: How often an open votes view picks up what the run did since (seconds).
REFRESH_S = 0.5


def ballot_line(ballot: Ballot) -> str:
    """One vote as a Markdown list item: struck through when it no longer counts."""
    if ballot.abstained:
        head = f"**{ballot.voter}** abstained"
    else:
        head = f"**{ballot.voter}** → **{ballot.target}** ({ballot.target_answer})"
        if ballot.confidence is not None:
            head += f", confidence {ballot.confidence:.0%}"
    if ballot.superseded:
        head = f"~~{head}~~ *superseded ({ballot.superseded})*"
    reason = ballot.reason.strip() or "*(no reason given)*"
    body = "\n".join("  " + line if line else "" for line in reason.splitlines())
    return f"- {head}\n\n{body}\n"


def winner_lines(view: RunView) -> list[str]:
    ledger = view.ledger
    if not view.winner_label:
        return ["*No winner yet.*" if view.running else "*No winner: the run ended without one.*"]
    answer = f", answer {ledger.winner_answer}" if ledger.winner_answer else ""
    why = f" ({ledger.winner_reason})" if ledger.winner_reason else ""
    tie = " · a tie, broken by the earliest answer" if view.is_tie else ""
    return [f"**★ {view.winner_label}**{answer}{why}{tie}"]


def tally_lines(view: RunView) -> list[str]:
    tally = view.tally
    if not tally:
        return ["*No votes count yet.*"]
    ranked = sorted(tally.items(), key=lambda item: -item[1])
    total = sum(tally.values())
    return [
        f"- **{label}**: {count:g} of {total:g}" + (" ★" if label == view.winner_label else "")
        for label, count in ranked
    ]


def votes_markdown(view: RunView) -> str:
    """What the votes view shows, as Markdown."""
    if not view.has_votes:
        return steps_markdown(view)
    ledger = view.ledger
    out = [f"**Question:** {one_line(view.question, 300)}", ""]
    if not ledger.ballots:
        out += ["*No votes yet.*" if view.running else "*No votes were cast.*", ""]
    for step, ballots in groupby(ledger.ballots, key=lambda b: b.round):
        out += [f"## {view.step_noun.capitalize()} {step}", ""]
        out += [ballot_line(b) for b in ballots]
    superseded = sum(1 for b in ledger.ballots if b.superseded)
    if superseded:
        out += [f"*{superseded} vote(s) superseded: struck through above.*", ""]
    out += ["## Tally", "", *tally_lines(view), "", "## Winner", "", *winner_lines(view)]
    return "\n".join(out) + "\n"


def steps_markdown(view: RunView) -> str:
    """A run without votes: what its strategy did in their place."""
    ledger = view.ledger
    noun = view.step_noun
    if view.strategy == "debate":
        what = (
            "A debate has no votes: the agents revise their answers each round, and the run "
            "measures how many of them agree."
        )
    elif view.strategy == "judge":
        judge = str(ledger.options.get("judge") or "")
        by = f" by **{view.label_of(judge)}** ({judge})" if judge else ""
        what = (
            "A judge run has no votes: each layer's agents answer from the previous layer's "
            f"answers, and the last layer is aggregated{by}."
        )
    else:
        what = f"The {view.strategy or 'run'}'s agents do not vote: they answer in {noun}s."
    out = [f"**Question:** {one_line(view.question, 300)}", "", what, ""]
    if not ledger.steps:
        out += [f"*No {noun} has finished yet.*", ""]
    for step in ledger.steps:
        out += [f"## {noun.capitalize()} {step.round} of {step.last_round}", ""]
        out.append("- answers: " + (", ".join(step.answers) or "none"))
        if step.agreement is not None:
            consensus = " (consensus: the debate stops)" if step.consensus else ""
            out.append(f"- agreement: {step.agreement:.0%}{consensus}")
        for group in step.groups:
            out.append(f"- agreeing: {', '.join(group)}")
        out.append("")
    out += ["## Winner", "", *winner_lines(view)]
    return "\n".join(out) + "\n"


def votes_title(view: RunView) -> str:
    if not view.has_votes:
        return f"No votes · {view.strategy}: its {view.step_noun}s"
    counted = sum(1 for b in view.ledger.ballots if not b.superseded and not b.abstained)
    return f"Votes · {counted} counted of {len(view.ledger.ballots)} cast"


class VotesScreen(TextScreen):
    """The votes view; while the run goes it follows it."""

    BINDINGS = [Binding("v", "close", "Close", show=False)]  # noqa: RUF012

    def __init__(self, view: Callable[[], RunView]) -> None:
        self.source = view
        super().__init__(votes_title(view()), votes_markdown(view()))

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):  # opens at the top, and stays where the reader is
            yield MarkdownView(id="full-text", follow=False)

    def on_mount(self) -> None:
        super().on_mount()
        self.set_interval(REFRESH_S, self.refresh_text)

    def refresh_text(self) -> None:
        view = self.source()
        markdown = votes_markdown(view)
        if markdown != self.markdown:
            self.markdown = markdown
            self.query_one(".dialog").border_title = one_line(votes_title(view), 100)
            self.query_one("#full-text", MarkdownView).update(markdown)
