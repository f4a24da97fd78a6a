"""The events of ``codex exec --json`` (one JSON object a line) as massgen's chunks.

``thread.started``, ``turn.started``; ``item.started`` / ``item.updated`` / ``item.completed``
with an item of type ``agent_message``, ``reasoning``, ``command_execution``,
``file_change``, ``mcp_tool_call``, ``web_search``, ``todo_list`` or ``error`` (a warning);
then ``turn.completed`` (with the turn's usage) or ``turn.failed`` (with the error). A
top-level ``error`` event says what went wrong before ``turn.failed``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from massgen.backends.errors import (
    AuthenticationError,
    BackendConnectionError,
    BackendError,
    ContextLengthError,
    ProviderError,
    RateLimitError,
)
from massgen.messages import Chunk, ProviderToolChunk, ReasoningChunk, TextChunk, UsageChunk

_DETAIL_CHARS = 300
#: Words of Codex's error messages, and the error each one is.
_KINDS: tuple[tuple[re.Pattern[str], type[BackendError]], ...] = (
    (re.compile(r"\b401\b|unauthorized|invalid_api_key|incorrect api key", re.I),
     AuthenticationError),
    (re.compile(r"\b429\b|rate.?limit|quota", re.I), RateLimitError),
    (re.compile(r"context_length|context window", re.I), ContextLengthError),
    (re.compile(r"error sending request|connection refused|stream disconnected|"
                r"timed? ?out", re.I), BackendConnectionError),
)  # fmt: skip


def error_kind(message: str) -> type[BackendError]:
    """The error class of one of Codex's error messages."""
    return next((kind for pattern, kind in _KINDS if pattern.search(message)), ProviderError)


def usage_chunk(usage: dict[str, Any] | None) -> UsageChunk:
    """A turn's usage (input counts the cached part, output the reasoning)."""
    usage = usage or {}
    return UsageChunk(
        prompt_tokens=int(usage.get("input_tokens") or 0),
        completion_tokens=int(usage.get("output_tokens") or 0),
        reasoning_tokens=int(usage.get("reasoning_output_tokens") or 0),
        cached_tokens=int(usage.get("cached_input_tokens") or 0),
        cache_write_tokens=int(usage.get("cache_write_input_tokens") or 0),
    )


def _brief(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(str(text).split())
    return text if len(text) <= _DETAIL_CHARS else text[: _DETAIL_CHARS - 1] + "…"


class TurnEvents:
    """Folds one turn's event lines into chunks; keeps its usage, its end and its error."""

    def __init__(self) -> None:
        self.ended = False
        self.error: tuple[type[BackendError], str] | None = None
        self.last_error = ""
        #: Times Codex said it could not reach the endpoint and would try again (it waits
        #: for the network for ever; the backend gives up after its own ``max_retries``).
        self.reconnects = 0
        self._usage: dict[str, Any] | None = None
        self._started: set[str] = set()

    def chunks(self, line: bytes, *, acted: bool = False) -> list[Chunk]:
        """The chunks of one line (none for a line that is not an event). After the workflow
        action (``acted``) its closing words are not part of the answer."""
        try:
            event = json.loads(line)
        except ValueError:
            return []
        if not isinstance(event, dict):
            return []
        kind = event.get("type")
        if kind == "turn.completed":
            self.ended = True
            self._usage = event.get("usage") or {}
        elif kind == "turn.failed":
            self.ended = True
            message = str((event.get("error") or {}).get("message") or self.last_error)
            self.error = (error_kind(message), f"Codex: {_brief(message)}")
        elif kind == "error":
            self.last_error = str(event.get("message") or "")
            if self.last_error.startswith("Reconnecting"):
                self.reconnects += 1
        elif kind in ("item.started", "item.completed") and isinstance(event.get("item"), dict):
            return self._item(event["item"], kind == "item.completed", acted)
        return []

    def _item(self, item: dict[str, Any], done: bool, acted: bool) -> list[Chunk]:
        kind, item_id = item.get("type"), str(item.get("id") or "")
        if kind == "agent_message" and done and not acted:
            return [TextChunk(str(item.get("text") or ""))]
        if kind == "reasoning" and done:
            return [ReasoningChunk(str(item.get("text") or ""))]
        shown = {
            "command_execution": ("shell", item.get("command")),
            "file_change": ("file_change", item.get("changes")),
            "web_search": ("web_search", item.get("query")),
        }
        if kind not in shown:  # massgen's own tools are shown by the engine as it runs them
            return []
        name, detail = shown[kind]
        if not done:
            self._started.add(item_id)
            return [ProviderToolChunk(item_id, name, "started", _brief(detail))]
        out: list[Chunk] = []
        if item_id not in self._started:
            out.append(ProviderToolChunk(item_id, name, "started", _brief(detail)))
        result = item.get("aggregated_output") or item.get("status") or ""
        out.append(ProviderToolChunk(item_id, name, "finished", _brief(result)))
        return out

    def usage(self) -> UsageChunk:
        """The turn's usage (zero when Codex was ended before it reported it)."""
        return usage_chunk(self._usage)
