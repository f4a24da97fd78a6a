"""What each card says an agent did: a vote is a vote; an agent that judged the answers
without a valid vote says it abstained, on its card, its tab mark and in the tally."""

from __future__ import annotations

from massgen.tui.app import MassGenApp
from massgen.tui.cards import MARKS
from tests.support.scripted import answer, say, team, vote
from tests.tui.support import CONFIG, badge, card_text, cards, finished, text, until


async def test_an_agent_that_abstains_is_not_shown_as_voted():
    # agent2 reviews in prose three times: no valid vote, so its turn abstains
    agents = team(
        [answer("Paris."), vote("agent1"), say("Paris.")],
        [answer("It is Paris."), say("hmm"), say("hmm"), say("hmm")],
    )
    app = MassGenApp(agents, CONFIG, question="Capital of France?")
    async with app.run_test(size=(140, 40)) as pilot:
        await finished(pilot)
        first, second = cards(app)
        await until(pilot, lambda: badge(first) != "" and badge(second) != "")
        assert badge(first) == "winner" and badge(second) == "abstained"
        assert second.has_class("-abstained") and not second.has_class("-voted")
        assert MARKS["abstained"][0] != MARKS["voted"][0]
        assert "1/2 voted" in text(app.query_one("#score-summary"))


async def test_the_winner_is_marked_and_every_card_ends_when_the_run_ends():
    agents = team(
        [answer("Paris."), vote("agent1"), say("Paris, on the Seine.")],
        [answer("It is Paris."), vote("agent1")],
        [answer("Paris, France."), vote("agent2")],
    )
    app = MassGenApp(agents, CONFIG, question="Capital of France?")
    async with app.run_test(size=(160, 45)) as pilot:
        await finished(pilot)
        winner, *others = cards(app)
        await until(pilot, lambda: all(badge(c) for c in cards(app)))
        assert badge(winner) == "winner" and winner.has_class("-winner")
        assert "writing the final answer" not in card_text(winner)
        assert "wrote the final answer" in card_text(winner)
        for card in cards(app):  # no card still says what its last turn was doing
            assert "presenting" not in card.status_text and "reviewing" not in card.status_text
        assert [badge(c) for c in others] == ["voted", "voted"]


def test_a_finished_judge_run_does_not_say_no_result_yet():
    from massgen.events import RunFinished, RunStarted, WinnerSelected
    from massgen.tui.scoreboard import summary
    from massgen.tui.state import RunView

    view = RunView()
    agents = [{"id": "a1", "label": "agent1", "model": "m", "backend": "b"}]
    view.apply(
        RunStarted(
            question="Q",
            strategy="judge",
            step_noun="layer",
            has_votes=False,
            steps=1,
            agents=agents,
            ts=1.0,
        )
    )
    view.apply(
        WinnerSelected(
            agent_id="a1",
            label="agent1",
            answer_label="agent1.1",
            tally={},
            is_tie=False,
            reason="aggregated",
        )
    )
    view.apply(RunFinished(status="ok", duration_s=1.0, final_answer="X", winner="a1"))
    board = summary(view, 60).plain
    assert "Winner agent1" in board and "no result yet" not in board
