"""Coordination state: agents, their versioned answers and their votes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from massgen.backends.base import Backend
    from massgen.config.tool_config import MCPServerConfig
    from massgen.config.understanding import UnderstandingConfig
    from massgen.coordination.generation import MediaMaker
    from massgen.messages import UsageChunk
    from massgen.tools.base import Tool


@dataclass
class AgentSpec:
    """What the engine needs to know about one agent: its backend, and its own tools (custom
    functions and the MCP servers it may call)."""

    id: str
    backend: Backend
    system_message: str | None = None
    tools: list[Tool] = field(default_factory=list)
    mcp_servers: list[MCPServerConfig] = field(default_factory=list)
    max_cost_usd: float | None = None  # own caps (docs/architecture.md)
    max_total_tokens: int | None = None
    #: its understanding tools (None: it has none)
    understanding: UnderstandingConfig | None = None
    #: the media it may generate: kind (image, audio, video) -> its generator
    generation: dict[str, MediaMaker] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    """One submitted answer. ``label`` is versioned: ``agent2.3`` is agent2's third."""

    agent_id: str
    agent_label: str
    version: int
    content: str
    order: int  # position among all answers of the run; earlier wins ties
    files: str | None = None  # where this answer's files are (its author's latest snapshot)

    @property
    def label(self) -> str:
        return f"{self.agent_label}.{self.version}"


@dataclass(frozen=True)
class Vote:
    voter_id: str
    voter_label: str
    target_label: str  # an agent label, e.g. "agent1"
    answer_label: str  # the versioned answer it judged, e.g. "agent1.2"
    reason: str
    confidence: float | None = None  # vote_weighting: confidence

    @property
    def weight(self) -> float:
        """What the vote counts in the tally: 1, or its confidence when it states one."""
        return 1.0 if self.confidence is None else self.confidence


@dataclass
class Usage:
    """Token counts of model calls (one agent's or a whole run's)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    cached_tokens: int = 0  # prompt tokens read from the provider's cache
    cache_write_tokens: int = 0  # prompt tokens written to it (Anthropic)
    requests: int = 0
    cost_usd: float = 0.0  # of the calls whose price is known
    cost_unknown: bool = False  # some call's model is not in the price table

    def add(self, other: Usage) -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.reasoning_tokens += other.reasoning_tokens
        self.cached_tokens += other.cached_tokens
        self.cache_write_tokens += other.cache_write_tokens
        self.requests += other.requests
        self.cost_usd += other.cost_usd
        self.cost_unknown = self.cost_unknown or other.cost_unknown

    def add_call(self, chunk: UsageChunk, cost: float | None) -> None:
        """Count one model call's usage (``cost`` None: its price is unknown)."""
        self.prompt_tokens += chunk.prompt_tokens
        self.completion_tokens += chunk.completion_tokens
        self.reasoning_tokens += chunk.reasoning_tokens
        self.cached_tokens += chunk.cached_tokens
        self.cache_write_tokens += chunk.cache_write_tokens
        if cost is None:
            self.cost_unknown = True
        else:
            self.cost_usd += cost

    @property
    def cost(self) -> float | None:
        """Total cost in USD, or None when any call's price is unknown."""
        return None if self.cost_unknown else self.cost_usd


@dataclass
class AgentState:
    spec: AgentSpec
    label: str
    status: str = "waiting"
    answers: list[Answer] = field(default_factory=list)
    vote: Vote | None = None
    task: asyncio.Task[None] | None = None
    turn_id: int | None = None  # the turn whose outcome the engine will accept
    turns: int = 0
    failed_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    presenting: bool = False  # writing the final answer (may write context paths granted write)
    staged: Path | None = None  # a copy of its workspace for the answer its turn just gave
    mode: str = "tools"  # workflow mode in use: tools, json or text
    auto_mode: bool = True  # whether the mode may fall back after an invalid attempt
    abstained: bool = False  # judged the current answer set without a valid vote

    @property
    def settled(self) -> bool:
        """Has judged the current answer set (a vote, or an abstention)."""
        return self.vote is not None or self.abstained

    @property
    def settled_status(self) -> str:
        """What the agent's status returns to after a turn: it voted, abstained, or has only
        answered."""
        if self.vote is not None:
            return "voted"
        return "abstained" if self.abstained else "answered"

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def latest(self) -> Answer | None:
        return self.answers[-1] if self.answers else None

    @property
    def live(self) -> bool:
        return self.failed_reason is None

    @property
    def busy(self) -> bool:
        return self.task is not None and self.turn_id is not None
