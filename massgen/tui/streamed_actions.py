"""A workflow call as the app shows it while its arguments still stream in."""

from __future__ import annotations

import jiter


def partial_action(name: str, raw: str) -> str:
    """The Markdown of a workflow call (``new_answer``'s content, ``vote``'s target and
    reason) from its arguments as streamed so far: incomplete JSON, read by ``jiter``."""
    try:
        value = jiter.from_json(raw.encode(), partial_mode="trailing-strings")
    except ValueError:
        return ""
    if not isinstance(value, dict):
        return ""
    if name == "new_answer":
        content = value.get("content")
        return f"\n\n**New answer (writing…):**\n\n{content}\n" if content else ""
    target, reason = value.get("agent_id"), value.get("reason")
    if not isinstance(target, str) or not target:
        return ""
    return f"\n\n**Voting for {target}**" + (f": {reason}\n" if reason else "\n")
