"""The screen's room goes to the agents' text: a tall card shows the newest lines of an
answer, follows them until the reader scrolls up (its border says so), titles and status
lines use the card's width, and the final answer reads well at any size."""

from __future__ import annotations

import asyncio

from massgen.coordination.state import AgentSpec
from massgen.messages import ProviderToolChunk, TextChunk
from massgen.tui.app import MassGenApp
from massgen.tui.cards import AgentCard
from massgen.tui.final import FinalPane
from tests.support.scripted import ScriptedBackend, Step, answer, say, team, vote
from tests.tui.support import CONFIG, cards, finished, settled, until

HOLD = "HOLD"  # in a script's text: the stream stops there until the test lets it go on


class PausingBackend(ScriptedBackend):
    """Streams its script; at each ``HOLD`` in the text it waits for the next gate."""

    def __init__(self, name: str, script, gates: list[asyncio.Event], **kw) -> None:
        super().__init__(name, script, **kw)
        self.gates = list(gates)
        self.holding = False

    async def stream(self, messages, tools=None, **kw):
        async for chunk in super().stream(messages, tools, **kw):
            if isinstance(chunk, TextChunk) and HOLD in chunk.text:
                yield TextChunk(chunk.text.replace(HOLD, ""))
                self.holding = True
                await self.gates.pop(0).wait()
                self.holding = False
                continue
            yield chunk


def lines(first: int, last: int) -> str:
    return "\n\n".join(f"Line {i} of the answer." for i in range(first, last + 1))


def text_rows(card: AgentCard) -> list[str]:
    """The card's rows below its status lines, as the user sees them."""
    return [card.render_line(y).text.strip() for y in range(card.HEAD_ROWS, card.size.height)]


async def test_a_tall_card_shows_the_newest_text_and_follows_it_until_scrolled_up():
    gates = [asyncio.Event(), asyncio.Event()]
    text = f"{lines(1, 40)}\n\n{HOLD} {lines(41, 60)}\n\n{HOLD} Done."
    first = Step(text=text, calls=[("new_answer", {"content": "Paris."})])
    agents = [
        AgentSpec(id="a1", backend=PausingBackend("a1", [first, vote("agent1")], gates)),
        AgentSpec(id="a2", backend=ScriptedBackend("a2", [answer("Paris."), vote("agent1")])),
    ]
    app = MassGenApp(agents, CONFIG, question="Capital of France?")
    backend = agents[0].backend
    assert isinstance(backend, PausingBackend)
    async with app.run_test(size=(160, 50)) as pilot:
        await until(pilot, lambda: backend.holding)
        await settled(pilot)
        card = cards(app)[0]
        rows = text_rows(card)
        # the card is full of text, the newest line near its last row (not a third of the
        # way down with the rest blank)
        ahead = len(rows) // 4 + 1  # it scrolls a quarter of its height at a time
        assert "Line 40 of the answer." in rows[-ahead:], rows
        assert "following" in str(card.border_subtitle)

        app.action_leave_input()  # Esc: into the selected card, whose keys scroll it
        await pilot.press("home")
        await until(pilot, lambda: card.scroll_y == 0)  # the scroll may be animated
        await pilot.wait_for_scheduled_animations()
        assert "paused" in str(card.border_subtitle)
        top = text_rows(card)
        gates[0].set()  # more text arrives: a paused card stays where its reader is
        await until(pilot, lambda: "Line 60" in app.view.agents["a1"].text and backend.holding)
        await settled(pilot)
        assert text_rows(card) == top and card.scroll_y == 0
        assert "paused" in str(card.border_subtitle)

        await pilot.press("end")  # back at the end: it follows again
        await until(pilot, lambda: "following" in str(card.border_subtitle))
        assert "Line 60 of the answer." in text_rows(card)[-ahead:]
        gates[1].set()
        await finished(pilot)  # the agent's text is complete: it ends on the last row
        assert text_rows(card)[-1]


async def test_titles_models_and_activities_use_the_card_s_width():
    gate = asyncio.Event()
    model = "accounts/fireworks/models/llama-v3p1-405b-instruct-long-context"
    tool = "search_the_company_knowledge_base_for_documents_on_the_question"

    class Searching(ScriptedBackend):
        """Its first call runs a provider tool with a long name and holds there."""

        async def stream(self, messages, tools=None, **kw):
            if not self.calls:
                yield ProviderToolChunk("t1", tool, "started", "capital of France")
                await gate.wait()
            async for chunk in super().stream(messages, tools, **kw):
                yield chunk

    agents = [
        AgentSpec(id="agent1", backend=Searching("agent1", [answer("Paris."), vote("agent1")])),
        AgentSpec(
            id="reviewer",
            backend=ScriptedBackend("reviewer", [answer("Paris."), vote("agent1")], model=model),
        ),
    ]
    app = MassGenApp(agents, CONFIG, question="Capital of France?")
    async with app.run_test(size=(240, 40)) as pilot:
        await until(pilot, lambda: bool(app.view.agents) and app.view.agents["agent1"].activity)
        await settled(pilot)
        first, second = cards(app)
        assert first.size.width > len(tool) + 30
        await until(pilot, lambda: tool in first.status_text)  # not cut at 60 characters
        assert str(first.border_title) == "agent1"  # not "agent1 · agent1"
        assert str(second.border_title) == "agent2 · reviewer"
        assert model in str(second.border_subtitle)  # the whole name where it fits
        gate.set()
        await finished(pilot)


LONG_FINAL = " ".join(f"Sentence {i} says why Paris is the capital of France." for i in range(40))


async def test_a_finished_answer_gets_the_larger_share_of_a_small_screen():
    agents = team(
        [answer("Paris."), vote("agent1"), Step(text=LONG_FINAL, chunk_delay=0.002)],
        [answer("It is Paris."), vote("agent1")],
        [answer("Paris, France."), vote("agent1")],
    )
    app = MassGenApp(agents, CONFIG, question="Capital of France?")
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: bool(app.view.final_text) and app.running)
        await settled(pilot)
        pane = app.query_one(FinalPane)
        card = next(c for c in cards(app) if c.display)
        if app.running:  # while it streams, the agents keep their room
            assert pane.outer_size.height < card.outer_size.height
        await finished(pilot)
        await until(pilot, lambda: pane.outer_size.height > card.outer_size.height + 1)
        assert pane.outer_size.height >= 12  # of 20 rows below the header (8 before)


async def test_the_final_answer_keeps_a_reading_width_on_a_wide_screen():
    agents = team(
        [answer("Paris."), vote("agent1"), say(LONG_FINAL)],
        [answer("It is Paris."), vote("agent1")],
    )
    app = MassGenApp(agents, CONFIG, question="Capital of France?")
    async with app.run_test(size=(300, 60)) as pilot:
        await finished(pilot)
        pane = app.query_one(FinalPane)
        await until(pilot, lambda: bool(pane.text.plain_lines))
        assert pane.size.width > 200
        shown = pane.text.plain_lines
        assert len(shown) > 5 and max(len(line) for line in shown) <= 100
        assert pane.text.region.width <= 101  # the text column, not the pane
