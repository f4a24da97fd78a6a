"""What debate and judge share: rounds in which every live agent answers once.

Both play the turn runner's turns (prompts, workflow modes, retries, budgets, events) as
vote does; only the order of turns and the end differ. A round starts a turn for every live agent
and waits for all of them; answers never clear anything or restart anyone. A turn whose
attempts are used up keeps its text as the answer (or, with none, the agent's previous
answer stands).
"""

from __future__ import annotations

from typing import ClassVar

from massgen.coordination import prompts, workflow
from massgen.coordination.state import AgentState, Answer
from massgen.coordination.strategy import Strategy, Winner
from massgen.coordination.turns import Outcome
from massgen.events import AgentAbstained
from massgen.messages import Message

#: Independent answers and revisions submit as many answers as there are rounds.
ANSWER_CAP = 1000


class AnswerRounds(Strategy):
    """A run made of rounds of answers (subclasses: debate, judge)."""

    has_votes: ClassVar[bool] = False
    #: Turn kind -> the rules its prompt gives.
    RULES: ClassVar[dict[str, str]] = {"answer": prompts.INDEPENDENT_RULES}
    #: The rules of the final answer's prompt.
    FINAL_RULES: ClassVar[str]

    def halted(self) -> bool:
        """No next round: no live agent, too few (``min_agents``), or a budget cap hit."""
        return (
            not any(a.live for a in self.agents)
            or self.too_few_agents()
            or self.budget.stopped is not None
        )

    async def play_round(self, kind: str) -> list[str]:
        """One turn of ``kind`` for every live agent, all at once; returns the labels of the
        answers it produced."""
        before = len(self.answers)
        players = [a for a in self.agents if a.live]
        for agent in players:
            self.start_turn(agent, kind)
        while any(a.busy for a in players):
            item = await self.turns.next_outcome()
            if isinstance(item, Outcome):
                self.apply(item)
        return [a.label for a in self.answers[before:]]

    # ------------------------------------------------------------------ turns

    def turn_rules(
        self, agent: AgentState, kind: str, snapshot: list[Answer]
    ) -> workflow.TurnRules:
        return workflow.TurnRules(
            vote_labels=(),
            can_answer=True,
            answer_cap=ANSWER_CAP,
            existing_answers=(),  # agreeing answers may be identical
            answer_description="Submit your complete answer to the original message.",
            text_is_answer=True,
        )

    def turn_messages(self, agent: AgentState, kind: str, snapshot: list[Answer]) -> list[Message]:
        return prompts.answer_round_messages(
            rules=self.RULES.get(kind, prompts.INDEPENDENT_RULES),
            system_message=agent.spec.system_message,
            question=self.question,
            history=self.history,
            answers=snapshot,
            viewer_label=agent.label,
            mode=agent.mode,
            images=self.images,
            can_see_images=agent.spec.backend.supports_images,
            files=self.files_note(agent),
            planning=self.planning_note(agent),
        )

    def apply_action(self, outcome: Outcome) -> None:
        agent, action = outcome.agent, outcome.action
        if isinstance(action, workflow.NewAnswerAction):
            self.add_answer(agent, action.content)
            self.on_answer(agent, action)
        elif isinstance(action, workflow.Abstention):
            self.set_status(agent, "answered")
            self.emit(AgentAbstained(agent_id=agent.id, turn=agent.turns, reason=action.reason))

    def on_answer(self, agent: AgentState, action: workflow.NewAnswerAction) -> None:
        """Hook: a new answer was recorded."""

    # ------------------------------------------------------------------ the end

    def finisher(self, winner: Winner) -> AgentState | None:
        """The agent that writes the final answer: ``judge:`` (else none), or the first live
        agent in its stead when it has failed."""
        if self.cfg.judge is None:
            return None
        chosen = next((a for a in self.agents if a.id == self.cfg.judge), None)
        if chosen is not None and chosen.live:
            return chosen
        return next((a for a in self.agents if a.live), None)

    def final_messages(self, finisher: AgentState, winner: Winner) -> list[Message]:
        """Every agent's latest answer, to write the final answer from."""
        return prompts.final_messages(
            rules=self.FINAL_RULES,
            system_message=finisher.spec.system_message,
            question=self.question,
            history=self.history,
            answers=[a.latest for a in self.agents if a.latest is not None],
            viewer_label=finisher.label,
            images=self.images,
            can_see_images=finisher.spec.backend.supports_images,
            files=self.files_note(finisher, presenting=True),
            planning=self.planning_note(finisher, presenting=True),
        )
