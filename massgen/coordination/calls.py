"""One model call of a turn: the budget lease, retries, the workflow mode, and every chunk
it streams published as an event (used by :class:`massgen.coordination.turns.TurnRunner`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import cast

from massgen.backends.base import Backend
from massgen.backends.errors import BackendError
from massgen.backends.pricing import cost_usd
from massgen.backends.retry import RetryPolicy, stream_with_retries
from massgen.coordination import budget, modes
from massgen.coordination.state import AgentState
from massgen.events import (
    Event,
    FinalAnswerDelta,
    ReasoningDelta,
    StreamRetry,
    TextDelta,
    ToolArgumentsDelta,
    ToolCallFinished,
    ToolCallStarted,
)
from massgen.events import Usage as UsageEvent
from massgen.messages import (
    MediaChunk,
    Message,
    ProviderToolChunk,
    ReasoningChunk,
    TextChunk,
    ToolArgumentsChunk,
    ToolCall,
    ToolCallChunk,
    ToolSpec,
    UsageChunk,
)
from massgen.tools.lending import AgentTurn


@dataclass
class Streamed:
    """What a call has streamed so far (cleared when it is retried)."""

    text: list[str] = field(default_factory=list)
    calls: list[ToolCall] = field(default_factory=list)


async def call_model(
    agent: AgentState,
    messages: list[Message],
    tools: list[ToolSpec] | None,
    delta_type: type[TextDelta] | type[FinalAnswerDelta],
    emit: Callable[[Event], None],
    run_budget: budget.Budget,
    retry_policy: RetryPolicy | None = None,
    lent: AgentTurn | None = None,
    on_media: Callable[[MediaChunk], Awaitable[None]] | None = None,
) -> tuple[str, list[ToolCall]]:
    """One model call with retries; streams deltas as events (text as ``delta_type``),
    records usage; ``lent`` goes to a backend that runs its own agent loop; ``on_media``
    keeps a medium a provider tool made in the reply (an image). Raises
    :class:`budget.BudgetExceeded` before anything starts when the call could cross a cap."""
    out = Streamed()
    lease = run_budget.reserve(agent, messages, tools)  # BudgetExceeded: not started
    agent.usage.requests += 1

    def on_retry(attempt: int, delay: float, error: BackendError) -> None:
        out.text.clear()
        out.calls.clear()
        agent.usage.requests += 1
        emit(
            StreamRetry(
                agent_id=agent.id,
                turn=agent.turns,
                attempt=attempt,
                delay=round(delay, 3),
                reason=str(error),
            )
        )

    policy = retry_policy or RetryPolicy(max_attempts=agent.spec.backend.config.max_retries + 1)
    # a ModeBackend is its inner Backend for everything but ``stream`` (by delegation)
    backend = cast(Backend, modes.ModeBackend(agent.spec.backend, agent.mode))
    calls = stream_with_retries(backend, messages, tools or None, policy, on_retry, lent)
    stream = lease.stream(calls)
    async for chunk in stream:
        if isinstance(chunk, TextChunk):
            if chunk.text:
                out.text.append(chunk.text)
                emit(delta_type(agent_id=agent.id, turn=agent.turns, text=chunk.text))
        elif isinstance(chunk, ReasoningChunk):
            emit(ReasoningDelta(agent_id=agent.id, turn=agent.turns, text=chunk.text))
        elif isinstance(chunk, ToolArgumentsChunk):
            if chunk.text:
                emit(
                    ToolArgumentsDelta(
                        agent_id=agent.id,
                        turn=agent.turns,
                        call_id=chunk.call_id,
                        name=chunk.name,
                        text=chunk.text,
                    )
                )
        elif isinstance(chunk, ToolCallChunk):
            out.calls.append(chunk.call)
            emit(
                ToolCallStarted(
                    agent_id=agent.id,
                    turn=agent.turns,
                    call_id=chunk.call.id,
                    name=chunk.call.name,
                    arguments=chunk.call.arguments,
                )
            )
        elif isinstance(chunk, ProviderToolChunk):
            emit(provider_tool_event(agent, chunk))
        elif isinstance(chunk, UsageChunk):
            emit(usage_event(agent, chunk))
        elif isinstance(chunk, MediaChunk) and on_media is not None:
            await on_media(chunk)
    return "".join(out.text), out.calls


def provider_tool_event(agent: AgentState, chunk: ProviderToolChunk) -> Event:
    """A tool the provider ran itself (web search, code execution): started or finished."""
    if chunk.status == "started":
        return ToolCallStarted(
            agent_id=agent.id,
            turn=agent.turns,
            call_id=chunk.call_id,
            name=chunk.name,
            arguments=chunk.detail,
        )
    return ToolCallFinished(
        agent_id=agent.id,
        turn=agent.turns,
        call_id=chunk.call_id,
        name=chunk.name,
        result=chunk.detail,
    )


def usage_event(agent: AgentState, chunk: UsageChunk) -> UsageEvent:
    """Count a call's usage (and cost, when its price is known) to ``agent``; its event."""
    backend = agent.spec.backend
    cost = chunk.cost_usd
    if cost is None:
        cost = cost_usd(backend.model, chunk, self_hosted=backend.self_hosted)
    agent.usage.add_call(chunk, cost)
    return UsageEvent(
        agent_id=agent.id,
        turn=agent.turns,
        prompt_tokens=chunk.prompt_tokens,
        completion_tokens=chunk.completion_tokens,
        reasoning_tokens=chunk.reasoning_tokens,
        cached_tokens=chunk.cached_tokens,
        cache_write_tokens=chunk.cache_write_tokens,
        cost_usd=cost,
    )
