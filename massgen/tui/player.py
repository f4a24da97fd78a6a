"""Replaying a recorded session in the app: pause, step between parts, seek.

The player applies the recorded events to one :class:`RunView` per part on the recording's
own clock (``position``: the recorded time reached), so every time the app shows is the
recorded one (a part recorded in 28 s says 28 s, whatever the speed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from massgen.events import Event
from massgen.sessions.replay import MAX_GAP_SECONDS, to_event
from massgen.tui.state import RunView

#: Real seconds a finished part stays on screen before the next one starts.
PART_PAUSE_S = 1.0


def _events(part: Sequence[dict[str, Any]]) -> list[Event]:
    out: list[Event] = []
    previous = 0.0
    for data in part:
        event = to_event(data)
        if event is None:
            continue
        if not isinstance(event.ts, int | float) or event.ts <= 0:
            event.ts = previous  # a damaged timestamp: keep the order, add no time
        event.ts = max(event.ts, previous)
        previous = event.ts
        out.append(event)
    return out


def _stopped_clock(ts: float) -> Callable[[], float]:
    """A clock that always reads ``ts``."""
    return lambda: ts


class ReplayPlayer:
    """Plays ``parts`` (each a list of recorded event dicts) at ``speed`` (0: at once)."""

    def __init__(self, parts: Sequence[Sequence[dict[str, Any]]], speed: float = 1.0) -> None:
        self.parts = [events for events in (_events(p) for p in parts) if events]
        self.speed = speed
        self.paused = False
        self.finished = not self.parts
        self.part = 0
        self.index = 0  # the next event of the part to apply
        self.position = self.parts[0][0].ts if self.parts else 0.0
        self.view = self._new_view()
        self._last: float | None = None  # real time of the last advance
        self._hold_until: float | None = None  # real time: end of the pause between parts

    # ------------------------------------------------------------------ state

    def _new_view(self) -> RunView:
        return RunView(clock=lambda: self.position, recorded=True)

    @property
    def events(self) -> list[Event]:
        return self.parts[self.part] if self.parts else []

    @property
    def start(self) -> float:
        return self.events[0].ts if self.events else 0.0

    @property
    def end(self) -> float:
        return self.events[-1].ts if self.events else 0.0

    def summaries(self) -> list[RunView]:
        """Every part as it ends (for the history): played in full, off screen."""
        out = []
        for events in self.parts:
            view = RunView(clock=_stopped_clock(events[-1].ts), recorded=True)
            for event in events:
                view.apply(event)
            view.recording_ended()
            view.dirty.clear()
            out.append(view)
        return out

    # ------------------------------------------------------------------ playing

    def advance(self, now: float) -> bool:
        """Play up to real time ``now``; whether the view changed or a new part began."""
        if self.finished or not self.parts:
            self._last = now
            return False
        last, self._last = self._last, now
        if self._hold_until is not None:
            if now < self._hold_until:
                return False
            self._hold_until = None
            self._goto(self.part + 1)
            return True
        if self.paused:
            return False
        if self.speed <= 0:
            self.position = self.end
        elif last is not None:
            self.position += (now - last) * self.speed
        events, applied = self.events, False
        if self.index < len(events) and events[self.index].ts - self.position > MAX_GAP_SECONDS:
            self.position = events[self.index].ts  # a long silence in the recording: skip it
        while self.index < len(events) and events[self.index].ts <= self.position:
            self.view.apply(events[self.index])
            self.index += 1
            applied = True
        if self.index >= len(events):
            self.position = self.end
            self.view.recording_ended()
            if self.part + 1 < len(self.parts):
                self._hold_until = now + (PART_PAUSE_S if self.speed > 0 else 0)
            else:
                self.finished = True
        return applied

    def _goto(self, part: int, position: float | None = None) -> None:
        self.part = max(0, min(part, len(self.parts) - 1))
        self.view = self._new_view()
        self.index = 0
        self.position = self.start if position is None else position
        self.finished = False
        self._hold_until = None
        events = self.events
        while self.index < len(events) and events[self.index].ts <= self.position:
            self.view.apply(events[self.index])
            self.index += 1
        if self.index >= len(events) and self.part + 1 >= len(self.parts):
            self.finished = True

    def toggle_pause(self) -> None:
        self.paused = not self.paused

    def step_part(self, step: int) -> None:
        """The previous (-1) or next (1) part, from its start (or the current one's start)."""
        if self.parts:
            self._goto(self.part + step)

    def goto_part(self, part: int) -> None:
        if self.parts:
            self._goto(part)

    def seek(self, seconds: float) -> None:
        """Move ``seconds`` of recorded time back or forward within the part."""
        if self.parts:
            target = min(max(self.start, self.position + seconds), self.end)
            self._goto(self.part, target)
