"""Issue 24, item 6 (the rest): modals open at their top at 80x24, a part's real status in
the history, a retry that counts down, no log line dropped silently, Textual's own toasts
rendered (not their markup), and a screenshot saved where a folder exists."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot

from massgen.backends.errors import RateLimitError
from massgen.events import RunStarted, StreamRetry
from massgen.tui.app import MassGenApp
from massgen.tui.markdown_view import MarkdownView
from massgen.tui.scoreboard import summary
from massgen.tui.screens import HelpScreen, HistoryScreen, TextScreen
from massgen.tui.state import RunView
from tests.support.scripted import Step, answer, say, team, vote
from tests.tui.support import CONFIG, badge, cards, finished, quick_team, settled, until
from tests.tui.test_replay import parts_of, record

LONG = "\n\n".join(f"Paragraph {i} of a long answer." for i in range(1, 61))


def at_top(view: MarkdownView) -> bool:
    return view.scroll_y == 0 and view.line_count > view.rows


async def test_help_answer_and_history_open_at_their_top_at_80x24():
    agents = team([answer(LONG), vote("agent1"), say(LONG)], [answer("b"), vote("agent1")])
    app = MassGenApp(agents, CONFIG, question="Q")
    async with app.run_test(size=(80, 24)) as pilot:
        await finished(pilot)
        await pilot.press("f1")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await settled(pilot)
        assert at_top(app.screen.query_one("#help-text", MarkdownView))
        await pilot.press("escape", "escape", "a", "enter")  # agent1.1, the long answer
        await until(pilot, lambda: isinstance(app.screen, TextScreen))
        await settled(pilot)
        shown = app.screen.query_one("#full-text", MarkdownView)
        assert at_top(shown) and "Paragraph 1 of" in "\n".join(shown.plain_lines[:5])
        await pilot.press("escape", "h")
        await until(pilot, lambda: isinstance(app.screen, HistoryScreen))
        await settled(pilot)
        assert at_top(app.screen.query_one("#part-detail", MarkdownView))


async def test_the_history_says_a_part_recorded_to_its_middle_is_interrupted(tmp_path):
    recorder, live = record(tmp_path, quick_team(), "Capital of France?")
    async with live.run_test(size=(140, 40)) as pilot:
        await finished(pilot)
    recorder.close(0)
    (part,) = parts_of(tmp_path)
    cut = [e for e in part if e["type"] not in ("run_finished", "final_answer")]
    played = MassGenApp(replay=[cut], replay_speed=0)
    async with played.run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: not played.running)
        await pilot.press("h")
        await until(pilot, lambda: isinstance(played.screen, HistoryScreen))
        listing = played.screen.query_one("#parts")
        line = str(listing.get_option_at_index(0).prompt)
        assert "interrupted" in line and "running" not in line


async def test_a_retry_counts_down():
    now = [1000.0]
    limited = RateLimitError("429 slow down", provider="fake", retry_after=0.5)
    agents = team([Step(error=limited), answer("a"), vote("agent1"), say("Done.")], [])
    agents[0].backend.config.max_retries = 2
    app = MassGenApp(agents[:1], CONFIG, question="Q", clock=lambda: now[0])
    async with app.run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: len(cards(app)) == 1)
        card = cards(app)[0]
        await until(pilot, lambda: badge(card) == "retrying")
        assert "attempt 2 in 0.5s" in card.status_text
        now[0] += 0.3  # the app's clock moves on: the countdown with it
        await until(pilot, lambda: "attempt 2 in 0.2s" in card.status_text, limit=2)


def test_the_scoreboard_says_how_many_log_lines_it_left_off():
    view = RunView(clock=lambda: 0.0)
    agents = [{"id": "a1", "label": "agent1", "model": "m", "backend": "b"}]
    view.apply(RunStarted(question="Q", strategy="vote", agents=agents))
    for attempt in range(1, 6):
        view.apply(StreamRetry(agent_id="a1", attempt=attempt, delay=1.0, reason="429"))
    shown = summary(view, 60).plain
    assert "+2 earlier" in shown and "agent1 retry 5" in shown


async def test_a_screenshot_is_saved_without_a_downloads_folder_and_its_toast_is_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    home, here = tmp_path / "home", tmp_path / "here"
    home.mkdir()
    here.mkdir()
    monkeypatch.setenv("HOME", str(home))  # no ~/Downloads
    monkeypatch.chdir(here)
    app = MassGenApp(quick_team(), CONFIG)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await pilot.press("ctrl+p")
        await pilot.press(*"Screenshot")
        await settled(pilot)
        await pilot.press("enter")
        await until(pilot, lambda: list(here.glob("*.svg")) != [])
        await until(pilot, lambda: toasts(pilot) != [])
        (shown,) = toasts(pilot)
        flat = "".join(shown.replace("▌", "").split())  # the toast wraps the long path
        assert f"Savedscreenshotto'{here}/massgen_" in flat and "[$" not in flat


async def test_a_recorded_session_takes_the_screenshot_when_there_is_no_downloads_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    home, here = tmp_path / "home", tmp_path / "here"
    home.mkdir()
    here.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(here)
    recorder, app = record(tmp_path / "logs", quick_team(), "Capital of France?")
    async with app.run_test(size=(120, 40)) as pilot:
        await finished(pilot)
        await pilot.press("ctrl+p", *"Screenshot")
        await settled(pilot)
        await pilot.press("enter")
        session = recorder.path
        assert session is not None
        await until(pilot, lambda: list(session.glob("*.svg")) != [])
    recorder.close(0)
    assert list(here.glob("*.svg")) == []


def toasts(pilot: Pilot) -> list[str]:
    """What the toasts on screen say, as the user reads them."""
    return [
        "".join(s.text for s in toast.render_lines(toast.region.reset_offset))
        for toast in pilot.app.screen.query("Toast")
        if toast.region.width
    ]
