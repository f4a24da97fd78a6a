"""The typed responses of :mod:`massgen.client` (pydantic). Every model keeps fields the
server adds that are not declared here (``extra="allow"``), so a newer server's fields reach
the caller."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatMessage",
    "Choice",
    "ChunkChoice",
    "Completion",
    "CompletionChoice",
    "Debate",
    "DebateConsensus",
    "DebateLLM",
    "DebateParticipant",
    "DebateParticipantStats",
    "DebateResults",
    "DebateStatus",
    "Delta",
    "EnsembleCompletion",
    "EnsembleInfo",
    "MCPCapabilities",
    "MCPPrompt",
    "MCPPromptList",
    "MCPProvider",
    "MCPResource",
    "MCPResourceList",
    "MCPTool",
    "MCPToolList",
    "MCPToolResult",
    "Model",
    "ModelList",
    "Provider",
    "ProviderHealth",
    "ProviderList",
    "ProviderStatus",
    "Task",
    "TaskEvent",
    "TaskList",
    "TaskResult",
    "Usage",
    "UsageStats",
    "Webhook",
    "WebhookDeleted",
    "WebhookList",
]


class Shape(BaseModel):
    """The base: unknown fields kept."""

    model_config = ConfigDict(extra="allow")


class Usage(Shape):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class ChatMessage(Shape):
    role: str = "assistant"
    content: str | None = None
    #: The team's coordination trace (answers, votes, the winner), one line each.
    reasoning_content: str | None = None


class Choice(Shape):
    index: int = 0
    message: ChatMessage = Field(default_factory=ChatMessage)
    finish_reason: str | None = None


class ChatCompletion(Shape):
    id: str
    object: str = "chat.completion"
    created: int = 0
    model: str = ""
    choices: list[Choice] = Field(default_factory=list)
    usage: Usage | None = None
    #: ok, or why the run ended early with its best answer (timeout, budget, failed).
    massgen_status: str | None = None


class Delta(Shape):
    role: str | None = None
    content: str | None = None
    reasoning_content: str | None = None


class ChunkChoice(Shape):
    index: int = 0
    delta: Delta = Field(default_factory=Delta)
    finish_reason: str | None = None


class ChatCompletionChunk(Shape):
    id: str
    object: str = "chat.completion.chunk"
    created: int = 0
    model: str = ""
    choices: list[ChunkChoice] = Field(default_factory=list)
    usage: Usage | None = None
    massgen_status: str | None = None


class CompletionChoice(Shape):
    index: int = 0
    text: str = ""
    finish_reason: str | None = None


class Completion(Shape):
    """A text completion, or one chunk of a streamed one."""

    id: str
    object: str = "text_completion"
    created: int = 0
    model: str = ""
    choices: list[CompletionChoice] = Field(default_factory=list)
    usage: Usage | None = None
    massgen_status: str | None = None


class Model(Shape):
    id: str
    object: str = "model"
    owned_by: str = "massgen"


class ModelList(Shape):
    object: str = "list"
    data: list[Model] = Field(default_factory=list)


class TaskWebhook(Shape):
    url: str
    events: list[str] = Field(default_factory=list)


class Task(Shape):
    """A background task: its status (queued, running, completed, failed, cancelled),
    progress 0-100, and once completed its ``result`` (a ``chat.completion`` object)."""

    id: str
    object: str = "task"
    status: str
    priority: str = "normal"
    progress: int = 0
    created_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    metadata: dict[str, Any] | None = None
    webhook: TaskWebhook | None = None
    cancel_requested: bool = False


class TaskList(Shape):
    object: str = "list"
    data: list[Task] = Field(default_factory=list)
    has_more: bool = False


class TaskResult(Shape):
    """A finished task's outcome: ``output`` is the team's final answer (None unless the
    task completed); ``completion`` the full ``chat.completion`` object."""

    id: str
    status: str
    output: str | None = None
    completion: ChatCompletion | None = None
    error: str | None = None
    usage: Usage | None = None


class TaskEvent(Shape):
    """One event of a task's stream. ``id`` is what resumes the stream after it
    (``stream_events(task_id, last_event_id=event.id)``); ``data`` is the whole payload
    (its fields depend on ``type``: ``progress``, ``answer_submitted``, ``vote_cast``,
    ``final_answer_delta``, ``completed``, ``failed``, ``cancelled``, ...)."""

    id: int
    type: str
    data: dict[str, Any] = Field(default_factory=dict)
    progress: int | None = None
    text: str | None = None
    error: str | None = None
    task: Task | None = None


class Webhook(Shape):
    id: str
    object: str = "webhook"
    url: str
    events: list[str] = Field(default_factory=list)
    created_at: float | None = None


class WebhookList(Shape):
    object: str = "list"
    data: list[Webhook] = Field(default_factory=list)


class WebhookDeleted(Shape):
    id: str
    deleted: bool


class ProviderStatus(Shape):
    """One provider of the server's config, as ``GET /v1/providers/health`` found it."""

    provider: str
    status: str
    base_url: str = ""
    models: list[str] = Field(default_factory=list)
    key_set: bool = False
    key_masked: str | None = None
    detail: str = ""
    #: Seconds the check took (None when no request was made).
    response_time: float | None = None


class ProviderHealth(Shape):
    """``status`` is ok (every provider answers), degraded (some do) or down (none)."""

    status: str
    checked_at: float | None = None
    providers: dict[str, ProviderStatus] = Field(default_factory=dict)


class Provider(Shape):
    name: str
    status: str
    base_url: str = ""
    models: list[str] = Field(default_factory=list)


class ProviderList(Shape):
    providers: list[Provider] = Field(default_factory=list)


class UsageStats(Shape):
    """The server's usage since it started, over every caller (from its ``/metrics``):
    runs finished (``total_requests``) and how many ended ``ok``, tokens and cost."""

    total_requests: int = 0
    successful_requests: int = 0
    #: Per cent of the runs that ended ok.
    success_rate: float = 100.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    total_cost_usd: float = 0.0


class MCPProvider(Shape):
    """One MCP server of the server's config: ``status`` ok (with what it offers) or error."""

    name: str
    type: str = "stdio"
    status: str = "ok"
    protocol_version: str | None = None
    server_info: dict[str, Any] | None = None
    #: tools, prompts, resources, logging, completions: whether it offers each
    capabilities: dict[str, bool] = Field(default_factory=dict)
    error: str | None = None


class MCPCapabilities(Shape):
    #: The MCP protocol version massgen speaks.
    version: str
    providers: list[MCPProvider] = Field(default_factory=list)


class MCPTool(Shape):
    name: str
    server: str
    #: ``mcp__<server>__<tool>``: the name agents see.
    full_name: str = ""
    description: str = ""
    input_schema: dict[str, Any] = Field(default_factory=dict)
    read_only: bool = False
    #: Whether this server lets callers run it (``massgen serve --mcp-allow-tool``).
    allowed: bool = False


class MCPToolList(Shape):
    tools: list[MCPTool] = Field(default_factory=list)


class MCPToolResult(Shape):
    name: str
    server: str
    #: The tool's output as an agent gets it (cut at the config's tool_result_max_chars).
    result: str
    is_error: bool = False
    truncated: bool = False
    duration_s: float | None = None


class MCPPrompt(Shape):
    name: str
    server: str
    title: str | None = None
    description: str | None = None
    arguments: list[dict[str, Any]] = Field(default_factory=list)


class MCPPromptList(Shape):
    prompts: list[MCPPrompt] = Field(default_factory=list)


class MCPResource(Shape):
    name: str
    server: str
    uri: str
    title: str | None = None
    description: str | None = None
    mime_type: str | None = None


class MCPResourceList(Shape):
    resources: list[MCPResource] = Field(default_factory=list)


class DebateLLM(Shape):
    """What runs a participant: the server's ``provider`` and ``model``; ``requested`` (the
    participant's first ``llms`` entry) and ``substituted`` (the server does not use that
    provider, so one of its own team's models runs the participant)."""

    provider: str
    model: str | None = None
    requested: dict[str, Any] | None = None
    substituted: bool = False


class DebateParticipant(Shape):
    name: str
    role: str | None = None
    llm: DebateLLM | None = None


class DebateStatus(Shape):
    """A debate now: ``status`` (queued, running, completed, failed, cancelled), the rounds
    finished (``current_round``) of at most ``total_rounds``, and its task's ``task_id``
    (``client.tasks.stream_events(task_id)``: its events)."""

    debateId: str
    object: str = "debate"
    topic: str = ""
    status: str
    current_round: int = 0
    total_rounds: int = 0
    progress: int = 0
    task_id: str = ""
    created_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    metadata: dict[str, Any] | None = None


class Debate(DebateStatus):
    """A debate as it was created: its participants and the consensus threshold it runs."""

    participants: list[DebateParticipant] = Field(default_factory=list)
    consensus_threshold: float | None = None


class DebateConsensus(Shape):
    """``achieved``: the last round's largest agreeing group reached the threshold;
    ``final_position``: the debate's answer (that group's); ``agreement``: that group's share
    of the participants; ``supporters``: their names."""

    achieved: bool = False
    final_position: str | None = None
    agreement: float | None = None
    supporters: list[str] = Field(default_factory=list)
    threshold: float | None = None


class DebateParticipantStats(DebateParticipant):
    """``total_responses``: answers given; ``avg_quality_score``: the share of the other
    participants that agreed with it, averaged over its rounds (0-1; None: nobody to agree)."""

    total_responses: int = 0
    avg_quality_score: float | None = None
    rounds_answered: int = 0


class DebateResults(DebateStatus):
    object: str = "debate.results"
    consensus: DebateConsensus = Field(default_factory=DebateConsensus)
    rounds_played: int = 0
    participants: list[DebateParticipantStats] = Field(default_factory=list)
    run_status: str | None = None


class EnsembleInfo(Shape):
    """How an ensemble answer was reached: the peer's ``strategy`` and massgen's
    (``massgen_strategy``, ``options``), the team's models that answered
    (``providers_used``, one per agent), and ``confidence_score``: the winning answer's share
    of the votes (confidence-weighted under ``confidence_weighted``; under ``debate``, the
    largest agreeing group's share)."""

    strategy: str
    massgen_strategy: str = ""
    options: dict[str, Any] = Field(default_factory=dict)
    providers_used: list[str] = Field(default_factory=list)
    confidence_score: float | None = None
    confidence_threshold: float | None = None
    threshold_met: bool | None = None
    votes: dict[str, float] = Field(default_factory=dict)


class EnsembleCompletion(ChatCompletion):
    """A ``chat.completion`` with its ``ensemble``."""

    ensemble: EnsembleInfo
