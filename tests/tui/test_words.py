"""Each strategy in its own words (issue 24, item 5): debate counts the agents that agree,
round by round; judge names its aggregator; the header and the scoreboard name the step
alike; bars are scaled against every agent."""

from __future__ import annotations

from massgen.config.schema import OrchestratorConfig
from massgen.events import RoundFinished, RunStarted, VoteCast
from massgen.sessions.replay import to_event
from massgen.tui.app import MassGenApp
from massgen.tui.chrome import RunHeader
from massgen.tui.final import FinalPane
from massgen.tui.markdown_view import MarkdownView
from massgen.tui.scoreboard import BAR, summary
from massgen.tui.screens import TextScreen
from massgen.tui.state import RunView
from tests.support.scripted import answer, say, team
from tests.tui.support import badge, card_text, cards, finished, settled, text, until

AGENTS = [{"id": f"a{i}", "label": f"agent{i}", "model": "m", "backend": "b"} for i in (1, 2, 3)]


def board(app: MassGenApp) -> str:
    return text(app.query_one("#score-summary"))


async def test_a_debate_says_who_agrees_with_whom_each_round():
    agents = team(
        [answer("Paris"), answer("Paris")],
        [answer("Lyon"), answer("Paris")],
        [answer("Marseille"), answer("Marseille")],
    )
    config = OrchestratorConfig(strategy="debate", max_rounds=1, restart_debounce_seconds=0)
    app = MassGenApp(agents, config, question="Capital of France?")
    async with app.run_test(size=(120, 40)) as pilot:
        await finished(pilot)
        shown, header = board(app), text(app.query_one(RunHeader))
        assert "round 1: agent1 · agent2 · agent3" in shown  # three answers apart
        assert "round 2: ★ agent1 = agent2 · agent3" in shown  # agent2 came round
        assert "debate · round 2/2" in header and shown.startswith("Round 2/2")
        title = app.query_one(FinalPane).border_title
        assert "2 of 3 agents agree" in title and "votes" not in title
        assert "vote" not in shown
        await pilot.press("escape", "a", "down", "enter")  # agent2.1, Lyon
        await until(pilot, lambda: isinstance(app.screen, TextScreen))
        await settled(pilot)
        full = "\n".join(app.screen.query_one("#full-text", MarkdownView).plain_lines)
        assert "round 2: agent1 = agent2" in full and "vote" not in full.lower()
    # with a judge, the judge writes the final answer from the agreeing answers
    agents = team(
        [answer("Paris"), answer("Paris")],
        [answer("Lyon"), answer("Paris")],
        [answer("Marseille"), answer("Marseille"), say("All told: Paris.")],
    )
    config = config.model_copy(update={"judge": "a3"})
    app = MassGenApp(agents, config, question="Capital of France?")
    async with app.run_test(size=(120, 40)) as pilot:
        await finished(pilot)
        assert "round 2: ★ agent1 = agent2 · agent3" in board(app)
        assert "Aggregated by agent3" in board(app)
        title = app.query_one(FinalPane).border_title
        assert "2 of 3 agents agree · aggregated by agent3" in title
        await until(pilot, lambda: [badge(c) for c in cards(app)][2] == "aggregator")


async def test_a_judge_run_names_its_aggregator_and_its_layers_alike():
    agents = team(
        [answer("Paris"), answer("Paris!")],
        [answer("Lyon"), answer("Paris"), say("Paris, all things considered.")],
        [answer("Marseille"), answer("Paris?")],
    )
    config = OrchestratorConfig(strategy="judge", layers=2, judge="a2", restart_debounce_seconds=0)
    app = MassGenApp(agents, config, question="Capital of France?")
    async with app.run_test(size=(120, 40)) as pilot:
        await finished(pilot)
        shown, header = board(app), text(app.query_one(RunHeader))
        assert "judge · layer 2/2" in header and shown.startswith("Layer 2/2")
        assert "Aggregated by agent2" in shown and "Winner" not in shown
        title = app.query_one(FinalPane).border_title
        assert "aggregated by agent2" in title and "winner" not in title
        assert "votes" not in title
        first, second, third = cards(app)
        await until(pilot, lambda: badge(second) == "aggregator")
        assert "turn 3: aggregating the answers" in card_text(second)
        assert "presenting" not in card_text(second) + second.status_text
        assert "winner" not in first.status_text + second.status_text + third.status_text


def test_a_one_each_tally_is_three_short_bars_not_three_full_ones():
    view = RunView()
    view.apply(RunStarted(question="Q", strategy="vote", agents=AGENTS, ts=1.0))
    for voter, target in (("a1", "agent2"), ("a2", "agent3"), ("a3", "agent1")):
        view.apply(
            VoteCast(
                agent_id=voter,
                voter=voter,
                target=target,
                target_agent_id="a" + target[-1],
                target_answer=f"{target}.1",
                reason="",
            )
        )
    assert bars(view) == [7, 7, 7]  # a third of the room (20) each
    debate = RunView()
    debate.apply(RunStarted(question="Q", strategy="debate", has_votes=False, agents=AGENTS))
    groups = [["agent1"], ["agent2"], ["agent3"]]
    debate.apply(RoundFinished(strategy="debate", round=1, last_round=2, groups=groups))
    assert bars(debate) == []  # a debate says who agrees with whom instead
    assert "round 1: agent1 · agent2 · agent3" in summary(debate, 60).plain
    # a debate recorded before rounds carried their groups replays without them
    old = RoundFinished(strategy="debate", round=2, last_round=2, agreement=0.5).to_dict()
    old.pop("groups")
    event = to_event(old)
    assert event is not None
    debate.apply(event)
    assert "50% agree" in summary(debate, 60).plain and 2 not in debate.groups


def bars(view: RunView) -> list[int]:
    return [line.count(BAR) for line in summary(view, 60).plain.splitlines() if BAR in line]
