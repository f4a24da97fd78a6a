"""Typed coordination events and the bus that fans them out.

Every observable thing a run does is an :class:`Event`. Events are plain dataclasses that
serialise to JSON with :meth:`Event.to_dict`; ``type`` names the kind. The engine publishes
them on an :class:`EventBus`; UIs, printers and loggers subscribe and never touch engine state.

Publishing never blocks: each subscriber has its own buffer. When a subscriber falls behind,
consecutive text deltas for the same agent turn (and tool call) are merged (nothing is lost,
only regrouped); state events are never dropped or merged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from massgen.event_fields import fits

# --------------------------------------------------------------------------- events


@dataclass(kw_only=True)
class Event:
    """Base of all events. ``seq``, ``ts`` and ``run_id`` are stamped by the bus."""

    type: ClassVar[str] = "event"
    run_id: str = ""
    seq: int = 0
    ts: float = 0.0
    agent_id: str | None = None
    turn: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.type}
        for f in fields(self):
            data[f.name] = getattr(self, f.name)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        """Rebuild an event from :meth:`to_dict` output (used by replay and tests). Raises
        ``KeyError`` / ``TypeError`` when the data does not fit the event's fields (a damaged
        log), so nothing downstream meets a field of the wrong type."""
        event_cls = EVENT_TYPES[data["type"]]
        values = {}
        for f in fields(event_cls):
            if f.name in data:
                value = data[f.name]
                if not fits(value, str(f.type)):
                    raise TypeError(f"{event_cls.type}.{f.name}: unexpected {type(value).__name__}")
                values[f.name] = value
        return event_cls(**values)


def _register(cls: type[Event]) -> type[Event]:
    EVENT_TYPES[cls.type] = cls
    return cls


EVENT_TYPES: dict[str, type[Event]] = {}


@_register
@dataclass(kw_only=True)
class RunStarted(Event):
    """A coordination run began. ``agents`` lists ``{id, label, model, backend}``."""

    type: ClassVar[str] = "run_started"
    question: str
    strategy: str
    agents: list[dict[str, Any]] = field(default_factory=list)
    #: images attached to the question: ``{name, media_type, bytes, url}`` (never the data)
    attachments: list[dict[str, Any]] = field(default_factory=list)
    #: the strategy's settings: ``rounds`` (debate: revision rounds; vote: rounds),
    #: ``consensus_threshold`` and ``judge`` (debate), ``layers`` and ``judge`` (judge),
    #: ``vote_weighting``, ``min_agents``, ``fallback_to_best`` (vote)
    options: dict[str, Any] = field(default_factory=dict)
    #: the budget caps that are set: ``max_cost_usd``, ``max_total_tokens`` (the run),
    #: ``agent_max_cost_usd``, ``agent_max_total_tokens`` (each agent), and ``agents``:
    #: ``{agent id: {max_cost_usd, max_total_tokens}}`` for agents with caps of their own
    budget: dict[str, Any] = field(default_factory=dict)
    #: the strategy's vocabulary, for views: what one step is called (``round``: vote and
    #: debate; ``layer``: judge), whether agents vote on the answers (vote) or only answer,
    #: and how many steps the run may take when that is fixed in advance (debate: its
    #: rounds + 1, as ``round_finished.last_round``; judge: its layers; vote: None)
    step_noun: str = "round"
    has_votes: bool = True
    steps: int | None = None


@_register
@dataclass(kw_only=True)
class AgentStatusChanged(Event):
    """An agent's status: waiting, thinking, answered, voted, abstained (judged the answers
    without a valid vote), restarting, failed, cancelled."""

    type: ClassVar[str] = "agent_status"
    status: str


@_register
@dataclass(kw_only=True)
class AgentTurnStarted(Event):
    """An agent started a model turn. ``kind`` is ``answer`` (first), ``evaluate`` (vote),
    ``revise`` (debate), ``propose`` (judge, layers after the first) or ``present`` (the
    final answer); ``round`` is the round (debate) or layer (judge) it belongs to; ``tools``
    names the workflow tools offered."""

    type: ClassVar[str] = "agent_turn_started"
    kind: str
    round: int = 1
    tools: list[str] = field(default_factory=list)


@_register
@dataclass(kw_only=True)
class TextDelta(Event):
    type: ClassVar[str] = "text_delta"
    text: str


@_register
@dataclass(kw_only=True)
class ReasoningDelta(Event):
    type: ClassVar[str] = "reasoning_delta"
    text: str


@_register
@dataclass(kw_only=True)
class ToolArgumentsDelta(Event):
    """A piece of a tool call's arguments (raw JSON) while the model writes them: a
    workflow tool's answer or vote reason, shown as it grows. ``ToolCallStarted`` follows
    with the whole call; a retry voids the pieces (``StreamRetry``)."""

    type: ClassVar[str] = "tool_arguments_delta"
    call_id: str
    name: str
    text: str


@_register
@dataclass(kw_only=True)
class ToolCallStarted(Event):
    type: ClassVar[str] = "tool_call_started"
    call_id: str
    name: str
    arguments: str


@_register
@dataclass(kw_only=True)
class ToolCallFinished(Event):
    type: ClassVar[str] = "tool_call_finished"
    call_id: str
    name: str
    result: str  # a short preview, for displays
    is_error: bool = False
    duration_s: float | None = None
    #: planning mode: the call was recorded in the agent's plan, not made
    planned: bool = False
    #: the result as the model got it (capped by ``tool_result_max_chars``); sessions keep it
    #: in a file of its own, and it is left out of ``events.jsonl``
    output: str | None = None


@_register
@dataclass(kw_only=True)
class InvalidAction(Event):
    """The model's workflow action was rejected; the error went back to it as a tool result."""

    type: ClassVar[str] = "invalid_action"
    message: str
    attempt: int


@_register
@dataclass(kw_only=True)
class WorkflowModeChanged(Event):
    """An agent's workflow mode changed (``auto``: after an invalid attempt in ``previous``),
    for the rest of the run: ``tools``, ``json`` or ``text``."""

    type: ClassVar[str] = "workflow_mode_changed"
    mode: str
    previous: str
    reason: str


@_register
@dataclass(kw_only=True)
class AgentNotice(Event):
    """Something the user should know about one agent that is not an error (its model
    cannot see the attached images, ...)."""

    type: ClassVar[str] = "agent_notice"
    message: str  # agent_id None: a notice about the run


@_register
@dataclass(kw_only=True)
class FilesChanged(Event):
    """The final presenter changed the user's files: ``{path, how, diff}`` each (``how``:
    created, changed, moved); ``massgen logs restore`` undoes them."""

    type: ClassVar[str] = "files_changed"
    changes: list[dict[str, Any]] = field(default_factory=list)


@_register
@dataclass(kw_only=True)
class ArtifactSaved(Event):
    """An agent generated a medium (``tool``: generate_image, ...). ``name``: its file in the
    run's artifacts folder (``path``), ``workspace_path``: its copy in the agent's workspace
    (None without files); ``kind``: image, audio or video."""

    type: ClassVar[str] = "artifact_saved"
    name: str
    path: str
    kind: str
    mime: str
    size: int
    tool: str
    workspace_path: str | None = None
    cost_usd: float | None = None


@_register
@dataclass(kw_only=True)
class AgentAbstained(Event):
    """An evaluation turn ended without a valid vote: the agent backs no answer this round."""

    type: ClassVar[str] = "agent_abstained"
    reason: str


@_register
@dataclass(kw_only=True)
class AnswerSubmitted(Event):
    """A new answer. ``label`` is versioned (``agent2.3``); ``agent_label`` is ``agent2``."""

    type: ClassVar[str] = "answer_submitted"
    label: str
    agent_label: str
    version: int
    content: str
    #: the answer's files (relative paths in its snapshot, at most 100), where it has any
    files: list[str] = field(default_factory=list)


@_register
@dataclass(kw_only=True)
class VoteCast(Event):
    """``agent_id`` voted for ``target`` (an agent label) whose current answer is
    ``target_answer`` (a versioned label)."""

    type: ClassVar[str] = "vote_cast"
    voter: str
    target: str
    target_answer: str
    target_agent_id: str
    reason: str
    #: the voter's stated confidence, 0-1 (``vote_weighting: confidence``), else None
    confidence: float | None = None


@_register
@dataclass(kw_only=True)
class VotesCleared(Event):
    type: ClassVar[str] = "votes_cleared"
    reason: str
    cleared: int


@_register
@dataclass(kw_only=True)
class AgentRestarted(Event):
    type: ClassVar[str] = "agent_restarted"
    reason: str


@_register
@dataclass(kw_only=True)
class AgentCancelled(Event):
    type: ClassVar[str] = "agent_cancelled"
    reason: str


@_register
@dataclass(kw_only=True)
class AgentFailed(Event):
    type: ClassVar[str] = "agent_failed"
    reason: str
    error_type: str = ""


@_register
@dataclass(kw_only=True)
class StreamRetry(Event):
    """A model call failed with a retryable error; it will be retried after ``delay`` s.
    Text already streamed in this turn is discarded."""

    type: ClassVar[str] = "stream_retry"
    attempt: int
    delay: float
    reason: str


@_register
@dataclass(kw_only=True)
class Usage(Event):
    """Token usage of one model call (``source``: a tool's model, ``understand_image:m``)."""

    type: ClassVar[str] = "usage"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0  # Anthropic: prompt tokens written to its cache
    cost_usd: float | None = None
    source: str = ""


@_register
@dataclass(kw_only=True)
class WinnerSelected(Event):
    """``agent_id`` won. ``tally`` maps agent labels to vote counts (confidence-weighted:
    the sum of the voters' confidences; debate: the size of each agreeing group)."""

    type: ClassVar[str] = "winner_selected"
    label: str
    answer_label: str
    tally: dict[str, float]
    votes: list[dict[str, str]] = field(default_factory=list)
    is_tie: bool = False
    reason: str = "votes"


@_register
@dataclass(kw_only=True)
class RoundFinished(Event):
    """A round of a debate (``round`` 1: the independent answers; 2 and on: revisions) or a
    layer of a judge run ended. ``answers`` are the versioned labels it produced. Debate:
    ``groups`` are the agent labels whose answers agree, largest first; ``agreement`` is the
    share of the live agents in the largest; ``consensus`` says it reached
    ``consensus_threshold`` (the debate stops)."""

    type: ClassVar[str] = "round_finished"
    strategy: str
    round: int
    last_round: int  # the last round (or layer) the run may have
    answers: list[str] = field(default_factory=list)
    agreement: float | None = None
    groups: list[list[str]] = field(default_factory=list)
    consensus: bool = False


@_register
@dataclass(kw_only=True)
class BudgetExceeded(Event):
    """A model call was not started: it could cross a cap. ``scope`` is ``run`` (the run
    then ends with the best answer so far) or ``agent`` (that agent stops); ``limit`` names
    the cap (``max_cost_usd`` or ``max_total_tokens``); ``spent`` is what the run (or agent)
    has used, ``reserved`` what calls in flight may still use, ``estimate`` the refused
    call's bound (its prompt, and a completion of ``max_tokens``)."""

    type: ClassVar[str] = "budget_exceeded"
    scope: str
    limit: str
    cap: float
    spent: float
    reserved: float
    estimate: float
    message: str


@_register
@dataclass(kw_only=True)
class UserNote(Event):
    """A note the user typed while the run went: every turn started after it (each agent's
    next turn, and the final answer's) reads it, marked as the user's, in its prompt."""

    type: ClassVar[str] = "user_note"
    text: str


@_register
@dataclass(kw_only=True)
class AnswerNow(Event):
    """The user asked for the answer now. ``accepted``: the coordination ends at once (turns
    in flight cancelled) and ``label`` (the leader) presents; else ``message`` says why the
    run goes on (no answer yet)."""

    type: ClassVar[str] = "answer_now"
    accepted: bool
    message: str
    label: str | None = None  # the leader's agent label, when accepted


@_register
@dataclass(kw_only=True)
class FinalAnswerDelta(Event):
    type: ClassVar[str] = "final_answer_delta"
    text: str


@_register
@dataclass(kw_only=True)
class FinalAnswer(Event):
    type: ClassVar[str] = "final_answer"
    content: str
    label: str
    answer_label: str
    presented: bool = True


@_register
@dataclass(kw_only=True)
class ErrorEvent(Event):
    type: ClassVar[str] = "error"
    message: str
    error_type: str = ""


@_register
@dataclass(kw_only=True)
class RunFinished(Event):
    """The run ended. ``status``: ok, timeout, budget (a cap ended it; the best answer so
    far is final), failed, cancelled."""

    type: ClassVar[str] = "run_finished"
    status: str
    duration_s: float
    final_answer: str | None = None
    winner: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0
    cost_usd: float | None = None  # None: some model's price is unknown
    cached_tokens: int = 0  # of prompt_tokens: read from the providers' prompt caches
    #: per agent id: prompt_tokens, completion_tokens, requests, cost_usd (None: unknown)
    usage: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the media the agents generated: ``{name, path, kind, mime, size, agent, tool,
    #: workspace_path}`` each (``artifact_saved`` said each as it came)
    artifacts: list[dict[str, Any]] = field(default_factory=list)


DELTA_TYPES = (TextDelta, ReasoningDelta, ToolArgumentsDelta, FinalAnswerDelta)


def _redact_fields(event: Event, redact: Callable[[str], str]) -> None:
    for name, value in vars(event).items():
        if isinstance(value, str):
            if value:
                setattr(event, name, redact(value))
        elif isinstance(value, dict | list):
            setattr(event, name, _redacted(value, redact))


def _redacted(value: Any, redact: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redacted(v, redact) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v, redact) for v in value]
    return value


# --------------------------------------------------------------------------- bus


class Subscription:
    """One subscriber's buffer. Iterate it with ``async for``; iteration ends when the bus
    closes and the buffer is drained."""

    def __init__(self, bus: EventBus, coalesce_after: int) -> None:
        self._bus = bus
        self._items: deque[Event] = deque()
        self._wakeup = asyncio.Event()
        self._closed = False
        self._coalesce_after = coalesce_after

    def _put(self, event: Event) -> None:
        items = self._items
        if (
            len(items) >= self._coalesce_after
            and isinstance(event, DELTA_TYPES)
            and items
            and type(items[-1]) is type(event)
            and items[-1].agent_id == event.agent_id
            and items[-1].turn == event.turn
            and getattr(items[-1], "call_id", None) == getattr(event, "call_id", None)
        ):
            last = items[-1]
            merged = type(event)(**{**vars(last), "text": last.text + event.text})
            items[-1] = merged
        else:
            items.append(event)
        self._wakeup.set()

    def _close(self) -> None:
        self._closed = True
        self._wakeup.set()

    def pending(self) -> int:
        return len(self._items)

    def get_nowait(self) -> Event | None:
        return self._items.popleft() if self._items else None

    def unsubscribe(self) -> None:
        self._bus._unsubscribe(self)
        self._close()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            while self._items:
                yield self._items.popleft()
            if self._closed:
                return
            self._wakeup.clear()
            if not self._items and not self._closed:
                await self._wakeup.wait()


class EventBus:
    """Fans events out to subscribers without ever blocking the publisher."""

    def __init__(self, run_id: str = "", *, coalesce_after: int = 64) -> None:
        self.run_id = run_id
        #: Applied to every string of every event before anyone sees it (the engine sets it
        #: from the environment's and the config's secrets), so no UI, log or HTTP client
        #: can receive a key, whatever path it took into the event.
        self.redact: Callable[[str], str] | None = None
        self._seq = 0
        self._subscriptions: list[Subscription] = []
        self._callbacks: list[Callable[[Event], None]] = []
        self._coalesce_after = coalesce_after
        self.closed = False

    def subscribe(self) -> Subscription:
        """A buffered async subscription receiving every event published from now on."""
        sub = Subscription(self, self._coalesce_after)
        if self.closed:
            sub._close()
        self._subscriptions.append(sub)
        return sub

    def add_listener(self, callback: Callable[[Event], None]) -> None:
        """Call ``callback`` synchronously for every event: quick work only (else subscribe)."""
        self._callbacks.append(callback)

    def _unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subscriptions:
            self._subscriptions.remove(sub)

    def publish(self, event: Event, *, keep_time: bool = False) -> Event:
        """Stamp and hand out ``event``; ``keep_time``: a relayed event keeps its ``ts``."""
        self._seq += 1
        event.seq = self._seq
        if not (keep_time and event.ts):
            event.ts = time.time()
        if not event.run_id:
            event.run_id = self.run_id
        if self.redact is not None:
            _redact_fields(event, self.redact)
        for callback in self._callbacks:
            try:
                callback(event)
            except Exception as exc:  # a broken listener must not stop the run
                log = logging.getLogger("massgen")
                log.error(
                    "event listener %r failed: %s: %s",
                    callback,
                    type(exc).__name__,
                    exc,
                    exc_info=log.isEnabledFor(logging.DEBUG),
                )
        for sub in self._subscriptions:
            sub._put(event)
        return event

    def close(self) -> None:
        """End every subscription once it has drained its buffer."""
        self.closed = True
        for sub in self._subscriptions:
            sub._close()
