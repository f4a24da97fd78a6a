"""The welcome screen: the team and its strategy before the first question, whether each
agent's key or endpoint answers (checked against real endpoints after the first frame), and
example questions that fill the input."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from textual.widgets import OptionList, Static

from massgen.cli.reach import reach
from massgen.config.schema import MassGenConfig
from massgen.providers import PROVIDER_KEY_VARS
from massgen.tui.app import MassGenApp
from massgen.tui.welcome import CHECKING, EXAMPLES, Welcome, team_of
from tests.fakes.chat_server import FakeChatServer
from tests.tui.support import CONFIG, finished, quick_team, text, until


@pytest.fixture
def server() -> Iterator[FakeChatServer]:
    with FakeChatServer() as fake:
        yield fake


@pytest.fixture(autouse=True)
def no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in PROVIDER_KEY_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once closed


def config(server_url: str, **orchestrator: Any) -> MassGenConfig:
    return MassGenConfig.model_validate(
        {
            "agents": [
                {
                    "id": "careful",
                    "backend": {
                        "type": "chatcompletion",
                        "model": "fake-model",
                        "base_url": server_url,
                    },
                },
                {"id": "remote", "backend": {"type": "openai", "model": "gpt-4o-mini"}},
                {
                    "id": "offline",
                    "backend": {
                        "type": "vllm",
                        "model": "qwen",
                        "base_url": f"http://127.0.0.1:{closed_port()}/v1",
                    },
                },
            ],
            "orchestrator": orchestrator,
        }
    )


def _rendered(app: MassGenApp) -> str:
    """What the team's panel shows, as text."""
    widget = app.query_one("#welcome-team", Static)
    lines = widget.render_lines(widget.region.reset_offset)
    return "\n".join("".join(s.text for s in line) for line in lines)


async def test_the_team_is_listed_with_its_strategy_before_the_first_question(
    server: FakeChatServer,
) -> None:
    team = team_of(config(server.url, strategy="debate", judge="careful"))
    app = MassGenApp(quick_team(), CONFIG, team=team)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        shown = _rendered(app)
        rows = {
            line.split()[0]: line for line in shown.splitlines() if line.strip().startswith("agent")
        }
        assert "careful" in rows["agent1"] and "chatcompletion · fake-model" in rows["agent1"]
        assert "remote" in rows["agent2"] and "openai · gpt-4o-mini" in rows["agent2"]
        assert "offline" in rows["agent3"] and "vllm · qwen" in rows["agent3"]
        assert "debate · 2 revision rounds · agreement 100% · final answer by careful" in shown
        said = text(app.query_one("#welcome-intro", Static))
        assert "revise round by round" in said and "vote" not in said  # in debate's words
        assert CHECKING not in shown  # no check was asked for


async def test_each_agent_says_whether_its_endpoint_answers(server: FakeChatServer) -> None:
    app = MassGenApp(quick_team(), CONFIG, team=team_of(config(server.url), reach))
    async with app.run_test(size=(160, 40)) as pilot:
        await until(pilot, lambda: CHECKING not in _rendered(app), limit=30)
        rows = [line for line in _rendered(app).splitlines() if line.strip().startswith("agent")]
        assert "✓ reachable" in rows[0]
        assert "✗ no API key for OpenAI (set OPENAI_API_KEY)" in rows[1]
        assert "✗ cannot reach http://127.0.0.1:" in rows[2]
        assert "vote · up to 6 rounds" in _rendered(app)


async def test_the_screen_paints_and_says_checking_before_any_answer(
    server: FakeChatServer,
) -> None:
    release = threading.Event()
    probed: list[str] = []

    async def slow(backend: Any) -> tuple[bool, str]:  # an endpoint that takes its time
        probed.append(backend.type)
        await asyncio.to_thread(release.wait, 30)
        return await reach(backend)

    app = MassGenApp(quick_team(), CONFIG, team=team_of(config(server.url), slow))
    async with app.run_test(size=(160, 40)) as pilot:
        await until(pilot, lambda: len(probed) == 3)
        assert _rendered(app).count(CHECKING) == 3 and app.focused is app.ask
        release.set()
        await until(pilot, lambda: "✓ reachable" in _rendered(app), limit=30)


async def test_picking_an_example_question_fills_the_input_and_the_welcome_goes_when_a_run_starts(
    server: FakeChatServer,
) -> None:
    cfg = config(server.url)
    cfg.ui.examples = ["What is the capital of France?", "Name three prime numbers."]
    app = MassGenApp(quick_team("Paris."), CONFIG, team=team_of(cfg))
    async with app.run_test(size=(140, 40)) as pilot:
        options = app.query_one("#welcome-examples", OptionList)
        shown = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert shown == cfg.ui.examples
        await pilot.press("tab")  # from the input to the examples
        assert app.focused is options
        await pilot.press("down", "enter")
        assert app.ask.value == "Name three prime numbers." and app.focused is app.ask
        await pilot.press("enter")
        await finished(pilot)
        assert not app.query_one(Welcome).display
        assert app.results[0].question == "Name three prime numbers."


async def test_without_examples_in_the_config_the_built_in_ones_are_offered() -> None:
    app = MassGenApp(quick_team(), CONFIG)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        options = app.query_one("#welcome-examples", OptionList)
        assert options.option_count == len(EXAMPLES)
        await pilot.click("#welcome-examples", offset=(4, 1))  # the first example, with the mouse
        assert app.ask.value == EXAMPLES[0]
        assert "Several agents answer" in text(app.query_one("#welcome-intro", Static))
