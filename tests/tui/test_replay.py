"""A recorded session replayed in the terminal app: it ends where the live run ended, shows
the recorded times, and can be paused, stepped through part by part, and sought."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from massgen.config.loader import load_config_dict
from massgen.sessions import replay, store
from massgen.sessions.recorder import SessionRecorder
from massgen.tui.app import MassGenApp
from massgen.tui.chrome import RunHeader
from massgen.tui.final import FinalPane
from massgen.tui.scoreboard import Scoreboard
from massgen.tui.screens import HistoryScreen
from massgen.tui.state import RunView
from tests.support.scripted import answer, say, team, vote
from tests.tui.support import CONFIG, card_text, cards, finished, settled, slow_team, text, until

SOME_CONFIG = load_config_dict(
    {"agents": [{"id": "a1", "backend": {"type": "vllm", "model": "m", "base_url": "http://x"}}]}
).config


def state(app: MassGenApp) -> dict[str, Any]:
    """What the user sees, as data: the view model and the drawn widgets."""
    view: RunView = app.view
    return {
        "question": view.question,
        "status": view.status,
        "winner": (view.winner_id, view.winner_label),
        "tally": view.tally,
        "final": view.final_text,
        "answers": [(a.label, a.agent_id, a.content) for a in view.answers],
        "votes": {v: (x.target, x.target_answer, x.reason) for v, x in view.votes.items()},
        "agents": {a.id: (a.status, a.answers, a.vote, a.transcript) for a in view.agents.values()},
        "tokens": (view.prompt_tokens, view.completion_tokens),
        "cards": [(c.border_title, card_text(c)) for c in cards(app)],
        "scoreboard": text(app.query_one("#score-summary")),
        "final_title": app.query_one(FinalPane).border_title,
        "final_text": app.query_one(FinalPane).text.plain_lines,
    }


def record(tmp_path: Path, agents, *questions: str) -> Path:
    recorder = SessionRecorder(SOME_CONFIG, "test", log_dir=tmp_path)
    return recorder, MassGenApp(agents, CONFIG, question=questions[0], recorder=recorder)


def parts_of(tmp_path: Path) -> list[list[dict[str, Any]]]:
    (session,) = store.session_dirs(tmp_path)
    events, bad = store.read_events(session)
    assert bad == 0
    return replay.split_parts(events)


async def test_a_replay_ends_in_the_live_runs_final_state_with_the_recorded_times(tmp_path):
    recorder, live = record(tmp_path, slow_team(), "Capital of France?")
    async with live.run_test(size=(160, 45)) as pilot:
        await finished(pilot)
        live_state = state(live)
        live_header = text(live.query_one(RunHeader))
    recorder.close(0)
    assert live_state["final_text"] == ["Paris is the capital of France."]
    (session,) = store.session_dirs(tmp_path)
    recorded = store.load_summary(session)["parts"][0]["duration_s"]
    assert recorded >= 1.5  # agent3 answers after 1.5 s
    assert f"{recorded:.1f}s" in live_header  # the engine's measure, as the replay shows it

    played = MassGenApp(replay=parts_of(tmp_path), replay_speed=50)
    async with played.run_test(size=(160, 45)) as pilot:
        await until(pilot, lambda: not played.running)
        await settled(pilot)
        assert state(played) == live_state
        # Issue 13, item 6: the part's recorded time, not the replay's own (~0.05 s here)
        header = text(played.query_one(RunHeader))
        assert f"{recorded:.1f}s" in header
        assert "replay 1/1 · finished" in header
        assert "Replay finished" in played.ask.placeholder


async def test_a_replay_plays_every_part_and_the_history_jumps_between_them(tmp_path):
    agents = team(
        [
            answer("Paris."),
            vote("agent1"),
            say("Paris."),
            answer("Berlin."),
            vote("agent1"),
            say("Berlin."),
        ],
        [],
    )
    recorder, live = record(tmp_path, agents, "Capital of France?")
    async with live.run_test(size=(140, 40)) as pilot:
        await finished(pilot)
        await pilot.press(*"And of Germany?", "enter")
        await finished(pilot, runs=2)
    recorder.close(0)

    seen: list[str] = []
    played = MassGenApp(replay=parts_of(tmp_path), replay_speed=50)
    async with played.run_test(size=(140, 40)) as pilot:
        for expected in ("Capital of France?", "And of Germany?"):
            await until(pilot, lambda e=expected: played.view.question == e, limit=20)
            seen.append(played.view.question)
        await until(pilot, lambda: not played.running, limit=20)
        await settled(pilot)
        assert played.query_one(FinalPane).text.plain_lines == ["Berlin."]
        # Paused, a jump stays where it lands (playing on, the first part would end and the
        # second begin a second later: too short a window to check on a loaded machine).
        await pilot.press("escape", "space", "h")
        await until(pilot, lambda: isinstance(played.screen, HistoryScreen))
        listing = played.screen.query_one("#parts")
        assert listing.option_count == 2 and listing.highlighted == 1
        await pilot.press("up", "enter")
        await until(pilot, lambda: played.view.question == "Capital of France?")
        assert played.query_one(FinalPane).text.plain_lines != ["Paris."]  # at the part's start
        await pilot.press("full_stop")  # 10 s on: past this short part's end
        await until(pilot, lambda: played.query_one(FinalPane).text.plain_lines == ["Paris."])
        await settled(pilot)
        assert played.query_one(FinalPane).text.plain_lines == ["Paris."]
        assert "replay 1/2" in text(played.query_one(RunHeader))
        await pilot.press("right_square_bracket")
        await until(pilot, lambda: played.view.question == "And of Germany?")
    assert seen == ["Capital of France?", "And of Germany?"]


async def test_a_replay_pauses_and_seeks_on_the_recordings_clock(tmp_path):
    recorder, live = record(tmp_path, slow_team(), "Capital of France?")
    async with live.run_test(size=(160, 45)) as pilot:
        await finished(pilot)
    recorder.close(0)

    # a quarter speed: the 2 s part plays for 8 s, time enough to pause it on a loaded machine
    played = MassGenApp(replay=parts_of(tmp_path), replay_speed=0.25)
    async with played.run_test(size=(160, 45)) as pilot:
        await until(pilot, lambda: len(played.view.answers) >= 1)
        await pilot.press("escape", "space")
        await settled(pilot)
        assert "paused" in text(played.query_one(RunHeader))
        position = played.player.position
        answers = len(played.view.answers)
        await pilot.pause(0.5)
        assert played.player.position == position and len(played.view.answers) == answers
        await pilot.press("full_stop")  # 10 s forward: past the end of this 2 s part
        await settled(pilot)
        assert played.view.winner_label == "agent1" and played.view.final_text
        elapsed = float(re.search(r"(\d+\.\d)s", text(played.query_one(RunHeader))).group(1))
        await pilot.press("comma")  # 10 s back: the start of the part
        await settled(pilot)
        assert not played.view.answers and played.view.question == "Capital of France?"
        assert elapsed >= 1.5
        board = played.query_one(Scoreboard)
        assert "0/3 voted" in text(board.query_one("#score-summary"))
