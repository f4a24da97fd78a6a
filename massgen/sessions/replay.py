"""Replaying a session: its recorded events published again on a bus, at the recorded pace
(or faster), so the same UIs that drew the live run draw the replay."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from massgen.events import EVENT_TYPES, Event, EventBus

#: With ``speed=0`` events go out at once; yield to the loop every this many events.
BATCH = 200
#: The longest wait between two events (a damaged timestamp must not stall a replay).
MAX_GAP_SECONDS = 60.0
#: What a recording from before ``run_started`` carried the strategy's vocabulary
#: (``step_noun``, ``has_votes``, ``steps``) meant, by strategy; vote's is the default.
EARLIER_VOCABULARY: dict[str, dict[str, Any]] = {
    "debate": {"step_noun": "round", "has_votes": False},
    "judge": {"step_noun": "layer", "has_votes": False},
}


def split_parts(events: Iterable[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The events of each part, in order (a part starts at its ``run_started``)."""
    parts: dict[int, list[dict[str, Any]]] = {}
    for event in events:
        number = event.get("part") or 1
        if event.get("type") in EVENT_TYPES and isinstance(number, int):
            parts.setdefault(number, []).append(event)
    return [parts[n] for n in sorted(parts)]


def to_event(data: dict[str, Any]) -> Event | None:
    """The recorded event, or None when its fields do not fit its type (a damaged log)."""
    if data.get("type") == "run_started" and "step_noun" not in data:
        data = {**EARLIER_VOCABULARY.get(str(data.get("strategy")), {}), **data}
    try:
        event = Event.from_dict(data)
    except (TypeError, ValueError, KeyError):
        return None
    event.run_id = str(data.get("run_id") or "")
    return event


async def play(events: list[dict[str, Any]], bus: EventBus, speed: float = 1.0) -> None:
    """Publish ``events`` on ``bus``, spaced as recorded divided by ``speed`` (0: no waits),
    then close the bus."""
    try:
        previous: float | None = None
        for index, data in enumerate(events, 1):
            ts = data.get("ts")
            if speed > 0 and previous is not None and isinstance(ts, int | float):
                delay = min(MAX_GAP_SECONDS, (ts - previous) / speed)
                if delay > 0:
                    await asyncio.sleep(delay)
            elif index % BATCH == 0:
                await asyncio.sleep(0)
            if isinstance(ts, int | float):
                previous = ts
            event = to_event(data)
            if event is not None:
                bus.publish(event)
    finally:
        bus.close()
