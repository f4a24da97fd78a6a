"""An in-process scripted backend for engine tests: deterministic, fast, observable.

Each model call takes the next :class:`Step` from the agent's script (or asks a function).
When the script runs out, :func:`protocol_policy` plays the protocol sensibly: answer when
only ``new_answer`` is offered, vote for the first label when voting is possible, write text
when no tools are offered (the presentation).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from massgen.backends.base import Backend
from massgen.backends.errors import BackendError
from massgen.config.schema import BackendConfig
from massgen.coordination.state import AgentSpec
from massgen.messages import (
    Chunk,
    DoneChunk,
    Message,
    TextChunk,
    ToolCall,
    ToolCallChunk,
    ToolSpec,
    UsageChunk,
)


@dataclass
class Step:
    """One scripted model response."""

    text: str = ""
    calls: Sequence[tuple[str, Any]] = ()  # (tool name, dict or raw JSON string)
    delay: float = 0.0  # before the first chunk
    chunk_delay: float = 0.0  # between chunks
    error: BackendError | None = None  # raised after ``delay``
    prompt_tokens: int = 10
    completion_tokens: int = 5
    cached_tokens: int = 0  # of prompt_tokens, read from the provider's cache


def answer(content: str, **kw: Any) -> Step:
    return Step(calls=[("new_answer", {"content": content})], **kw)


def vote(target: str, reason: str = "best", **kw: Any) -> Step:
    return Step(calls=[("vote", {"agent_id": target, "reason": reason})], **kw)


def say(text: str, **kw: Any) -> Step:
    return Step(text=text, **kw)


@dataclass
class Call:
    """What the backend saw for one model call, and how it ended."""

    messages: list[Message]
    tools: list[str]
    vote_enum: list[str]
    response_format: dict | None = None  # the JSON schema asked for (json workflow mode)
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    completed: bool = False
    cancelled: bool = False

    @property
    def user_text(self) -> str:
        return "\n".join(m.content for m in self.messages if m.role == "user")

    @property
    def system_text(self) -> str:
        return "\n".join(m.content for m in self.messages if m.role == "system")


def protocol_policy(backend: ScriptedBackend, call: Call) -> Step:
    if not {"vote", "new_answer"} & set(call.tools):  # the presentation (maybe with tools)
        return say(f"Final answer from {backend.name}.")
    if "vote" in call.tools:
        return vote(call.vote_enum[0], "it is the best")
    return answer(f"Answer {len(backend.calls)} from {backend.name}.")


class ScriptedBackend(Backend):
    type = "scripted"
    supports_json_schema = True  # records the schema it was asked for (json workflow mode)

    def __init__(
        self,
        name: str,
        script: Sequence[Step] | Callable[[Call], Step | None] = (),
        *,
        max_retries: int = 0,
        workflow_mode: str = "tools",
        max_tokens: int | None = None,
        model: str | None = None,
    ) -> None:
        config = BackendConfig.model_construct(
            type="scripted",
            model=model or f"scripted-{name}",
            max_retries=max_retries,
            stream=True,
            workflow_mode=workflow_mode,
            max_tokens=max_tokens,
        )
        super().__init__(config)
        self.name = name
        self._script = script if callable(script) else list(script)
        self.calls: list[Call] = []

    def _next_step(self, call: Call) -> Step:
        if callable(self._script):
            step = self._script(call)
        else:
            step = self._script.pop(0) if self._script else None
        return step if step is not None else protocol_policy(self, call)

    async def stream(
        self,
        messages: list[Message],
        tools: list[ToolSpec] | None = None,
        *,
        response_format: dict | None = None,
    ) -> AsyncIterator[Chunk]:
        tools = tools or []
        vote_enum: list[str] = []
        for tool in tools:
            if tool.name == "vote":
                vote_enum = list(tool.parameters["properties"]["agent_id"]["enum"])
        call = Call(list(messages), [t.name for t in tools], vote_enum, response_format)
        self.calls.append(call)
        step = self._next_step(call)
        try:
            if step.delay:
                await asyncio.sleep(step.delay)
            if step.error is not None:
                raise step.error
            for piece in _pieces(step.text):
                if step.chunk_delay:
                    await asyncio.sleep(step.chunk_delay)
                yield TextChunk(piece)
            for index, (name, args) in enumerate(step.calls):
                raw = args if isinstance(args, str) else json.dumps(args)
                yield ToolCallChunk(
                    ToolCall(id=f"call_{len(self.calls)}_{index}", name=name, arguments=raw)
                )
            yield UsageChunk(
                step.prompt_tokens, step.completion_tokens, cached_tokens=step.cached_tokens
            )
            yield DoneChunk("tool_calls" if step.calls else "stop")
            call.completed = True
        except asyncio.CancelledError:
            call.cancelled = True
            raise
        finally:
            call.finished = time.monotonic()


def _pieces(text: str) -> list[str]:
    if not text:
        return []
    words = text.split(" ")
    return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words) if w or i == 0]


def team(*scripts: Sequence[Step] | Callable[[Call], Step | None]) -> list[AgentSpec]:
    """Agents ``a1..aN`` on scripted backends (empty script: protocol policy)."""
    return [
        AgentSpec(id=f"a{i}", backend=ScriptedBackend(f"a{i}", script))
        for i, script in enumerate(scripts, 1)
    ]
