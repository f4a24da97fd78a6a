"""The terminal app driven with Textual's Pilot on scripted agents."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Markdown, Static

from massgen.config.schema import OrchestratorConfig
from massgen.tui.app import MassGenApp
from massgen.tui.widgets import AgentColumn, CoordinationPanel, FinalPane
from tests.support.scripted import Step, answer, say, team, vote

CONFIG = OrchestratorConfig(restart_debounce_seconds=0)


def text_of(widget: Static) -> str:
    return str(widget.content)


def badge(app: MassGenApp, index: int) -> str:
    """The status shown on an agent's badge ("" until the column is drawn)."""
    columns = list(app.query(AgentColumn))
    badges = columns[index].query(".badge") if index < len(columns) else []
    words = text_of(badges[0]).split() if badges else []
    return words[0] if words else ""


async def until(pilot, condition, limit: float = 10.0) -> None:
    for _ in range(int(limit / 0.02)):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError("condition not reached in time")


def slow_team():
    """Three agents whose states each last long enough to be drawn (≥ 0.2 s)."""
    return team(
        [
            answer("Paris is the capital.", delay=0.2),
            vote("agent1", "clearest", delay=0.3),
            say("**Paris** is the capital of France."),
        ],
        [answer("It is Paris.", delay=0.5), vote("agent1", "most direct", delay=0.3)],
        # agent3 answers last and late: agents 1 and 2 show "answered" for over a second,
        # long enough to be drawn even when the app's first frames are slow (a busy machine)
        [answer("Paris, France.", delay=1.5), vote("agent2", "short", delay=0.3)],
    )


async def test_a_run_shows_three_columns_statuses_votes_and_the_final_answer(monkeypatch):
    drawn: dict[str, list[str]] = {}
    original = AgentColumn.draw

    def spy(self, agent):
        statuses = drawn.setdefault(agent.id, [])
        if not statuses or statuses[-1] != agent.status:
            statuses.append(agent.status)
        original(self, agent)

    monkeypatch.setattr(AgentColumn, "draw", spy)
    app = MassGenApp(slow_team(), CONFIG, question="What is the capital of France?")
    async with app.run_test(size=(160, 45)) as pilot:
        await until(pilot, lambda: len(app.query(AgentColumn)) == 3)
        columns = list(app.query(AgentColumn))
        assert [c.border_title for c in columns] == ["agent1 · a1", "agent2 · a2", "agent3 · a3"]
        await until(pilot, lambda: not app.running and bool(app.results))
        await pilot.pause(0.1)
        # what the badges showed: the statuses in the order they happened, ending with the
        # vote. (Agents 1 and 2 show "answered" while they wait for agent3's first answer;
        # a frame drawn late on a busy machine may skip a short-lived status.)
        expected = ["thinking", "answered", "thinking", "voted"]
        for agent_id, statuses in drawn.items():
            assert statuses[-1] == "voted" and len(statuses) >= 2, (agent_id, statuses)
            rest = iter(expected)
            assert all(status in rest for status in statuses), (agent_id, statuses)
        assert "answered" in drawn["a1"] + drawn["a2"]
        assert all(badge(app, i) == "voted" for i in range(3))

        panel = text_of(app.query_one("#panel-body", Static))
        assert "a1 → agent1.1: clearest" in panel and "a3 → agent2.1: short" in panel
        assert "agent1: 2" in panel

        final = app.query_one(FinalPane)
        assert final.display and "winner agent1 (a1) with 2 of 3 votes" in final.border_title
        assert (
            app.query_one("#final-text", Markdown).source == "**Paris** is the capital of France."
        )
        # every agent's reasoning is readable in its column
        transcript = columns[2].source
        assert "New answer agent3.1" in transcript and "Voted for agent2" in transcript


async def test_a_follow_up_starts_a_second_run_with_the_history():
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
    app = MassGenApp(agents, CONFIG, question="Capital of France?")
    async with app.run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: len(app.results) == 1 and not app.running)
        ask = app.query_one("#ask", Input)
        assert app.focused is ask and not ask.disabled
        await pilot.click("#ask")
        await pilot.press(*"And of Germany?", "enter")
        await until(pilot, lambda: len(app.results) == 2 and not app.running)
        second_run_first_call = agents[0].backend.calls[3]
        assert "Capital of France?" in second_run_first_call.user_text
        assert "Paris." in second_run_first_call.user_text  # the first final answer
        assert "And of Germany?" in second_run_first_call.user_text
        assert app.history == [("Capital of France?", "Paris."), ("And of Germany?", "Berlin.")]
        assert app.query_one("#final-text", Markdown).source == "Berlin."


async def test_ctrl_c_cancels_the_run_and_the_app_stays_usable():
    agents = team(
        [Step(text="thinking " * 200, chunk_delay=0.02), answer("late")], [answer("b", delay=10)]
    )
    app = MassGenApp(agents, CONFIG, question="Slow question")
    async with app.run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: app.running and agents[0].backend.calls)
        await pilot.pause(0.2)
        await pilot.press("ctrl+c")
        await until(pilot, lambda: not app.running)
        assert agents[0].backend.calls[0].cancelled and agents[1].backend.calls[0].cancelled
        assert app.is_running  # the app is still there
        column = app.query(AgentColumn).first()
        await until(pilot, lambda: "stopped" in column.source, limit=2)
        # and it takes the next question
        agents[0].backend._script[:] = [answer("x"), vote("agent1"), say("Done.")]
        agents[1].backend._script[:] = [answer("y"), vote("agent1")]
        await pilot.click("#ask")
        await pilot.press(*"Again", "enter")
        await until(pilot, lambda: app.results and app.results[-1].ok)
        assert app.query_one("#final-text", Markdown).source == "Done."


async def test_no_question_waits_for_one_in_the_input():
    app = MassGenApp(team([], []), CONFIG)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        assert isinstance(app.focused, Input) and not app.running
        assert "ask a question" in text_of(app.query_one("#header", Static))
        await pilot.press(*"Hello?", "enter")
        await until(pilot, lambda: bool(app.results))
        assert app.results[0].question == "Hello?"


async def test_slash_commands_help_reset_and_quit():
    agents = team([answer("a"), vote("agent1"), say("A.")], [])
    app = MassGenApp(agents, CONFIG, question="Q1")
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: bool(app.results) and not app.running)
        await pilot.press(*"/help", "enter")
        await pilot.pause()
        assert any("/reset" in str(n.message) for n in app._notifications)
        assert app.history
        await pilot.press(*"/reset", "enter")
        await pilot.pause(0.1)
        assert app.history == []
        assert not app.query(AgentColumn)  # the screen is cleared for the new conversation
        await pilot.press(*"/quit", "enter")
        await pilot.pause()
    assert app.return_code == 0


async def test_narrow_terminals_get_tabs_and_keys_switch_and_zoom():
    app = MassGenApp(slow_team(), CONFIG, question="Q")
    async with app.run_test(size=(80, 30)) as pilot:
        area = app.query_one("#agents-area")
        await until(pilot, lambda: area.has_class("-tabs"))
        assert len(app.query(AgentColumn)) == 3
        await pilot.pause(0.1)
        shown = [c for c in app.query(AgentColumn) if c.region.width > 0]
        assert len(shown) == 1 and shown[0].has_class("-selected")
        await pilot.press("n")
        assert app.selected == 1
        assert list(app.query(AgentColumn))[1].has_class("-selected")
        assert app.query_one("#agent-tabs").active == "tab-agent2"
    wide = MassGenApp(slow_team(), CONFIG, question="Q")
    async with wide.run_test(size=(180, 40)) as pilot:
        await until(pilot, lambda: len(wide.query(AgentColumn)) == 3)
        await pilot.pause(0.2)
        assert not wide.query_one("#agents-area").has_class("-tabs")
        assert all(c.region.width >= 34 for c in wide.query(AgentColumn))
        await until(pilot, lambda: bool(wide.results) and not wide.running)
        await pilot.press("escape", "z")  # Esc leaves the input, so letters are keys
        assert wide.query_one("#agents-area").has_class("-zoom")
        await pilot.pause(0.1)
        assert [c.region.width > 0 for c in wide.query(AgentColumn)] == [True, False, False]
        await pilot.press("c")
        assert not wide.query_one(CoordinationPanel).display


async def test_copy_final_answer_puts_it_on_the_clipboard():
    agents = team([answer("a"), vote("agent1"), say("The answer.")], [])
    app = MassGenApp(agents, CONFIG, question="Q")
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: bool(app.results) and not app.running)
        await pilot.press("escape", "y")
        assert app.clipboard == "The answer."


@pytest.mark.parametrize(
    "command", ["Cancel run", "Zoom agent", "Copy final answer", "New conversation"]
)
async def test_the_command_palette_offers_the_actions(command):
    app = MassGenApp(team([], []), CONFIG)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert command in titles


async def test_a_column_follows_new_text_only_while_its_reader_is_at_the_bottom():
    long_text = " ".join(f"word{i}" for i in range(600))
    agents = team(
        [
            Step(text=long_text, chunk_delay=0.004, calls=[("new_answer", {"content": "a"})]),
            vote("agent1"),
        ],
        [answer("b", delay=3.5), vote("agent1")],
    )
    app = MassGenApp(agents, CONFIG, question="Q")
    async with app.run_test(size=(140, 30)) as pilot:
        await until(pilot, lambda: len(app.query(".agent-column .turn")) == 2)
        first, second = app.query(".agent-column .turn")
        await until(pilot, lambda: first.max_scroll_y > 10)
        await pilot.pause(0.3)
        assert first.scroll_y >= first.max_scroll_y - 1  # following the stream
        first.scroll_to(y=0, animate=False)  # the reader scrolls up to read
        await pilot.pause(0.5)
        assert first.max_scroll_y > 20 and first.scroll_y < 5  # new text did not yank it down
        assert second.max_scroll_y == 0 and second.scroll_y == 0  # short text stays on top
