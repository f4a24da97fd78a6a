"""The conversation stays on screen across follow-ups: the earlier questions and their final
answers are collapsed rows above the run, and a row unfolds to its whole answer."""

from __future__ import annotations

from textual.geometry import Region

from massgen.tui.app import MassGenApp
from massgen.tui.conversation import TurnRow
from massgen.tui.final import FinalPane
from tests.support.scripted import Step, answer, say, team, vote
from tests.tui.support import CONFIG, cards, finished, settled, text, until
from tests.tui.test_replay import parts_of, record

FIRST = "Paris is the capital of France.\n\nIt has been since the 10th century."
SECOND = "\n\n".join(f"Berlin, paragraph {i}: the capital of Germany." for i in range(10))


def two_part_team():
    """agent1 wins both runs; the second run lasts long enough to be looked at."""
    slow = {"delay": 1.0}
    return team(
        [
            answer("Paris."),
            vote("agent1"),
            say(FIRST),
            answer("Berlin.", **slow),
            vote("agent1"),
            Step(text=SECOND, chunk_delay=0.02),
        ],
        [answer("It is Paris."), vote("agent1"), answer("It is Berlin.", **slow), vote("agent1")],
    )


def rows(app: MassGenApp) -> list[TurnRow]:
    return [row for row in app.query(TurnRow) if row.display and row.region.height > 0]


def lines(row: TurnRow) -> list[str]:
    """The row as drawn, line by line."""
    return [strip.text.strip() for strip in row.render_lines(Region(0, 0, *row.size))]


async def test_the_first_question_and_answer_stay_on_screen_while_and_after_a_follow_up():
    app = MassGenApp(two_part_team(), CONFIG, question="Capital of France?")
    async with app.run_test(size=(140, 40)) as pilot:
        await finished(pilot)
        assert not rows(app)  # nothing earlier yet: the run has the screen
        await pilot.press(*"And of Germany?", "enter")
        await until(pilot, lambda: app.running and bool(rows(app)))
        await settled(pilot)
        (row,) = rows(app)
        shown = text(row)
        assert "Q: Capital of France?" in shown and "A: Paris is the capital of France." in shown
        assert row.region.height == 1  # collapsed: one line
        assert lines(row)[0].startswith("▶ Q: Capital of France?  →  A: Paris is the capital")
        assert "10th century" in shown  # the answer's text, folded onto the one line
        top = min(c.region.y for c in cards(app))
        assert row.region.y < top  # above the run's cards
        assert "And of Germany?" in str(app.query_one("#header").render())

        # While the second final answer streams, neither the row nor the cards move.
        await until(pilot, lambda: bool(app.view.final_text))
        seen = set()
        while app.running and not app.view.final_done:
            pane = app.query_one(FinalPane)
            regions = tuple((c.region.y, c.region.height) for c in cards(app))
            seen.add((row.region, regions, pane.region.y))
            await pilot.pause(0.03)
        assert len(seen) == 1, seen
        await finished(pilot, runs=2)
        (after,) = rows(app)  # still there, still one row: the second turn is the run's own
        assert "Capital of France?" in text(after) and after.region.height == 1
        assert "Berlin, paragraph 0" in "\n".join(app.query_one(FinalPane).text.plain_lines)

        # Enter (or a click) on the row unfolds the whole answer; again folds it.
        after.focus()
        await pilot.press("enter")
        await settled(pilot)
        unfolded = lines(after)
        assert after.region.height > 3 and len(unfolded) > 3
        assert unfolded[0] == "▼ Q: Capital of France?"
        assert "It has been since the 10th century." in unfolded  # a paragraph of its own
        await pilot.press("enter")
        await settled(pilot)
        assert after.region.height == 1
        await pilot.click(TurnRow)
        await settled(pilot)
        assert after.expanded and after.region.height > 3

        # A third question: both earlier turns are rows now, oldest first.
        await pilot.press("i", *"And of Italy?", "enter")
        await until(pilot, lambda: len(rows(app)) == 2)
        first, second = rows(app)
        assert "Capital of France?" in text(first) and "And of Germany?" in text(second)
        assert first.region.y < second.region.y
        await finished(pilot, runs=3)
        assert len(rows(app)) == 2


async def test_a_reset_clears_the_earlier_turns_from_the_screen():
    app = MassGenApp(two_part_team(), CONFIG, question="Capital of France?")
    async with app.run_test(size=(120, 30)) as pilot:
        await finished(pilot)
        await pilot.press(*"And of Germany?", "enter")
        await until(pilot, lambda: bool(rows(app)))
        await finished(pilot, runs=2)
        await pilot.press(*"/reset", "enter")
        await settled(pilot)
        await until(pilot, lambda: not rows(app))


async def test_a_replay_shows_the_recorded_parts_before_the_one_playing(tmp_path):
    recorder, live = record(tmp_path, two_part_team(), "Capital of France?")
    async with live.run_test(size=(140, 40)) as pilot:
        await finished(pilot)
        await pilot.press(*"And of Germany?", "enter")
        await finished(pilot, runs=2)
    recorder.close(0)

    played = MassGenApp(replay=parts_of(tmp_path), replay_speed=50)
    async with played.run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: played.view.question == "Capital of France?", limit=20)
        await settled(pilot)
        assert not rows(played)
        await until(pilot, lambda: played.view.question == "And of Germany?", limit=20)
        await until(pilot, lambda: bool(rows(played)))
        (row,) = rows(played)
        assert lines(row)[0].startswith("▶ Q: Capital of France?  →  A: Paris is the capital")
        await pilot.press("escape", "left_square_bracket")  # back to the first part
        await until(pilot, lambda: played.view.question == "Capital of France?")
        await until(pilot, lambda: not rows(played))
