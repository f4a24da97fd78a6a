"""Helpers for the app's Pilot tests: waiting for a state, reading what a widget shows."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from textual.pilot import Pilot
from textual.widgets import Static

from massgen.config.schema import OrchestratorConfig
from massgen.coordination.state import AgentSpec
from massgen.tui.app import MassGenApp
from massgen.tui.cards import AgentCard
from tests.support.scripted import ScriptedBackend, answer, say, team, vote

CONFIG = OrchestratorConfig(restart_debounce_seconds=0)


async def until(pilot: Pilot, condition: Callable[[], bool], limit: float = 15.0) -> None:
    """Wait for ``condition`` (generous: a loaded machine is slow, never wrong)."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the app did not reach the expected state in time")
        await pilot.pause(0.02)


async def finished(pilot: Pilot, runs: int = 1) -> None:
    """Wait until ``runs`` runs are over and their last frame is drawn."""
    app = pilot.app
    assert isinstance(app, MassGenApp)
    await until(pilot, lambda: len(app.results) >= runs and not app.running)
    await settled(pilot)


async def settled(pilot: Pilot) -> None:
    """Every published event applied and drawn."""
    app = pilot.app
    assert isinstance(app, MassGenApp)
    await until(pilot, lambda: app.subscription is None or app.subscription.pending() == 0)
    await until(pilot, lambda: not app.pending_cards & {c.agent_id for c in cards(app) if shown(c)})
    await pilot.pause(4 / MassGenApp.REPAINT_HZ)
    await pilot.pause()


def text(widget: Static) -> str:
    return str(widget.content)


def cards(app: MassGenApp) -> list[AgentCard]:
    return list(app.query(AgentCard))


def badge(card: AgentCard) -> str:
    """The status word on a card's badge."""
    words = card.status_text.split()
    return words[1] if len(words) > 1 else ""


def card_text(card: AgentCard) -> str:
    """What a card's transcript shows, as text."""
    return "\n".join(card.transcript.plain_lines)


def shown(card: AgentCard) -> bool:
    return card.display and card.region.width > 0 and card.region.height > 0


class GatedBackend(ScriptedBackend):
    """A scripted backend whose first call waits for ``gate`` before it answers: a run that
    stays in progress for as long as the test needs."""

    def __init__(self, name: str, script, gate: asyncio.Event) -> None:
        super().__init__(name, script)
        self.gate = gate

    async def stream(self, messages, tools=None):
        if not self.calls:
            await self.gate.wait()
        async for chunk in super().stream(messages, tools):
            yield chunk


def gated_team(gate: asyncio.Event, *scripts) -> list[AgentSpec]:
    """Like ``team``, with every agent's first call held at ``gate``."""
    return [
        AgentSpec(id=f"a{i}", backend=GatedBackend(f"a{i}", script, gate))
        for i, script in enumerate(scripts, 1)
    ]


def slow_team():
    """Three agents whose states each last long enough to be drawn."""
    return team(
        [
            answer("Paris is the capital.", delay=0.2),
            vote("agent1", "clearest", delay=0.3),
            say("**Paris** is the capital of France."),
        ],
        [answer("It is Paris.", delay=0.5), vote("agent1", "most direct", delay=0.3)],
        [answer("Paris, France.", delay=1.5), vote("agent2", "short", delay=0.3)],
    )


def quick_team(final: str = "Done."):
    """Three agents that answer, vote for agent1, and agent1 presents ``final``; again for
    every follow-up."""
    return team(
        [answer("a"), vote("agent1"), say(final)] * 3,
        [answer("b"), vote("agent1")] * 3,
        [answer("c"), vote("agent1")] * 3,
    )
