"""The OpenAI wire shape of a run's answer: the ``chat.completion`` and ``text_completion``
objects, their SSE chunks, and the coordination-trace lines sent as ``reasoning_content``.

A finished run is a :class:`Completion` (its ``run_finished`` event and trace) or a
:class:`NoAnswer`; :class:`massgen.server.runs.RunService` produces them, the chat endpoints
and the task runner send them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

#: The last line of every SSE stream.
DONE = "data: [DONE]\n\n"


def trace_line(event: dict[str, Any]) -> str | None:
    """A short coordination-trace line for the events worth showing (answers, votes, winner)."""
    kind = event.get("type")
    if kind == "answer_submitted":
        content = " ".join(str(event.get("content") or "").split())
        if len(content) > 160:
            content = content[:157] + "..."
        return f"[{event.get('agent_id')}] answer {event.get('label')}: {content}\n"
    if kind == "vote_cast":
        reason = " ".join(str(event.get("reason") or "").split())[:160]
        return (
            f"[{event.get('agent_id') or event.get('voter')}] votes for "
            f"{event.get('target_agent_id') or event.get('target')}"
            + (f": {reason}" if reason else "")
            + "\n"
        )
    if kind == "agent_failed":
        return f"[{event.get('agent_id')}] failed: {str(event.get('reason') or '')[:160]}\n"
    if kind == "winner_selected":
        return (
            f"[orchestrator] selected {event.get('label')} "
            f"(answer {event.get('answer_label')}, votes {event.get('tally')})\n"
        )
    return None


@dataclass(frozen=True)
class Completion:
    """A run that produced an answer: its ``run_finished`` event and its trace lines."""

    finished: dict[str, Any]
    trace: list[str] = field(default_factory=list)

    @property
    def answer(self) -> str:
        return str(self.finished["final_answer"])

    @property
    def status(self) -> str:
        """ok, or why the run ended early with its best answer: timeout, budget, failed."""
        return str(self.finished.get("status") or "ok")

    def artifacts(self, url_prefix: str | None = None) -> list[dict[str, Any]]:
        """The media the agents generated, as a client sees them (never a server path):
        ``{name, kind, mime, size, agent, tool}``, and ``url`` under ``url_prefix``."""
        out = []
        for item in self.finished.get("artifacts") or ():
            entry = {k: item.get(k) for k in ("name", "kind", "mime", "size", "agent", "tool")}
            if url_prefix is not None:
                entry["url"] = f"{url_prefix}{item.get('name')}"
            out.append(entry)
        return out

    def usage(self) -> dict[str, int]:
        prompt = int(self.finished.get("prompt_tokens") or 0)
        completion = int(self.finished.get("completion_tokens") or 0)
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }

    def object(self, completion_id: str, model: str, *, text: bool = False) -> dict[str, Any]:
        """The ``chat.completion`` (or ``text_completion``) object."""
        if text:
            choice: dict[str, Any] = {
                "index": 0,
                "text": self.finished["final_answer"],
                "logprobs": None,
                "finish_reason": "stop",
            }
        else:
            choice = {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": self.finished["final_answer"],
                    "reasoning_content": "".join(self.trace),
                },
                "finish_reason": "stop",
            }
        out = {
            "id": completion_id,
            "object": "text_completion" if text else "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [choice],
            "usage": self.usage(),
            "massgen_status": self.status,
        }
        artifacts = self.artifacts()
        if artifacts:  # a chat completion names them; a task's result also links them
            out["massgen_artifacts"] = artifacts
        return out


@dataclass(frozen=True)
class NoAnswer:
    """A run that ended without an answer; ``status`` says how ("failed" when it ended
    without ``run_finished``)."""

    status: str = "failed"

    @property
    def message(self) -> str:
        return f"the run produced no answer (status: {self.status})"


class Chunks:
    """The SSE chunks of one streamed completion (``chat.completion.chunk``, or
    ``text_completion`` with ``text``)."""

    def __init__(self, completion_id: str, model: str, *, text: bool = False) -> None:
        self.completion_id, self.model, self.text = completion_id, model, text
        self.created = int(time.time())

    def chunk(self, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        """One ``data:`` line ("" for a text completion's role or trace delta: it has none)."""
        if self.text:
            if "content" not in delta and finish is None:
                return ""
            choice = {
                "index": 0,
                "text": delta.get("content", ""),
                "logprobs": None,
                "finish_reason": finish,
            }
            kind = "text_completion"
        else:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            kind = "chat.completion.chunk"
        data = {
            "id": self.completion_id,
            "object": kind,
            "created": self.created,
            "model": self.model,
            "choices": [choice],
            **extra,
        }
        return f"data: {json.dumps(data)}\n\n"

    def last(self, completion: Completion) -> str:
        """The closing chunk: finish reason, usage and the run's status."""
        return self.chunk({}, "stop", usage=completion.usage(), massgen_status=completion.status)

    @staticmethod
    def error(no_answer: NoAnswer) -> str:
        error = {"message": no_answer.message, "type": "server_error", "code": "run_failed"}
        return f"data: {json.dumps({'error': error})}\n\n"
