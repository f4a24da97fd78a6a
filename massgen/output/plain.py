"""Plain progress lines for non-TTY use: one line per state change, on stderr.

The final answer itself is printed by the caller on stdout, so ``massgen "q" > answer.txt``
captures exactly the answer.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from massgen.events import (
    AgentAbstained,
    AgentFailed,
    AgentNotice,
    AgentRestarted,
    AgentTurnStarted,
    AnswerNow,
    AnswerSubmitted,
    BudgetExceeded,
    ErrorEvent,
    Event,
    FilesChanged,
    InvalidAction,
    RoundFinished,
    RunFinished,
    RunStarted,
    StreamRetry,
    Subscription,
    ToolCallFinished,
    UserNote,
    VoteCast,
    WinnerSelected,
    WorkflowModeChanged,
)
from massgen.terminal import visible


def _short(text: str, limit: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cost(value: float | None) -> str:
    return "cost unknown" if value is None else f"${value:.4f}"


def _caps(caps: dict[str, Any]) -> str:
    parts = []
    for key, word in (
        ("max_cost_usd", "run"),
        ("max_total_tokens", "run"),
        ("agent_max_cost_usd", "each agent"),
        ("agent_max_total_tokens", "each agent"),
    ):
        if key in caps:
            value = caps[key]
            amount = f"${value:g}" if "cost" in key else f"{value:,} tokens"
            parts.append(f"{amount} ({word})")
    for agent_id, own in (caps.get("agents") or {}).items():
        for key, value in own.items():
            amount = f"${value:g}" if "cost" in key else f"{value:,} tokens"
            parts.append(f"{amount} ({agent_id})")
    return ", ".join(parts)


def describe(event: Event, noun: str = "round") -> str | None:
    """The progress line for ``event``, or None for events not worth a line. ``noun`` is
    the strategy's name for its steps (``RunStarted.step_noun``).
    """
    who = f"[{event.agent_id}]" if event.agent_id else ""
    if isinstance(event, RunStarted):
        agents = ", ".join(f"{a['id']} ({a['label']}, {a['model']})" for a in event.agents)
        attached = f" · {len(event.attachments)} image(s) attached" if event.attachments else ""
        caps = _caps(event.budget)
        return (
            f"massgen: {len(event.agents)} agent(s), strategy {event.strategy}: {agents}{attached}"
            + (f" · budget {caps}" if caps else "")
        )
    if isinstance(event, AgentTurnStarted):
        doing = {
            "answer": "answering",
            "evaluate": "reviewing answers",
            "revise": f"revising its answer ({noun} {event.round})",
            "propose": f"synthesising the answers ({noun} {event.round})",
            "present": "writing the final answer",
        }
        return f"{who} {doing.get(event.kind, event.kind)}"
    if isinstance(event, RoundFinished):
        head = f"{noun} {event.round}/{event.last_round}: {len(event.answers)} answer(s)"
        if event.agreement is None:
            return head
        groups = " | ".join(", ".join(g) for g in event.groups)
        tail = " · consensus" if event.consensus else ""
        return f"{head} · agreement {event.agreement:.0%} ({groups}){tail}"
    if isinstance(event, BudgetExceeded):
        return f"{who} {event.message}"
    if isinstance(event, AnswerSubmitted):
        return f"{who} new answer {event.label} ({len(event.content)} chars)"
    if isinstance(event, VoteCast):
        target = f"{event.target} ({event.target_agent_id})"
        if event.confidence is not None:
            target += f" with confidence {event.confidence:g}"
        return (
            f"{who} voted for {target}: {_short(event.reason)}"
            if event.reason
            else f"{who} voted for {target}"
        )
    if isinstance(event, AgentRestarted):
        return f"{who} restarting: {event.reason}"
    if isinstance(event, AgentFailed):
        return f"{who} failed: {event.reason}"
    if isinstance(event, AgentNotice):
        return f"{who} note: {event.message}".strip()
    if isinstance(event, UserNote):
        return f"note from you to the agents (read at their next turn): {_short(event.text)}"
    if isinstance(event, AnswerNow):
        return f"answer now (you asked): {event.message}"
    if isinstance(event, FilesChanged):
        changed = ", ".join(f"{c['path']} ({c['how']})" for c in event.changes)
        return f"{who} changed your files: {changed} (massgen logs restore undoes it)"
    if isinstance(event, WorkflowModeChanged):
        return f"{who} switching to {event.mode} mode (after: {_short(event.reason)})"
    if isinstance(event, AgentAbstained):
        return f"{who} abstained: {_short(event.reason)}"
    if isinstance(event, InvalidAction):
        return f"{who} invalid action (attempt {event.attempt}): {_short(event.message)}"
    if isinstance(event, StreamRetry):
        return f"{who} retrying in {event.delay:.1f}s: {_short(event.reason)}"
    if isinstance(event, WinnerSelected):
        total = sum(event.tally.values())
        mine = event.tally.get(event.label, 0)
        tally = ", ".join(f"{label}: {n:g}" for label, n in event.tally.items())
        if not total or not event.reason.startswith("votes"):
            why = event.reason
        elif event.is_tie:
            why = f"{mine:g} of {total:g} votes, tie broken by the earliest answer ({tally})"
        else:
            why = f"{mine:g} of {total:g} votes ({tally})"
        return f"winner: {event.agent_id} ({event.label}, answer {event.answer_label}) with {why}"
    if isinstance(event, ToolCallFinished):
        took = f" in {event.duration_s:.2f}s" if event.duration_s is not None else ""
        outcome = "failed" if event.is_error else "->"
        return f"{who} {event.name} {outcome} {_short(event.result, 120)}{took}"
    if isinstance(event, ErrorEvent):
        return f"{who} error: {event.message}".strip()
    if isinstance(event, RunFinished):
        cached = f" ({event.cached_tokens:,} cached)" if event.cached_tokens else ""
        tokens = (
            f"{event.prompt_tokens:,} prompt{cached} + {event.completion_tokens:,} "
            "completion tokens"
        )
        lines = [
            f"{event.status} in {event.duration_s:.1f}s · {event.requests} request(s) · "
            f"{tokens} · {_cost(event.cost_usd)}"
        ]
        if len(event.usage) > 1:
            for agent_id, u in event.usage.items():
                lines.append(
                    f"  {agent_id}: {u['prompt_tokens']:,} prompt + {u['completion_tokens']:,} "
                    f"completion tokens · {_cost(u['cost_usd'])}"
                )
        return "\n".join(lines)
    return None


async def print_progress(subscription: Subscription, stream: TextIO | None = None) -> None:
    """Write a progress line per interesting event until the bus closes."""
    out = stream or sys.stderr
    noun = "round"
    async for event in subscription:
        if isinstance(event, RunStarted):
            noun = event.step_noun
        line = describe(event, noun)
        if line:  # agents' text and recorded data may carry terminal escapes
            out.write(visible(line) + "\n")
            out.flush()
