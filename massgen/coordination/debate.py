"""Strategy ``debate`` (Du et al., 2023, "Improving factuality and reasoning in language
models through multiagent debate").

Round 1: every agent answers independently. Each further round (``max_rounds`` of them,
default 2): every live agent reads all agents' latest answers and gives its revised answer,
optionally naming an agent it agrees with (``agrees_with``). After each round the answers are
grouped: two agents agree when one names the other in ``agrees_with`` or their answers are
equal once normalised (case, spacing, markdown, a leading "Answer:", trailing punctuation).
The debate stops early once the largest group holds ``consensus_threshold`` of the live
agents, both read as whole percents (:func:`is_consensus`: 2 of 3 agents are 67%, so 0.67 is
reached by 2 of 3 and 3 of 4, not by 3 of 5). The final answer is the largest group's (a tie:
the earliest answer), verbatim, or with ``judge: <agent id>`` that agent's synthesis of the
final answers, streamed.
"""

from __future__ import annotations

import re
from typing import ClassVar

from massgen.coordination import prompts, workflow
from massgen.coordination.rounds import AnswerRounds
from massgen.coordination.state import AgentState, Answer
from massgen.coordination.strategy import RunOwner, Winner
from massgen.events import RoundFinished
from massgen.images import Image

_MARKUP = re.compile(r"[*_`#>]+")
_PREFIX = re.compile(r"^(?:the\s+)?(?:final\s+)?answer(?:\s+is)?\s*[:\-–—]?\s*")


def normalise(text: str) -> str:
    """An answer as compared for agreement."""
    text = _MARKUP.sub("", text.lower())
    text = " ".join(text.split())
    text = _PREFIX.sub("", text)
    return text.strip(" .!;,")


def percent(part: int, whole: int) -> int:
    """``part`` of ``whole`` in whole percents, halves rounded up (2 of 3: 67)."""
    return (200 * part + whole) // (2 * whole)


def is_consensus(agreeing: int, agents: int, threshold: float) -> bool:
    """Whether ``agreeing`` of ``agents`` reach ``consensus_threshold``: their share, as a
    whole percent (what the views show: 2 of 3 is 67%), is at least the threshold read to two
    places (0.67: 67%). A threshold of 1.0 needs every agent."""
    if agents <= 0:
        return False
    if threshold >= 1:
        return agreeing >= agents
    return percent(agreeing, agents) >= round(threshold * 100)


def order(agent: AgentState) -> int:
    """The place of an agent's latest answer among the run's answers."""
    assert agent.latest is not None
    return agent.latest.order


class DebateStrategy(AnswerRounds):
    """Rounds of revised answers until the agents agree (or the rounds run out)."""

    step_noun: ClassVar[str] = "round"
    RULES: ClassVar[dict[str, str]] = {
        "answer": prompts.INDEPENDENT_RULES,
        "revise": prompts.DEBATE_RULES,
    }
    FINAL_RULES: ClassVar[str] = prompts.DEBATE_FINAL_RULES

    def __init__(
        self,
        owner: RunOwner,
        question: str,
        history: prompts.History,
        images: tuple[Image, ...] = (),
    ) -> None:
        super().__init__(owner, question, history, images)
        self.agrees: dict[str, str] = {}  # agent label -> the label it agrees with

    def options(self) -> dict[str, object]:
        return {
            "rounds": self.cfg.rounds,
            "consensus_threshold": self.cfg.consensus_threshold,
            "judge": self.cfg.judge,
            "min_agents": self.cfg.min_agents,
            "fallback_to_best": self.cfg.fallback_to_best,
        }

    def steps(self) -> int:
        """The independent answers, then ``rounds`` revisions (the most there may be)."""
        return self.cfg.rounds + 1

    def turn_rules(
        self, agent: AgentState, kind: str, snapshot: list[Answer]
    ) -> workflow.TurnRules:
        rules = super().turn_rules(agent, kind, snapshot)
        others = tuple(a.agent_label for a in snapshot if a.agent_label != agent.label)
        if kind != "revise" or not others:
            return rules
        return workflow.TurnRules(
            vote_labels=(),
            can_answer=True,
            answer_cap=rules.answer_cap,
            existing_answers=(),
            agree_labels=others,
            answer_description="Submit your updated, complete answer to the original message.",
            text_is_answer=True,
        )

    def on_answer(self, agent: AgentState, action: workflow.NewAnswerAction) -> None:
        if action.agrees_with:
            self.agrees[agent.label] = action.agrees_with
        else:
            self.agrees.pop(agent.label, None)

    async def coordinate(self) -> None:
        last = self.cfg.rounds + 1  # the independent answers, then the revisions
        kind = "answer"
        for number in range(1, last + 1):
            self.round = number
            produced = await self.play_round(kind)
            if not produced and self.halted():
                return  # nobody could play this round (a budget cap, failures)
            groups = self.groups()
            members = sum(len(g) for g in groups)
            agreement = len(groups[0]) / members if groups else 0.0
            consensus = bool(groups) and is_consensus(
                len(groups[0]), members, self.cfg.consensus_threshold
            )
            self.emit(
                RoundFinished(
                    strategy="debate",
                    round=number,
                    last_round=last,
                    answers=produced,
                    agreement=round(agreement, 4),
                    groups=[[a.label for a in g] for g in groups],
                    consensus=consensus,
                )
            )
            if consensus or self.halted() or len(self.agents) == 1:
                return
            kind = "revise"

    # ------------------------------------------------------------------ agreement

    def groups(self) -> list[list[AgentState]]:
        """The live agents with an answer, grouped by agreement; the largest group first
        (then the one holding the earliest answer)."""
        members = [a for a in self.agents if a.live and a.latest is not None]
        if not members:  # everyone failed after answering: judge what is left
            members = [a for a in self.agents if a.latest is not None]
        parent = {a.label: a.label for a in members}

        def root(label: str) -> str:
            while parent[label] != label:
                parent[label] = parent[parent[label]]
                label = parent[label]
            return label

        def join(a: str, b: str) -> None:
            parent[root(a)] = root(b)

        keys: dict[str, str] = {}
        for agent in members:
            assert agent.latest is not None
            key = normalise(agent.latest.content)
            if key in keys:
                join(agent.label, keys[key])
            keys.setdefault(key, agent.label)
            target = self.agrees.get(agent.label)
            if target in parent:
                join(agent.label, target)
        grouped: dict[str, list[AgentState]] = {}
        for agent in members:
            grouped.setdefault(root(agent.label), []).append(agent)
        return sorted(grouped.values(), key=lambda g: (-len(g), min(order(a) for a in g)))

    def representative(self, group: list[AgentState]) -> AgentState:
        """The answer standing for a group: the one most agreed with, then the earliest."""
        named = [self.agrees.get(a.label) for a in group]
        return min(group, key=lambda a: (-named.count(a.label), order(a)))

    def select_winner(self, fallback: bool = False) -> Winner | None:
        if not self.answers:
            return None
        groups = self.groups()
        if not groups:
            latest = self.answers[-1]
            return Winner(latest.agent_label, latest, {}, False, "latest answer")
        chosen = [self.representative(g) for g in groups]
        tally: dict[str, float] = {
            agent.label: len(g) for agent, g in zip(chosen, groups, strict=True)
        }
        top = groups[0]
        members = sum(len(g) for g in groups)
        tie = len(groups) > 1 and len(groups[1]) == len(top)
        agreed = is_consensus(len(top), members, self.cfg.consensus_threshold)
        word = "consensus" if agreed else "majority"
        reason = f"{word}: {len(top)} of {members} agents agree"
        if tie:
            reason += ", tie broken by the earliest answer"
        winner = chosen[0]
        assert winner.latest is not None
        return Winner(winner.label, winner.latest, tally, tie, reason)
