"""Provider prompt caches (docs/architecture.md, "Prompt caching").

The turns of a coordination round share their prompt up to a short tail of each agent's own
(:attr:`massgen.messages.Message.shared_chars` marks where the shared part ends). Backends
turn that mark into what their provider understands:

* Anthropic: ``cache_control`` breakpoints (:data:`EPHEMERAL`) at the end of the system
  prompt and at the end of the shared part of the user message;
* OpenAI (Chat Completions and Responses) and Azure: ``prompt_cache_key``, a key derived from
  the model and the shared part (:func:`cache_key`), so the turns of one round of one run are
  routed to the same cache. OpenAI caches repeated prefixes by itself; the key only helps it
  find them. Other OpenAI-compatible servers may reject unknown fields, so they get the key
  only with ``prompt_cache: true`` (:func:`sends_key`).

``prompt_cache: false`` on a backend turns both off.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from massgen.messages import Message

#: Anthropic's cache breakpoint (a five-minute cache).
EPHEMERAL = {"type": "ephemeral"}


def split(message: Message) -> tuple[str, str] | None:
    """``(shared, tail)`` of a message with a marked shared part (None without one, or
    when the shared part is blank)."""
    cut = message.shared_chars
    if cut is None or not message.content[:cut].strip():
        return None
    return message.content[:cut], message.content[cut:]


def shared_prefix(messages: Sequence[Message]) -> str | None:
    """The text every turn of the round sends first: the messages before the marked one and
    its shared part (None when no message is marked)."""
    parts: list[str] = []
    for message in messages:
        pieces = split(message)
        if pieces is not None:
            parts.append(f"{message.role}\n{pieces[0]}")
            return "\x00".join(parts)
        parts.append(f"{message.role}\n{message.content}")
    return None


def cache_key(model: str, messages: Sequence[Message]) -> str | None:
    """A ``prompt_cache_key`` shared by the turns of one round: a digest of the model and
    the shared prefix (None when the prompt marks none)."""
    prefix = shared_prefix(messages)
    if prefix is None:
        return None
    digest = hashlib.sha256(f"{model}\x00{prefix}".encode()).hexdigest()
    return f"massgen-{digest[:24]}"


def sends_key(setting: bool | None, official: bool) -> bool:
    """Whether to send ``prompt_cache_key``: ``prompt_cache`` when set, else only to
    OpenAI's own service and Azure (``official``)."""
    return official if setting is None else setting
