"""Workflow modes: how a model expresses its action (docs/architecture.md, "A run, step by step").

Many models call tools badly, so the action can also be written as JSON constrained by a
schema (``json``) or as plain text with a ``VOTE: agent2 — reason`` line (``text``). Whatever
the mode, the engine sees the same tool calls: :class:`ModeBackend` wraps a backend, asks it
for JSON or text instead of tool calls, and turns the reply back into tool calls. Tool traffic
already in the conversation (an earlier attempt and its error) is rewritten as plain messages,
since a backend asked for text must not be sent tool messages.

``auto`` starts with ``tools`` and, after an invalid attempt, moves an agent to the next mode
(:data:`NEXT`) for the rest of the run. A backend that cannot call tools at all (the small
local model) starts in ``json``.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator
from typing import Any

from massgen.backends.base import Backend
from massgen.messages import Chunk, DoneChunk, Message, TextChunk, ToolCall, ToolCallChunk, ToolSpec
from massgen.tools.lending import AgentTurn

MODES = ("tools", "json", "text")
#: The mode ``auto`` moves to after an invalid attempt in the current one.
NEXT = {"tools": "json", "json": "text"}


def first_mode(configured: str, backend: Backend) -> str:
    """The mode an agent starts in."""
    if backend.runs_own_loop:  # an agent framework calls the workflow tools in its loop
        return "tools"
    if configured != "auto":
        return configured
    return "tools" if backend.supports_tools else "json"


# ------------------------------------------------------------------ json


def action_schema(tools: list[ToolSpec], max_chars: int | None = None) -> dict[str, Any]:
    """A JSON schema accepting exactly one call of one of ``tools``: an object whose
    ``action`` names the tool, with the tool's own arguments beside it. ``max_chars`` caps
    string arguments so a complete object fits a small model's ``max_tokens``."""
    options: list[dict[str, Any]] = []
    for tool in tools:
        params = tool.parameters if isinstance(tool.parameters, dict) else {}
        properties: dict[str, Any] = {"action": {"const": tool.name}}
        for name, spec in (params.get("properties") or {}).items():
            spec = dict(spec) if isinstance(spec, dict) else {}
            spec.pop("description", None)
            if max_chars and spec.get("type") == "string" and "enum" not in spec:
                spec["maxLength"] = max_chars
                if name in params.get("required", ()):
                    spec["minLength"] = 1
            properties[name] = spec
        required = ["action", *[r for r in params.get("required", ()) if r != "action"]]
        options.append({"type": "object", "properties": properties, "required": required})
    return options[0] if len(options) == 1 else {"oneOf": options}


def json_instructions(tools: list[ToolSpec]) -> str:
    """How to write the action as JSON, in words (a tiny model copies literal templates)."""
    forms = []
    for tool in tools:
        if tool.name == "vote":
            forms.append(
                'to vote, set "action" to "vote", "agent_id" to the label of the best answer '
                'and "reason" to a short reason'
                + (
                    ', and "confidence" to how sure you are, from 0 to 1'
                    if _wants_confidence(tool)
                    else ""
                )
            )
        elif tool.name == "new_answer":
            forms.append(
                'to answer, set "action" to "new_answer" and "content" to your full answer'
            )
        else:
            names = ", ".join(f'"{p}"' for p in (tool.parameters.get("properties") or {}))
            forms.append(
                f'to use {tool.name} ({tool.description.strip()}), set "action" to '
                f'"{tool.name}"' + (f" and give {names}" if names else "")
            )
    return "Reply with one JSON object and nothing else: " + "; or ".join(forms) + "."


_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)


def parse_json_action(text: str, tools: list[ToolSpec], call_id: str) -> ToolCall | None:
    """The tool call a JSON reply stands for, or None when there is none. A generation cut
    off by ``max_tokens`` is closed (string and object), so its content is kept."""
    body = _FENCE.sub("", text.strip())
    start = body.find("{")
    if start < 0:
        return None
    data = _parse_closing(body[start:])
    if not isinstance(data, dict):
        return None
    names = {t.name for t in tools}
    action = data.pop("action", None)
    if not isinstance(action, str) or action not in names:
        if len(names) == 1 and action is None:  # the only choice, named or not
            action = next(iter(names))
        else:
            return None
    return ToolCall(id=call_id, name=action, arguments=json.dumps(data, ensure_ascii=False))


def _parse_closing(text: str) -> Any:
    end = text.rfind("}")
    candidates = [text[: end + 1]] if end >= 0 else []
    candidates += [text + suffix for suffix in ('"}', "}", '""}')]
    for candidate in candidates:
        try:  # strict=False: a raw newline inside a string is kept, not an error
            return json.loads(candidate, strict=False)
        except json.JSONDecodeError:
            continue
    return None


# ------------------------------------------------------------------ text

#: ``VOTE: agent2 — reason``, leniently: any case, markdown around it, ``agent 2``, any dash.
_VOTE = re.compile(
    r"(?im)^[\s>*_#`-]*vote[\s*_`]*[:=\-–—]?\s*[*_`\[\(]*\s*(agent)\s*(\d+)[*_`\]\)]*"
    r"\s*(?:[:,;.\-–—]+\s*)?(.*)$"
)
_ANSWER_PREFIX = re.compile(r"(?i)^\s*(?:\*\*)?(?:final\s+)?answer(?:\*\*)?\s*[:\-–—]\s*")


def _wants_confidence(tool: ToolSpec) -> bool:
    properties = (tool.parameters or {}).get("properties") or {}
    return tool.name == "vote" and "confidence" in properties


#: ``confidence 0.8``, ``confidence: 80%`` inside a ``VOTE:`` line.
_CONFIDENCE = re.compile(r"(?i)\bconfidence\W{0,3}(\d+(?:\.\d+)?\s*%?)")


def text_instructions(tools: list[ToolSpec]) -> str:
    names = {t.name for t in tools}
    if names == {"new_answer"}:
        return "Write your complete answer to the original message."
    confidence = any(_wants_confidence(t) for t in tools)
    vote = "to vote for the best existing answer, write one line exactly like " + (
        "VOTE: agent2 - your reason - confidence 0.8 (with that answer's label, and how "
        "sure you are from 0 to 1)"
        if confidence
        else "VOTE: agent2 - your reason (with that answer's label)"
    )
    if "new_answer" not in names:
        return f"Do not write a new answer: {vote}."
    return (
        f"End your reply in one of two ways: {vote}; or write a complete answer that is "
        "clearly better than every existing one."
    )


def parse_text_action(text: str, tools: list[ToolSpec], call_id: str) -> ToolCall | None:
    """A ``VOTE:`` line as a vote (the last one wins), else the text as a new answer (when
    ``new_answer`` is offered), else None."""
    names = {t.name for t in tools}
    votes = list(_VOTE.finditer(text)) if "vote" in names else []
    if votes:
        match = votes[-1]
        reason = match.group(3).strip().strip("*_` ")
        arguments = {"agent_id": f"agent{int(match.group(2))}", "reason": reason}
        if any(_wants_confidence(t) for t in tools):
            stated = _CONFIDENCE.search(reason)
            if stated:
                arguments["confidence"] = stated.group(1).replace(" ", "")
                reason = (reason[: stated.start()] + reason[stated.end() :]).strip(" -–—,;")
                arguments["reason"] = reason
        return ToolCall(id=call_id, name="vote", arguments=json.dumps(arguments))
    answer = _ANSWER_PREFIX.sub("", text.strip()).strip()
    if "new_answer" in names and answer:
        return ToolCall(id=call_id, name="new_answer", arguments=json.dumps({"content": answer}))
    return None


# ------------------------------------------------------------------ the adapter


def plain_messages(messages: list[Message]) -> list[Message]:
    """``messages`` without tool traffic: an assistant's tool call becomes its JSON, a tool
    result a user message, so a backend asked for text or JSON sees a plain conversation."""
    out: list[Message] = []
    for message in messages:
        if message.role == "tool":
            out.append(Message("user", message.content))
        elif message.role == "assistant" and message.tool_calls:
            calls = [{"action": c.name, **_arguments(c.arguments)} for c in message.tool_calls]
            content = message.content.strip()
            out.append(Message("assistant", content or json.dumps(calls[0], ensure_ascii=False)))
        else:
            out.append(Message(message.role, message.content))
    return out


def _arguments(arguments: str) -> dict[str, Any]:
    try:
        value = json.loads(arguments or "{}")
    except json.JSONDecodeError:
        return {"raw": arguments}
    return value if isinstance(value, dict) else {"raw": arguments}


def with_instructions(messages: list[Message], instructions: str) -> list[Message]:
    """``messages`` with ``instructions`` at the end of the system message."""
    if messages and messages[0].role == "system":
        head = messages[0]
        return [Message("system", f"{head.content}\n\n{instructions}"), *messages[1:]]
    return [Message("system", instructions), *messages]


class ModeBackend:
    """A backend seen through a workflow mode. ``tools`` passes through; ``json`` and
    ``text`` ask for a reply without tools and yield the tool call it stands for (or none,
    which the engine reports as an invalid action). Everything else is the inner backend's."""

    def __init__(self, inner: Backend, mode: str) -> None:
        self.inner = inner
        self.mode = mode

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def stream(
        self,
        messages: list[Message],
        tools: list[ToolSpec] | None = None,
        *,
        turn: AgentTurn | None = None,
    ) -> AsyncGenerator[Chunk, None]:
        if turn is not None:  # a backend with its own loop: always the tools mode
            async for chunk in self.inner.stream(messages, tools, turn=turn):
                yield chunk
            return
        if self.mode == "tools" or not tools:
            async for chunk in self.inner.stream(messages, tools):
                yield chunk
            return
        if self.mode == "json":
            instructions = json_instructions(tools)
            schema = action_schema(tools, self.inner.max_action_chars)
            response_format = schema if self.inner.supports_json_schema else None
        else:
            instructions, response_format = text_instructions(tools), None
        plain = with_instructions(plain_messages(messages), instructions)
        text: list[str] = []
        done: DoneChunk | None = None
        async for chunk in self.inner.stream(plain, None, response_format=response_format):
            if isinstance(chunk, TextChunk):
                text.append(chunk.text)
                yield chunk
            elif isinstance(chunk, DoneChunk):
                done = chunk
            elif not isinstance(chunk, ToolCallChunk):
                yield chunk
        reply = "".join(text)
        call_id = f"{self.mode}_{id(text):x}"
        parse = parse_json_action if self.mode == "json" else parse_text_action
        call = parse(reply, tools, call_id)
        if call is not None:
            yield ToolCallChunk(call)
        yield done or DoneChunk("stop")
