"""What each card says an agent did: a vote is a vote; an agent that judged the answers
without a valid vote says it abstained, on its card, its tab mark and in the tally."""

from __future__ import annotations

from massgen.tui.app import MassGenApp
from massgen.tui.cards import MARKS
from tests.support.scripted import answer, say, team, vote
from tests.tui.support import CONFIG, badge, cards, finished, text


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
        assert badge(first) == "voted" and badge(second) == "abstained"
        assert second.has_class("-abstained") and not second.has_class("-voted")
        assert MARKS["abstained"][0] != MARKS["voted"][0]
        assert "1/2 voted" in text(app.query_one("#score-summary"))
