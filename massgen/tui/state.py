"""What the terminal app shows, derived from events alone.

:class:`RunView` folds engine events into a plain view model; the widgets render it. Keeping
this free of Textual makes the "UIs only read events" rule easy to hold and to test.

Times: a live view stamps what happens with its ``clock`` (wall time, or a test's frozen
clock); a replayed view uses the events' recorded ``ts`` and a clock that follows the
recording, so the elapsed time shown is the recorded one, whatever the replay speed.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from massgen.tui.agent_view import (
    ACTIVE,
    AgentView,
    AnswerView,
    Retry,
    VoteView,
)
from massgen.tui.artifacts import ArtifactView
from massgen.tui.ledger import Ledger
from massgen.tui.streamed_actions import partial_action

if TYPE_CHECKING:
    from massgen.events import Event

TURN_TITLES = {
    "answer": "first answer",
    "evaluate": "reviewing",
    "present": "presenting",
    "revise": "revising",  # debate
    "propose": "combining the answers",  # judge's later layers
    "aggregate": "aggregating the answers",  # judge (a debate's judge): the final answer
}
WORKFLOW_ACTIVITY = {"new_answer": "writing answer", "vote": "voting"}
WRITING_FINAL = "*(writing the final answer, shown below)*"
WROTE_FINAL = "*(wrote the final answer, shown below)*"


@dataclass
class RunView:
    """The state of one coordination (one part of a conversation) as the user sees it."""

    clock: Callable[[], float] = time.time
    recorded: bool = False  # a replay: times come from the events' ``ts``
    question: str = ""
    strategy: str = ""
    #: the strategy's vocabulary, from ``RunStarted``: what it calls a step ("round",
    #: "layer"), whether agents vote, and how many steps it takes when fixed in advance
    step_noun: str = "round"
    has_votes: bool = True
    attachments: list[dict[str, Any]] = field(default_factory=list)  # images with the question
    file_changes: list[dict[str, Any]] = field(default_factory=list)  # the presenter's writes
    artifacts: list[ArtifactView] = field(default_factory=list)  # media the agents made
    agents: dict[str, AgentView] = field(default_factory=dict)
    answers: list[AnswerView] = field(default_factory=list)
    votes: dict[str, VoteView] = field(default_factory=dict)  # current votes, by voter id
    log: list[str] = field(default_factory=list)  # restarts, failures, errors: short lines
    round: int = 0
    last_round: int = 0  # debate and judge: the last round (layer) the run may have
    agreement: float | None = None  # debate: the largest agreeing group's share, last round
    #: debate: per round, the agent labels whose answers agree (largest group first)
    groups: dict[int, list[list[str]]] = field(default_factory=dict)
    judge_id: str = ""  # the agent the options name to aggregate (judge; a debate's judge)
    presenter_id: str = ""  # the agent writing (that wrote) the final answer
    budget: str = ""  # why a budget cap ended the run (or stopped an agent), when one did
    notes: list[str] = field(default_factory=list)  # the user's notes to the agents, mid-run
    answered_now: bool = False  # the user asked for the answer now, and got it
    restarts: int = 0
    winner_id: str | None = None
    winner_label: str | None = None
    final_tally: dict[str, int] = field(default_factory=dict)
    is_tie: bool = False
    final_text: str = ""
    final_done: bool = False
    status: str = "idle"  # idle, running, ok, timeout, failed, cancelled
    error: str = ""
    started: float | None = None
    finished: float | None = None
    duration_s: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    cost_known: bool = True
    dirty: set[str] = field(default_factory=set)  # which parts changed since the last draw
    #: every vote (superseded ones too), step and tool call: the votes and tool-calls views
    ledger: Ledger = field(default_factory=Ledger)

    # ------------------------------------------------------------------ derived

    def now(self) -> float:
        return self.clock()

    @property
    def elapsed(self) -> float:
        if self.started is None:
            return 0.0
        if self.finished is not None:  # the engine's own measure, live and in a replay alike
            return self.duration_s if self.duration_s is not None else self.finished - self.started
        return max(0.0, self.now() - self.started)

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def tally(self) -> dict[str, int]:
        """Votes per agent label: the winner's tally once chosen, else the current votes."""
        if self.final_tally:
            return dict(self.final_tally)
        return dict(Counter(v.target for v in self.votes.values()))

    @property
    def leader(self) -> str | None:
        """The agent label leading the tally (a tie goes to the earliest answer)."""
        if self.winner_label:
            return self.winner_label
        tally = self.tally
        if not tally:
            return None
        first = {a.agent_label: i for i, a in reversed(list(enumerate(self.answers)))}
        return max(tally, key=lambda label: (tally[label], -first.get(label, 1 << 30)))

    @property
    def aggregates(self) -> bool:
        """One agent writes the final answer from the others' (judge; a debate with a
        judge) rather than the most-voted agent presenting its own."""
        return not self.has_votes and bool(self.presenter_id or self.judge_id)

    @property
    def voters(self) -> int:
        """Agents that can still vote (not failed or cancelled)."""
        return sum(1 for a in self.agents.values() if a.status not in ("failed", "cancelled"))

    def agent(self, agent_id: str | None) -> AgentView | None:
        return self.agents.get(agent_id or "")

    def answer(self, label: str) -> AnswerView | None:
        return next((a for a in self.answers if a.label == label), None)

    def label_of(self, agent_id: str) -> str:
        view = self.agents.get(agent_id)
        return view.label if view else agent_id

    def preview(self, team: Sequence[dict[str, Any]], question: str) -> None:
        """Show ``team`` (``{id, label, model, backend}`` each, as ``RunStarted`` lists them)
        as "starting" while its agents are built, so the cards are up before the provider
        SDKs have loaded; the run's ``RunStarted`` replaces them."""
        self.question = question
        self.agents = {
            a["id"]: AgentView(
                id=a["id"],
                label=a["label"],
                model=a.get("model") or "",
                backend=a.get("backend") or "",
                status="starting",
            )
            for a in team
        }
        self.dirty |= {"layout", "header", "panel", "final"}

    # ------------------------------------------------------------------ folding

    def apply(self, event: Event) -> None:
        """Fold one event into the view, marking what changed."""
        at = event.ts if self.recorded and event.ts else self.now()
        self.ledger.apply(event, at)
        handler = getattr(self, f"_on_{event.type}", None)
        if handler is not None:
            handler(event, at)

    def _mark(self, agent: AgentView, *parts: str) -> None:
        self.dirty.add(f"agent:{agent.id}")
        self.dirty.update(parts)

    def _on_run_started(self, e, at: float) -> None:
        self.question, self.strategy = e.question, e.strategy
        self.step_noun, self.has_votes = e.step_noun, e.has_votes
        self.last_round = e.steps or 0
        self.judge_id = str((e.options or {}).get("judge") or "")
        self.attachments = list(e.attachments or [])
        self.agents = {
            a["id"]: AgentView(
                id=a["id"],
                label=a["label"],
                model=a.get("model") or "",
                backend=a.get("backend") or "",
            )
            for a in e.agents
        }
        self.status, self.started, self.round = "running", at, 1
        self.dirty |= {"layout", "header", "panel", "final"}

    def _on_agent_status(self, e, at: float) -> None:
        if agent := self.agent(e.agent_id):
            was_active = agent.status in ACTIVE
            agent.status = e.status
            if e.status in ACTIVE and not was_active:
                agent.active_since = at
            elif e.status not in ACTIVE and agent.active_since is not None:
                agent.active_s += at - agent.active_since
                agent.active_since = None
            if e.status not in ACTIVE:
                agent.retry, agent.activity, agent.tools = None, "", {}
            self._mark(agent, "panel", "tabs")

    def _on_agent_turn_started(self, e, at: float) -> None:
        self.round = max(self.round, e.round or 1)
        if agent := self.agent(e.agent_id):
            kind = "aggregate" if e.kind == "present" and not self.has_votes else e.kind
            agent.turn, agent.turn_kind = e.turn or 0, kind
            agent.retry, agent.activity, agent.tools = None, "", {}
            agent.stop_writing()
            agent.show_made()  # made in a turn that ended without an answer
            agent.done += agent.text
            title = TURN_TITLES.get(kind, kind)
            gap = "\n\n" if agent.done else ""
            step = f"turn {agent.turn}"
            if not self.has_votes and e.kind != "present":  # steps of answers
                step = f"{self.step_noun} {e.round or 1}"
            agent.text = agent.head = f"{gap}**— {step}: {title} —**\n\n"
            if e.kind == "present":
                self.presenter_id = agent.id
                agent.add(f"{WRITING_FINAL}\n")
            self._mark(agent, "header")

    def _on_text_delta(self, e, at: float) -> None:
        if agent := self.agent(e.agent_id):
            agent.retry, agent.last_output = None, at
            agent.add(e.text)
            self._mark(agent)

    def _on_reasoning_delta(self, e, at: float) -> None:
        self._on_text_delta(e, at)

    def _on_tool_arguments_delta(self, e, at: float) -> None:
        if agent := self.agent(e.agent_id):
            agent.retry, agent.last_output = None, at
            agent.streamed_chars += len(e.text)
            if e.name in WORKFLOW_ACTIVITY:
                agent.activity = WORKFLOW_ACTIVITY[e.name]
                name, raw = agent.writing.get(e.call_id, (e.name, ""))
                agent.writing[e.call_id] = (name, raw + e.text)
                agent.live = "".join(partial_action(n, r) for n, r in agent.writing.values())
            self._mark(agent)

    def _on_tool_call_started(self, e, at: float) -> None:
        if agent := self.agent(e.agent_id):
            agent.retry = None
            agent.tools[e.call_id] = e.name
            agent.activity = WORKFLOW_ACTIVITY.get(e.name, f"calling {e.name}")
            self._mark(agent)

    def _on_tool_call_finished(self, e, at: float) -> None:
        if agent := self.agent(e.agent_id):
            agent.tools.pop(e.call_id, None)
            running = list(agent.tools.values())
            agent.activity = (
                WORKFLOW_ACTIVITY.get(running[-1], f"calling {running[-1]}") if running else ""
            )
            if e.name in WORKFLOW_ACTIVITY:
                self._mark(agent)
                return
            mark = "✗" if e.is_error else "✓"
            took = f" · {e.duration_s:.2f}s" if e.duration_s is not None else ""
            preview = " ".join(str(e.result or "").split())
            preview = preview if len(preview) <= 160 else preview[:159] + "…"
            line = f"\n\n`{mark} {e.name}{took}`"
            if preview:  # the result, shortened (the whole one is in the session's tools/)
                line += f"\n> {preview}"
            agent.add(line + "\n\n")
            self._mark(agent)

    def _on_stream_retry(self, e, at: float) -> None:
        if agent := self.agent(e.agent_id):
            agent.text = agent.head + f"*⟳ {e.reason}*\n\n"  # the partial turn is void
            agent.stop_writing()
            agent.streamed_chars = 0
            agent.retry = Retry(e.attempt, e.delay, e.reason, since=at)
            agent.activity, agent.tools = "", {}
            self.log.append(f"{agent.label} retry {e.attempt}")
            self._mark(agent, "panel", "tabs")

    def _on_answer_submitted(self, e, at: float) -> None:
        agent = self.agent(e.agent_id)
        if agent:
            agent.answers.append(e.label)
            agent.activity, agent.tools = "", {}
            agent.stop_writing()
            agent.add(f"\n\n**New answer {e.label}:**\n\n{e.content}\n")
            agent.show_made()
            self._mark(agent)
        label = agent.label if agent else e.agent_label
        self.answers.append(AnswerView(e.label, e.agent_id or "", label, e.content))
        self.dirty.add("panel")

    def _on_vote_cast(self, e, at: float) -> None:
        if agent := self.agent(e.agent_id):
            agent.vote, agent.vote_answer, agent.vote_reason = e.target, e.target_answer, e.reason
            agent.activity, agent.tools = "", {}
            agent.stop_writing()
            reason = f": {e.reason}" if e.reason else ""
            agent.add(f"\n\n**Voted for {e.target}** ({e.target_answer}){reason}\n")
            self._mark(agent)
        self.votes[e.agent_id or ""] = VoteView(
            e.agent_id or "", e.voter, e.target, e.target_answer, e.reason
        )
        self.dirty.add("panel")

    def _on_votes_cleared(self, e, at: float) -> None:
        for voter_id in list(self.votes):
            if agent := self.agent(voter_id):
                agent.vote = None
                self._mark(agent)
        self.votes.clear()
        self.log.append(f"votes cleared: {e.reason}")
        self.dirty.add("panel")

    def _on_agent_cancelled(self, e, at: float) -> None:
        if agent := self.agent(e.agent_id):
            agent.stop_writing()
            agent.add(f"\n\n*(stopped: {e.reason})*\n")
            self._mark(agent)

    def _on_agent_restarted(self, e, at: float) -> None:
        self.restarts += 1
        if agent := self.agent(e.agent_id):
            agent.restarts += 1
            self._mark(agent)
        self.log.append(f"{self.label_of(e.agent_id or '')} restarted: {e.reason}")
        self.dirty.add("panel")

    def _on_agent_failed(self, e, at: float) -> None:
        if agent := self.agent(e.agent_id):
            agent.error, agent.retry = e.reason, None
            agent.stop_writing()
            agent.add(f"\n\n**Failed:** {e.reason}\n")
            self._mark(agent, "tabs")
        self.log.append(f"{self.label_of(e.agent_id or '')} failed")
        self.dirty.add("panel")

    def _on_invalid_action(self, e, at: float) -> None:
        if agent := self.agent(e.agent_id):
            agent.stop_writing()
            self._mark(agent)
        self.log.append(f"{self.label_of(e.agent_id or '')}: invalid action ({e.attempt})")
        self.dirty.add("panel")

    def _on_agent_notice(self, e, at: float) -> None:
        who = f"{self.label_of(e.agent_id)}: " if e.agent_id else ""
        self.log.append(f"{who}{e.message}")
        self.dirty.add("panel")

    def _on_usage(self, e, at: float) -> None:
        self.prompt_tokens += e.prompt_tokens
        self.completion_tokens += e.completion_tokens
        if e.cost_usd is None:
            self.cost_known = False
        else:
            self.cost_usd = (self.cost_usd or 0.0) + e.cost_usd
        if agent := self.agent(e.agent_id):
            agent.prompt_tokens += e.prompt_tokens
            agent.completion_tokens += e.completion_tokens
            agent.streamed_chars = 0  # the call's own count replaces the estimate
            if e.cost_usd is None:
                agent.cost_known = False
            else:
                agent.cost_usd = (agent.cost_usd or 0.0) + e.cost_usd
            self._mark(agent)
        self.dirty |= {"header", "panel"}

    def _on_winner_selected(self, e, at: float) -> None:
        self.winner_id, self.winner_label = e.agent_id, e.label
        self.final_tally, self.is_tie = dict(e.tally), e.is_tie
        self.dirty |= {"panel", "final", "layout-size"}

    def _on_final_answer_delta(self, e, at: float) -> None:
        self.final_text += e.text
        self.dirty.add("final")

    def _on_artifact_saved(self, e, at: float) -> None:
        agent = self.agent(e.agent_id)
        artifact = ArtifactView(
            name=e.name,
            path=e.path,
            kind=e.kind,
            mime=e.mime,
            size=e.size,
            agent_id=e.agent_id or "",
            agent_label=agent.label if agent else e.agent_id or "",
            tool=e.tool,
        )
        self.artifacts.append(artifact)
        if agent:
            agent.made.append(artifact)
            agent.media[artifact.name] = artifact
            self._mark(agent)
        self.dirty.add("final")

    def _on_files_changed(self, e, at: float) -> None:
        self.file_changes = list(e.changes or [])
        self.dirty.add("final")

    def recording_ended(self) -> None:
        """A recording's events stopped before its run ended (the process quit mid-run): the
        part is over, ``interrupted`` (what the session's summary says of it)."""
        if self.running:
            self.status, self.finished = "interrupted", self.now()
            for agent in self.agents.values():
                if agent.active_since is not None:
                    agent.active_s += self.finished - agent.active_since
                    agent.active_since = None
                agent.retry = None
            self.dirty |= {"header", "panel", "tabs"}

    def final_markdown(self) -> str:
        """The final answer, and the files the presenter changed with their diffs."""
        if not self.file_changes:
            return self.final_text
        parts = [self.final_text, "\n\n**Files changed** (`massgen logs restore` undoes it)\n"]
        for change in self.file_changes:
            parts.append(f"\n- `{change.get('path')}` ({change.get('how')})")
            if change.get("diff"):
                parts.append(f"\n\n```diff\n{str(change['diff']).rstrip()}\n```\n")
        return "".join(parts)

    def _on_final_answer(self, e, at: float) -> None:
        self.final_text = e.content  # the same text when streamed; else (reuse, timeout) set
        self.final_done = True
        self.dirty.add("final")

    def _on_error(self, e, at: float) -> None:
        self.error = e.message
        self.log.append(f"error: {e.message}")
        self.dirty |= {"panel", "header"}

    def _on_round_finished(self, e, at: float) -> None:
        self.last_round = e.last_round
        if e.agreement is not None:
            self.agreement = e.agreement
        if e.groups:  # recordings from before groups were published have none
            self.groups[e.round] = [list(group) for group in e.groups]
        agreement = f": {e.agreement:.0%} agree" if e.agreement is not None else " done"
        consensus = " (consensus)" if e.consensus else ""
        self.log.append(f"{self.step_noun} {e.round}/{e.last_round}{agreement}{consensus}")
        if e.round < e.last_round and not e.consensus:
            self.round = max(self.round, e.round + 1)
        self.dirty |= {"header", "panel"}

    def _on_user_note(self, e, at: float) -> None:
        self.notes.append(e.text)
        for agent in self.agents.values():  # each reads it at its next turn
            agent.add(f"\n\n> **Your note** (read at the next turn): {e.text}\n")
            self._mark(agent)
        self.log.append(f"your note: {e.text}")
        self.dirty.add("panel")

    def _on_answer_now(self, e, at: float) -> None:
        self.answered_now = self.answered_now or e.accepted
        self.log.append(f"answer now: {e.message}")
        self.dirty |= {"panel", "header"}

    def _on_budget_exceeded(self, e, at: float) -> None:
        self.budget = e.message
        self.log.append(f"out of budget: {e.message}")
        self.dirty |= {"header", "panel"}

    def _on_run_finished(self, e, at: float) -> None:
        self.status, self.finished, self.duration_s = e.status, at, e.duration_s
        final_by = e.winner or self.winner_id
        if self.aggregates:  # who wrote the final answer, not whose answer led
            final_by = self.presenter_id or final_by
        for agent in self.agents.values():
            if agent.active_since is not None:
                agent.active_s += at - agent.active_since
                agent.active_since = None
            agent.retry, agent.activity, agent.tools = None, "", {}
            agent.stop_writing()
            agent.show_made()
            agent.streamed_chars = 0
            agent.turn_kind = ""  # its last turn is over, whatever it was
            agent.text = agent.text.replace(WRITING_FINAL, WROTE_FINAL)
            agent.won = agent.id == final_by and bool(e.final_answer)
            agent.won_as = "aggregator" if self.aggregates else "winner"
            self.dirty.add(f"agent:{agent.id}")
        if e.final_answer and not self.final_text:
            self.final_text = e.final_answer
        if e.status == "budget" and not self.error:
            self.error = f"out of budget, best answer so far ({self.budget})"
        # "layout-size": the final answer's share of a small screen grows once the run is over
        self.dirty |= {"header", "panel", "final", "tabs", "layout-size"}
