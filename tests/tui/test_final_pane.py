"""While the final answer streams, nothing on screen moves: the final pane takes its planned
height with the first streamed line, and the cards keep their rows."""

from __future__ import annotations

from massgen.tui.app import MassGenApp
from massgen.tui.final import FinalPane
from tests.support.scripted import Step, answer, team, vote
from tests.tui.support import CONFIG, cards, finished, settled, until

LONG = "\n\n".join(
    f"Paragraph {i}: the capital of France is Paris, and has been." for i in range(12)
)


async def test_cards_keep_their_rows_while_the_final_answer_streams():
    agents = team(
        [answer("Paris."), vote("agent1"), Step(text=LONG, chunk_delay=0.02)],
        [answer("It is Paris."), vote("agent1")],
    )
    app = MassGenApp(agents, CONFIG, question="Capital of France?")
    async with app.run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: bool(app.view.final_text))
        await settled(pilot)
        seen = set()
        while app.running and not app.view.final_done:
            pane = app.query_one(FinalPane)
            seen.add((tuple((c.region.y, c.region.height) for c in cards(app)), pane.region.y))
            await pilot.pause(0.03)
        assert len(seen) == 1, seen  # one layout for the whole stream
        await finished(pilot)
