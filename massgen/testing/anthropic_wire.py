"""The Anthropic Messages wire of the fake server: :class:`ClaudeReply`, error bodies, the
chat-shaped view of a request its brain reads, and the request checks the API makes.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from massgen.testing.chat_wire import (
    COMPACT,
    Reply,
    text_of,
)

CODE_EXECUTION_BETA = "code-execution-2025-05-22"
_DOCS = "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"


@dataclass
class ClaudeReply(Reply):
    """A :class:`Reply` with Messages-API extras.

    ``web_searches`` are ``(query, [(title, url), ...])`` pairs and ``code_executions``
    ``(code, stdout, return_code)`` triples; each becomes a ``server_tool_use`` block and its
    result block, before the text. ``prompt_tokens`` is ``usage.input_tokens`` (the uncached
    part), ``cached_tokens`` ``cache_read_input_tokens``.
    """

    web_searches: Sequence[tuple[str, Sequence[tuple[str, str]]]] = ()
    code_executions: Sequence[tuple[str, str, int]] = ()
    cache_creation_tokens: int = 0
    stop_reason: str | None = None  # default: "tool_use" with tool calls, else "end_turn"


# ------------------------------------------------------------------------ wire helpers

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error_body(status: int, message: str, kind: str | None = None) -> dict[str, Any]:
    """An Anthropic-style error body; ``kind`` overrides the type the status implies."""
    kind = kind or _ERROR_TYPES.get(
        status, "api_error" if status >= 500 else "invalid_request_error"
    )
    return {
        "type": "error",
        "error": {"type": kind, "message": message},
        "request_id": f"req_{uuid.uuid4().hex[:24]}",
    }


def sse(event: str, payload: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(payload, separators=COMPACT)}\n\n".encode()


def _blocks_text(content: Any) -> str:
    """The text of a string or of a list of content blocks."""
    return text_of(content)


#: A text block that is only Claude Code's context for the model (environment, reminders).
_REMINDER = re.compile(r"\s*<system-reminder>.*</system-reminder>\s*", re.S)
_REMINDERS = re.compile(r"\s*<system-reminder>.*?</system-reminder>", re.S)


def chat_view(body: dict[str, Any]) -> dict[str, Any]:
    """A Chat Completions-shaped view of a Messages request, for chat brains: ``system`` as a
    system message, ``tool_use`` blocks as ``tool_calls``, ``tool_result`` blocks as ``tool``
    messages, custom tools as function tools (server tools left out), text blocks that are
    only Claude Code's ``<system-reminder>`` left out."""
    messages: list[dict[str, Any]] = []
    if body.get("system"):
        messages.append({"role": "system", "content": _blocks_text(body["system"])})
    for message in body.get("messages") or ():
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str):
            messages.append({"role": message.get("role"), "content": content})
            continue
        texts: list[str] = []
        calls: list[dict[str, Any]] = []
        for block in content or ():
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "text" and not _REMINDER.fullmatch(str(block.get("text", ""))):
                texts.append(str(block.get("text", "")))
            elif kind == "tool_use":
                arguments = json.dumps(block.get("input") or {})
                function = {"name": block.get("name"), "arguments": arguments}
                calls.append({"id": block.get("id"), "type": "function", "function": function})
            elif kind == "tool_result":
                messages.append(
                    {
                        "role": "tool",
                        "tool_call_id": block.get("tool_use_id"),
                        "content": _REMINDERS.sub("", _blocks_text(block.get("content"))).strip(),
                    }
                )
        if texts or calls:
            out: dict[str, Any] = {"role": message.get("role"), "content": " ".join(texts)}
            if calls:
                out["tool_calls"] = calls
            messages.append(out)
    tools = [
        {
            "type": "function",
            "function": {
                "name": tool.get("name"),
                "description": tool.get("description", ""),
                "parameters": tool.get("input_schema") or {},
            },
        }
        for tool in body.get("tools") or ()
        if isinstance(tool, dict) and "input_schema" in tool
    ]
    rest = {k: v for k, v in body.items() if k not in ("system", "messages", "tools")}
    return {**rest, "messages": messages, "tools": tools}


def bare_mcp_names(view: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """``view`` with ``mcp__<server>__<tool>`` tools and calls renamed ``<tool>``, and the map
    from each bare name back to the full one."""
    full: dict[str, str] = {}
    for tool in view["tools"]:
        name = tool["function"]["name"] or ""
        if name.startswith("mcp__") and name.count("__") >= 2:
            full[name.split("__", 2)[2]] = name
    if not full:
        return view, full
    bare = {name: short for short, name in full.items()}

    def rename(item: dict[str, Any]) -> dict[str, Any]:
        return {**item, "name": bare.get(item.get("name") or "", item.get("name"))}

    tools = [{**t, "function": rename(t["function"])} for t in view["tools"]]
    messages = [
        {**m, "tool_calls": [{**c, "function": rename(c["function"])} for c in m["tool_calls"]]}
        if m.get("tool_calls")
        else m
        for m in view["messages"]
    ]
    return {**view, "tools": tools, "messages": messages}, full


# -------------------------------------------------------------------------- validation

_SERVER_TOOLS = {"web_search_20250305": "web_search", "code_execution_20250522": "code_execution"}


class Invalid(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def validate(body: Any, headers: dict[str, str]) -> None:
    """Raise :class:`Invalid` for a request the API would reject with a 400."""
    if not headers.get("anthropic-version"):
        raise Invalid("anthropic-version: header is required")
    if not isinstance(body, dict):
        raise Invalid("There was an issue with your request body: invalid JSON")
    for name in ("model", "max_tokens", "messages"):
        if name not in body:
            raise Invalid(f"{name}: Field required")
    max_tokens = body["max_tokens"]
    if not isinstance(max_tokens, int) or max_tokens < 1:
        raise Invalid("max_tokens: Input should be greater than or equal to 1")
    temperature = body.get("temperature")
    if temperature is not None and not 0 <= temperature <= 1:
        raise Invalid("temperature: Input should be less than or equal to 1")
    _validate_tools(body.get("tools"), headers)
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        raise Invalid("messages: at least one message is required")
    _validate_messages(messages)
    _validate_thinking(body, messages)


def _validate_tools(tools: Any, headers: dict[str, str]) -> None:
    betas = {b.strip() for b in headers.get("anthropic-beta", "").split(",")}
    names: set[str] = set()
    for i, tool in enumerate(tools or ()):
        kind = tool.get("type")
        if kind in _SERVER_TOOLS:
            if kind == "code_execution_20250522" and CODE_EXECUTION_BETA not in betas:
                raise Invalid(
                    f"tools.{i}: Input tag '{kind}' found using 'type' does not match any of "
                    "the expected tags"
                )
            if tool.get("name") != _SERVER_TOOLS[kind]:
                raise Invalid(f"tools.{i}.{kind}.name: Input should be '{_SERVER_TOOLS[kind]}'")
        elif kind in (None, "custom"):
            for field in ("name", "input_schema"):
                if field not in tool:
                    raise Invalid(f"tools.{i}.custom.{field}: Field required")
        else:
            raise Invalid(
                f"tools.{i}: Input tag '{kind}' found using 'type' does not match any of the "
                "expected tags"
            )
        if tool["name"] in names:
            raise Invalid(f"tools: Tool names must be unique. Duplicate: {tool['name']}")
        names.add(tool["name"])


def _blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content or () if isinstance(b, dict)]


def _validate_messages(messages: list[Any]) -> None:
    previous_role = None
    open_ids: list[str] = []  # tool_use ids of the previous assistant message
    last = len(messages) - 1
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ("user", "assistant"):
            raise Invalid(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        if role == previous_role:
            raise Invalid(
                f'messages: roles must alternate between "user" and "assistant", but found '
                f'multiple "{role}" roles in a row'
            )
        blocks = _blocks(message)
        if not blocks and not (role == "assistant" and i == last):
            raise Invalid(
                f"messages.{i}: all messages must have non-empty content except for the "
                "optional final assistant message"
            )
        results: list[str] = []
        uses: list[str] = []
        for j, block in enumerate(blocks):
            kind = block.get("type")
            if kind == "text" and not str(block.get("text", "")).strip():
                raise Invalid("messages: text content blocks must contain non-whitespace text")
            if kind == "tool_use":
                if role != "assistant" or not block.get("id") or not block.get("name"):
                    raise Invalid(f"messages.{i}.content.{j}: invalid tool_use block")
                if not isinstance(block.get("input"), dict):
                    raise Invalid(
                        f"messages.{i}.content.{j}.tool_use.input: Input should be a valid "
                        "dictionary"
                    )
                uses.append(block["id"])
            elif kind == "tool_result":
                if block.get("tool_use_id") not in open_ids:
                    raise Invalid(
                        f"messages.{i}.content.{j}: unexpected `tool_use_id` found in "
                        f"`tool_result` blocks: {block.get('tool_use_id')}. Each `tool_result` "
                        "block must have a corresponding `tool_use` block in the previous "
                        "message."
                    )
                results.append(block["tool_use_id"])
        missing = [tool_id for tool_id in open_ids if tool_id not in results]
        if missing:
            raise Invalid(
                f"messages.{i - 1}: `tool_use` ids were found without `tool_result` blocks "
                f"immediately after: {', '.join(missing)}. Each `tool_use` block must have a "
                "corresponding `tool_result` block in the next message."
            )
        open_ids = uses
        previous_role = role
    if open_ids:
        raise Invalid(
            f"messages.{last}: `tool_use` ids were found without `tool_result` blocks "
            f"immediately after: {', '.join(open_ids)}. Each `tool_use` block must have a "
            "corresponding `tool_result` block in the next message."
        )


def _validate_thinking(body: dict[str, Any], messages: list[dict[str, Any]]) -> None:
    thinking = body.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") != "enabled":
        return
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or budget < 1024:
        raise Invalid(
            "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
        )
    if body["max_tokens"] <= budget:
        raise Invalid(
            "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our "
            f"documentation at {_DOCS}#max-tokens-and-context-window-size"
        )
    if body.get("temperature") not in (None, 1):
        raise Invalid(
            "`temperature` may only be set to 1 when thinking is enabled or in interleaved "
            f"thinking mode. Please consult our documentation at {_DOCS}"
        )
    if body.get("top_p") is not None and body["top_p"] < 0.95:
        raise Invalid(
            "`top_p` must be greater than or equal to 0.95 or unset when thinking is enabled"
        )
    assistants = [(i, m) for i, m in enumerate(messages) if m.get("role") == "assistant"]
    if assistants:
        i, message = assistants[-1]
        blocks = _blocks(message)
        uses_tools = any(b.get("type") == "tool_use" for b in blocks)
        if uses_tools and blocks[0].get("type") not in ("thinking", "redacted_thinking"):
            raise Invalid(
                f"messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but "
                f"found `{blocks[0].get('type')}`. When `thinking` is enabled, a final "
                "`assistant` message must start with a thinking block (preceeding the lastmost "
                "set of `tool_use` and `tool_result` blocks). We recommend you include thinking "
                "blocks from previous turns. To avoid this requirement, disable `thinking`. "
                f"Please consult our documentation at {_DOCS}"
            )


# ----------------------------------------------------------------------------- server
