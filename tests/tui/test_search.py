"""Searching the final answer: letters are the query, ↑/↓ step back and forth from the box,
and after Tab n/N step in the answer itself."""

from __future__ import annotations

from massgen.tui.app import MassGenApp
from massgen.tui.final import FinalPane
from tests.tui.support import CONFIG, finished, quick_team, settled


async def test_search_steps_both_ways_and_n_is_a_letter_of_the_query():
    body = "\n\n".join(f"Paragraph {i} about Paris and the Seine." for i in range(20))
    app = MassGenApp(quick_team(body), CONFIG, question="Q")
    async with app.run_test(size=(120, 40)) as pilot:
        await finished(pilot)
        pane = app.query_one(FinalPane)
        await pilot.press("escape", "f", "slash", *"seine")
        await settled(pilot)
        search = pane.query_one("#search")
        assert search.value == "seine" and pane.text.matches == 20  # the n is typed
        assert pane.text.current_match == 0  # the first match, shown as you type
        await pilot.press("down", "down")
        assert pane.text.current_match == 2
        await pilot.press("up", "up", "up")  # previous, wrapping round to the last
        assert pane.text.current_match == 19
        await pilot.press("tab", "n")
        assert pane.text.current_match == 0 and search.value == "seine"
        await pilot.press("N", "N")
        assert pane.text.current_match == 18
