"""``summary.json`` as a fold over a session's events.

The recorder keeps the summary current with :class:`Summary` as events arrive; a reader whose
``summary.json`` is missing or stale (a killed process) rebuilds the same summary from
``events.jsonl``. One function, so both always agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

#: ``run_finished.status`` -> the session's word for it.
STATUS = {
    "ok": "ok",
    "timeout": "timeout",
    "budget": "budget",
    "failed": "failed",
    "cancelled": "interrupted",
}
VERSION = 1
#: Events that never change the summary (streamed pieces, usage).
DELTA_KINDS = frozenset(
    {"text_delta", "reasoning_delta", "tool_arguments_delta", "final_answer_delta", "usage"}
)


def iso(ts: float | None = None) -> str:
    """A UTC timestamp as ISO 8601 (seconds)."""
    moment = datetime.fromtimestamp(ts, UTC) if ts else datetime.now(UTC)
    return moment.isoformat(timespec="seconds")


class Summary:
    """Folds events (as dicts, each with its ``part``) into the session summary."""

    def __init__(self, session_id: str, *, created: str | None = None, **extra: Any) -> None:
        self.data: dict[str, Any] = {
            "id": session_id,
            "version": VERSION,
            "created": created or iso(),
            "updated": created or iso(),
            "status": "running",
            "exit_status": None,
            "question": None,
            "strategy": None,
            "agents": [],
            "winner": None,
            "tally": {},
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "total_tokens": 0,
            "cached_tokens": 0,
            "cost_usd": 0.0,
            "duration_s": 0.0,
            "parts": [],
            **extra,
        }
        self._labels: dict[str, str] = {}  # agent label -> id, for the part being folded
        self.skipped = 0  # events whose fields were damaged

    @property
    def parts(self) -> list[dict[str, Any]]:
        return self.data["parts"]

    def part(self, number: int) -> dict[str, Any]:
        while len(self.parts) < number:
            self.parts.append(
                {
                    "part": len(self.parts) + 1,
                    "run_id": None,
                    "question": None,
                    "started": None,
                    "status": "running",
                    "winner": None,
                    "winner_label": None,
                    "answer_label": None,
                    "tally": {},
                    "is_tie": False,
                    "answers": 0,
                    "votes": 0,
                    "final_answer": None,
                    "prompt_tokens": 0,
                    "completion_tokens": 0,
                    "requests": 0,
                    "cached_tokens": 0,
                    "cost_usd": None,
                    "duration_s": None,
                    "error": None,
                    "rounds": 0,  # debate rounds, judge layers
                    "agreement": None,  # debate: the last round's
                    "budget": None,  # the first budget refusal, if any
                    "notes": 0,  # the user's notes to the agents, mid-run
                    "answered_now": False,  # the user asked for the answer now
                }
            )
        return self.parts[number - 1]

    def apply(self, event: dict[str, Any]) -> bool:
        """Fold one event in; True when the summary changed (deltas never change it). An
        event with fields of the wrong shape (a damaged log) is skipped, never raised."""
        try:
            return self._apply(event)
        except (TypeError, ValueError, AttributeError, KeyError, OverflowError, OSError):
            self.skipped += 1
            return False

    def _apply(self, event: dict[str, Any]) -> bool:
        kind = event.get("type")
        if kind in DELTA_KINDS:
            return False
        number = event.get("part") or 1
        if not isinstance(number, int) or not 1 <= number <= 10_000:
            raise ValueError(number)
        part = self.part(number)
        data = self.data
        if event.get("ts"):
            data["updated"] = iso(event["ts"])
        if kind == "run_started":
            part.update(run_id=_text(event.get("run_id")), question=_text(event.get("question")))
            part["started"] = iso(event.get("ts"))
            part["status"] = "running"
            data["status"] = "running"
            data["question"] = data["question"] or part["question"]
            data["strategy"] = _text(event.get("strategy"))
            agents = event.get("agents") or []
            data["agents"] = [
                {k: a.get(k) for k in ("id", "label", "backend", "model")} for a in agents
            ]
            self._labels = {a.get("label"): a.get("id") for a in agents}
        elif kind == "answer_submitted":
            part["answers"] += 1
        elif kind == "vote_cast":
            part["votes"] += 1
        elif kind == "round_finished":
            part["rounds"] = int(event.get("round") or 0)
            part["agreement"] = _number(event.get("agreement"))
        elif kind == "budget_exceeded" and not part["budget"]:
            part["budget"] = _text(event.get("message"))
        elif kind == "winner_selected":
            tally = {self._labels.get(k, k): n for k, n in (event.get("tally") or {}).items()}
            part.update(
                winner=event.get("agent_id"),
                winner_label=event.get("label"),
                answer_label=event.get("answer_label"),
                tally=tally,
                is_tie=bool(event.get("is_tie")),
            )
            data["winner"], data["tally"] = part["winner"], tally
        elif kind == "user_note":
            part["notes"] += 1
        elif kind == "answer_now" and event.get("accepted") is True:
            part["answered_now"] = True
        elif kind == "final_answer":
            part["final_answer"] = event.get("content")
        elif kind == "files_changed":
            part["files_changed"] = [
                {"path": str(c.get("path")), "how": str(c.get("how"))}
                for c in event.get("changes") or []
            ]
        elif kind == "artifact_saved":
            entry = {
                "name": str(event["name"]),
                "kind": _text(event.get("kind")),
                "mime": _text(event.get("mime")),
                "size": int(event.get("size") or 0),
                "agent": _text(event.get("agent_id")),
                "tool": _text(event.get("tool")),
            }
            part.setdefault("artifacts", []).append(entry)
            data.setdefault("artifacts", []).append(entry)
        elif kind == "error" and not part["error"]:
            part["error"] = event.get("message")
        elif kind == "run_finished":
            status = STATUS.get(str(event.get("status")), str(event.get("status")))
            update = dict(
                status=status,
                winner=_text(event.get("winner")) or part["winner"],
                final_answer=_text(event.get("final_answer")) or part["final_answer"],
                prompt_tokens=int(event.get("prompt_tokens") or 0),
                completion_tokens=int(event.get("completion_tokens") or 0),
                requests=int(event.get("requests") or 0),
                cached_tokens=int(event.get("cached_tokens") or 0),
                cost_usd=_number(event.get("cost_usd")),
                duration_s=_number(event.get("duration_s")),
            )
            part.update(update)
            data["status"] = status
            self._totals()
        else:
            return False
        return True

    def _totals(self) -> None:
        data, parts = self.data, self.parts
        data["prompt_tokens"] = sum(p["prompt_tokens"] for p in parts)
        data["completion_tokens"] = sum(p["completion_tokens"] for p in parts)
        data["total_tokens"] = data["prompt_tokens"] + data["completion_tokens"]
        data["cached_tokens"] = sum(p.get("cached_tokens", 0) for p in parts)
        finished = [p for p in parts if p["duration_s"] is not None]
        data["duration_s"] = round(sum(p["duration_s"] for p in finished), 4)
        costs = [p["cost_usd"] for p in finished]
        data["cost_usd"] = None if None in costs else round(sum(costs), 6)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        if value is None:
            return None
        raise ValueError(value)
    return float(value)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def rebuild(session_id: str, events: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """The summary from the events alone (what a killed process left behind)."""
    first_ts = next((e.get("ts") for e in events if e.get("ts")), None)
    created = extra.pop("created", None) or (iso(first_ts) if first_ts else None)
    summary = Summary(session_id, created=created, **extra)
    for event in events:
        summary.apply(event)
    if summary.skipped:
        summary.data["skipped_events"] = summary.skipped
    return summary.data
