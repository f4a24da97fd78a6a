"""What debate and judge share: rounds in which every live agent answers once.

Both run the engine's own turns (prompts, workflow modes, retries, budgets, events); only
the order of turns and the end differ from vote. A round starts a turn for every live agent
and waits for all of them; answers never clear anything or restart anyone. A turn whose
attempts are used up keeps its text as the answer (or, with none, the agent's previous
answer stands).
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from massgen.backends.base import Message
from massgen.coordination import budget, prompts, workflow
from massgen.coordination.engine import _Outcome, _Run, _Winner
from massgen.coordination.state import AgentState, Answer
from massgen.errors import describe
from massgen.events import (
    AgentAbstained,
    AgentTurnStarted,
    ErrorEvent,
    FinalAnswer,
)

#: Independent answers and revisions submit as many answers as there are rounds.
ANSWER_CAP = 1000


class AnswerRounds(_Run):
    """A run made of rounds of answers (subclasses: debate, judge)."""

    #: Turn kind -> the rules its prompt gives.
    RULES: ClassVar[dict[str, str]] = {"answer": prompts.INDEPENDENT_RULES}

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
            item = await self.queue.get()
            if isinstance(item, _Outcome):
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

    @staticmethod
    def last_resort(
        agent: AgentState, kind: str, rules: workflow.TurnRules, texts: list[str], error: str
    ) -> workflow.Action:
        return _Run.last_resort(agent, "answer", rules, texts, error)

    def apply(self, outcome: _Outcome) -> None:
        agent = outcome.agent
        if outcome.turn_id != agent.turn_id:
            return
        action = outcome.action
        if isinstance(action, workflow.NewAnswerAction):
            agent.task = None
            agent.turn_id = None
            self.add_answer(agent, action.content)
            self.on_answer(agent, action)
        elif isinstance(action, workflow.Abstention):
            agent.task = None
            agent.turn_id = None
            self.set_status(agent, "answered")
            self.emit(AgentAbstained(agent_id=agent.id, turn=agent.turns, reason=action.reason))
        else:
            super().apply(outcome)  # a failure

    def on_answer(self, agent: AgentState, action: workflow.NewAnswerAction) -> None:
        """Hook: a new answer was recorded."""

    # ------------------------------------------------------------------ the end

    def finisher(self) -> AgentState | None:
        """The agent that writes the final answer: ``judge:`` (else none), or the first live
        agent in its stead when it has failed."""
        if self.cfg.judge is None:
            return None
        chosen = next((a for a in self.agents if a.id == self.cfg.judge), None)
        if chosen is not None and chosen.live:
            return chosen
        return next((a for a in self.agents if a.live), None)

    async def synthesize(self, agent: AgentState, winner: _Winner, rules: str) -> str:
        """``agent`` writes the final answer from every agent's latest answer (streamed);
        on failure, or an empty reply, the winner's answer is final."""
        agent.turns += 1
        self.set_status(agent, "thinking")
        self.emit(AgentTurnStarted(agent_id=agent.id, turn=agent.turns, kind="present"))
        messages = prompts.final_messages(
            rules=rules,
            system_message=agent.spec.system_message,
            question=self.question,
            history=self.history,
            answers=[a.latest for a in self.agents if a.latest is not None],
            viewer_label=agent.label,
            images=self.images,
            can_see_images=agent.spec.backend.supports_images,
            files=self.files_note(agent, presenting=True),
            planning=self.planning_note(agent, presenting=True),
        )
        text = ""
        agent.presenting = True  # as in a vote's presentation: write grants open now only
        try:
            async with asyncio.timeout(self.cfg.turn_timeout_seconds):
                text = await self.presentation(agent, messages)
        except budget.BudgetExceeded:
            pass  # announced by the budget
        except Exception as exc:  # the answers still stand
            cause = describe(exc)
            if isinstance(exc, TimeoutError):
                cause = f"timed out after {self.cfg.turn_timeout_seconds:g}s"
            self.emit(
                ErrorEvent(
                    agent_id=agent.id,
                    message=f"final answer failed ({cause}); using {winner.answer.label}",
                    error_type=type(exc).__name__,
                )
            )
        finally:
            agent.presenting = False
            self.report_file_changes(agent)
        self.set_status(agent, "answered")
        if not text.strip():
            self.announce_final(winner, winner.answer.content, presented=False)
            return winner.answer.content
        self.emit(
            FinalAnswer(
                agent_id=agent.id,
                content=text,
                label=agent.label,
                answer_label=winner.answer.label,
                presented=True,
            )
        )
        return text

    def skips_final_call(self) -> bool:
        """The answer chosen is final as it is: ``final_answer: reuse``, one agent (unless
        the final answer is capped or has stop sequences), or an early end (budget, too few
        agents)."""
        alone = len(self.agents) == 1 and not self.cfg.shapes_final_answer
        return self.cfg.final_answer == "reuse" or alone or self.ending != "ok"
