"""A run's events as the lines of MCP progress notifications: who answered, who voted for
whom, the rounds, the winner; everything else (token deltas, tool calls) says nothing."""

from __future__ import annotations

from typing import Any


def milestone(event: dict[str, Any]) -> str | None:
    """The progress line for ``event``, or None when it is not a step worth telling."""
    kind = event.get("type")
    who = event.get("agent_id") or "an agent"
    if kind == "run_started":
        agents = event.get("agents") or []
        return f"{len(agents)} agent(s) started ({event.get('strategy')})"
    if kind == "answer_submitted":
        return f"{who} answered ({event.get('label')})"
    if kind == "vote_cast":
        return f"{who} voted for {event.get('target_agent_id') or event.get('target')}"
    if kind == "round_finished":
        noun = "layer" if event.get("strategy") == "judge" else "round"
        return f"{noun} {event.get('round')} of {event.get('last_round')} finished"
    if kind == "winner_selected":
        return f"winner: {who} ({event.get('answer_label')}); writing the final answer"
    if kind == "agent_failed":
        return f"{who} failed: {event.get('reason')}"
    if kind in ("budget_exceeded", "error"):
        return str(event.get("message"))
    return None
