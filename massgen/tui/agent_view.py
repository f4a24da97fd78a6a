"""One agent, one answer and one vote as the app's view model holds them
(:class:`massgen.tui.state.RunView` folds the events into these; the cards draw them)."""

from __future__ import annotations

from dataclasses import dataclass, field

from massgen.tui.artifacts import ArtifactView, media_marker

#: Characters of streamed arguments counted as one token until the call's usage arrives.
CHARS_PER_TOKEN = 4
#: Statuses in which an agent is working (its elapsed time runs).
ACTIVE = frozenset({"thinking", "retrying", "restarting"})


@dataclass
class Retry:
    attempt: int
    delay: float
    reason: str
    since: float = 0.0  # when the retry was announced (the wait starts then)

    def left(self, now: float) -> float:
        """Seconds until the next attempt: the delay counted down from ``since``."""
        return max(0.0, self.delay - (now - self.since))


@dataclass
class AgentView:
    id: str
    label: str
    model: str
    backend: str = ""
    status: str = "waiting"
    turn_kind: str = ""
    turn: int = 0
    done: str = ""  # the transcript of earlier turns (Markdown)
    text: str = ""  # the current turn: streamed text, then its answer or vote
    #: workflow calls being written: call id -> (tool name, arguments so far)
    writing: dict[str, tuple[str, str]] = field(default_factory=dict)
    live: str = ""  # what ``writing`` shows (after ``text``) until the call completes
    streamed_chars: int = 0  # arguments streamed since the last usage (a token estimate)
    head: str = ""  # the current turn's title (what a retry keeps)
    answers: list[str] = field(default_factory=list)  # versioned labels
    vote: str | None = None  # target agent label
    vote_answer: str = ""
    vote_reason: str = ""
    error: str | None = None
    retry: Retry | None = None
    tools: dict[str, str] = field(default_factory=dict)  # call id -> tool name, running
    activity: str = ""  # "writing answer", "calling read_file", ...
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    cost_known: bool = True
    active_s: float = 0.0  # seconds spent working, before ``active_since``
    active_since: float | None = None
    restarts: int = 0
    last_output: float = 0.0  # when text last arrived (the card's spinner rests meanwhile)
    won: bool = False  # the run is over and this agent's answer is final
    won_as: str = "winner"  # or "aggregator": it wrote the final answer from the others'
    #: media made in the current turn, shown under its answer (or at the turn's end)
    made: list[ArtifactView] = field(default_factory=list)
    media: dict[str, ArtifactView] = field(default_factory=dict)  # all it made, by name

    @property
    def transcript(self) -> str:
        return self.done + self.text + self.live

    @property
    def shown_status(self) -> str:
        """The badge: ``retrying`` while a model call waits to be retried; ``winner`` once the
        run is over and its answer is final."""
        if self.won:
            return self.won_as
        return "retrying" if self.retry is not None and self.status in ACTIVE else self.status

    @property
    def tokens(self) -> int:
        """Used so far; while a call streams its arguments, an estimate of their tokens."""
        return self.prompt_tokens + self.completion_tokens + self.streamed_chars // CHARS_PER_TOKEN

    def elapsed(self, now: float) -> float:
        return self.active_s + (now - self.active_since if self.active_since is not None else 0)

    def add(self, markdown: str) -> None:
        self.text += markdown

    def show_made(self) -> None:
        """The media made since the last answer, under it: one marker line each, that the
        card draws as the medium (an image's thumbnail; its name, kind and size)."""
        for artifact in self.made:
            self.text += f"\n\n{media_marker(artifact.name)}\n"
        self.made = []

    def stop_writing(self) -> None:
        """The calls being written are complete (or void): their live view goes."""
        self.writing.clear()
        self.live = ""


@dataclass
class AnswerView:
    label: str
    agent_id: str
    agent_label: str
    content: str


@dataclass
class VoteView:
    voter_id: str
    voter_label: str
    target: str  # agent label
    target_answer: str  # versioned label
    reason: str
