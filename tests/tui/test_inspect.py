"""A closer look at a run: the votes view (``v``: every vote with its whole reason, round by
round, superseded votes marked, the tally and the winner; a debate says it has no votes and
shows its rounds) and the tool-calls view (``x``: the selected agent's calls as rows that open
to their arguments and result or error), live and in a replay."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.widgets import OptionList

from massgen.config.loader import load_config_dict
from massgen.config.schema import OrchestratorConfig
from massgen.coordination.state import AgentSpec
from massgen.sessions import replay, store
from massgen.sessions.recorder import SessionRecorder
from massgen.tools.custom import tool_from_function
from massgen.tui.app import MassGenApp
from massgen.tui.markdown_view import MarkdownView
from massgen.tui.tool_calls_view import ToolCallsScreen
from massgen.tui.votes_view import VotesScreen
from tests.support.scripted import ScriptedBackend, Step, answer, team, vote
from tests.tui.support import CONFIG, finished, settled, until

LONG_REASON = (
    "agent2's answer names the river, the population and the founding date, checks each "
    "against the sources it quotes, and says plainly where the sources disagree; mine did "
    "none of that, so agent2 deserves the win over my own first draft — ZEBRA-END"
)
SOME_CONFIG = load_config_dict(
    {"agents": [{"id": "a1", "backend": {"type": "vllm", "model": "m", "base_url": "http://x"}}]}
).config


def shown_text(screen) -> str:
    """What a view's Markdown pane shows, with the line breaks of its wrapping undone."""
    pane = screen.query(MarkdownView).last()
    return " ".join(" ".join(pane.plain_lines).split())


async def test_the_votes_view_shows_every_vote_with_its_whole_reason_and_the_winner():
    agents = team(
        [answer("Paris."), vote("agent1", "mine is the only one"), vote("agent2", LONG_REASON)],
        [
            answer("Paris, France."),
            answer("Paris, on the Seine, 2.1 million people.", delay=0.8),  # after agent1 voted
            vote("agent2", "mine"),
        ],
    )
    app = MassGenApp(agents, CONFIG, question="Tell me about Paris")
    async with app.run_test(size=(80, 24)) as pilot:
        await finished(pilot)
        await pilot.press("escape", "v")
        await until(pilot, lambda: isinstance(app.screen, VotesScreen))
        await until(pilot, lambda: "Winner" in shown_text(app.screen))
        pane = app.screen.query_one(MarkdownView)
        assert pane.scroll_y == 0 and pane.max_scroll_y > 0  # longer than the screen: its top
        seen = shown_text(app.screen)
        assert " ".join(LONG_REASON.split()) in seen  # the whole reason, not a cut line
        # the first vote was cast before agent2 answered: it no longer counts, and says why
        assert "agent1 → agent1 (agent1.1) superseded (cleared: new answer agent2.2)" in seen
        assert "mine is the only one" in seen
        assert "agent2: 2 of 2 ★" in seen and "★ agent2, answer agent2.2" in seen
        assert "Votes · 2 counted of 3 cast" in app.screen.query_one(".dialog").border_title
        await pilot.press("v")  # the same key closes it
        await until(pilot, lambda: not isinstance(app.screen, VotesScreen))


async def test_a_debate_has_no_votes_and_the_view_shows_its_rounds_instead():
    apart = team([answer("Paris"), answer("Paris, France")], [answer("Lyon"), answer("Paris")])
    config = OrchestratorConfig(strategy="debate", max_rounds=2, restart_debounce_seconds=0)
    app = MassGenApp(apart, config, question="Capital of France?")
    async with app.run_test(size=(120, 40)) as pilot:
        await finished(pilot)
        await pilot.press("escape", "v")
        await until(pilot, lambda: isinstance(app.screen, VotesScreen))
        await until(pilot, lambda: "Winner" in shown_text(app.screen))
        seen = shown_text(app.screen)
        assert "A debate has no votes" in seen
        assert "Round 1 of 3" in seen and "agreement: 50%" in seen
        assert "answers: agent1.1, agent2.1" in seen
        assert "No votes · debate" in app.screen.query_one(".dialog").border_title


async def test_a_judge_run_says_who_aggregates_the_answers():
    config = OrchestratorConfig(strategy="judge", restart_debounce_seconds=0)
    app = MassGenApp(team([], [], []), config, question="Capital of France?")
    async with app.run_test(size=(80, 24)) as pilot:
        await finished(pilot)
        await pilot.press("escape", "v")
        await until(pilot, lambda: isinstance(app.screen, VotesScreen))
        await until(pilot, lambda: "Winner" in shown_text(app.screen))
        seen = shown_text(app.screen)
        assert "A judge run has no votes" in seen and "aggregated by agent1 (a1)" in seen
        assert "Layer 1 of 1" in seen and "answers: agent1.1, agent2.1, agent3.1" in seen
        assert "★ agent1, answer agent1.1 (aggregator: a1)" in seen


def add(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: the first number
        b: the second number
    """
    return a + b


def broken() -> str:
    """Always fails."""
    raise RuntimeError("the disk is on fire")


def tool_team() -> list[AgentSpec]:
    tools = [tool_from_function(f) for f in (add, broken)]
    script = [
        Step(calls=[("add", {"a": 2, "b": 3})]),
        Step(calls=[("broken", {})]),
        answer("2 + 3 = 5"),
        vote("agent1"),
    ]
    return [
        AgentSpec("a1", ScriptedBackend("a1", script), tools=tools),
        AgentSpec("a2", ScriptedBackend("a2", [answer("5"), vote("agent1")])),
    ]


async def look_at_tool_calls(app: MassGenApp, pilot) -> None:
    """``x`` on the first agent: two rows; each opens to its arguments and result."""
    await pilot.press("escape", "1", "x")
    await until(pilot, lambda: isinstance(app.screen, ToolCallsScreen))
    screen = app.screen
    listing = screen.query_one("#calls", OptionList)
    await until(pilot, lambda: listing.option_count == 2)
    rows = [str(listing.get_option_at_index(i).prompt) for i in range(2)]
    assert rows[0].startswith("✓ add") and rows[0].endswith("ok")
    assert rows[1].startswith("✗ broken") and rows[1].endswith("error")
    assert "Tool calls · agent1 (a1) · 2" in screen.query_one(".dialog").border_title
    await until(pilot, lambda: '"a": 2' in shown_text(screen))
    assert "Result (preview) 5" in shown_text(screen)
    await pilot.press("down")
    await until(pilot, lambda: "Error" in shown_text(screen))
    assert "the disk is on fire" in shown_text(screen)
    await pilot.press("n")  # the next agent: it called no tools
    await until(pilot, lambda: "agent2 has made no tool calls" in shown_text(screen))
    await pilot.press("escape")
    await until(pilot, lambda: not isinstance(app.screen, ToolCallsScreen))


async def test_the_tool_calls_view_lists_an_agents_calls_live_and_in_a_replay(tmp_path: Path):
    recorder = SessionRecorder(SOME_CONFIG, "test", log_dir=tmp_path)
    live = MassGenApp(tool_team(), CONFIG, question="What is 2 + 3?", recorder=recorder)
    async with live.run_test(size=(120, 40)) as pilot:
        await finished(pilot)
        await look_at_tool_calls(live, pilot)
    recorder.close(0)
    (session,) = store.session_dirs(tmp_path)
    events, _ = store.read_events(session)
    played = MassGenApp(replay=replay.split_parts(events), replay_speed=50)
    async with played.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: played.player is not None and played.player.finished)
        await settled(pilot)
        await look_at_tool_calls(played, pilot)


async def test_an_open_tool_calls_view_follows_a_call_that_is_still_running():
    gate = asyncio.Event()

    async def hold(note: str) -> str:
        """Wait until the test lets go.

        Args:
            note: anything
        """
        await gate.wait()
        return f"held {note}"

    script = [Step(calls=[("hold", {"note": "on"})]), answer("done"), vote("agent1")]
    agents = [AgentSpec("a1", ScriptedBackend("a1", script), tools=[tool_from_function(hold)])]
    app = MassGenApp(agents, CONFIG, question="Q")
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.ledger.calls.get("a1"))
        await pilot.press("escape", "x")
        await until(pilot, lambda: isinstance(app.screen, ToolCallsScreen))
        listing = app.screen.query_one("#calls", OptionList)
        await until(pilot, lambda: listing.option_count == 1)
        assert str(listing.get_option_at_index(0).prompt).startswith("⟳ hold")
        assert "Running: no result yet." in shown_text(app.screen)
        gate.set()
        await until(pilot, lambda: str(listing.get_option_at_index(0).prompt).endswith("ok"))
        await until(pilot, lambda: "Result (preview) held on" in shown_text(app.screen))
