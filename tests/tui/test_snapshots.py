"""SVG snapshots of the terminal app (pytest-textual-snapshot) on scripted agents.

Regenerate after an intended visual change with::

    pytest tests/tui/test_snapshots.py --snapshot-update

then look at the SVGs in ``tests/tui/__snapshots__/test_snapshots/`` before committing them.

Determinism. Two things would otherwise move between runs:

* **Where the run is when the picture is taken.** The agents are scripted, and every review
  turn streams its text and then *holds* before its vote until the test opens a gate
  (:class:`HeldBackend`). So "mid-run" is a state the run reaches and stays in, not a moment
  in time: all three first answers are in, the three review turns have streamed their text
  and wait. The snapshot is taken only once the app has drained the bus and drawn it.
* **The elapsed seconds in the header.** ``RunView`` reads ``time.monotonic()`` through the
  ``time`` name of ``massgen.tui.state`` (run start, run end, and ``elapsed`` while running).
  We replace that name with a :class:`FrozenClock` that only moves when the test says so.
  This pins the header at a chosen value however slow the machine is, and touches nothing
  else: Textual, the engine and the event bus keep the real clock (timers, delays, event
  timestamps). Setting ``app.view.started`` instead would race with the tick that applies
  ``run_started``, and the running header would still move with the real clock.

* **Where a column is scrolled to.** Whether an overflowing column ends at its bottom
  currently depends on how its text was split across ticks (``follow_bottom`` scrolls after
  a refresh that can precede the Markdown's layout). The terminal sizes are chosen so that no
  transcript overflows its column, and :func:`fits` checks it, so the pictures do not depend
  on scrolling at all.

The cursor of the input would blink (0.5 s timer) in the finished state, so it is turned off.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest
from textual.containers import VerticalScroll
from textual.pilot import Pilot
from textual.widgets import Input

import massgen.tui.state
from massgen.backends.base import Chunk, Message, TextChunk, ToolSpec
from massgen.config.schema import OrchestratorConfig
from massgen.coordination.state import AgentSpec
from massgen.tui.app import MassGenApp
from massgen.tui.widgets import AgentColumn
from tests.support.scripted import ScriptedBackend, Step, answer, say, vote

QUESTION = "What is the capital of France, and why is it the capital?"
# Tall enough that no agent's transcript overflows its column (checked by ``fits``).
WIDE = (160, 50)  # three columns of ~38 cells next to the 40-cell coordination panel
NARROW = (80, 40)  # 40 cells left for three agents: tabs instead of columns
T0 = 1000.0  # the frozen clock's reading when the run starts
MID_ELAPSED = 4.2  # what the header shows mid-run
FINAL_ELAPSED = 9.7  # ... and once the run is over
CONFIG = OrchestratorConfig(restart_debounce_seconds=0)


class FrozenClock:
    """Stands in for the ``time`` module inside ``massgen.tui.state``: ``monotonic()`` returns
    :attr:`now`; everything else is the real module."""

    def __init__(self, now: float) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


class HeldBackend(ScriptedBackend):
    """A scripted backend whose calls number ``hold`` (0-based) stream their text, then wait
    for ``gate`` before their tool calls: a review turn caught mid-way, for as long as the test
    needs."""

    def __init__(
        self, name: str, script: Sequence[Step], gate: asyncio.Event, hold: set[int]
    ) -> None:
        super().__init__(name, script)
        self.gate, self.hold = gate, hold
        self.holding = False

    async def stream(
        self, messages: list[Message], tools: list[ToolSpec] | None = None
    ) -> AsyncIterator[Chunk]:
        held = len(self.calls) in self.hold
        async for chunk in super().stream(messages, tools):
            if held and not isinstance(chunk, TextChunk):
                self.holding = True
                await self.gate.wait()
                self.holding = held = False
            yield chunk


SCRIPTS: list[list[Step]] = [
    [
        answer(
            "Paris. It has been the capital since the 10th century, as the seat of the "
            "Capetian kings.",
            text="France's capital is **Paris**. It became the seat of the Capetian kings "
            "and has stayed the centre of government ever since.",
        ),
        vote(
            "agent1",
            "names the city and the historical reason",
            text="Reading the three answers. agent1 gives the historical reason, agent2 "
            "stresses size and economy, agent3 is correct but very short. Weighing which "
            "one answers both halves of the question",
        ),
        say(
            "**Paris** is the capital of France.\n\n"
            "- It has been the seat of power since the Capetian kings (10th century).\n"
            "- It is also the largest city and the economic centre.\n"
        ),
    ],
    [
        answer(
            "Paris, the largest city and the economic and cultural centre of France.",
            text="The capital is Paris: the largest city, home to the government and the "
            "economic centre of the country.",
        ),
        vote(
            "agent1",
            "answers the why",
            text="All three say Paris. The question also asks *why*; agent1 explains the "
            "history, mine only the size. Comparing",
        ),
    ],
    [
        answer("Paris.", text="Paris."),
        vote(
            "agent2",
            "more context than mine",
            text="My answer is right but thin. agent2 adds context; agent1 adds history",
        ),
    ],
]


def held_team(gate: asyncio.Event) -> list[AgentSpec]:
    """Agents a1..a3 (labels agent1..agent3); the review turns (call 1) hold at the gate."""
    return [
        AgentSpec(id=f"a{i}", backend=HeldBackend(f"a{i}", script, gate, {1}))
        for i, script in enumerate(SCRIPTS, 1)
    ]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    frozen = FrozenClock(T0)
    monkeypatch.setattr(massgen.tui.state, "time", frozen)
    return frozen


async def until(pilot: Pilot, condition: Callable[[], bool], limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the app did not reach the expected state in time")
        await pilot.pause(0.02)


async def settle(pilot: Pilot) -> None:
    """Wait until every published event has been applied and drawn: the bus is drained and
    two more ticks have run (a tick draws what it drained, the next one finds nothing new)."""
    app = pilot.app
    assert isinstance(app, MassGenApp)
    await until(pilot, lambda: app.subscription is None or app.subscription.pending() == 0)
    ticks = app.stats["repaints"]
    if app.running:  # a running header repaints every tick
        await until(pilot, lambda: app.stats["repaints"] >= ticks + 2)
    else:
        await pilot.pause(3 / MassGenApp.REPAINT_HZ)
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


def fits(app: MassGenApp) -> bool:
    """No shown agent transcript is taller than its column."""
    turns = [column.query_one(".turn", VerticalScroll) for column in app.query(AgentColumn)]
    return all(turn.max_scroll_y == 0 for turn in turns if turn.display and turn.size.height)


async def reach_mid_run(pilot: Pilot, clock: FrozenClock) -> None:
    app = pilot.app
    assert isinstance(app, MassGenApp)
    backends = [agent.backend for agent in app.agents]
    await until(pilot, lambda: all(b.holding for b in backends))  # type: ignore[attr-defined]
    clock.now = T0 + MID_ELAPSED
    await settle(pilot)
    assert len(app.view.answers) == 3 and not app.view.votes
    assert all(a.turn_kind == "evaluate" for a in app.view.agents.values())
    assert fits(app)


def test_mid_run_three_columns(snap_compare, clock: FrozenClock) -> None:
    """All three first answers are in; the review turns have streamed their text and wait
    before voting. Three columns, the panel lists three answers and no votes yet."""
    gate = asyncio.Event()
    app = MassGenApp(held_team(gate), CONFIG, question=QUESTION)

    async def run_before(pilot: Pilot) -> None:
        await reach_mid_run(pilot, clock)

    assert snap_compare(app, terminal_size=WIDE, run_before=run_before)


def test_finished_run_final_answer(snap_compare, clock: FrozenClock) -> None:
    """The same run completed: votes and tally in the panel, the final answer pane names
    the winner (agent1, 2 of 3 votes), the input asks for a follow-up."""
    gate = asyncio.Event()
    app = MassGenApp(held_team(gate), CONFIG, question=QUESTION)

    async def run_before(pilot: Pilot) -> None:
        await reach_mid_run(pilot, clock)
        clock.now = T0 + FINAL_ELAPSED
        gate.set()
        await until(pilot, lambda: not app.running and bool(app.results))
        app.query_one("#ask", Input).cursor_blink = False
        await settle(pilot)
        assert app.results[-1].ok and app.view.winner_id == "a1"
        assert fits(app)

    assert snap_compare(app, terminal_size=WIDE, run_before=run_before)


def test_narrow_terminal_uses_tabs(snap_compare, clock: FrozenClock) -> None:
    """80 columns, three agents: one agent at a time under tabs (agent1 selected), mid-run."""
    gate = asyncio.Event()
    app = MassGenApp(held_team(gate), CONFIG, question=QUESTION)

    async def run_before(pilot: Pilot) -> None:
        await reach_mid_run(pilot, clock)
        assert app.query_one("#agents-area").has_class("-tabs")

    assert snap_compare(app, terminal_size=NARROW, run_before=run_before)
