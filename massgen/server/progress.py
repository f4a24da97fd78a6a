"""A task's progress (0-100) from its run's events: the one place that reads how a run
advances (answers, then votes, then the presentation)."""

from __future__ import annotations

from typing import Any


class Progress:
    """0–100 from a run's events: answers, then votes, then the presentation."""

    def __init__(self) -> None:
        self.agents = 1
        self.answered: set[str] = set()
        self.votes = 0
        self.value = 0

    def feed(self, event: dict[str, Any]) -> int | None:
        """The new progress if ``event`` raised it."""
        kind = event.get("type")
        value: float = self.value
        if kind == "run_started":
            self.agents = max(1, len(event.get("agents") or []))
            value = 5
        elif kind == "answer_submitted":
            self.answered.add(str(event.get("agent_id")))
            value = 5 + 40 * min(1.0, len(self.answered) / self.agents)
        elif kind == "vote_cast":
            self.votes += 1
            value = 45 + 40 * min(1.0, self.votes / self.agents)
        elif kind == "votes_cleared":
            self.votes = 0
        elif kind == "winner_selected":
            value = 85
        elif kind in ("final_answer_delta", "final_answer"):
            value = 90 if kind == "final_answer_delta" else 95
        raised = int(min(99, value))
        if raised > self.value:
            self.value = raised
            return raised
        return None
