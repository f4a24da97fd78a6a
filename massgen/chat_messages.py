"""The OpenAI chat shape, in and out: chat messages as a question, its history and its
images; a run's events as the answer's text, token by token.

Used by the server's chat endpoints and the LiteLLM provider; the Python API takes history
in this shape too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeGuard

from massgen.errors import ConfigurationError

#: Earlier turns: ``(question, answer)`` pairs, or chat messages (``{"role", "content"}``).
History = Sequence[tuple[str, str]] | Sequence[dict[str, str]]


def message_text(content: Any) -> str:
    """A chat message's text: a string, or the text of its content parts (lone surrogates,
    which JSON allows and no encoder does, replaced)."""
    from massgen.terminal import clean_text

    if isinstance(content, str):
        return clean_text(content)
    if isinstance(content, list):
        return clean_text(
            "".join(
                str(part.get("text") or "")
                for part in content
                if isinstance(part, dict) and part.get("type") in (None, "text", "input_text")
            )
        )
    return "" if content is None else clean_text(str(content))


def split_messages(messages: Any) -> tuple[str, list[tuple[str, str]]]:
    """OpenAI-style chat messages as (question, history): the last user message is the
    question, the user/assistant turns before it the history (system messages are dropped).
    Raises :class:`ConfigurationError` when there is no question."""
    if not isinstance(messages, list) or not messages:
        raise ConfigurationError("'messages' must be a non-empty list")
    if not all(isinstance(m, dict) for m in messages):
        raise ConfigurationError("each message must be an object")
    turns = [
        {"role": m["role"], "content": message_text(m.get("content"))}
        for m in messages
        if m.get("role") in ("user", "assistant")
    ]
    last = max((i for i, m in enumerate(turns) if m["role"] == "user"), default=None)
    if last is None:
        raise ConfigurationError("'messages' has no user message")
    question = turns[last]["content"].strip()
    if not question:
        raise ConfigurationError("the last user message is empty")
    return question, history_pairs(turns[:last])


def message_images(messages: Any) -> list[Any]:
    """The images (``image_url`` parts: URLs only, never a path) of the last user message.
    Raises :class:`ConfigurationError` for an image that is not usable."""
    from massgen.images import from_message_content

    if not isinstance(messages, list):
        return []
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    return from_message_content(users[-1].get("content")) if users else []


def _all_messages(history: History) -> TypeGuard[Sequence[dict[str, str]]]:
    """Whether every item of ``history`` is a chat message (a dict)."""
    return all(isinstance(item, dict) for item in history)


def history_pairs(history: History | None) -> list[tuple[str, str]]:
    """Earlier turns as (question, answer) pairs; also accepts chat messages
    (``{"role": "user"|"assistant", "content": ...}``)."""
    if not history:
        return []
    if _all_messages(history):
        pairs: list[tuple[str, str]] = []
        question: str | None = None
        for message in history:
            role, content = message.get("role"), str(message.get("content") or "")
            if role == "user":
                question = content
            elif role == "assistant" and question is not None:
                pairs.append((question, content))
                question = None
        return pairs
    return [(str(q), str(a)) for q, a in history]


class AnswerStream:
    """Turns a run's events into the answer's content text, token by token.

    The presenting agent's ``final_answer_delta`` text goes out as it arrives; the closing
    ``final_answer`` (or ``run_finished``) supplies whatever was not streamed, e.g. the whole
    answer when the winner's answer is reused. Sent text cannot be taken back: when the
    presentation is retried or fails after some text went out, the full answer follows
    after a blank line."""

    def __init__(self) -> None:
        self.sent = ""
        self.diverged = False  # a retry began after text went out: stop streaming deltas
        self.complete = False

    def feed(self, event: dict[str, Any]) -> str:
        """The text ``event`` adds to the answer ("" for most events)."""
        kind = event.get("type")
        if kind == "final_answer_delta" and not (self.diverged or self.complete):
            text = str(event.get("text") or "")
            self.sent += text
            return text
        if kind == "stream_retry" and self.sent:
            self.diverged = True
        if kind == "final_answer":
            return self.finish(str(event.get("content") or ""))
        return ""

    def finish(self, final: str) -> str:
        """The rest of ``final`` not yet sent (once; later calls return "")."""
        if self.complete:
            return ""
        self.complete = True
        return final[len(self.sent) :] if final.startswith(self.sent) else "\n\n" + final
