"""A debate's status and results, folded from its task's stored events (``run_started``,
``answer_submitted``, ``round_finished``, ``final_answer``, ``run_finished``), so a debate
reads the same in every server process and after a restart.

Per participant:

- ``total_responses``: the answers it gave (one per round it played).
- ``avg_quality_score``: how much the other participants agreed with it, averaged over the
  rounds it answered in: in each round, the share of the *other* answering participants in
  its agreement group (massgen's debate groups answers that are the same once normalised,
  or whose author said it agrees with another: :mod:`massgen.coordination.debate`). 1.0: all
  of them agreed with it every round; 0.0: none ever did. It measures agreement received,
  not correctness; None when it never had anyone to agree with.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from massgen.server.schema import from_json


@dataclass
class _Seat:
    name: str
    label: str
    responses: int = 0
    agreement: list[float] = field(default_factory=list)


@dataclass
class DebateTally:
    """What a debate's events say so far."""

    seats: dict[str, _Seat] = field(default_factory=dict)  # by agent label
    rounds_finished: int = 0
    last_round: int | None = None
    consensus: bool = False
    agreement: float | None = None
    supporters: list[str] = field(default_factory=list)
    final_position: str | None = None
    run_status: str | None = None

    @classmethod
    def of(cls, events: Iterable[dict[str, Any]]) -> DebateTally:
        tally = cls()
        for event in events:
            tally.feed(str(event.get("type")), event.get("data") or {})
        return tally

    def feed(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "run_started":
            for agent in data.get("agents") or ():
                label = str(agent.get("label"))
                self.seats[label] = _Seat(str(agent.get("id") or label), label)
        elif kind == "answer_submitted":
            seat = self.seats.get(str(data.get("agent_label")))
            if seat is not None:
                seat.responses += 1
        elif kind == "round_finished":
            self._round(data)
        elif kind == "final_answer":
            self.final_position = data.get("content")
        elif kind == "run_finished":
            self.run_status = data.get("status")
            if data.get("final_answer"):
                self.final_position = data["final_answer"]

    def _round(self, data: dict[str, Any]) -> None:
        self.rounds_finished = max(self.rounds_finished, int(data.get("round") or 0))
        self.last_round = int(data.get("last_round") or 0) or self.last_round
        groups = [[str(x) for x in g] for g in data.get("groups") or ()]
        answering = sum(len(g) for g in groups)
        for group in groups:
            for label in group:
                seat = self.seats.get(label)
                if seat is not None and answering > 1:
                    seat.agreement.append((len(group) - 1) / (answering - 1))
        self.consensus = bool(data.get("consensus"))
        self.agreement = data.get("agreement")
        top = groups[0] if groups else []
        self.supporters = [self.seats[x].name if x in self.seats else x for x in top]

    def participants(self) -> list[dict[str, Any]]:
        out = []
        for seat in self.seats.values():
            score = sum(seat.agreement) / len(seat.agreement) if seat.agreement else None
            out.append(
                {
                    "name": seat.name,
                    "total_responses": seat.responses,
                    "avg_quality_score": None if score is None else round(score, 4),
                    "rounds_answered": len(seat.agreement) or seat.responses,
                }
            )
        return out


def debate_status(
    debate: dict[str, Any], task: dict[str, Any], tally: DebateTally, total: int
) -> dict[str, Any]:
    """``GET /v1/debates/{id}``: where the debate is (``debate`` is its stored spec)."""
    return {
        "object": "debate",
        "debateId": debate["id"],
        "topic": debate["topic"],
        "status": task["status"],
        "current_round": tally.rounds_finished,
        "total_rounds": tally.last_round or total,
        "progress": int(task.get("progress") or 0),
        "task_id": task["id"],
        "created_at": task["created_at"],
        "finished_at": task.get("finished_at"),
        "error": task.get("error"),
        "metadata": from_json(task.get("meta")),
    }


def debate_results(
    debate: dict[str, Any],
    task: dict[str, Any],
    tally: DebateTally,
    shown: list[dict[str, Any]],
    total: int,
) -> dict[str, Any]:
    """``GET /v1/debates/{id}/results``: the positions and how they were reached."""
    stats = {p["name"]: p for p in tally.participants()}
    participants = []
    for seat in shown:
        numbers = stats.get(seat["name"]) or {
            "total_responses": 0,
            "avg_quality_score": None,
            "rounds_answered": 0,
        }
        participants.append({**seat, **numbers, "name": seat["name"]})
    return {
        **debate_status(debate, task, tally, total),
        "object": "debate.results",
        "consensus": {
            "achieved": tally.consensus,
            "final_position": tally.final_position,
            "agreement": tally.agreement,
            "supporters": tally.supporters,
            "threshold": debate.get("consensus_threshold_used"),
        },
        "rounds_played": tally.rounds_finished,
        "participants": participants,
        "run_status": tally.run_status,
    }
