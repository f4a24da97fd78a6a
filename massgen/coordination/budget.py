"""Budgets (docs/architecture.md): ``max_cost_usd`` and ``max_total_tokens``, per run and per agent.

Before each model call the engine asks :meth:`Budget.reserve` for a lease. The call's bound
is estimated: its prompt from the characters it sends (at the agent's observed tokens per
character once a call has reported usage, else a conservative 1 token per 3 characters),
its completion from the backend's ``max_tokens`` (else the backend's own default, else
:data:`ASSUMED_COMPLETION_TOKENS`). A call whose bound, added to what has been spent and to
what calls in flight may still use, could cross a cap is not started:
:class:`BudgetExceeded` is raised and a ``budget_exceeded`` event published. The run's cap
ends the run (the best answer so far is final, status ``budget``); an agent's own cap stops
that agent. With no cap set, a lease costs nothing and wraps nothing.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from massgen.backends.pricing import Price, price_for
from massgen.errors import ConfigurationError
from massgen.events import BudgetExceeded as BudgetEvent
from massgen.events import Event
from massgen.messages import Chunk, Message, ToolSpec, UsageChunk

if TYPE_CHECKING:
    from massgen.config.schema import OrchestratorConfig
    from massgen.coordination.state import AgentSpec, AgentState

#: Tokens per character of a prompt before an agent's first call reports its usage (English
#: runs near 1/4; 1/3 errs on the side of the cap).
DEFAULT_TOKENS_PER_CHAR = 1 / 3
#: Added to an agent's observed tokens per character (chat templates, tool schemas).
MARGIN = 1.1
#: An attached image, counted as prompt tokens (providers charge roughly 85 to 1,600).
IMAGE_TOKENS = 1600
#: A completion's bound when neither the config nor the backend says (set ``max_tokens``
#: for a strict bound: a model may write more than this).
ASSUMED_COMPLETION_TOKENS = 4096


class BudgetExceeded(Exception):
    """A model call was not started because it could cross a cap."""

    def __init__(self, message: str, scope: str, limit: str) -> None:
        super().__init__(message)
        self.scope = scope  # "run" or "agent"
        self.limit = limit  # "max_cost_usd" or "max_total_tokens"


@dataclass(frozen=True)
class Caps:
    cost: float | None = None
    tokens: int | None = None

    @property
    def set(self) -> bool:
        return self.cost is not None or self.tokens is not None

    def describe(self) -> dict[str, float | int]:
        caps = {"max_cost_usd": self.cost, "max_total_tokens": self.tokens}
        return {k: v for k, v in caps.items() if v is not None}


@dataclass(frozen=True)
class Estimate:
    """One call's bound."""

    tokens: int
    cost: float  # USD; 0 for self-hosted models
    chars: int  # characters of the prompt, to learn the agent's tokens per character
    assumed: bool = False  # the completion's bound is ASSUMED_COMPLETION_TOKENS


def agent_caps(spec: AgentSpec, cfg: OrchestratorConfig) -> Caps:
    """An agent's own caps: its config's, else the team's ``agent_max_*``."""
    return Caps(
        spec.max_cost_usd if spec.max_cost_usd is not None else cfg.agent_max_cost_usd,
        spec.max_total_tokens if spec.max_total_tokens is not None else cfg.agent_max_total_tokens,
    )


def check_prices(specs: Sequence[AgentSpec], cfg: OrchestratorConfig) -> None:
    """A cost cap needs every capped agent's price: raise :class:`ConfigurationError`
    naming the first model whose price massgen does not know (before any call)."""
    for spec in specs:
        capped = cfg.max_cost_usd is not None or agent_caps(spec, cfg).cost is not None
        backend = spec.backend
        if capped and not backend.self_hosted and price_for(backend.model) is None:
            raise ConfigurationError(
                f"max_cost_usd: the price of model '{backend.model}' (agent {spec.id}) is not "
                "in massgen's price table, so its cost cannot be capped; cap it with "
                "max_total_tokens instead"
            )


def completion_bound(spec: AgentSpec) -> int:
    backend = spec.backend
    return (
        backend.config.max_tokens
        or getattr(backend, "default_max_tokens", None)
        or ASSUMED_COMPLETION_TOKENS
    )


def prompt_chars(messages: Sequence[Message], tools: Sequence[ToolSpec] | None) -> int:
    chars = sum(len(m.content) + 16 for m in messages)  # 16: a message's framing
    for m in messages:
        for call in m.tool_calls or ():
            chars += len(call.name) + len(call.arguments)
    for tool in tools or ():
        chars += len(tool.name) + len(tool.description) + len(json.dumps(tool.parameters))
    return chars


@dataclass
class Lease:
    """A started call's reservation; :meth:`stream` releases it when the call ends."""

    budget: Budget | None
    agent_id: str = ""
    estimate: Estimate | None = None

    def stream(self, inner: AsyncIterator[Chunk]) -> AsyncIterator[Chunk]:
        if self.budget is None:
            return inner
        return self._metered(inner)

    async def _metered(self, inner: AsyncIterator[Chunk]) -> AsyncIterator[Chunk]:
        assert self.budget is not None and self.estimate is not None
        try:
            async for chunk in inner:
                if isinstance(chunk, UsageChunk) and chunk.prompt_tokens and self.estimate.chars:
                    self.budget.observe(self.agent_id, chunk.prompt_tokens / self.estimate.chars)
                yield chunk
        finally:
            self.budget.release(self)


_FREE = Lease(None)


@dataclass
class Budget:
    """The caps of one run and what its calls have spent and reserved."""

    run: Caps
    agents: dict[str, Caps]
    emit: Callable[[Event], Any]
    states: dict[str, AgentState] = field(default_factory=dict)
    reserved: dict[str, list[Estimate]] = field(default_factory=dict)
    tokens_per_char: dict[str, float] = field(default_factory=dict)
    prices: dict[str, Price | None] = field(default_factory=dict)  # None: free (or unknown)
    #: the refusal that ended the run (the run's cap), if any
    stopped: BudgetExceeded | None = None
    #: agents stopped by their own cap, with the refusal
    dropped: dict[str, BudgetExceeded] = field(default_factory=dict)

    @classmethod
    def for_run(
        cls, cfg: OrchestratorConfig, agents: Sequence[AgentState], emit: Callable[[Event], Any]
    ) -> Budget:
        return cls(
            run=Caps(cfg.max_cost_usd, cfg.max_total_tokens),
            agents={a.id: agent_caps(a.spec, cfg) for a in agents},
            emit=emit,
            states={a.id: a for a in agents},
            prices={
                a.id: None if a.spec.backend.self_hosted else price_for(a.spec.backend.model)
                for a in agents
            },
        )

    @property
    def active(self) -> bool:
        return self.run.set or any(c.set for c in self.agents.values())

    def describe(self) -> dict[str, Any]:
        """The caps, for ``run_started.budget``."""
        out: dict[str, Any] = dict(self.run.describe())
        own = {agent_id: caps.describe() for agent_id, caps in self.agents.items() if caps.set}
        if own:
            out["agents"] = own
        return out

    # ------------------------------------------------------------------ estimates

    def estimate(
        self,
        agent: AgentState,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] | None,
    ) -> Estimate:
        chars = prompt_chars(messages, tools)
        ratio = self.tokens_per_char.get(agent.id, DEFAULT_TOKENS_PER_CHAR)
        images = sum(len(m.images or ()) for m in messages)
        prompt = math.ceil(chars * ratio) + images * IMAGE_TOKENS
        completion = completion_bound(agent.spec)
        price = self.prices.get(agent.id)
        # a bound: the whole prompt at the higher of the input and cache-write prices (what
        # has been spent is priced as reported: cached reads at the cached rate)
        per_prompt = 0.0 if price is None else max(price.input, price.written)
        cost = 0.0 if price is None else (prompt * per_prompt + completion * price.output) / 1e6
        assumed = (
            completion == ASSUMED_COMPLETION_TOKENS and not agent.spec.backend.config.max_tokens
        )
        return Estimate(prompt + completion, cost, chars, assumed)

    def observe(self, agent_id: str, tokens_per_char: float) -> None:
        """Learn an agent's prompt tokens per character from a call's reported usage."""
        self.tokens_per_char[agent_id] = tokens_per_char * MARGIN

    # ------------------------------------------------------------------ spending

    def _spent(self, agent_ids: Sequence[str]) -> tuple[int, float]:
        tokens, cost = 0, 0.0
        for agent_id in agent_ids:
            usage = self.states[agent_id].usage
            tokens += usage.prompt_tokens + usage.completion_tokens
            cost += usage.cost_usd
        return tokens, cost

    def _reserved(self, agent_ids: Sequence[str]) -> tuple[int, float]:
        leases = [e for agent_id in agent_ids for e in self.reserved.get(agent_id, ())]
        return sum(e.tokens for e in leases), sum(e.cost for e in leases)

    def reserve(
        self,
        agent: AgentState,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] | None,
    ) -> Lease:
        """A lease for the call about to start, or :class:`BudgetExceeded` when it could
        cross a cap (the call must then not be started)."""
        if not self.active:
            return _FREE
        if self.stopped is not None:
            raise self.stopped
        return self._admit(agent, self.estimate(agent, messages, tools))

    def reserve_bound(self, agent: AgentState, tokens: int, cost: float) -> Lease:
        """A lease for a call that a tool of ``agent`` makes on another model (the
        understanding tools), bounded by the caller at ``tokens`` and ``cost``; counted and
        refused as the agent's own calls are. Release it with :meth:`release`."""
        if not self.active:
            return _FREE
        if self.stopped is not None:
            raise self.stopped
        return self._admit(agent, Estimate(tokens, cost, 0, False))

    def _admit(self, agent: AgentState, estimate: Estimate) -> Lease:
        scopes = (
            ("run", list(self.states), self.run),
            ("agent", [agent.id], self.agents[agent.id]),
        )
        for scope, ids, caps in scopes:
            spent_tokens, spent_cost = self._spent(ids)
            held_tokens, held_cost = self._reserved(ids)
            checks = (
                ("max_total_tokens", caps.tokens, spent_tokens, held_tokens, estimate.tokens),
                ("max_cost_usd", caps.cost, spent_cost, held_cost, estimate.cost),
            )
            for limit, cap, spent, held, bound in checks:
                if cap is not None and spent + held + bound > cap:
                    self._refuse(agent, scope, limit, cap, spent, held, bound, estimate.assumed)
        self.reserved.setdefault(agent.id, []).append(estimate)
        return Lease(self, agent.id, estimate)

    def hold(self, agent: AgentState, cost: float | None, what: str) -> Lease:
        """A lease for a generation (an image, speech, a video) that may cost up to ``cost``
        (None: its price is unknown), or :class:`BudgetExceeded` saying why it was not
        started. Unlike a model call's, this refusal neither ends the run nor stops the
        agent: the model is told, and goes on without it. Release with :meth:`release`."""
        if not self.active:
            return _FREE
        if self.stopped is not None:
            raise self.stopped
        scopes = (
            ("the run", list(self.states), self.run),
            (f"agent {agent.id}", [agent.id], self.agents[agent.id]),
        )
        for whose, ids, caps in scopes:
            if caps.cost is None:
                continue
            if cost is None:
                raise BudgetExceeded(
                    f"budget: the price of {what} is not in massgen's price table, so "
                    f"max_cost_usd of {whose} cannot bound it: not started",
                    "agent",
                    "max_cost_usd",
                )
            spent = self._spent(ids)[1] + self._reserved(ids)[1]
            if spent + cost > caps.cost:
                raise BudgetExceeded(
                    f"budget: {what} could cost up to ${cost:.4f} and {whose} has "
                    f"${max(0.0, caps.cost - spent):.4f} left of max_cost_usd "
                    f"${caps.cost:.4f}: not started",
                    "agent",
                    "max_cost_usd",
                )
        estimate = Estimate(0, cost or 0.0, 0)
        self.reserved.setdefault(agent.id, []).append(estimate)
        return Lease(self, agent.id, estimate)

    def release(self, lease: Lease) -> None:
        if lease.budget is None:
            return
        leases = self.reserved.get(lease.agent_id, [])
        if lease.estimate in leases:
            leases.remove(lease.estimate)

    def _refuse(
        self,
        agent: AgentState,
        scope: str,
        limit: str,
        cap: float,
        spent: float,
        held: float,
        bound: float,
        assumed: bool = False,
    ) -> None:
        def amount(value: float) -> str:
            return f"${value:.4f}" if limit == "max_cost_usd" else f"{int(value):,} tokens"

        whose = "the run" if scope == "run" else f"agent {agent.id}"
        message = (
            f"budget: {whose} has spent {amount(spent)} of {limit} {amount(cap)}"
            + (f" ({amount(held)} more in flight)" if held else "")
            + f"; {agent.id}'s next call could use up to {amount(bound)}, so it was not started"
            + (
                f" (its completion is bounded at {ASSUMED_COMPLETION_TOKENS:,} tokens: set "
                "max_tokens on its backend for a tighter bound)"
                if assumed
                else ""
            )
        )
        refusal = BudgetExceeded(message, scope, limit)
        if scope == "run":
            self.stopped = refusal
        else:
            self.dropped[agent.id] = refusal
        self.emit(
            BudgetEvent(
                agent_id=agent.id,
                turn=agent.turns,
                scope=scope,
                limit=limit,
                cap=cap,
                spent=round(spent, 6),
                reserved=round(held, 6),
                estimate=round(bound, 6),
                message=message,
            )
        )
        raise refusal
