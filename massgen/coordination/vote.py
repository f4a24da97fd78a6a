"""Strategy ``vote`` (docs/architecture.md, "Strategies").

Agent turns run as tasks; every turn ends in an outcome (an answer, a vote, a failure) that
the strategy's loop applies to the state one at a time, so the rules below are plain
sequential code:

- first answers are independent: every agent's first turn sees no peer answer and is never
  interrupted; answered agents wait until all live agents have one (or a timeout passes);
- a new answer clears every vote and restarts the other agents (in-flight turns cancelled,
  their HTTP requests closed, unless ``restart_policy: finish``); restarts caused by answers
  arriving close together are debounced into one;
- the run ends when every live agent holds a vote on the current answer set (or, with
  ``stop_when``, once one answer holds a quorum of votes: evaluation turns then start only
  as many at a time as could still complete it); the most-voted answer wins (tie: the
  earliest answer) and its author presents the final answer;
- in a large team each voter reads a bounded view of the answers (``peer_view``:
  :mod:`massgen.coordination.peers`).
"""

from __future__ import annotations

import math
import time
from typing import ClassVar

from massgen.coordination import peers, prompts, workflow
from massgen.coordination.state import AgentState, Answer, Vote
from massgen.coordination.strategy import RunOwner, Strategy, Winner
from massgen.coordination.turns import Outcome
from massgen.events import (
    AgentAbstained,
    AgentNotice,
    AgentRestarted,
    VoteCast,
    VotesCleared,
)
from massgen.images import Image
from massgen.messages import Message


def rounded(weight: float) -> float:
    """A tally's value: a whole number of votes as an int, a weighted sum to 4 places."""
    value = round(weight, 4)
    return int(value) if value == int(value) else value


class VoteStrategy(Strategy):
    """Answers, restarts and votes until every live agent has voted."""

    step_noun: ClassVar[str] = "round"
    has_votes: ClassVar[bool] = True
    final_turn: ClassVar[str] = "final presentation"
    final_refusal_is_error: ClassVar[bool] = True

    def __init__(
        self,
        owner: RunOwner,
        question: str,
        history: prompts.History,
        images: tuple[Image, ...] = (),
    ) -> None:
        super().__init__(owner, question, history, images)
        self.first_answer_deadline = self.started + self.cfg.first_answer_timeout_seconds
        self.restart_not_before = 0.0
        self.best_scores: dict[str, float] = {}  # answer label -> the most votes it held
        self.bounded = peers.bounded(self.cfg, len(self.agents))
        self.views: tuple[int, dict[str, peers.View]] | None = None  # (answer set, views)
        self.read: dict[str, int] = {}  # answer label -> peers that were given it to read

    def options(self) -> dict[str, object]:
        return {
            "rounds": self.cfg.rounds,
            "vote_weighting": self.cfg.vote_weighting,
            "min_agents": self.cfg.min_agents,
            "fallback_to_best": self.cfg.fallback_to_best,
            "peer_view": (f"shortlist of {self.cfg.peer_view_size}" if self.bounded else "all"),
            "stop_when": self.cfg.stop_when,
        }

    async def coordinate(self) -> None:
        """Run turns until every live agent has voted on the current answer set. Once a
        budget cap refuses a call, no turn starts and the turns in flight finish."""
        for agent in self.agents:
            self.start_turn(agent, "answer")
        self.turns.wake_at(self.first_answer_deadline)
        while True:
            live = [a for a in self.agents if a.live]
            if not live or self.too_few_agents():
                return
            if self.budget.stopped is not None and not any(a.busy for a in live):
                return
            if len(self.agents) == 1 and self.answers:
                return  # a single agent: its answer is final, no vote
            if all(a.settled for a in live) and not any(a.busy for a in live):
                return
            item = await self.turns.next_outcome()
            if isinstance(item, Outcome):
                self.apply(item)
                if await self.stopped_by_quorum():
                    return
            if self.budget.stopped is None:
                self.schedule()

    # ------------------------------------------------------------------ stop_when

    def quorum(self) -> int | None:
        """How many live agents' votes one answer needs to end the coordination
        (``stop_when``), or None."""
        stop = self.cfg.stop_when
        if stop is None:
            return None
        live = sum(a.live for a in self.agents)
        if stop == "majority":
            return live // 2 + 1
        if isinstance(stop, float):
            return max(1, math.ceil(stop * live - 1e-9))
        return int(stop)

    def leading(self) -> tuple[str | None, int]:
        """The answer that holds the most live agents' votes, and how many."""
        counts: dict[str, int] = {}
        for agent in self.agents:
            if agent.live and agent.vote is not None:
                label = agent.vote.answer_label
                counts[label] = counts.get(label, 0) + 1
        if not counts:
            return None, 0
        label = max(counts, key=lambda lbl: counts[lbl])
        return label, counts[label]

    async def stopped_by_quorum(self) -> bool:
        """With ``stop_when``: once one answer holds the quorum, say so and cancel the turns
        left."""
        needed = self.quorum()
        label, votes = self.leading()
        if needed is None or label is None or votes < needed or len(self.agents) == 1:
            return False
        live = sum(a.live for a in self.agents)
        self.emit(
            AgentNotice(
                message=f"stop_when: {label} holds the votes of {votes} of {live} live agents; "
                "the coordination ends here"
            )
        )
        await self.turns.cancel_all(f"stop_when: {label} holds {votes} votes")
        return True

    # ------------------------------------------------------------------ outcomes

    def apply_action(self, outcome: Outcome) -> None:
        agent, action = outcome.agent, outcome.action
        if isinstance(action, workflow.Abstention):
            if outcome.answer_set != self.answer_set:  # the answers changed meanwhile
                self.set_status(agent, "restarting")
                return
            agent.abstained = True
            self.set_status(agent, "abstained")  # judged, backing nobody: not a vote
            self.emit(AgentAbstained(agent_id=agent.id, turn=agent.turns, reason=action.reason))
        elif isinstance(action, workflow.NewAnswerAction):
            self.record_answer(agent, action.content)
        elif isinstance(action, workflow.VoteAction):
            if outcome.answer_set != self.answer_set:
                # judged an answer set that has changed since (restart_policy: finish)
                self.set_status(agent, "restarting")
                self.emit(
                    AgentRestarted(agent_id=agent.id, turn=agent.turns, reason="answers changed")
                )
                return
            self.record_vote(agent, action)

    def record_vote(self, agent: AgentState, action: workflow.VoteAction) -> None:
        target = self.by_label[action.target]
        assert target.latest is not None
        agent.vote = Vote(
            voter_id=agent.id,
            voter_label=agent.label,
            target_label=target.label,
            answer_label=target.latest.label,
            reason=action.reason,
            confidence=action.confidence,
        )
        self.set_status(agent, "voted")
        self.emit(
            VoteCast(
                agent_id=agent.id,
                turn=agent.turns,
                voter=agent.label,
                target=target.label,
                target_answer=target.latest.label,
                target_agent_id=target.id,
                reason=action.reason,
                confidence=action.confidence,
            )
        )
        score = sum(
            a.vote.weight
            for a in self.agents
            if a.vote is not None and a.vote.answer_label == target.latest.label
        )
        label = target.latest.label
        self.best_scores[label] = max(score, self.best_scores.get(label, 0.0))

    def record_answer(self, author: AgentState, content: str) -> None:
        """A new answer: votes are cleared and the others restart."""
        answer = self.add_answer(author, content)
        cleared = [a for a in self.agents if a.settled]
        for agent in cleared:
            agent.vote = None
            agent.abstained = False
        if cleared:
            self.emit(VotesCleared(reason=f"new answer {answer.label}", cleared=len(cleared)))
        restarted = list(cleared)
        if self.cfg.restart_policy == "cancel":
            for agent in self.agents:
                if agent is not author and agent.busy and agent.turns > 1 and agent.live:
                    self.turns.cancel(agent, f"new answer {answer.label}")
                    restarted.append(agent)
        for agent in restarted:
            if agent is not author:
                self.set_status(agent, "restarting")
                self.emit(
                    AgentRestarted(
                        agent_id=agent.id, turn=agent.turns, reason=f"new answer {answer.label}"
                    )
                )
        if restarted:
            if time.monotonic() >= self.restart_not_before:
                self.round += 1  # a new restart wave (answers inside one window share it)
            self.restart_not_before = time.monotonic() + self.cfg.restart_debounce_seconds
            self.turns.wake_at(self.restart_not_before)

    # ------------------------------------------------------------------ scheduling

    def schedule(self) -> None:
        """Start an evaluation turn for every idle live agent that needs one."""
        live = [a for a in self.agents if a.live]
        now = time.monotonic()
        all_answered = all(a.answers for a in live)
        if not all_answered and now < self.first_answer_deadline:
            return
        if now < self.restart_not_before:
            return
        if not self.answers:
            return
        if len(self.agents) == 1:
            return
        if self.round == 1:
            self.round = 2  # evaluation begins
        room = len(live)
        needed = self.quorum()
        if needed is not None:  # only as many turns as could still complete the quorum
            room = needed - self.leading()[1] - sum(a.busy for a in live)
        for agent in live:
            if agent.busy or agent.settled:
                continue
            if not agent.answers and agent.turns > 0:
                continue  # still owes its first answer (its first turn is running)
            if room <= 0:
                break
            room -= 1
            self.start_turn(agent, "evaluate")

    # ------------------------------------------------------------------ what a voter reads

    def turn_snapshot(self, agent: AgentState, kind: str) -> list[Answer]:
        """Every latest answer, or in a large team the agent's bounded view of them
        (``peer_view``), announced as a ``peer_view`` event."""
        snapshot = super().turn_snapshot(agent, kind)
        if not self.bounded or kind != "evaluate":
            return snapshot
        if self.views is None or self.views[0] != self.answer_set:
            voters = [a.label for a in self.agents if a.live]
            views = peers.assign(
                snapshot,
                voters,
                self.cfg.peer_view_size,
                self.best_scores,
                self.read,
                self.answer_set,
            )
            self.views = (self.answer_set, views)
        view = self.views[1].get(agent.label)
        if view is None:  # not a voter when the views were made: the shortlist, its own
            shortlist = next(iter(self.views[1].values())).shortlist if self.views[1] else ()
            view = peers.View(tuple(shortlist), (), agent.latest)
        shown = view.answers
        for answer in shown:
            if answer.agent_label != agent.label:
                self.read[answer.label] = self.read.get(answer.label, 0) + 1
        self.emit(
            peers.PeerView(
                agent_id=agent.id,
                turn=agent.turns + 1,
                round=self.round,
                shown=[a.label for a in shown],
                shortlist=[a.label for a in view.shortlist],
                answers=len(snapshot),
            )
        )
        return shown

    def turn_rules(
        self, agent: AgentState, kind: str, snapshot: list[Answer]
    ) -> workflow.TurnRules:
        """Answer below the caps, vote once answers exist; a first turn's text is its
        answer after its last invalid attempt (a later turn abstains)."""
        return workflow.TurnRules(
            vote_labels=tuple(a.agent_label for a in snapshot),
            can_answer=(
                len(agent.answers) < self.cfg.max_new_answers_per_agent
                and self.round < self.cfg.rounds
            ),
            answer_cap=self.cfg.max_new_answers_per_agent,
            existing_answers=tuple((a.label, a.content) for a in self.answers),
            confidence=self.cfg.vote_weighting == "confidence",
            text_is_answer=kind == "answer",
        )

    def turn_messages(self, agent: AgentState, kind: str, snapshot: list[Answer]) -> list[Message]:
        """The coordination rules, the question, the answers: with a bounded view, the
        shortlist every voter reads in the shared part, the rest in the agent's own tail."""
        shared, more = snapshot, []
        view = self.views[1].get(agent.label) if self.views and kind == "evaluate" else None
        if self.bounded and view is not None:
            shared = [a for a in snapshot if a in view.shortlist]
            more = [a for a in snapshot if a not in view.shortlist]
        return prompts.coordination_messages(
            system_message=agent.spec.system_message,
            question=self.question,
            history=self.history,
            answers=shared,
            more_answers=more,
            viewer_label=agent.label,
            mode=agent.mode,
            images=self.images,
            can_see_images=agent.spec.backend.supports_images,
            files=self.files_note(agent),
            planning=self.planning_note(agent),
        )

    # ------------------------------------------------------------------ the end

    def select_winner(self, fallback: bool = False) -> Winner | None:
        """Most votes wins (each weighted by its confidence with ``vote_weighting:
        confidence``); a tie goes to the earliest answer. When every agent judged the
        answers but none voted (all abstained), that is a tie of all: the earliest answer.
        With no judgement at all (a single agent, or a timeout before any vote) the latest
        answer is chosen; with ``fallback`` (an early end) and ``fallback_to_best``, the
        answer that held the most votes at any time, if any did."""
        if not self.answers:
            return None
        current = {a.label: a.latest for a in self.agents if a.latest is not None}
        weights: dict[str, float] = {}
        for vote in (a.vote for a in self.agents if a.vote is not None):
            weights[vote.target_label] = weights.get(vote.target_label, 0.0) + vote.weight
        tally = {label: rounded(n) for label, n in weights.items()}
        if tally:
            top = max(tally.values())
            leaders = [label for label, n in tally.items() if n == top]
            label = min(leaders, key=lambda lbl: current[lbl].order)
            ordered = dict(sorted(tally.items(), key=lambda kv: (-kv[1], kv[0])))
            return Winner(label, current[label], ordered, is_tie=len(leaders) > 1)
        if fallback and self.cfg.fallback_to_best and self.best_scores:
            by_label = {a.label: a for a in self.answers}
            best = max(
                self.best_scores, key=lambda lbl: (self.best_scores[lbl], -by_label[lbl].order)
            )
            answer = by_label[best]
            score = rounded(self.best_scores[best])
            return Winner(
                answer.agent_label,
                answer,
                {answer.agent_label: score},
                False,
                f"best-scored answer so far ({best}, {score:g} votes; fallback_to_best)",
            )
        if any(a.abstained for a in self.agents):
            earliest = min(current.values(), key=lambda answer: answer.order)
            return Winner(
                earliest.agent_label,
                earliest,
                {},
                True,
                "no votes (all abstained): earliest answer",
            )
        latest = self.answers[-1]
        reason = "only agent" if len(self.agents) == 1 else "latest answer (no votes)"
        return Winner(latest.agent_label, current[latest.agent_label], {}, False, reason)

    def finisher(self, winner: Winner) -> AgentState | None:
        """The winner presents the final answer, unless it has failed."""
        agent = self.by_label[winner.label]
        return agent if agent.live else None

    def final_messages(self, finisher: AgentState, winner: Winner) -> list[Message]:
        return prompts.presentation_messages(
            system_message=finisher.spec.system_message,
            question=self.question,
            history=self.history,
            answers=[a.latest for a in self.agents if a.latest is not None],
            tally=winner.tally,
            winner_label=winner.label,
            images=self.images,
            can_see_images=finisher.spec.backend.supports_images,
            files=self.files_note(finisher, presenting=True),
            planning=self.planning_note(finisher, presenting=True),
        )
