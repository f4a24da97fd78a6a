"""The agents' cards are on screen while the agents are still being built (provider SDKs
load in a thread after the first frame), then the run goes on in the same cards."""

from __future__ import annotations

import threading

from massgen.config.loader import load_config_text
from massgen.tui.app import MassGenApp
from massgen.tui.welcome import Member, Team, team_of
from tests.tui.support import CONFIG, badge, cards, finished, quick_team, until

TEAM = Team(
    tuple(
        Member(f"agent{i}", f"a{i}", "chatcompletion", model, configured_model=model)
        for i, model in enumerate(("model-one", "model-two", "model-three"), 1)
    )
)


async def test_cards_are_up_before_the_agents_are_built_and_the_run_keeps_them():
    built = threading.Event()

    def slow_build():
        built.wait(120)  # the SDKs loading, until the test lets them finish
        return quick_team("Paris.")

    app = MassGenApp(slow_build, CONFIG, question="What is the capital of France?", team=TEAM)
    async with app.run_test(size=(160, 45)) as pilot:
        # ordering, not speed, is under test: a loaded machine may take long to start the app
        await until(pilot, lambda: len(cards(app)) == 3, limit=90)
        assert not app.agents_ready
        first = cards(app)
        assert [c.border_title.split(" · ")[0] for c in first] == ["agent1", "agent2", "agent3"]
        await until(pilot, lambda: all("starting" in badge(c) for c in first))
        assert "model-one" in str(first[0].border_subtitle)
        built.set()
        await finished(pilot)
        assert cards(app) == first  # the same cards: nothing re-mounted, nothing moved
        assert app.view.final_text.strip() == "Paris."


async def test_without_a_question_the_welcome_stays_until_one_is_asked():
    built = threading.Event()
    app = MassGenApp(lambda: (built.wait(20), quick_team())[1], CONFIG, team=TEAM)
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause(0.2)
        assert cards(app) == []  # no run yet: the welcome screen lists the team instead
        assert app.query_one("#welcome").display
        built.set()
        await until(pilot, lambda: app.agents_ready)


def test_the_preview_names_agents_as_the_engine_does():
    config = load_config_text(
        "agents:\n"
        "  - id: careful\n    backend: {type: chatcompletion, base_url: 'http://127.0.0.1:9/v1', model: m1}\n"
        "  - backend: {type: chatcompletion, base_url: 'http://127.0.0.1:9/v1', model: m2}\n"
    )
    assert team_of(config.config).preview() == [
        {"id": "careful", "label": "agent1", "model": "m1", "backend": "chatcompletion"},
        {"id": "agent2", "label": "agent2", "model": "m2", "backend": "chatcompletion"},
    ]


async def test_a_question_typed_while_the_agents_load_runs_after_the_first_one():
    built = threading.Event()
    app = MassGenApp(
        lambda: (built.wait(20), quick_team())[1], CONFIG, question="First?", team=TEAM
    )
    async with app.run_test(size=(160, 45)) as pilot:
        await until(pilot, lambda: len(cards(app)) == 3)
        await pilot.press(*"Second?", "enter")
        await until(pilot, lambda: app.queued == "Second?")
        built.set()
        await finished(pilot, runs=2)
        assert [part.question for part in app.parts] == ["First?", "Second?"]
