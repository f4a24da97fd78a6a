"""A task's progress (0-100) from its run's events: the one place that reads how a run
advances. The strategy says how in ``RunStarted``: with votes, answers then votes; without
(debate's rounds, judge's layers), its steps of answers. Then the presentation."""

from __future__ import annotations

from typing import Any

#: with votes, answers take 5-45 and votes 45-85; without, the steps of answers take 5-85
START, VOTES_START, WORK_END = 5, 45, 85


class Progress:
    """0-100 from a run's events, never going back."""

    def __init__(self) -> None:
        self.agents = 1
        self.has_votes = True
        self.steps: int | None = None
        self.answered: set[str] = set()
        self.answers = 0
        self.votes = 0
        self.value = 0

    def feed(self, event: dict[str, Any]) -> int | None:
        """The new progress if ``event`` raised it."""
        kind = event.get("type")
        value: float = self.value
        if kind == "run_started":
            self.agents = max(1, len(event.get("agents") or []))
            self.has_votes = bool(event.get("has_votes", True))
            steps = event.get("steps")
            self.steps = steps if isinstance(steps, int) and steps > 0 else None
            value = START
        elif kind == "answer_submitted":
            self.answered.add(str(event.get("agent_id")))
            self.answers += 1
            value = self._answered()
        elif kind == "vote_cast":
            self.votes += 1
            value = VOTES_START + (WORK_END - VOTES_START) * min(1.0, self.votes / self.agents)
        elif kind == "votes_cleared":
            self.votes = 0
        elif kind == "round_finished" and not self.has_votes:
            last = int(event.get("last_round") or 0)
            if last > 0:
                done = min(1.0, int(event.get("round") or 0) / last)
                value = START + (WORK_END - START) * done
        elif kind == "winner_selected":
            value = WORK_END
        elif kind in ("final_answer_delta", "final_answer"):
            value = 90 if kind == "final_answer_delta" else 95
        raised = int(min(99, value))
        if raised > self.value:
            self.value = raised
            return raised
        return None

    def _answered(self) -> float:
        if self.has_votes:  # each agent's first answer
            share = len(self.answered) / self.agents
            return START + (VOTES_START - START) * min(1.0, share)
        if self.steps is None:  # steps of answers, how many not known: within the first
            return START + (WORK_END - START) * min(1.0, self.answers / self.agents) / 2
        share = self.answers / (self.agents * self.steps)
        return START + (WORK_END - START) * min(1.0, share)
