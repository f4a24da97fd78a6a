"""Each strategy's own words, for every place the app describes a run's progress and outcome.

Vote counts votes; debate counts the agents that agree (its agreement groups, per round);
judge names the agent that aggregated the last layer's answers. Which one a run is comes from
``RunStarted`` (``has_votes``, ``step_noun``, ``options``), ``round_finished.groups`` and the
``present`` turn, never from the strategy's name (docs/architecture.md: "Each strategy names
its own steps").
"""

from __future__ import annotations

from massgen.tui.state import RunView
from massgen.tui.text import one_line


def steps(view: RunView) -> str:
    """The current step against the last when known: ``round 2/3``, ``layer 1/2``,
    ``round 4`` (the header and the scoreboard say the same)."""
    last = f"/{view.last_round}" if view.last_round else ""
    return f"{one_line(view.step_noun, 12)} {view.round}{last}"


def agrees(view: RunView) -> bool:
    """Agents agree or not (a debate's groups) instead of voting: a tally counts agents."""
    return not view.has_votes


def aggregator(view: RunView) -> str:
    """Judge: the label of the agent aggregating (that wrote, once over) the final answer."""
    chosen = view.presenter_id or view.judge_id
    return view.label_of(chosen) if chosen else ""


def count(value: float) -> str:
    """A tally's count: ``2``, or ``1.5`` when votes are weighted by confidence."""
    return f"{value:g}"


def outcome(view: RunView, label: str) -> str:
    """How ``label`` won, in the strategy's words: ``2 of 3 votes``, ``2 of 3 agents
    agree``, ``aggregated by agent2`` (a debate with a judge: both); empty when there is
    nothing to say yet."""
    parts = []
    tally = view.tally
    total = sum(tally.values())
    if total and agrees(view):
        parts.append(f"{count(tally.get(label, 0))} of {count(total)} agents agree")
    elif total:
        mine = f"{count(tally[label])} of " if label in tally else ""  # else: no winner yet
        parts.append(f"{mine}{count(total)} votes")
    if view.aggregates and (who := aggregator(view)):
        parts.append(f"aggregated by {who}")
    return " · ".join(parts)


def group_line(group: list[str]) -> str:
    """Agents that agree, as one phrase: ``agent1 = agent2``."""
    return " = ".join(group)


def answer_notes(view: RunView, agent_label: str) -> list[str]:
    """Under an answer shown in full, in the strategy's words (Markdown lines): a debate,
    whom its author agreed with each round; a judge run, nothing (nobody votes)."""
    lines = []
    for number, groups in sorted(view.groups.items()):
        group = next((g for g in groups if agent_label in g), None)
        if group is not None:
            alone = " (alone)" if len(group) == 1 else ""
            lines.append(f"- {view.step_noun} {number}: {group_line(group)}{alone}")
    return lines


def bar_scale(view: RunView) -> float:
    """What a full bar stands for: every agent (so 1/1/1 of three agents is three short bars,
    not three full ones), or more when weighted votes add up higher."""
    return max(len(view.agents), max(view.tally.values(), default=0), 1)
