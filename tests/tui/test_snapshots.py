"""SVG snapshots of the terminal app (pytest-textual-snapshot) on scripted agents.

Regenerate after an intended visual change with::

    pytest tests/tui/test_snapshots.py --snapshot-update

then look at the pictures (``tests/tui/__snapshots__/test_snapshots/``; to PNG with
``rsvg-convert``) before committing them.

Determinism:

* **Where the run is.** Every agent's review turn streams its text and then *holds* before
  its vote until the test opens a gate (:class:`HeldBackend`); the eight-agent team also has
  an agent whose provider tool call holds, and one whose retried call holds. "Mid-run" is a
  state the run reaches and stays in, taken once the app has drained the bus and drawn it.
* **Time.** The app stamps live events with the ``clock`` it is given: here a
  :class:`FrozenClock` that moves only when the test says, so elapsed times and spinners are
  the same on any machine. Textual, the engine and the bus keep the real clock.
* The input's cursor would blink: it is turned off.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence

import pytest
from textual.pilot import Pilot

from massgen.backends.errors import AuthenticationError, RateLimitError
from massgen.config.schema import OrchestratorConfig
from massgen.coordination.state import AgentSpec
from massgen.messages import (
    Chunk,
    DoneChunk,
    Message,
    ProviderToolChunk,
    TextChunk,
    ToolCall,
    ToolCallChunk,
    ToolSpec,
    UsageChunk,
)
from massgen.tui.app import MassGenApp
from tests.support.scripted import Call, ScriptedBackend, Step, answer, say, vote
from tests.tui.support import until

QUESTION = "What is the capital of France, and why is it the capital?"
T0 = 1000.0  # the frozen clock when the run starts
MID_ELAPSED = 4.2
FINAL_ELAPSED = 9.7
# every voter reads every answer, as the scripted votes (for agent1) expect, also in the
# team of eight (above peer_view_above, which would read a shortlist)
CONFIG = OrchestratorConfig(restart_debounce_seconds=0, peer_view="all")
SIZES = {"80x24": (80, 24), "120x40": (120, 40), "200x50": (200, 50), "300x60": (300, 60)}


class FrozenClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class HeldBackend(ScriptedBackend):
    """Calls numbered in ``hold`` (0-based) stream their text, then wait for ``gate`` before
    their tool calls: a turn caught mid-way, for as long as the test needs."""

    def __init__(self, name: str, script: Sequence[Step], gate: asyncio.Event, hold: set[int]):
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


class ToolBackend(ScriptedBackend):
    """The first call runs a provider tool (web search) and holds there until ``gate``."""

    def __init__(self, name: str, gate: asyncio.Event) -> None:
        super().__init__(name)
        self.gate = gate
        self.holding = False

    async def stream(self, messages, tools=None):
        if self.calls:
            async for chunk in super().stream(messages, tools):
                yield chunk
            return
        self.calls.append(Call(list(messages), [t.name for t in tools or ()], []))
        yield TextChunk("Let me check a source first.")
        yield ProviderToolChunk("ws1", "web_search", "started", "capital of France history")
        self.holding = True
        await self.gate.wait()
        self.holding = False
        yield ProviderToolChunk("ws1", "web_search", "finished", "3 results")
        args = json.dumps({"content": "Paris (checked: capital since 987)."})
        yield ToolCallChunk(ToolCall("c1", "new_answer", args))
        yield UsageChunk(40, 12)
        yield DoneChunk("tool_calls")


class RetryBackend(HeldBackend):
    """The first call is rate limited; the retried call holds at the gate."""

    async def stream(self, messages, tools=None):
        if not self.calls:
            self.calls.append(Call(list(messages), [t.name for t in tools or ()], []))
            raise RateLimitError(
                "429 Too Many Requests: slow down", provider="fake", retry_after=0.05
            )
        if len(self.calls) == 1:
            self.holding = True
            await self.gate.wait()
            self.holding = False
        async for chunk in ScriptedBackend.stream(self, messages, tools):
            yield chunk


SCRIPTS: list[list[Step]] = [
    [
        answer(
            "Paris. It has been the capital since the 10th century, as the seat of the "
            "Capetian kings.",
            text="France's capital is **Paris**. It became the seat of the Capetian kings "
            "and has stayed the centre of government ever since.",
            delay=0.01,
        ),
        vote(
            "agent1",
            "names the city and the historical reason",
            text="Reading the answers. agent1 gives the historical reason, agent2 stresses "
            "size and economy, agent3 is correct but very short.",
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
            delay=0.02,
        ),
        vote("agent1", "answers the why", text="All say Paris; agent1 explains *why*."),
    ],
    [
        answer("Paris.", text="Paris.", delay=0.03),
        vote("agent2", "more context than mine", text="Mine is right but thin."),
    ],
]


def three(gate: asyncio.Event) -> list[AgentSpec]:
    return [
        AgentSpec(id=f"a{i}", backend=HeldBackend(f"a{i}", script, gate, {1}))
        for i, script in enumerate(SCRIPTS, 1)
    ]


def eight(gate: asyncio.Event) -> list[AgentSpec]:
    """Three as above, one that fails, one retrying, one in a tool call, two more."""
    agents = three(gate)
    failing = ScriptedBackend(
        "a4", [Step(error=AuthenticationError("401 invalid API key", provider="fake"))]
    )
    agents.append(AgentSpec(id="a4", backend=failing))
    retrying = RetryBackend(
        "a5", [answer("Paris, on the Seine.", delay=0.05), vote("agent1")], gate, set()
    )
    retrying.config.max_retries = 2
    agents.append(AgentSpec(id="a5", backend=retrying))
    agents.append(AgentSpec(id="a6", backend=ToolBackend("a6", gate)))
    for i in (7, 8):
        script = [
            answer(f"Paris (agent {i}).", text=f"Agent {i} thinks: Paris.", delay=0.01 * i),
            vote("agent1", "the fullest", text=f"Agent {i} compares the answers."),
        ]
        agents.append(AgentSpec(id=f"a{i}", backend=HeldBackend(f"a{i}", script, gate, {1})))
    return agents


def reached(app: MassGenApp) -> bool:
    """Mid-run. Three agents: every review turn holds before its vote. Eight: agent4 has
    failed, agent5's retried call and agent6's tool call hold, the other five have answered
    (and wait for them before reviewing)."""
    backends = [agent.backend for agent in app.agents]
    if len(backends) == 3:
        return all(b.holding for b in backends)  # type: ignore[attr-defined]
    view = app.view
    failed = view.agents.get("a4") is not None and view.agents["a4"].status == "failed"
    return failed and len(view.answers) == 5 and backends[4].holding and backends[5].holding  # type: ignore[attr-defined]


async def settle(pilot: Pilot) -> None:
    """Every published event applied and every shown card drawn, twice over."""
    app = pilot.app
    assert isinstance(app, MassGenApp)
    await until(pilot, lambda: app.subscription is None or app.subscription.pending() == 0)
    for _ in range(3):
        app.pending_cards |= set(app.view.agents)
        app.view.dirty |= {"panel", "final", "tabs"}
        await pilot.pause(3 / MassGenApp.REPAINT_HZ)
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


async def mid_run(pilot: Pilot, clock: FrozenClock) -> None:
    app = pilot.app
    assert isinstance(app, MassGenApp)
    await until(pilot, lambda: reached(app))
    await settle(pilot)  # every event so far applied at T0, before the clock moves
    clock.now = T0 + MID_ELAPSED
    app.ask.cursor_blink = False
    await settle(pilot)


async def end(pilot: Pilot, clock: FrozenClock, gate: asyncio.Event) -> None:
    app = pilot.app
    assert isinstance(app, MassGenApp)
    await mid_run(pilot, clock)
    clock.now = T0 + FINAL_ELAPSED
    gate.set()
    await until(pilot, lambda: not app.running and bool(app.results))
    await until(pilot, lambda: app.view.finished is not None)
    # A finished run shows the engine's own measure of its time, taken on the real clock:
    # pinned here to what the frozen clock says.
    app.view.duration_s = FINAL_ELAPSED
    app.view.dirty |= {"layout", "header", "panel", "final"}
    await settle(pilot)
    assert app.results[-1].ok


def make(team_of: str) -> tuple[MassGenApp, asyncio.Event, FrozenClock]:
    gate, clock = asyncio.Event(), FrozenClock(T0)
    agents = three(gate) if team_of == "3" else eight(gate)
    return MassGenApp(agents, CONFIG, question=QUESTION, clock=clock), gate, clock


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("team_of", ["3", "8"])
def test_mid_run(snap_compare, size: str, team_of: str) -> None:
    """The first answers are in and the review turns hold before voting. With eight agents:
    agent4 failed (401), agent5 is retrying after a 429, agent6 is in a web search."""
    app, _, clock = make(team_of)

    async def run_before(pilot: Pilot) -> None:
        await mid_run(pilot, clock)

    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("team_of", ["3", "8"])
def test_finished(snap_compare, size: str, team_of: str) -> None:
    """The run completed: votes and tally, the final answer with its winner, the input
    ready for a follow-up."""
    app, gate, clock = make(team_of)

    async def run_before(pilot: Pilot) -> None:
        await end(pilot, clock, gate)

    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)


def test_help_screen(snap_compare) -> None:
    app = MassGenApp([], CONFIG, clock=FrozenClock(T0))

    async def run_before(pilot: Pilot) -> None:
        app.ask.cursor_blink = False
        await pilot.press("f1")
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)


def test_light_theme_finished(snap_compare) -> None:
    """Borders and badges stay visible on a light theme."""
    app, gate, clock = make("3")
    app.settings.theme = "textual-light"

    async def run_before(pilot: Pilot) -> None:
        await end(pilot, clock, gate)

    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)


@pytest.mark.parametrize("size", ["80x24", "120x40"])
def test_follow_up_mid_run(snap_compare, size: str) -> None:
    """A follow-up: the earlier question and its answer are one collapsed row above the
    run's cards."""
    gate, clock = asyncio.Event(), FrozenClock(T0)
    earlier = [("What is the largest city of France?", "Paris.\n\nBy far: over two million.")]
    app = MassGenApp(three(gate), CONFIG, question=QUESTION, history=earlier, clock=clock)

    async def run_before(pilot: Pilot) -> None:
        await mid_run(pilot, clock)

    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)


def test_media_in_the_card_and_the_final_pane(snap_compare, tmp_path, monkeypatch) -> None:
    """A replayed run in which the artist drew a fox and recorded a howl: the picture under
    its answer in the card (half blocks, forced: the same on every terminal), both media on
    the final answer's shelf."""
    from tests.tui.media_session import media_session

    monkeypatch.setenv("MASSGEN_IMAGES", "halfblock")
    app = MassGenApp(replay=media_session(tmp_path / "artifacts"), replay_speed=50)

    async def run_before(pilot: Pilot) -> None:
        await until(pilot, lambda: not app.running)
        await pilot.pause(0.5)

    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)
