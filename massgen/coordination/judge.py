"""Strategy ``judge`` (Mixture-of-Agents, Wang et al., 2024).

Layer 1: every agent answers independently. Each further layer (``layers``, default 1 in
all): every live agent reads the previous layer's answers and writes its own synthesis. Then
one aggregator (``judge: <agent id>``, default the first agent) writes the final answer from
the last layer's answers, streamed. ``final_answer: reuse`` skips that call: the
aggregator's own last answer is final.
"""

from __future__ import annotations

from typing import ClassVar

from massgen.coordination import prompts
from massgen.coordination.rounds import AnswerRounds
from massgen.coordination.state import AgentState
from massgen.coordination.strategy import Winner
from massgen.events import RoundFinished


class JudgeStrategy(AnswerRounds):
    """Layers of answers, each reading the previous layer's; the aggregator writes the end."""

    step_noun: ClassVar[str] = "layer"
    RULES: ClassVar[dict[str, str]] = {
        "answer": prompts.INDEPENDENT_RULES,
        "propose": prompts.LAYER_RULES,
    }
    FINAL_RULES: ClassVar[str] = prompts.AGGREGATE_RULES

    @property
    def judge(self) -> AgentState:
        """The aggregator: ``judge:``, else the first agent."""
        return next((a for a in self.agents if a.id == self.cfg.judge), self.agents[0])

    @property
    def judge_id(self) -> str:
        return self.judge.id

    def options(self) -> dict[str, object]:
        return {
            "layers": self.cfg.layers,
            "judge": self.judge_id,
            "min_agents": self.cfg.min_agents,
        }

    def steps(self) -> int:
        return self.cfg.layers

    def finisher(self, winner: Winner) -> AgentState | None:
        chosen = self.judge
        return chosen if chosen.live else next((a for a in self.agents if a.live), None)

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
        synthesis cannot be written."""
        if not self.answers:
            return None
        answer = self.judge.latest or self.answers[-1]
        return Winner(answer.agent_label, answer, {}, False, f"aggregator: {self.judge_id}")
