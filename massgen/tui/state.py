"""What the terminal app shows, derived from events alone.

:class:`RunView` applies engine events to a plain view model; the widgets render it. Keeping
this free of Textual makes the "UIs only read events" rule easy to hold and to test.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from massgen.events import Event

TURN_TITLES = {"answer": "first answer", "evaluate": "reviewing answers", "present": "final answer"}


@dataclass
class AgentView:
    id: str
    label: str
    model: str
    status: str = "waiting"
    turn_kind: str = ""
    turn: int = 0
    done: str = ""  # the transcript of earlier turns (Markdown)
    text: str = ""  # the current turn: streamed text, then its answer or vote
    answers: list[str] = field(default_factory=list)  # versioned labels
    vote: str | None = None  # target agent label
    vote_reason: str = ""
    error: str | None = None

    @property
    def transcript(self) -> str:
        return self.done + self.text

    def add(self, markdown: str) -> None:
        self.text += markdown


@dataclass
class AnswerView:
    label: str
    agent_id: str
    content: str


@dataclass
class VoteView:
    voter_id: str
    voter_label: str
    target: str
    target_answer: str
    reason: str


@dataclass
class RunView:
    """The state of one coordination as the user sees it."""

    question: str = ""
    strategy: str = ""
    agents: dict[str, AgentView] = field(default_factory=dict)
    answers: list[AnswerView] = field(default_factory=list)
    votes: dict[str, VoteView] = field(default_factory=dict)  # by voter id
    log: list[str] = field(default_factory=list)  # restarts, failures, errors
    winner_id: str | None = None
    winner_label: str | None = None
    tally: dict[str, int] = field(default_factory=dict)
    is_tie: bool = False
    final_text: str = ""
    final_pending: str = ""
    final_done: bool = False
    status: str = "idle"  # idle, running, ok, timeout, failed, cancelled
    started: float = 0.0
    finished: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    cost_known: bool = True
    dirty: set[str] = field(default_factory=set)  # which parts changed since the last draw

    @property
    def elapsed(self) -> float:
        if not self.started:
            return 0.0
        return (self.finished or time.monotonic()) - self.started

    def agent(self, agent_id: str | None) -> AgentView | None:
        return self.agents.get(agent_id or "")

    def label_of(self, agent_id: str) -> str:
        view = self.agents.get(agent_id)
        return view.label if view else agent_id

    def apply(self, event: Event) -> None:
        """Fold one event into the view, marking what changed."""
        handler = getattr(self, f"_on_{event.type}", None)
        if handler is not None:
            handler(event)

    # ------------------------------------------------------------------ handlers

    def _on_run_started(self, e) -> None:
        self.question, self.strategy = e.question, e.strategy
        self.agents = {
            a["id"]: AgentView(id=a["id"], label=a["label"], model=a.get("model") or "")
            for a in e.agents
        }
        self.status, self.started = "running", time.monotonic()
        self.dirty |= {"layout", "header", "panel", "final"}

    def _on_agent_status(self, e) -> None:
        if agent := self.agent(e.agent_id):
            agent.status = e.status
            self.dirty.add(f"agent:{agent.id}")

    def _on_agent_turn_started(self, e) -> None:
        if agent := self.agent(e.agent_id):
            agent.turn, agent.turn_kind = e.turn or 0, e.kind
            agent.done += agent.text
            agent.text = ""
            title = TURN_TITLES.get(e.kind, e.kind)
            agent.add(f"{chr(10) * 2 if agent.done else ''}**— turn {agent.turn}: {title} —**\n\n")
            if e.kind == "present":
                agent.add("*(streaming into the final answer pane)*\n")
            self.dirty.add(f"agent:{agent.id}")

    def _on_text_delta(self, e) -> None:
        if agent := self.agent(e.agent_id):
            agent.add(e.text)
            self.dirty.add(f"agent:{agent.id}")

    def _on_reasoning_delta(self, e) -> None:
        self._on_text_delta(e)

    def _on_stream_retry(self, e) -> None:
        if agent := self.agent(e.agent_id):
            head = agent.text.split("\n\n", 1)[0] + "\n\n" if agent.text else ""
            agent.text = head + f"*(retrying: {e.reason})*\n\n"  # the partial turn is void
            self.log.append(f"{agent.id}: retrying in {e.delay:.1f}s ({e.reason})")
            self.dirty |= {f"agent:{agent.id}", "panel"}

    def _on_answer_submitted(self, e) -> None:
        if agent := self.agent(e.agent_id):
            agent.answers.append(e.label)
            agent.add(f"\n\n**New answer {e.label}:**\n\n{e.content}\n")
            self.dirty.add(f"agent:{agent.id}")
        self.answers.append(AnswerView(e.label, e.agent_id or "", e.content))
        self.dirty.add("panel")

    def _on_vote_cast(self, e) -> None:
        if agent := self.agent(e.agent_id):
            agent.vote, agent.vote_reason = e.target, e.reason
            reason = f": {e.reason}" if e.reason else ""
            agent.add(f"\n\n**Voted for {e.target}** ({e.target_answer}){reason}\n")
            self.dirty.add(f"agent:{agent.id}")
        self.votes[e.agent_id or ""] = VoteView(
            e.agent_id or "", e.voter, e.target, e.target_answer, e.reason
        )
        self.dirty.add("panel")

    def _on_votes_cleared(self, e) -> None:
        for voter_id in list(self.votes):
            if agent := self.agent(voter_id):
                agent.vote = None
                self.dirty.add(f"agent:{agent.id}")
        self.votes.clear()
        self.log.append(f"votes cleared: {e.reason}")
        self.dirty.add("panel")

    def _on_agent_cancelled(self, e) -> None:
        if agent := self.agent(e.agent_id):
            agent.add(f"\n\n*(stopped: {e.reason})*\n")
            self.dirty.add(f"agent:{agent.id}")

    def _on_agent_restarted(self, e) -> None:
        self.log.append(f"{e.agent_id} restarting: {e.reason}")
        self.dirty.add("panel")

    def _on_agent_failed(self, e) -> None:
        if agent := self.agent(e.agent_id):
            agent.error = e.reason
            agent.add(f"\n\n**Failed:** {e.reason}\n")
            self.dirty.add(f"agent:{agent.id}")
        self.log.append(f"{e.agent_id} failed: {e.reason}")
        self.dirty.add("panel")

    def _on_invalid_action(self, e) -> None:
        self.log.append(f"{e.agent_id}: invalid action (attempt {e.attempt}): {e.message}")
        self.dirty.add("panel")

    def _on_usage(self, e) -> None:
        self.prompt_tokens += e.prompt_tokens
        self.completion_tokens += e.completion_tokens
        if e.cost_usd is None:
            self.cost_known = False
        else:
            self.cost_usd = (self.cost_usd or 0.0) + e.cost_usd
        self.dirty.add("header")

    def _on_winner_selected(self, e) -> None:
        self.winner_id, self.winner_label = e.agent_id, e.label
        self.tally, self.is_tie = dict(e.tally), e.is_tie
        self.dirty |= {"panel", "final"}

    def _on_final_answer_delta(self, e) -> None:
        self.final_text += e.text
        self.final_pending += e.text
        self.dirty.add("final")

    def _on_final_answer(self, e) -> None:
        if e.content != self.final_text:  # not streamed (reuse, timeout, fallback)
            self.final_text, self.final_pending = e.content, ""
            self.dirty.add("final:reset")
        self.final_done = True
        self.dirty.add("final")

    def _on_error(self, e) -> None:
        self.log.append(f"error: {e.message}")
        self.dirty.add("panel")

    def _on_run_finished(self, e) -> None:
        self.status, self.finished = e.status, time.monotonic()
        self.dirty |= {"header", "panel", "final"}
