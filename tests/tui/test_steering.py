"""The user's hand on a live run in the app: Enter during a run sends a note to the agents
(shown on every card, read at each agent's next turn, recorded and replayed), and Ctrl+F
has the leader present at once. (``/next`` queues a question: tests/tui/test_app.py.)"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from massgen.sessions import replay, store
from massgen.sessions.recorder import SessionRecorder
from massgen.tui.app import MassGenApp
from massgen.tui.chrome import KeyBar, RunHeader
from massgen.tui.final import FinalPane
from tests.support.scripted import answer, say, team, vote
from tests.tui.support import (
    CONFIG,
    card_text,
    cards,
    finished,
    gated_team,
    settled,
    text,
    until,
)
from tests.tui.test_replay import SOME_CONFIG

NOTE = "use metric units"


def turns_started(app: MassGenApp, agents: int) -> bool:
    """Every agent's first turn has begun (its prompt is built; its reply waits)."""
    view = app.view.agents.values()
    return app.running and len(view) == agents and all(a.turn >= 1 for a in view)


def messages(app: MassGenApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def test_enter_during_a_run_sends_a_note_every_agent_reads_at_its_next_turn(tmp_path: Path):
    gate = asyncio.Event()
    agents = gated_team(
        gate,
        [answer("a"), vote("agent1"), say("Done.")],
        [answer("b"), vote("agent1")],
    )
    recorder = SessionRecorder(SOME_CONFIG, "test", log_dir=tmp_path)
    app = MassGenApp(agents, CONFIG, question="How far is it?", recorder=recorder)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: turns_started(app, 2))
        assert "note to the agents" in app.ask.placeholder.lower()
        assert "/next QUESTION" in app.ask.placeholder
        await pilot.press(*NOTE, "enter")
        await until(pilot, lambda: app.view.notes == [NOTE])
        await settled(pilot)
        assert app.queued is None and app.ask.value == ""
        assert all(NOTE in card_text(card) for card in cards(app))  # on every card
        assert any(NOTE in line for line in app.view.log)
        assert any("Note sent" in m for m in messages(app))
        gate.set()
        await finished(pilot)
        assert [r.question for r in app.results] == ["How far is it?"]  # no second run
    recorder.close(0)
    for agent in agents:
        first, following, *_ = agent.backend.calls
        assert NOTE not in first.user_text  # built before the note
        assert NOTE in following.user_text and "NOTES FROM THE USER" in following.user_text

    (session,) = store.session_dirs(tmp_path)
    events, _ = store.read_events(session)
    played = MassGenApp(replay=replay.split_parts(events), replay_speed=50)
    async with played.run_test(size=(120, 40)) as pilot:  # a replay shows it as it was
        await until(pilot, lambda: not played.running)
        await settled(pilot)
        assert played.view.notes == [NOTE]
        assert all(NOTE in card_text(card) for card in cards(played))


async def test_ctrl_f_ends_the_coordination_and_the_leader_presents_at_once():
    agents = team(
        [answer("Paris."), vote("agent2", delay=60)],  # would hold the run for a minute
        [answer("It is Paris."), vote("agent2"), say("Presented by agent2.")],
    )
    app = MassGenApp(agents, CONFIG, question="Capital of France?")
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.running and bool(app.view.votes))
        await settled(pilot)
        assert "^F answer now" in text(app.query_one(KeyBar))
        asked = time.monotonic()
        await pilot.press("ctrl+f")  # from the input, where the focus is
        await finished(pilot)
        assert time.monotonic() - asked < 30
        [result] = app.results
        assert result.ok and result.answered_now and result.winner == "a2"
        assert app.query_one(FinalPane).text.plain_lines[0] == "Presented by agent2."
        assert agents[0].backend.calls[1].cancelled  # its turn in flight was stopped
        assert any(m.startswith("Answer now: agent2 presents") for m in messages(app))
        assert any(line.startswith("answer now:") for line in app.view.log)
        assert "ok · answered now, as you asked" in text(app.query_one(RunHeader))
        assert "^F answer now" not in text(app.query_one(KeyBar))
        # Ctrl+E is the input's "end of line" (answer now is Ctrl+F)
        await pilot.press(*"abc", "home", "ctrl+e")
        assert app.ask.cursor_position == 3 and app.ask.value == "abc"


async def test_ctrl_f_before_any_answer_says_so_and_the_run_goes_on():
    gate = asyncio.Event()
    agents = gated_team(gate, [answer("a"), vote("agent1"), say("Done.")], [answer("b")])
    app = MassGenApp(agents, CONFIG, question="Capital of France?")
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: turns_started(app, 2))
        await pilot.press("ctrl+f")
        await until(pilot, lambda: any("no answer yet" in m for m in messages(app)))
        assert app.running
        gate.set()
        await finished(pilot)
        assert app.results[0].ok and not app.results[0].answered_now
