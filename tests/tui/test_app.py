"""The terminal app driven with Textual's Pilot on scripted agents: what a user sees and
what each key does."""

from __future__ import annotations

import asyncio
import json

from textual.widgets import Input, Static

from massgen.backends.errors import AuthenticationError, RateLimitError
from massgen.config.schema import OrchestratorConfig
from massgen.coordination.state import AgentSpec
from massgen.exitcodes import ExitCode
from massgen.messages import DoneChunk, ProviderToolChunk, ToolCall, ToolCallChunk, UsageChunk
from massgen.tui.app import MassGenApp
from massgen.tui.cards import AgentCard, TabBar
from massgen.tui.chrome import KeyBar, RunHeader
from massgen.tui.final import FinalPane
from massgen.tui.scoreboard import Scoreboard, summary
from massgen.tui.screens import ConfirmScreen, DiffScreen, HelpScreen, HistoryScreen, TextScreen
from tests.support.scripted import Call, ScriptedBackend, Step, answer, say, team, vote
from tests.tui.support import (
    CONFIG,
    badge,
    card_text,
    cards,
    finished,
    gated_team,
    quick_team,
    settled,
    shown,
    slow_team,
    text,
    until,
)


async def test_a_run_shows_every_agent_its_status_votes_the_tally_and_the_final_answer(
    monkeypatch,
):
    seen: dict[str, list[str]] = {}
    draw = AgentCard.draw

    def spy(self, agent, now):
        statuses = seen.setdefault(agent.id, [])
        if not statuses or statuses[-1] != agent.shown_status:
            statuses.append(agent.shown_status)
        draw(self, agent, now)

    monkeypatch.setattr(AgentCard, "draw", spy)
    app = MassGenApp(slow_team(), CONFIG, question="What is the capital of France?")
    async with app.run_test(size=(160, 45)) as pilot:
        await until(pilot, lambda: len(cards(app)) == 3)
        assert [c.border_title for c in cards(app)] == ["agent1 · a1", "agent2 · a2", "agent3 · a3"]
        await finished(pilot)
        assert all(shown(c) for c in cards(app))  # three cards side by side, no tabs
        assert not app.query_one(TabBar).display
        for agent_id, statuses in seen.items():  # the winner's card ends marked as such
            last = "winner" if agent_id == "a1" else "voted"
            assert statuses[0] == "thinking" and statuses[-1] == last, (agent_id, statuses)
        assert "answered" in seen["a1"] + seen["a2"]
        assert [badge(c) for c in cards(app)] == ["winner", "voted", "voted"]
        first = cards(app)[0]
        assert "agent1.1" in first.marks_text
        assert "vote → agent1" in first.marks_text
        assert "scripted-a1" in first.border_subtitle and "tok" in first.border_subtitle

        board = text(app.query_one("#score-summary", Static))
        assert "3/3 voted" in board and "Round 2" in board
        assert "★ agent1" in board and "█" in board  # the leader, with a bar
        assert "Winner agent1" in board
        listing = app.query_one(Scoreboard).options
        entries = [str(listing.get_option_at_index(i).prompt) for i in range(listing.option_count)]
        assert any("agent3 → agent2.1 short" in e for e in entries)

        final = app.query_one(FinalPane)
        assert final.display and "winner agent1 (a1) · 2 of 3 votes" in final.border_title
        assert final.text.plain_lines[0] == "Paris is the capital of France."
        assert "New answer agent3.1" in card_text(cards(app)[2])
        assert "ok" in text(app.query_one(RunHeader))


async def test_the_follow_up_sequence_that_crashed_the_app_now_runs_the_follow_up():
    """Issue 13, item 1: finish a run at 120x40, Esc n y z c z Tab, type a follow-up, send."""
    app = MassGenApp(quick_team(), CONFIG, question="First question")
    async with app.run_test(size=(120, 40)) as pilot:
        await finished(pilot)
        before = cards(app)
        await pilot.press("escape", "n", "y", "z", "c", "z", "tab", "i")
        assert app.focused is app.ask
        await pilot.press(*"And a follow-up?", "enter")
        await finished(pilot, runs=2)
        assert app.is_running and app.results[1].ok
        assert app.results[1].question == "And a follow-up?"
        assert cards(app) == before  # the same cards: nothing the user had focused went away


async def test_typing_during_a_run_is_text_and_slash_next_queues_the_next_question():
    """Issue 13, item 2: typing "what about quotas" during a run quit the app at the q.
    (Enter alone sends a note to the agents then: tests/tui/test_steering.py.)"""
    gate = asyncio.Event()
    agents = gated_team(
        gate,
        [answer("a"), vote("agent1"), say("First."), answer("x"), vote("agent1"), say("Second.")],
        [answer("b"), vote("agent1"), answer("y"), vote("agent1")],
    )
    app = MassGenApp(agents, CONFIG, question="First")
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.running)
        await pilot.press(*"/next what about quotas")
        assert app.ask.value == "/next what about quotas" and not app.ask.disabled
        assert app.is_running and not isinstance(app.screen, ConfirmScreen)
        assert not app.zoomed and app.settings.scoreboard  # no z, no c either
        await pilot.press("enter")
        await until(pilot, lambda: app.queued is not None)
        assert app.queued == "what about quotas" and app.ask.value == "" and app.running
        await settled(pilot)
        assert "queued: what about quotas" in text(app.query_one(KeyBar))
        gate.set()
        await finished(pilot, runs=2)
        assert [r.question for r in app.results] == ["First", "what about quotas"]
        assert app.queued is None
        assert app.query_one(FinalPane).text.plain_lines[0] == "Second."


async def test_focus_stays_where_the_user_left_it_when_a_run_ends():
    """Issue 13, item 3: focus jumped to the input when a run ended."""
    gate = asyncio.Event()
    agents = gated_team(
        gate, [answer("a"), vote("agent1"), say("Done.")], [answer("b"), vote("agent1")]
    )
    app = MassGenApp(agents, CONFIG, question="Q")
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.running and len(app.query(".card")) == 2)
        await pilot.press("escape")
        focused = app.focused
        assert focused is cards(app)[0].transcript
        gate.set()
        await finished(pilot)
        assert app.focused is focused
        await pilot.press("c", "c", "c", "c")  # keys, not text: the scoreboard toggles
        assert app.ask.value == "" and app.settings.scoreboard
    typing = MassGenApp(quick_team(), CONFIG, question="Q")
    async with typing.run_test(size=(120, 40)) as pilot:
        await pilot.press(*"nex")
        await finished(pilot)
        assert typing.focused is typing.ask and typing.ask.value == "nex"


async def test_no_question_waits_for_one_in_the_input():
    app = MassGenApp(team([], []), CONFIG)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        assert app.focused is app.ask and not app.running
        assert "ask a question" in text(app.query_one(RunHeader))
        await pilot.press(*"Hello?", "enter")
        await finished(pilot)
        assert app.results[0].question == "Hello?"


async def test_slash_commands_help_reset_save_and_quit(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = MassGenApp(quick_team("The answer."), CONFIG, question="Q1")
    async with app.run_test(size=(120, 30)) as pilot:
        await finished(pilot)
        assert "follow-up" in app.ask.placeholder
        await pilot.press(*"/help", "enter")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape")
        await pilot.press(*"/save out.md", "enter")
        await pilot.pause()
        assert (tmp_path / "out.md").read_text() == "The answer.\n"
        await pilot.press(*"/reset", "enter")
        await settled(pilot)
        assert app.history == [] and not cards(app)
        assert "follow-up" not in app.ask.placeholder  # issue 13, item 8
        assert "ask a question" in text(app.query_one(RunHeader))
        await pilot.press(*"/quit", "enter")
        await pilot.pause()
    assert app.return_code == 0 and app.exit_code() == ExitCode.OK


async def test_ctrl_c_cancels_the_run_and_the_app_takes_the_next_question():
    agents = team(
        [Step(text="thinking " * 200, chunk_delay=0.02), answer("x"), vote("agent1"), say("Done.")],
        [answer("b", delay=10), answer("y"), vote("agent1")],
    )
    app = MassGenApp(agents, CONFIG, question="Slow question")
    async with app.run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: app.running and bool(agents[0].backend.calls))
        await pilot.press("ctrl+c")
        await until(pilot, lambda: not app.running)
        assert agents[0].backend.calls[0].cancelled and agents[1].backend.calls[0].cancelled
        assert app.is_running and app.exit_code() == ExitCode.INTERRUPTED
        await until(pilot, lambda: "stopped" in card_text(cards(app)[0]))
        await pilot.press(*"Again", "enter")
        await finished(pilot)
        assert app.results[-1].ok and app.exit_code() == ExitCode.OK


async def test_ctrl_q_mid_run_asks_first_and_quitting_exits_130():
    agents = team([answer("a", delay=30)], [answer("b", delay=30)])
    app = MassGenApp(agents, CONFIG, question="Q")
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.running)
        await pilot.press("ctrl+q")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert app.is_running and app.running
        await pilot.press("escape", "q")  # q outside the input asks too
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await pilot.pause()
    assert app.exit_code() == ExitCode.INTERRUPTED
    assert agents[0].backend.calls[0].cancelled


async def test_ctrl_q_after_a_run_quits_at_once_with_the_runs_exit_code():
    ok = MassGenApp(quick_team(), CONFIG, question="Q")
    async with ok.run_test(size=(120, 40)) as pilot:
        await finished(pilot)
        await pilot.press("ctrl+q")  # from the input
        await pilot.pause()
    assert ok.exit_code() == ExitCode.OK

    error = AuthenticationError("invalid key", provider="fake")
    failing = MassGenApp(team([Step(error=error)], [Step(error=error)]), CONFIG, question="Q")
    async with failing.run_test(size=(120, 40)) as pilot:
        await finished(pilot)
        assert "failed" in text(failing.query_one(RunHeader))
        await pilot.press("ctrl+q")
        await pilot.pause()
    assert failing.exit_code() == ExitCode.RUN_FAILED

    slow = OrchestratorConfig(restart_debounce_seconds=0, timeout_seconds=0.5)
    late = MassGenApp(
        team([answer("a"), vote("agent1", delay=30)], [answer("b", delay=30)]), slow, question="Q"
    )
    async with late.run_test(size=(120, 40)) as pilot:
        await finished(pilot)
        await pilot.press("ctrl+q")
        await pilot.pause()
    assert late.exit_code() == ExitCode.TIMEOUT


async def test_resizing_lays_out_for_the_new_size_every_time():
    """Issue 13, item 5: 160→100 kept the 160-column layout."""
    app = MassGenApp(quick_team(), CONFIG, question="Q")
    async with app.run_test(size=(160, 45)) as pilot:
        await finished(pilot)
        for width, height in [(100, 45), (160, 45), (80, 24), (120, 40), (79, 24), (200, 50)]:
            await pilot.resize_terminal(width, height)
            await settled(pilot)
            p = app.layout_plan
            assert p is not None and app.size == (width, height)
            visible = [c for c in cards(app) if shown(c)]
            if p.tabs:
                assert len(visible) == 1 and app.query_one(TabBar).display
            else:
                assert len(visible) == 3 and not app.query_one(TabBar).display
                assert all(c.region.width >= 28 and c.region.height >= 8 for c in visible)
                assert len({c.region.y for c in visible}) == p.rows  # cards line up
            assert (
                sum(c.region.width for c in visible if c.region.y == visible[0].region.y) <= width
            )
        assert not app.layout_plan.tabs  # 200x50: three cards in a row again


async def test_tabs_carry_a_status_mark_and_keys_switch_and_zoom():
    app = MassGenApp(slow_team(), CONFIG, question="Q")
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: len(cards(app)) == 3)
        await settled(pilot)
        tabs = app.query_one(TabBar)
        assert tabs.display and app.layout_plan.tabs
        assert [shown(c) for c in cards(app)] == [True, False, False]
        await finished(pilot)
        assert text(tabs).count("✓") == 2  # each tab: its agent voted, and the winner's ★
        assert text(tabs).count("★") == 1 and "★ agent1" in text(tabs)
        await pilot.press("escape", "n")
        await settled(pilot)
        assert app.selected == 1 and [shown(c) for c in cards(app)] == [False, True, False]
        assert "Voted for agent1" in card_text(cards(app)[1])  # drawn when shown
        await pilot.press("3")
        assert app.selected == 2
    wide = MassGenApp(quick_team(), CONFIG, question="Q")
    async with wide.run_test(size=(180, 40)) as pilot:
        await finished(pilot)
        await pilot.press("escape", "z")
        await settled(pilot)
        assert [shown(c) for c in cards(wide)] == [True, False, False]
        assert cards(wide)[0].region.width > 100  # zoomed: one card takes the grid
        await pilot.press("z")
        await settled(pilot)
        assert all(shown(c) for c in cards(wide))


async def test_eight_agents_at_200x50_are_a_4x2_grid_of_cards():
    agents = team(*([answer(f"answer {i}"), vote("agent1")] for i in range(8)))
    app = MassGenApp(agents, CONFIG, question="Q")
    async with app.run_test(size=(200, 50)) as pilot:
        await finished(pilot)
        visible = [c for c in cards(app) if shown(c)]
        assert len(visible) == 8
        assert len({c.region.x for c in visible}) == 4 and len({c.region.y for c in visible}) == 2
        assert all(c.region.width >= 28 and c.region.height >= 8 for c in visible)


async def test_an_answer_opens_in_full_and_two_answers_can_be_compared():
    agents = team(
        [
            answer("Paris.\n\nLong reasoning line one."),
            vote("agent2", "the more precise answer"),
            say("Paris."),
        ],
        [answer("Paris, France.\n\nLong reasoning line one."), vote("agent2", "mine")],
    )
    app = MassGenApp(agents, CONFIG, question="Q")
    async with app.run_test(size=(140, 40)) as pilot:
        await finished(pilot)
        await pilot.press("escape", "a")
        listing = app.query_one(Scoreboard).options
        assert app.focused is listing
        assert listing.highlighted_option.id == "answer:0"  # agent1.1
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TextScreen))
        await settled(pilot)
        full = "\n".join(app.screen.query_one("#full-text").plain_lines)
        assert "Long reasoning line one." in full and "No votes for this answer" in full
        await pilot.press("escape")
        await pilot.press("d", "down", "d")
        await until(pilot, lambda: isinstance(app.screen, DiffScreen))
        diff = text(app.screen.query_one("#diff", Static))
        assert "-Paris." in diff and "+Paris, France." in diff
        await pilot.press("escape", "down", "enter")  # a vote: its reason in full
        await until(pilot, lambda: isinstance(app.screen, TextScreen))
        await settled(pilot)
        assert "the more precise answer" in "\n".join(
            app.screen.query_one("#full-text").plain_lines
        )


async def test_the_final_answer_can_be_maximised_searched_saved_and_copied(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    body = "\n\n".join(f"Paragraph {i} about Paris." for i in range(40))
    app = MassGenApp(quick_team(body), CONFIG, question="Q")
    async with app.run_test(size=(120, 40)) as pilot:
        await finished(pilot)
        pane = app.query_one(FinalPane)
        assert pane.region.height < 20  # a share of the screen while the cards are shown
        await pilot.press("escape", "f")
        await settled(pilot)
        assert pane.region.height > 30 and not any(shown(c) for c in cards(app))
        assert app.focused is pane.text
        await pilot.press("slash", *"paragraph 3")
        await settled(pilot)
        assert pane.text.matches == 11  # 3 and 30..39
        assert "11 match" in pane.border_subtitle
        await pilot.press("enter", "enter")
        assert pane.text.current_match == 2
        await pilot.press("escape")  # closes the search, back to the answer
        assert app.focused is pane.text and pane.text.matches == 0
        await pilot.press("f")
        await settled(pilot)
        assert all(shown(c) for c in cards(app))
        await pilot.press("w")
        await until(pilot, lambda: app.screen.query("#answer"))
        app.screen.query_one("#answer", Input).value = "saved.md"
        await pilot.press("enter")
        await pilot.pause()
        assert (tmp_path / "saved.md").read_text() == body + "\n"
        await pilot.press("w", "enter")  # the default name, a new file
        await pilot.pause()
        assert len(list(tmp_path.glob("massgen-answer-*.md"))) == 1
        await pilot.press("y")
        assert app.clipboard == body
        messages = [str(n.message) for n in app._notifications]
        assert any("OSC 52" in m and "press w" in m for m in messages)  # no false success


async def test_help_opens_on_f1_and_question_mark_from_anywhere():
    app = MassGenApp(team([], []), CONFIG)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f1")  # from the input
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await settled(pilot)
        help_text = "\n".join(app.screen.query_one("#help-text").plain_lines)
        assert "Ctrl+Q" in help_text and "queues" in help_text and "/reset" in help_text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("escape", "question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("question_mark")
        assert not isinstance(app.screen, HelpScreen)


async def test_the_history_lists_every_part_of_the_conversation():
    app = MassGenApp(quick_team(), CONFIG, question="Capital of France?")
    async with app.run_test(size=(140, 40)) as pilot:
        await finished(pilot)
        await pilot.press(*"And of Germany?", "enter")
        await finished(pilot, runs=2)
        await pilot.press("escape", "h")
        await until(pilot, lambda: isinstance(app.screen, HistoryScreen))
        await settled(pilot)
        listing = app.screen.query_one("#parts")
        lines = [str(listing.get_option_at_index(i).prompt) for i in range(listing.option_count)]
        assert "Capital of France?" in lines[0] and "And of Germany?" in lines[1]
        assert all("winner agent1" in line and "3 votes" in line for line in lines)
        await pilot.press("up")
        await settled(pilot)
        detail = "\n".join(app.screen.query_one("#part-detail").plain_lines)
        assert "Capital of France?" in detail and "agent2.1" in detail
        await pilot.press("escape")
        assert not isinstance(app.screen, HistoryScreen)


async def test_theme_and_layout_are_kept_between_launches(config_home):
    app = MassGenApp(team([], []), CONFIG)
    async with app.run_test(size=(120, 30)) as pilot:
        app.theme = "textual-light"
        await pilot.press("escape", "c", "t")
        assert not app.settings.scoreboard and app.settings.tabs
    saved = (config_home / "massgen" / "tui.json").read_text()
    assert "textual-light" in saved
    again = MassGenApp(quick_team(), CONFIG, question="Q")
    async with again.run_test(size=(200, 50)) as pilot:
        await finished(pilot)
        assert again.theme == "textual-light"
        assert not again.query_one(Scoreboard).display
        assert again.layout_plan.tabs and sum(shown(c) for c in cards(again)) == 1


async def test_a_retrying_agent_says_retrying_and_shows_the_error_once():
    limited = RateLimitError("429 slow down please", provider="fake", retry_after=1.5)
    agents = [
        *team([Step(error=limited), answer("a", delay=0.3), vote("agent1"), say("Done.")]),
    ]
    agents[0].backend.config.max_retries = 2
    agents += team([], [answer("b", delay=2.5), vote("agent1")])[1:]
    app = MassGenApp(agents, CONFIG, question="Q")
    async with app.run_test(size=(140, 40)) as pilot:
        card = None
        await until(pilot, lambda: len(cards(app)) == 2)
        card = cards(app)[0]
        await until(pilot, lambda: badge(card) == "retrying")
        await settled(pilot)
        status = card.status_text
        assert "attempt 2 in " in status  # counting down from 1.5 s (tests/tui/test_details.py)
        assert "slow down please" in card_text(card)
        screen_text = [status, card.marks_text, card_text(card)]
        screen_text.append(text(app.query_one("#score-summary", Static)))
        assert sum(part.count("slow down please") for part in screen_text) == 1
        await until(pilot, lambda: badge(card) != "retrying", limit=20)
        await finished(pilot)
        assert "slow down please" not in card.status_text


async def test_a_tool_call_in_progress_shows_on_the_card():
    """A tool the provider runs (web search, code) or a workflow tool being written: the
    card says what the agent is doing instead of staying blank."""
    gate = asyncio.Event()
    agents = [
        AgentSpec(id="a1", backend=ToolUsingBackend("a1", gate)),
        *team([], [answer("b"), vote("agent1")])[1:],
    ]
    app = MassGenApp(agents, CONFIG, question="Q")
    async with app.run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: len(app.query(".card")) == 2)
        card = cards(app)[0]
        await until(pilot, lambda: "calling read_file…" in card.status_text)
        gate.set()
        await until(pilot, lambda: "✓ read_file" in card_text(card))
        await finished(pilot)
        assert "calling" not in card.status_text


class ToolUsingBackend(ScriptedBackend):
    """Its first call runs a provider tool (held at ``gate``), then answers."""

    def __init__(self, name: str, gate: asyncio.Event) -> None:
        super().__init__(name)
        self.gate = gate

    async def stream(self, messages, tools=None):
        if not self.calls:
            self.calls.append(Call(list(messages), [t.name for t in tools or ()], []))
            yield ProviderToolChunk("t1", "read_file", "started", "notes.md")
            await self.gate.wait()
            yield ProviderToolChunk("t1", "read_file", "finished", "12 lines")
            yield ToolCallChunk(ToolCall("c1", "new_answer", json.dumps({"content": "a"})))
            yield UsageChunk(10, 5)
            yield DoneChunk("tool_calls")
            return
        async for chunk in super().stream(messages, tools):
            yield chunk


async def test_text_in_angle_brackets_and_escape_sequences_are_shown_as_text():
    evil = "HTML uses <div> and <span> tags; std::vector<int>; <agent2>; \x1b]0;pwned\x07 end"
    agents = team([answer(evil), vote("agent1"), say(evil)], [answer("b"), vote("agent1")])
    app = MassGenApp(agents, CONFIG, question="Tell me about <div> \x1b[2J")
    async with app.run_test(size=(200, 50)) as pilot:
        await finished(pilot)
        shown_text = card_text(cards(app)[0]) + "\n".join(app.query_one(FinalPane).text.plain_lines)
        for piece in ("<div>", "<span>", "std::vector<int>", "<agent2>", "\\x1b]0;pwned\\x07"):
            assert piece in shown_text, piece
        assert "\x1b" not in shown_text
        header = text(app.query_one(RunHeader))
        assert "<div> \\x1b[2J" in header and "\x1b" not in header
        entries = app.query_one(Scoreboard).options
        first = str(entries.get_option_at_index(1).prompt)
        assert "<div>" in first and "\x1b" not in first


async def test_the_key_bar_shows_the_keys_of_the_mode_and_cancel_only_during_a_run():
    gate = asyncio.Event()
    agents = gated_team(
        gate, [answer("a"), vote("agent1"), say("Done.")], [answer("b"), vote("agent1")]
    )
    app = MassGenApp(agents, CONFIG, question="Q")
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.running)
        await settled(pilot)
        bar = app.query_one(KeyBar)
        assert "^C cancel run" in text(bar) and "^Q quit" in text(bar)
        gate.set()
        await finished(pilot)
        assert "cancel" not in text(bar) and "^Q quit" in text(bar)  # issue 13, item 8
        await pilot.press("escape")
        await settled(pilot)
        assert "q quit" in text(bar) and "i type" in text(bar)
        assert len(text(bar)) <= 80


async def test_the_screen_paints_before_the_agents_are_built():
    import threading

    release = threading.Event()
    built = []

    def build():
        release.wait(20)  # stands in for importing the provider SDKs
        built.append(True)
        return quick_team()

    app = MassGenApp(build, CONFIG, question="Q")
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: "starting the agents" in text(app.query_one(RunHeader)))
        assert not built and app.focused is app.ask  # the app is up and takes typing
        await pilot.press(*"abc")
        assert app.ask.value == "abc"
        release.set()
        await finished(pilot)
        assert built and app.results[0].question == "Q"


async def test_an_error_building_the_agents_closes_the_app_for_the_cli_to_report():
    from massgen.errors import ConfigurationError

    def build():
        raise ConfigurationError("agents[0]: set OPENAI_API_KEY")

    app = MassGenApp(build, CONFIG, question="Q")
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause(0.5)
    assert isinstance(app.startup_error, ConfigurationError) and app.crash is None


async def test_a_config_error_found_as_a_run_starts_closes_the_app_for_the_cli_to_report():
    import sys

    from massgen.config.tool_config import MCPServerConfig
    from massgen.errors import ConfigurationError

    server = MCPServerConfig(
        name="own", command=sys.executable, args=["-m", "tests.fakes.mcp_server"],
        allowed_tools=["nope"],
    )  # fmt: skip
    agents = [AgentSpec("a1", ScriptedBackend("a1", [answer("a")]), mcp_servers=[server])]
    app = MassGenApp(agents, CONFIG, question="Q")
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: app.startup_error is not None, limit=60)
    assert isinstance(app.startup_error, ConfigurationError) and app.crash is None
    assert "has no tool 'nope'" in str(app.startup_error)


async def test_the_command_palette_offers_the_actions():
    app = MassGenApp(team([], []), CONFIG)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Cancel run", "Zoom agent", "Copy final answer", "History", "Help"} <= titles


async def test_a_card_follows_new_text_only_while_its_reader_is_at_the_bottom():
    long_text = " ".join(f"word{i}" for i in range(900))
    agents = team(
        [
            Step(text=long_text, chunk_delay=0.003, calls=[("new_answer", {"content": "a"})]),
            vote("agent1"),
        ],
        [answer("b", delay=4), vote("agent1")],
    )
    app = MassGenApp(agents, CONFIG, question="Q")
    async with app.run_test(size=(140, 30)) as pilot:
        await until(pilot, lambda: len(app.query(".card")) == 2)
        first, second = (c.transcript for c in cards(app))
        await until(pilot, lambda: first.max_scroll_y > 10)
        await pilot.pause(0.2)
        assert first.at_end and first.scroll_y > 10  # following the stream, a page at a time
        first.scroll_to(y=0, animate=False, immediate=True)  # the reader scrolls up to read
        grown = first.max_scroll_y
        await until(pilot, lambda: first.max_scroll_y > grown + 5)
        assert first.scroll_y < 3 and not first.at_end  # new text did not yank it down
        first.scroll_end(animate=False, immediate=True)  # back at the bottom: following again
        await until(pilot, lambda: first.max_scroll_y > grown + 15)
        assert first.at_end
        assert second.max_scroll_y == 0 and second.scroll_y == 0  # short text stays on top


async def test_the_final_pane_shows_the_files_the_presenter_changed_with_their_diff(tmp_path):
    from massgen.config.schema import ContextPathConfig

    page = tmp_path / "index.html"
    page.write_text("<h1>Old title</h1>\n")
    edit = Step(
        calls=[
            (
                "edit_file",
                {"path": str(page), "edits": [{"oldText": "Old", "newText": "New"}]},
            )
        ]
    )
    agents = team([answer("a"), vote("agent1"), edit, say("Retitled the page.")], [], [])
    config = CONFIG.model_copy(
        update={"context_paths": [ContextPathConfig(path=str(tmp_path), permission="write")]}
    )
    app = MassGenApp(agents, config, question="Retitle the page")
    async with app.run_test(size=(120, 40)) as pilot:
        await finished(pilot)
        shown_text = "\n".join(app.query_one(FinalPane).text.plain_lines)
        assert shown_text.startswith("Retitled the page.")
        assert f"{page} (changed)" in shown_text and "massgen logs restore" in shown_text
        assert "-<h1>Old title</h1>" in shown_text and "+<h1>New title</h1>" in shown_text
    assert page.read_text() == "<h1>New title</h1>\n"


async def test_a_debate_shows_its_rounds_and_a_budget_ending_says_so():
    """The header counts a debate's rounds against its last; a run a budget cap ended says
    it is out of budget, and the app exits 4 like the plain output."""
    same = [answer("Paris"), answer("Paris")]
    config = OrchestratorConfig(strategy="debate", max_rounds=2, restart_debounce_seconds=0)
    app = MassGenApp(team(list(same), list(same)), config, question="Capital of France?")
    async with app.run_test(size=(120, 40)) as pilot:
        await finished(pilot)
        header = text(app.query_one(RunHeader))
        assert "debate · round 1/3" in header and "ok" in header  # agreed after round 1
        assert any("round 1/3: 100% agree (consensus)" in line for line in app.view.log)
        board = summary(app.view, 60).plain
        assert "Round 1/3 · 100% agree · ok" in board and "voted" not in board
    # answers that differ: a second round, which the cards name
    apart = team([answer("Paris"), answer("Paris, France")], [answer("Lyon"), answer("Paris")])
    app = MassGenApp(apart, config, question="Capital of France?")
    async with app.run_test(size=(120, 40)) as pilot:
        await finished(pilot)
        transcript = card_text(cards(app)[1])
        assert "— round 1: first answer —" in transcript
        assert "— round 2: revising —" in transcript
        assert any(line.startswith("round 1/3: 50% agree") for line in app.view.log)
    capped = OrchestratorConfig(max_total_tokens=1, restart_debounce_seconds=0)
    app = MassGenApp(quick_team(), capped, question="Q")
    async with app.run_test(size=(120, 40)) as pilot:
        await finished(pilot)
        assert "out of budget" in text(app.query_one(RunHeader))
    assert app.exit_code() == 4
