"""The in-app session picker (``o``): the recorded conversations, newest first; picking one
brings its questions and answers on screen, and the next question goes to the model with
them and is recorded as the session's next part. Agents are real OpenAI-compatible backends
talking to the fake Chat Completions server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from massgen.config.loader import load_config_dict
from massgen.config.schema import MassGenConfig
from massgen.runs import build_team
from massgen.sessions.recorder import SessionRecorder
from massgen.sessions.store import session_dirs
from massgen.tui.app import MassGenApp
from massgen.tui.conversation import TurnRow
from massgen.tui.sessions_picker import SessionsScreen
from tests.fakes.chat_server import FakeChatServer
from tests.support.scripted import answer, vote
from tests.tui.support import CONFIG, finished, gated_team, settled, text, until


@pytest.fixture
def provider() -> Iterator[FakeChatServer]:
    with FakeChatServer() as server:
        yield server


def config_for(url: str) -> MassGenConfig:
    agents = [
        {"id": f"a{i}", "backend": {"type": "vllm", "model": f"m{i}", "base_url": url}}
        for i in (1, 2)
    ]
    data = {"agents": agents, "orchestrator": {"restart_debounce_seconds": 0}}
    return load_config_dict(data, "team.yaml").config


async def record(config: MassGenConfig, log_dir: Path, question: str) -> str:
    """A conversation of one question, recorded as the app records it; its final answer."""
    recorder = SessionRecorder(config, "team.yaml", log_dir=log_dir)
    app = MassGenApp(build_team(config), config.orchestrator, question=question, recorder=recorder)
    async with app.run_test(size=(120, 36)) as pilot:
        await finished(pilot)
    recorder.close()
    final = app.results[0].final_answer
    assert final
    return final


def listing(app: MassGenApp) -> list[str]:
    options = app.screen.query_one("#session-list")
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


async def test_o_reopens_a_recorded_conversation_and_the_next_question_carries_it(
    provider, tmp_path, monkeypatch
):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    config, log_dir = config_for(provider.url), tmp_path / "sessions"
    zebra = await record(config, log_dir, "Name a zebra species")
    await record(config, log_dir, "Name a river")
    (newer, older) = session_dirs(log_dir)  # newest first, also within one second
    provider.reset()

    recorder = SessionRecorder(config, "team.yaml", log_dir=log_dir)
    app = MassGenApp(build_team(config), config.orchestrator, recorder=recorder)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("escape", "o")
        await until(pilot, lambda: isinstance(app.screen, SessionsScreen))
        await settled(pilot)
        rows = listing(app)
        assert "Name a river" in rows[0] and "Name a zebra species" in rows[1]  # newest first
        assert all("1 part " in row and " ok " in row for row in rows)
        await pilot.press("down", "enter")  # the older one
        await until(pilot, lambda: not isinstance(app.screen, SessionsScreen))
        await until(pilot, lambda: bool(list(app.query(TurnRow))))
        await settled(pilot)
        (row,) = app.query(TurnRow)
        assert "Q: Name a zebra species" in text(row) and zebra.split()[0] in text(row)
        assert row.region.height == 1 and row.region.width > 0  # on screen, collapsed
        assert app.focused is app.ask

        await pilot.press(*"How fast does it run?", "enter")
        await finished(pilot)
        assert "Name a zebra species" in text(next(iter(app.query(TurnRow))))
        await pilot.press("escape", "o")  # the list again: the conversation on screen is marked
        await until(pilot, lambda: isinstance(app.screen, SessionsScreen))
        await settled(pilot)
        (marked,) = [row for row in listing(app) if "(on screen)" in row]
        assert "Name a zebra species" in marked and "2 parts" in marked
        await pilot.press("escape")
    recorder.close()

    first = json.dumps(provider.requests[0].body["messages"])
    assert "Name a zebra species" in first and zebra in first  # the earlier conversation
    assert "How fast does it run?" in first
    assert "Name a river" not in first
    assert set(log_dir.iterdir()) == {older, newer}  # no new session: a part of the old
    summary = json.loads((older / "summary.json").read_text())
    assert [p["question"] for p in summary["parts"]] == [
        "Name a zebra species",
        "How fast does it run?",
    ]


async def test_o_waits_for_the_run_to_end_and_says_so():
    gate = asyncio.Event()
    agents = gated_team(gate, [answer("a"), vote("agent1")], [answer("b"), vote("agent1")])
    app = MassGenApp(agents, CONFIG, question="Hold on")
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: app.running)
        await pilot.press("escape", "o")
        await settled(pilot)
        assert not isinstance(app.screen, SessionsScreen)
        assert any("A run is going" in str(n.message) for n in app._notifications)
        gate.set()
        await finished(pilot)
