"""Strategy ``judge`` (Mixture-of-Agents, Wang et al., 2024).

Layer 1: every agent answers independently. Each further layer (``layers``, default 1 in
all): every live agent reads the previous layer's answers and writes its own synthesis. Then
one aggregator (``judge: <agent id>``, default the first agent) writes the final answer from
the last layer's answers, streamed. An aggregator that failed, before or inside that call,
is replaced by the next live agent (``winner_selected.reason`` names the one that writes
it); when none can, the run fails (with ``fallback_to_best``, the last aggregator's own
answer is final). ``final_answer: reuse`` skips that call: the aggregator's own last answer
is final.
"""

from __future__ import annotations

from typing import ClassVar

from massgen.backends.errors import BackendError
from massgen.coordination import budget, prompts
from massgen.coordination.rounds import AnswerRounds
from massgen.coordination.state import AgentState
from massgen.coordination.strategy import Winner
from massgen.errors import describe
from massgen.events import ErrorEvent, RoundFinished


class JudgeStrategy(AnswerRounds):
    """Layers of answers, each reading the previous layer's; the aggregator writes the end."""

    step_noun: ClassVar[str] = "layer"
    RULES: ClassVar[dict[str, str]] = {
        "answer": prompts.INDEPENDENT_RULES,
        "propose": prompts.LAYER_RULES,
    }
    FINAL_RULES: ClassVar[str] = prompts.AGGREGATE_RULES
    #: why no agent could write the final answer (the run then fails), once that happened
    unaggregated: str | None = None

    @property
    def judge(self) -> AgentState:
        """The aggregator: ``judge:``, else the first agent."""
        return next((a for a in self.agents if a.id == self.cfg.judge), self.agents[0])

    @property
    def judge_id(self) -> str:
        return self.judge.id

    def aggregator(self) -> AgentState:
        """Who aggregates: the judge, else (it failed) the first live agent, else the judge."""
        chosen = self.judge
        return chosen if chosen.live else next((a for a in self.agents if a.live), chosen)

    def options(self) -> dict[str, object]:
        return {
            "layers": self.cfg.layers,
            "judge": self.judge_id,
            "min_agents": self.cfg.min_agents,
            "fallback_to_best": self.cfg.fallback_to_best,
        }

    def steps(self) -> int:
        return self.cfg.layers

    def finisher(self, winner: Winner) -> AgentState | None:
        chosen = self.aggregator()
        return chosen if chosen.live else None

    async def coordinate(self) -> None:
        for layer in range(1, self.cfg.layers + 1):
            self.round = layer
            produced = await self.play_round("answer" if layer == 1 else "propose")
            if not produced and self.halted():
                return
            self.emit(
                RoundFinished(
                    strategy="judge", round=layer, last_round=self.cfg.layers, answers=produced
                )
            )
            if self.halted():
                return

    def select_winner(self, fallback: bool = False) -> Winner | None:
        """The aggregator's last answer (else the latest answer): what is final if the
        synthesis cannot be written (``final_answer: reuse``, an early end)."""
        if not self.answers:
            return None
        chosen = self.aggregator()
        answer = chosen.latest or self.answers[-1]
        reason = f"aggregator: {chosen.id}"
        if chosen is not self.judge:
            reason += f" (in place of {self.judge_id}, which failed)"
        return Winner(answer.agent_label, answer, {}, False, reason)

    async def present(self, winner: Winner) -> str | None:
        """The aggregator's synthesis. One that fails inside the call is failed and the next
        live agent aggregates (announced as the new winner); when none is left, the run
        fails (:meth:`end_status`) and, with ``fallback_to_best``, the last aggregator's
        own answer is final."""
        if self.skips_final_call():
            return await super().present(winner)
        self.announce_winner(winner)
        agent = self.finisher(winner)  # None: every agent has failed
        while agent is not None:
            others = [a for a in self.agents if a.live and a is not agent]
            instead = f"{others[0].label} aggregates instead" if others else "nobody else can"
            text, failure = await self.final_call(agent, winner, instead)
            if failure is None or self.budget.stopped is not None:  # the run's cap: it ends
                return self.publish_final(agent, winner, text)
            self.fail(agent, failure_reason(failure, self.cfg.turn_timeout_seconds), kind(failure))
            if not others:
                break
            winner, agent = self.select_winner() or winner, others[0]  # others[0] aggregates
            self.announce_winner(winner)
        self.unaggregated = f"no agent could write the final answer ({self.failures()})"
        if not self.cfg.fallback_to_best:
            return None
        self.announce_final(winner, winner.answer.content, presented=False)
        return winner.answer.content

    def end_status(self) -> tuple[str, str | None]:
        """As every strategy's, and ``failed`` when no agent could aggregate."""
        status, error = super().end_status()
        if status != "ok" or self.unaggregated is None:
            return status, error
        error = self.unaggregated
        if self.cfg.fallback_to_best:
            error += "; the aggregator's own last answer is final (fallback_to_best)"
        self.ending = "failed"
        self.emit(ErrorEvent(message=error, error_type="no_aggregator"))
        return "failed", error


def failure_reason(exc: Exception, timeout: float) -> str:
    """Why a final-answer call failed, in one line."""
    if isinstance(exc, TimeoutError):
        return f"final answer timed out after {timeout:g}s"
    return f"final answer failed: {describe(exc)}"


def kind(exc: Exception) -> str:
    """The ``agent_failed.error_type`` of a final-answer call's failure (as a turn's)."""
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, budget.BudgetExceeded):
        return "budget"
    return type(exc).__name__ if isinstance(exc, BackendError) else "internal"
