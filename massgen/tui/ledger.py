"""The record behind the votes view and the tool-calls view, folded from events: every vote
with its round and whether a later event replaced it, every step of a strategy without
votes (debate's agreement groups, judge's layers), and every call of an agent's own tools
with its arguments, result and time.

:class:`massgen.tui.state.RunView` keeps one :class:`Ledger` and hands it every event; like
the view, it reads events only (docs/architecture.md, "The one idea").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from massgen.events import Event

#: The workflow tools: their calls are answers and votes, not tool calls to list.
WORKFLOW_TOOLS = frozenset({"new_answer", "vote"})
#: The most characters of a tool's result kept for its preview.
RESULT_CHARS = 4000


@dataclass
class Ballot:
    """One vote (or abstention) as it was cast."""

    voter_id: str
    voter: str  # agent label
    round: int
    target: str  # agent label; "" for an abstention
    target_answer: str  # versioned label
    reason: str
    confidence: float | None = None
    abstained: bool = False
    superseded: str = ""  # why it no longer counts ("" while it does)


@dataclass
class StepRecord:
    """A finished round (debate) or layer (judge)."""

    round: int
    last_round: int
    answers: list[str]
    agreement: float | None
    groups: list[list[str]]
    consensus: bool


@dataclass
class ToolCallRecord:
    """One call of an agent's own tools (or a tool its provider runs)."""

    call_id: str
    name: str
    arguments: str
    turn: int
    started: float
    finished: float | None = None
    duration_s: float | None = None
    result: str = ""
    is_error: bool = False
    planned: bool = False

    @property
    def state(self) -> str:
        """``running``, ``error``, ``planned`` or ``ok``."""
        if self.finished is None:
            return "running"
        if self.is_error:
            return "error"
        return "planned" if self.planned else "ok"

    def took(self, now: float) -> float:
        """Seconds the call took (so far, while it runs)."""
        if self.duration_s is not None:
            return self.duration_s
        return max(0.0, (self.finished if self.finished is not None else now) - self.started)


@dataclass
class Ledger:
    """Votes, steps and tool calls of one run, in the order they happened."""

    ballots: list[Ballot] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)
    calls: dict[str, list[ToolCallRecord]] = field(default_factory=dict)  # by agent id
    labels: dict[str, str] = field(default_factory=dict)  # agent id -> label
    rounds: dict[str, int] = field(default_factory=dict)  # agent id -> its turn's round
    options: dict[str, object] = field(default_factory=dict)  # the strategy's settings
    winner_answer: str = ""
    winner_reason: str = ""

    def apply(self, event: Event, at: float) -> None:
        handler = getattr(self, f"on_{event.type}", None)
        if handler is not None:
            handler(event, at)

    def current(self, voter_id: str) -> list[Ballot]:
        return [b for b in self.ballots if b.voter_id == voter_id and not b.superseded]

    def cast(self, ballot: Ballot) -> None:
        for earlier in self.current(ballot.voter_id):
            earlier.superseded = "abstained later" if ballot.abstained else "voted again"
        self.ballots.append(ballot)

    # ------------------------------------------------------------------ events

    def on_run_started(self, e, at: float) -> None:
        self.labels = {a["id"]: a["label"] for a in e.agents}
        self.options = dict(e.options or {})

    def on_agent_turn_started(self, e, at: float) -> None:
        self.rounds[e.agent_id or ""] = e.round or 1

    def on_vote_cast(self, e, at: float) -> None:
        voter_id = e.agent_id or ""
        self.cast(
            Ballot(
                voter_id,
                e.voter,
                self.rounds.get(voter_id, 1),
                e.target,
                e.target_answer,
                e.reason,
                e.confidence,
            )
        )

    def on_agent_abstained(self, e, at: float) -> None:
        voter_id = e.agent_id or ""
        label = self.labels.get(voter_id, voter_id)
        self.cast(
            Ballot(voter_id, label, self.rounds.get(voter_id, 1), "", "", e.reason, None, True)
        )

    def on_votes_cleared(self, e, at: float) -> None:
        for ballot in self.ballots:
            if not ballot.superseded:
                ballot.superseded = f"cleared: {e.reason}"

    def on_round_finished(self, e, at: float) -> None:
        self.steps.append(
            StepRecord(
                e.round,
                e.last_round,
                list(e.answers or []),
                e.agreement,
                [list(g) for g in e.groups or []],
                e.consensus,
            )
        )

    def on_winner_selected(self, e, at: float) -> None:
        self.winner_answer, self.winner_reason = e.answer_label, e.reason

    def on_tool_call_started(self, e, at: float) -> None:
        if e.name in WORKFLOW_TOOLS:
            return
        calls = self.calls.setdefault(e.agent_id or "", [])
        calls.append(ToolCallRecord(e.call_id, e.name, e.arguments or "", e.turn or 0, at))

    def on_tool_call_finished(self, e, at: float) -> None:
        if e.name in WORKFLOW_TOOLS:
            return
        calls = self.calls.setdefault(e.agent_id or "", [])
        call = next((c for c in reversed(calls) if c.call_id == e.call_id), None)
        if call is None:  # a finish without its start (a provider's tool): one row still
            call = ToolCallRecord(e.call_id, e.name, "", e.turn or 0, at)
            calls.append(call)
        call.finished, call.duration_s = at, e.duration_s
        # the whole result when the event carries it (live), else its preview (a replay)
        result = e.output if e.output is not None else e.result
        call.result = (result or "")[:RESULT_CHARS]
        call.is_error, call.planned = e.is_error, e.planned

    def on_stream_retry(self, e, at: float) -> None:
        """A retried call's tools never ran to their end: they stop running."""
        for call in self.calls.get(e.agent_id or "", []):
            if call.finished is None:
                call.finished, call.is_error, call.result = at, True, f"retried: {e.reason}"

    def on_agent_cancelled(self, e, at: float) -> None:
        for call in self.calls.get(e.agent_id or "", []):
            if call.finished is None:
                call.finished, call.is_error, call.result = at, True, f"stopped: {e.reason}"

    def on_run_finished(self, e, at: float) -> None:
        for calls in self.calls.values():
            for call in calls:
                if call.finished is None:
                    call.finished, call.is_error = at, True
                    call.result = call.result or f"the run ended ({e.status})"
