"""Sessions recorded before ``run_started`` carried the strategy's vocabulary replay as they
did then: a judge run's steps are layers, a debate's rounds, neither with votes."""

from __future__ import annotations

import pytest

from massgen.events import RunStarted
from massgen.sessions.replay import to_event
from massgen.tui.scoreboard import summary
from massgen.tui.state import RunView


@pytest.mark.parametrize(
    ("strategy", "noun", "votes", "heading"),
    [
        ("judge", "layer", False, "Layer 1"),
        ("debate", "round", False, "Round 1"),
        ("vote", "round", True, "Round 1 · 0/0 voted"),
    ],
)
def test_an_earlier_recording_gets_its_strategys_words(strategy, noun, votes, heading):
    recorded = {"type": "run_started", "question": "Q", "strategy": strategy, "agents": []}
    event = to_event(recorded)
    assert isinstance(event, RunStarted)
    assert (event.step_noun, event.has_votes) == (noun, votes)
    view = RunView()
    view.apply(event)
    assert summary(view, 60).plain.startswith(heading)


def test_a_recording_that_says_its_words_keeps_them():
    said = {
        "type": "run_started",
        "question": "Q",
        "strategy": "judge",
        "agents": [],
        "step_noun": "tier",
        "has_votes": False,
        "steps": 4,
    }
    event = to_event(said)
    assert isinstance(event, RunStarted)
    assert (event.step_noun, event.has_votes, event.steps) == ("tier", False, 4)
