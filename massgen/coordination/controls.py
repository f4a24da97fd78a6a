"""The user's hand on a running coordination: notes for the agents (steering) and "answer
now" (docs/architecture.md, "Strategies").

The run handle (:class:`massgen.runs.ActiveRun`) makes a :class:`RunControls` before the
engine starts and passes it to the run; the strategy attaches itself once its run has started
(``run_started`` is out), and every request goes to it from then on. A note sent before that
is kept and given to the strategy as it attaches. Everything runs on the run's event loop, so
a request sees the strategy's state as it is between two outcomes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from massgen.terminal import clean_text


@dataclass(frozen=True)
class ControlReply:
    """What became of a request: ``accepted``, and a line for the user."""

    accepted: bool
    message: str


class Steerable(Protocol):
    """What a running strategy does with the user's requests."""

    def steer(self, text: str) -> ControlReply: ...

    def answer_now(self) -> ControlReply: ...


class RunControls:
    """One run's requests from the user, handed to its strategy."""

    def __init__(self) -> None:
        self.target: Steerable | None = None
        self.held: list[str] = []  # notes sent before the strategy attached
        self.over = False

    def steer(self, text: str) -> ControlReply:
        """A note for every agent's next turn."""
        text = clean_text(text).strip()
        if not text:
            return ControlReply(False, "it is empty")
        if self.over:
            return ControlReply(False, "the run is over")
        if self.target is None:
            self.held.append(text)
            return ControlReply(True, "note kept: every agent reads it at its first turn")
        return self.target.steer(text)

    def answer_now(self) -> ControlReply:
        """End the coordination now; the leader presents."""
        if self.over:
            return ControlReply(False, "the run is over")
        if self.target is None:
            return ControlReply(False, "no answer yet: the run goes on")
        return self.target.answer_now()

    def attach(self, target: Steerable) -> None:
        self.target = target
        held, self.held = self.held, []
        for text in held:
            target.steer(text)

    def detach(self) -> None:
        self.target = None
        self.over = True
