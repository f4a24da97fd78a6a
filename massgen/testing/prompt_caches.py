"""Prompt caches as the providers report them, for the fake servers.

* :class:`PrefixCache`: OpenAI's automatic prefix caching (Chat Completions and Responses).
  A prompt whose first >= 1,024 tokens were sent before (same model, same tools) reports that
  shared prefix as ``cached_tokens``, in 128-token increments.
* :class:`BreakpointCache`: Anthropic's ``cache_control`` breakpoints. The prefix up to a
  breakpoint (tools, system, messages, in that order) is written the first time it is seen
  (``cache_creation_input_tokens``) and read after (``cache_read_input_tokens``); prefixes
  under 1,024 tokens are not cached.

Tokens are the fakes' estimate: characters of message text / 4.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from typing import Any

CHARS_PER_TOKEN = 4
MIN_PREFIX_TOKENS = 1024
INCREMENT = 128


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _common_chars(a: Sequence[tuple[str, str]], b: Sequence[tuple[str, str]]) -> int:
    """Characters of message text two prompts share before they first differ."""
    chars = 0
    for (role_a, text_a), (role_b, text_b) in zip(a, b, strict=False):
        if role_a != role_b:
            break
        if text_a == text_b:
            chars += len(text_a)
            continue
        n = 0
        for x, y in zip(text_a, text_b, strict=False):
            if x != y:
                break
            n += 1
        return chars + n
    return chars


class PrefixCache:
    """OpenAI-style automatic caching of the prompts a server has seen."""

    def __init__(self) -> None:
        self._seen: dict[str, list[list[tuple[str, str]]]] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()

    def cached_tokens(self, body: dict[str, Any]) -> int:
        """The cached tokens of a Chat-shaped request (then remembered for later ones)."""
        tools = json.dumps(body.get("tools") or [], sort_keys=True)
        key = f"{body.get('model')}\x00{tools}"
        prompt = [(str(m.get("role")), _text(m.get("content"))) for m in body.get("messages") or ()]
        total = max(1, sum(len(t) for _, t in prompt) // CHARS_PER_TOKEN)
        with self._lock:
            earlier = self._seen.setdefault(key, [])
            best = max((_common_chars(prompt, seen) for seen in earlier), default=0)
            earlier.append(prompt)
        tokens = min(best // CHARS_PER_TOKEN, total)
        if tokens < MIN_PREFIX_TOKENS:
            return 0
        return tokens // INCREMENT * INCREMENT


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content or () if isinstance(b, dict)]


class BreakpointCache:
    """Anthropic-style caching at ``cache_control`` breakpoints."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()

    def usage(self, body: dict[str, Any], total: int) -> tuple[int, int]:
        """``(cache_read, cache_creation)`` tokens of a Messages request whose prompt is
        ``total`` tokens (then the prefixes it wrote are remembered)."""
        digest = hashlib.sha256(str(body.get("model")).encode())
        chars = 0
        marks: list[tuple[str, int]] = []  # (prefix key, tokens up to the breakpoint)
        tools = [t for t in body.get("tools") or () if isinstance(t, dict)]
        for tool in tools:
            digest.update(json.dumps(tool, sort_keys=True).encode())
            if tool.get("cache_control"):
                marks.append((digest.hexdigest(), chars // CHARS_PER_TOKEN))
        blocks = [("system", b) for b in _blocks(body.get("system"))]
        for message in body.get("messages") or ():
            if isinstance(message, dict):
                role = str(message.get("role"))
                blocks += [(role, b) for b in _blocks(message.get("content"))]
        for role, block in blocks:
            text = str(block.get("text", "")) if block.get("type") == "text" else ""
            plain = {k: v for k, v in block.items() if k != "cache_control"}
            digest.update(f"{role}\x00{json.dumps(plain, sort_keys=True)}".encode())
            chars += len(text)
            if block.get("cache_control"):
                marks.append((digest.hexdigest(), chars // CHARS_PER_TOKEN))
        marks = [(k, min(t, total)) for k, t in marks if t >= MIN_PREFIX_TOKENS]
        if not marks:
            return 0, 0
        with self._lock:
            read = max((t for k, t in marks if k in self._seen), default=0)
            written = max(0, marks[-1][1] - read) if marks[-1][0] not in self._seen else 0
            self._seen.update(k for k, _ in marks)
        return read, written
