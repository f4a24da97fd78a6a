"""Planning mode (``orchestrator.coordination.enable_planning_mode``).

While the agents coordinate, a call of a tool that changes things (an MCP tool not marked
read-only: ``Tool.side_effects``) is recorded in the calling agent's plan instead of made,
and the model is told so at once; the plan goes with the agent's next answer, for the others
(and the presenter) to read. Only the final presenter's calls are made — as with the user's
files, which only the presenter writes. Read-only tools run as usual. See
docs/architecture.md, "Tools".
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from massgen.tools.base import Tool

PLANNED_RESULT = (
    "Planned, not made: {name} can change things, so while the agents coordinate it is not "
    "called (planning mode). The call is in your plan, which goes with your answer; the agent "
    "that writes the final answer makes the calls the chosen answer needs. Go on as if it "
    "will succeed, and say in your answer what it is for."
)


@dataclass
class Plan:
    """The calls one agent planned in its current turn, as ``name`` and JSON arguments."""

    calls: list[tuple[str, str]] = field(default_factory=list)

    def hold(self, tool: Tool) -> Tool:
        """``tool`` with calls that are recorded here instead of made."""

        async def record(arguments: dict[str, Any]) -> str:
            self.calls.append((tool.name, json.dumps(arguments, ensure_ascii=False)))
            return PLANNED_RESULT.format(name=tool.name)

        return Tool(tool.spec, record, tool.source)

    def block(self) -> str:
        """The plan, as it is appended to the answer it goes with ("" without calls)."""
        if not self.calls:
            return ""
        lines = [f"- {name} {arguments}" for name, arguments in self.calls]
        return (
            "\n\n<PLANNED TOOL CALLS>\n(not made while the agents coordinated; the final "
            "presenter makes the ones the answer needs)\n" + "\n".join(lines) + "\n"
            "</PLANNED TOOL CALLS>"
        )


def coordination_note(tools: Iterable[Tool]) -> str:
    """The prompt's note for an agent with tools that change things ("" without any)."""
    names = [tool.name for tool in tools if tool.side_effects]
    if not names:
        return ""
    return (
        "<PLANNING MODE>\nThese tools change things, so they are not called while the agents "
        f"coordinate: {', '.join(names)}. Calling one adds it to your plan, which goes with "
        "your answer; the agent that writes the final answer makes the calls. Your other "
        "tools work as usual.\n</PLANNING MODE>\n\n"
    )


def presentation_note(tools: Iterable[Tool]) -> str:
    """The presenter's note: now the planned calls are made ("" without such tools)."""
    names = [tool.name for tool in tools if tool.side_effects]
    if not names:
        return ""
    return (
        "<PLANNING MODE>\nWhile the agents coordinated, calls of these tools were only planned "
        f"(see each answer's PLANNED TOOL CALLS): {', '.join(names)}. Your calls are made for "
        "real: make the ones the chosen answer needs, once each, before the final answer."
        "\n</PLANNING MODE>\n\n"
    )
