"""The one final-answer path of every strategy: the winner announced, the finisher's turn
(streamed), and what stands when that turn fails. A part of
:class:`massgen.coordination.strategy.Strategy` (docs/architecture.md, "Strategies")."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from massgen.config.schema import OrchestratorConfig
from massgen.coordination import budget, prompts
from massgen.coordination.state import AgentState, Answer
from massgen.coordination.turns import TurnRunner
from massgen.errors import describe
from massgen.events import (
    AgentTurnStarted,
    ErrorEvent,
    Event,
    FilesChanged,
    FinalAnswer,
    WinnerSelected,
)
from massgen.messages import Message

if TYPE_CHECKING:  # imported by the runs that have files (docs/architecture.md, "Start-up")
    from massgen.workspaces.manager import Workspaces


@dataclass
class Winner:
    """The answer a strategy chose, and why (``tally``: label -> votes or group size)."""

    label: str
    answer: Answer
    tally: dict[str, float]
    is_tie: bool
    reason: str = "votes"


class Presenting:
    """The final answer (the strategy sets the fields and supplies the methods)."""

    #: what the finisher's turn is called in its error message
    final_turn: ClassVar[str] = "final answer"
    #: whether a budget refusal of the final answer is also an error event (the budget
    #: announces it either way)
    final_refusal_is_error: ClassVar[bool] = False

    cfg: OrchestratorConfig
    agents: list[AgentState]
    by_label: dict[str, AgentState]
    notes: list[str]
    turns: TurnRunner
    files: Workspaces | None
    #: the winner announced last (a strategy may choose again when its finisher fails)
    announced: Winner | None = None

    def emit(self, event: Event) -> None:
        raise NotImplementedError

    def set_status(self, agent: AgentState, status: str) -> None:
        raise NotImplementedError

    def finisher(self, winner: Winner) -> AgentState | None:
        raise NotImplementedError

    def final_messages(self, finisher: AgentState, winner: Winner) -> list[Message]:
        raise NotImplementedError

    def skips_final_call(self) -> bool:
        raise NotImplementedError

    async def present(self, winner: Winner) -> str | None:
        """Announce ``winner``; the finisher writes the final answer (streamed), unless the
        answer chosen is final as it is. On a failure, or an empty reply, the winner's
        answer is final. None: no final answer (a strategy's own rule, e.g. judge's)."""
        self.announce_winner(winner)
        agent = self.finisher(winner)
        if agent is None or self.skips_final_call():
            self.announce_final(winner, winner.answer.content, presented=False)
            return winner.answer.content
        text, _ = await self.final_call(agent, winner, f"using {winner.answer.label}")
        return self.publish_final(agent, winner, text)

    async def final_call(
        self, agent: AgentState, winner: Winner, instead: str
    ) -> tuple[str, Exception | None]:
        """``agent``'s final-answer turn: its text, and what made it fail (an error event
        says so, and what happens ``instead``), if it did."""
        agent.turns += 1
        self.set_status(agent, "thinking")
        self.emit(AgentTurnStarted(agent_id=agent.id, turn=agent.turns, kind="present"))
        messages = prompts.with_notes(self.final_messages(agent, winner), self.notes)
        text, failure = "", None
        agent.presenting = True  # the user's write-granted files open up for this turn only
        try:
            async with asyncio.timeout(self.cfg.turn_timeout_seconds):
                text = await self.turns.present_turn(agent, messages)
        except Exception as exc:  # any failure here still leaves the winning answer
            failure = exc
            if self.final_refusal_is_error or not isinstance(exc, budget.BudgetExceeded):
                cause = describe(exc)
                if isinstance(exc, TimeoutError):
                    cause = f"timed out after {self.cfg.turn_timeout_seconds:g}s"
                self.emit(
                    ErrorEvent(
                        agent_id=agent.id,
                        message=f"{self.final_turn} failed ({cause}); {instead}",
                        error_type=type(exc).__name__,
                    )
                )
        finally:
            agent.presenting = False
            self.report_file_changes(agent)
        self.set_status(agent, agent.settled_status)
        return text, failure

    def publish_final(self, agent: AgentState, winner: Winner, text: str) -> str:
        """``agent``'s final answer ``text``; empty (it failed, or said nothing): the
        winner's answer is final."""
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

    def announce_winner(self, winner: Winner) -> None:
        self.announced = winner
        agent = self.by_label[winner.label]
        self.emit(
            WinnerSelected(
                agent_id=agent.id,
                label=winner.label,
                answer_label=winner.answer.label,
                tally=winner.tally,
                votes=[
                    {"voter": v.voter_label, "target": v.target_label, "reason": v.reason}
                    for v in (a.vote for a in self.agents)
                    if v is not None
                ],
                is_tie=winner.is_tie,
                reason=winner.reason,
            )
        )

    def announce_final(self, winner: Winner, content: str, *, presented: bool) -> None:
        """The winner's own answer is final (``presented``: as it rewrote it)."""
        agent = self.by_label[winner.label]
        if agent.live:
            self.set_status(agent, agent.settled_status)
        self.emit(
            FinalAnswer(
                agent_id=agent.id,
                content=content,
                label=winner.label,
                answer_label=winner.answer.label,
                presented=presented,
            )
        )

    def report_file_changes(self, agent: AgentState) -> None:
        if self.files is not None and self.files.changes:
            self.emit(FilesChanged(agent_id=agent.id, changes=self.files.diffs()))
