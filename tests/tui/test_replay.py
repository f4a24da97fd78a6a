"""A recorded session replayed in the terminal app ends where the live run ended."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.widgets import Markdown, Static

from massgen.config.loader import load_config_dict
from massgen.sessions import replay, store
from massgen.sessions.recorder import SessionRecorder
from massgen.tui.app import MassGenApp
from massgen.tui.state import RunView
from massgen.tui.widgets import AgentColumn, FinalPane
from tests.tui.test_app import CONFIG, slow_team, text_of, until

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
        "columns": [c.border_title for c in app.query(AgentColumn)],
        "panel": text_of(app.query_one("#panel-body", Static)),
        "final_title": app.query_one(FinalPane).border_title,
        "final_text": app.query_one("#final-text", Markdown).source,
    }


async def test_a_replay_ends_in_the_live_runs_final_state(tmp_path: Path):
    recorder = SessionRecorder(SOME_CONFIG, "test", log_dir=tmp_path)
    live = MassGenApp(slow_team(), CONFIG, question="Capital of France?", recorder=recorder)
    async with live.run_test(size=(160, 45)) as pilot:
        await until(pilot, lambda: not live.running and bool(live.results))
        await pilot.pause(0.3)  # every column drawn
        live_state = state(live)
    recorder.close(0)
    assert live_state["final_text"] == "**Paris** is the capital of France."

    (session,) = store.session_dirs(tmp_path)
    events, bad = store.read_events(session)
    assert bad == 0
    parts = replay.split_parts(events)
    played = MassGenApp([], replay=parts, replay_speed=20)
    async with played.run_test(size=(160, 45)) as pilot:
        await until(pilot, lambda: len(played.query(AgentColumn)) == 3)
        await until(pilot, lambda: not played.running, limit=20)
        await pilot.pause(0.3)
        assert state(played) == live_state
        assert "Replay finished" in played.query_one("#ask").placeholder


async def test_a_replay_plays_every_part_of_a_conversation(tmp_path: Path):
    from tests.support.scripted import answer, say, team, vote

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
    recorder = SessionRecorder(SOME_CONFIG, "test", log_dir=tmp_path)
    live = MassGenApp(agents, CONFIG, question="Capital of France?", recorder=recorder)
    async with live.run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: len(live.results) == 1 and not live.running)
        live.start_run("And of Germany?")
        await until(pilot, lambda: len(live.results) == 2 and not live.running)
    recorder.close(0)
    (session,) = store.session_dirs(tmp_path)
    summary = store.load_summary(session)
    assert [p["final_answer"] for p in summary["parts"]] == ["Paris.", "Berlin."]

    seen: list[str] = []
    played = MassGenApp(
        [], replay=replay.split_parts(store.read_events(session)[0]), replay_speed=50
    )
    async with played.run_test(size=(140, 40)) as pilot:
        for expected in ("Capital of France?", "And of Germany?"):
            await until(pilot, lambda e=expected: played.view.question == e, limit=20)
            seen.append(played.view.question)
        await until(pilot, lambda: not played.running, limit=20)
        await pilot.pause(0.2)
        assert played.query_one("#final-text", Markdown).source == "Berlin."
    assert seen == ["Capital of France?", "And of Germany?"]
