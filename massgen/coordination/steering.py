"""What a running strategy does with the user's requests (``controls.RunControls``): notes
the agents read at their next turn, and "answer now". A part of
:class:`massgen.coordination.strategy.Strategy` (docs/architecture.md, "Strategies")."""

from __future__ import annotations

import asyncio

from massgen.coordination.controls import ControlReply
from massgen.events import AnswerNow, Event, UserNote

#: Why the turns in flight stop when the user asks for the answer now.
ANSWER_NOW = "the user asked for the answer now"


class Steering:
    """Notes and "answer now" (the strategy sets the fields and supplies the methods)."""

    run_id: str
    notes: list[str]  # every turn started after a note reads it (``prompts.with_notes``)
    coordinating: bool  # between run_started and the end of ``coordinate``
    answered_now: bool
    work: asyncio.Task[None] | None  # ``coordinate``, while it runs

    def emit(self, event: Event) -> None:
        raise NotImplementedError

    async def coordinate(self) -> None:
        raise NotImplementedError

    def leader_now(self) -> tuple[str, str] | None:
        """The leader's label and what happens next, or None without an answer."""
        raise NotImplementedError

    async def coordinate_until_answer_now(self) -> None:
        """:meth:`coordinate`, in a task of its own that :meth:`answer_now` can stop."""
        self.work = work = asyncio.create_task(self.coordinate(), name=f"massgen:{self.run_id}")
        try:
            await asyncio.wait({work})
        finally:
            if not work.done():  # the run itself is cancelled or timed out
                work.cancel()
                await asyncio.wait({work})
        if not work.cancelled():
            work.result()  # what coordinate raised, if anything

    def steer(self, text: str) -> ControlReply:
        """A note from the user: every turn started from now on reads it at the end of its
        prompt, marked as the user's (each agent's next turn, and the final answer's); a turn
        in flight does not. Refused once the coordination is over."""
        if not self.coordinating:
            return ControlReply(False, "the final answer is already being written")
        self.notes.append(text)
        self.emit(UserNote(text=text))
        return ControlReply(True, "note sent: each agent reads it at its next turn")

    def answer_now(self) -> ControlReply:
        """End the coordination now: the turns in flight are cancelled and the answer the
        strategy's ``select_winner`` gives at this point is final, written at once by its
        ``finisher``. Vote: the answer with the most votes so far, a tie to the earliest
        answer, no votes to the latest answer; debate: the largest agreeing group's answer
        (a tie to the earliest), or the judge's synthesis; judge: the aggregator's synthesis
        of the answers so far. With no answer yet nothing changes and the run goes on.
        Either way an ``answer_now`` event records it."""
        if not self.coordinating or self.answered_now:
            return ControlReply(False, "the coordination is already over")
        leader = self.leader_now()
        if leader is None:
            message = "no answer yet: the run goes on"
            self.emit(AnswerNow(accepted=False, message=message))
            return ControlReply(False, message)
        label, message = leader
        self.answered_now = True
        if self.work is not None:
            self.work.cancel()  # it applies no further outcome
        self.emit(AnswerNow(accepted=True, message=message, label=label))
        return ControlReply(True, message)
