"""Where the cards go, for the sizes the issue names: every agent in view when it fits."""

from __future__ import annotations

import pytest

from massgen.tui.layout import MIN_CARD_HEIGHT, MIN_CARD_WIDTH, plan


@pytest.mark.parametrize(
    ("size", "agents", "grid"),
    [
        ((90, 30), 3, (3, 1)),  # three side by side from ~90 columns
        ((120, 40), 3, (3, 1)),
        ((120, 40), 8, (4, 2)),
        ((160, 45), 3, (3, 1)),
        ((200, 50), 3, (3, 1)),
        ((200, 50), 8, (4, 2)),  # eight as a 4x2 grid
        ((300, 60), 3, (3, 1)),
        ((300, 60), 8, (4, 2)),  # 4x2 cards of 65 columns, not eight 37-column strips
    ],
)
def test_every_agent_gets_a_card_where_they_fit(size, agents, grid):
    p = plan(*size, agents)
    assert not p.tabs and (p.cols, p.rows) == grid
    assert p.card_width >= MIN_CARD_WIDTH and p.card_height >= MIN_CARD_HEIGHT


@pytest.mark.parametrize("final", [False, True])
def test_eight_agents_on_a_wide_screen_get_roomy_cards_not_strips(final):
    p = plan(300, 60, 8, final=final, ended=final)
    assert (p.cols, p.rows) == (4, 2) and p.card_width >= 60
    assert p.card_height >= 14  # still readable under a final answer


@pytest.mark.parametrize(("size", "agents"), [((80, 24), 3), ((80, 24), 8), ((56, 20), 3)])
def test_tabs_only_when_a_card_would_be_too_small(size, agents):
    p = plan(*size, agents)
    assert p.tabs and p.card_width >= MIN_CARD_WIDTH


def test_the_scoreboard_moves_below_the_cards_rather_than_squeeze_them():
    assert plan(200, 50, 3).scoreboard == "right"
    assert plan(100, 45, 3).scoreboard == "bottom"
    assert plan(100, 45, 3, scoreboard=False).scoreboard == "hidden"


def test_after_the_run_a_small_screen_gives_the_final_answer_the_larger_share():
    running, ended = plan(80, 24, 3, final=True), plan(80, 24, 3, final=True, ended=True)
    assert running.final_height < running.card_height  # agents at work keep their room
    assert ended.tabs and ended.final_height > ended.card_height + 1  # tab bar included
    assert plan(200, 50, 8, final=True, ended=True) == plan(200, 50, 8, final=True)


def test_the_final_pane_takes_a_share_of_the_height_and_tabs_can_be_asked_for():
    p = plan(200, 50, 8, final=True)
    assert 0 < p.final_height < 25 and not p.tabs
    assert plan(200, 50, 3, tabs=True).tabs
