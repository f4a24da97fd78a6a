"""Plain progress lines for non-TTY use: one line per state change, on stderr.

The final answer itself is printed by the caller on stdout, so ``massgen "q" > answer.txt``
captures exactly the answer.
"""

from __future__ import annotations

import sys
from typing import TextIO

from massgen.events import Event, Subscription
from massgen.terminal import visible


def _short(text: str, limit: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cost(value: float | None) -> str:
    return "cost unknown" if value is None else f"${value:.4f}"


def _caps(caps: dict) -> str:
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


def describe(event: Event) -> str | None:
    """The progress line for ``event``, or None for events not worth a line."""
    who = f"[{event.agent_id}]" if event.agent_id else ""
    kind = event.type
    if kind == "run_started":
        agents = ", ".join(f"{a['id']} ({a['label']}, {a['model']})" for a in event.agents)
        attached = f" · {len(event.attachments)} image(s) attached" if event.attachments else ""
        caps = _caps(event.budget)
        return (
            f"massgen: {len(event.agents)} agent(s), strategy {event.strategy}: {agents}{attached}"
            + (f" · budget {caps}" if caps else "")
        )
    if kind == "agent_turn_started":
        doing = {
            "answer": "answering",
            "evaluate": "reviewing answers",
            "revise": f"revising its answer (round {event.round})",
            "propose": f"synthesising the answers (layer {event.round})",
            "present": "writing the final answer",
        }
        return f"{who} {doing.get(event.kind, event.kind)}"
    if kind == "round_finished":
        noun = "layer" if event.strategy == "judge" else "round"
        head = f"{noun} {event.round}/{event.last_round}: {len(event.answers)} answer(s)"
        if event.agreement is None:
            return head
        groups = " | ".join(", ".join(g) for g in event.groups)
        tail = " · consensus" if event.consensus else ""
        return f"{head} · agreement {event.agreement:.0%} ({groups}){tail}"
    if kind == "budget_exceeded":
        return f"{who} {event.message}"
    if kind == "answer_submitted":
        return f"{who} new answer {event.label} ({len(event.content)} chars)"
    if kind == "vote_cast":
        target = f"{event.target} ({event.target_agent_id})"
        if event.confidence is not None:
            target += f" with confidence {event.confidence:g}"
        return (
            f"{who} voted for {target}: {_short(event.reason)}"
            if event.reason
            else f"{who} voted for {target}"
        )
    if kind == "agent_restarted":
        return f"{who} restarting: {event.reason}"
    if kind == "agent_failed":
        return f"{who} failed: {event.reason}"
    if kind == "agent_notice":
        return f"{who} note: {event.message}".strip()
    if kind == "files_changed":
        changed = ", ".join(f"{c['path']} ({c['how']})" for c in event.changes)
        return f"{who} changed your files: {changed} (massgen logs restore undoes it)"
    if kind == "workflow_mode_changed":
        return f"{who} switching to {event.mode} mode (after: {_short(event.reason)})"
    if kind == "agent_abstained":
        return f"{who} abstained: {_short(event.reason)}"
    if kind == "invalid_action":
        return f"{who} invalid action (attempt {event.attempt}): {_short(event.message)}"
    if kind == "stream_retry":
        return f"{who} retrying in {event.delay:.1f}s: {_short(event.reason)}"
    if kind == "winner_selected":
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
    if kind == "tool_call_finished":
        took = f" in {event.duration_s:.2f}s" if event.duration_s is not None else ""
        outcome = "failed" if event.is_error else "->"
        return f"{who} {event.name} {outcome} {_short(event.result, 120)}{took}"
    if kind == "error":
        return f"{who} error: {event.message}".strip()
    if kind == "run_finished":
        tokens = f"{event.prompt_tokens:,} prompt + {event.completion_tokens:,} completion tokens"
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
    async for event in subscription:
        line = describe(event)
        if line:  # agents' text and recorded data may carry terminal escapes
            out.write(visible(line) + "\n")
            out.flush()
