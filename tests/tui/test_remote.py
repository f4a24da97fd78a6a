"""The app as a client of a real ``massgen serve`` (127.0.0.1, three agents over the fake
Chat Completions server): a question runs as the server's task and is drawn live from its
events, a follow-up carries the conversation, ``q`` leaves the task running and ``massgen
attach`` reopens it, Ctrl+C cancels it, and a finished task is reopened in full."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from massgen.client import Client
from massgen.exitcodes import ExitCode
from massgen.remote import Server
from massgen.tui.app import MassGenApp
from tests.fakes.chat_server import FakeChatServer
from tests.support.served_team import API_KEY, ServedTeam, served_team
from tests.tui.support import badge, card_text, cards, settled, until

QUESTION = "What is the capital of France?"
SIZE = (160, 45)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedTeam]:
    with FakeChatServer() as provider, served_team(tmp_path_factory.mktemp("srv"), provider) as s:
        yield s


@pytest.fixture
def server(served: ServedTeam) -> Iterator[ServedTeam]:
    served.provider.release()
    served.provider.reset()
    yield served
    served.provider.release()


def target(served: ServedTeam) -> Server:
    return Server(served.url, API_KEY)


async def test_a_question_runs_on_the_server_live_in_the_app_and_a_follow_up_carries_it(
    server: ServedTeam,
) -> None:
    server.provider.hold_after(3)  # the three first answers, then the reviews hold
    app = MassGenApp(question=QUESTION, server=target(server))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(app.view.answers) == 3)
        await settled(pilot)
        # live, mid-run: the server's agents as cards, their answers, the task in the header
        assert app.running and app.view.status == "running"
        assert [c.agent_id for c in cards(app)] == ["a1", "a2", "a3"]
        assert "New answer agent1.1" in card_text(cards(app)[0])
        assert [badge(c) for c in cards(app)] == ["thinking"] * 3  # reviewing, on the server
        assert app.view.prompt_tokens > 0  # the first answers' tokens, before the run ends
        task_id = app.remote_run.task_id if app.remote_run else None
        assert task_id and server.status(task_id) == "running"
        assert f"server 127.0.0.1:{server.url.rsplit(':', 1)[1]}" in app.remote_label()
        assert task_id in app.remote_label()
        keep(app.export_screenshot(), "live.svg")
        server.provider.release()
        await until(pilot, lambda: len(app.results) == 1 and not app.running)
        await settled(pilot)
        first = app.results[0]
        assert first.status == "ok" and first.final_answer
        assert first.final_answer.startswith("Final answer: What is the capital of France?")
        assert app.view.final_text == first.final_answer and app.view.winner_id == "a1"
        assert server.status(task_id) == "completed"
        # a follow-up: a new task whose messages are the conversation so far
        await pilot.click("#ask")
        app.ask.value = "And of Italy?"
        await pilot.press("enter")
        await until(pilot, lambda: len(app.results) == 2 and not app.running)
    assert app.exit_code() == ExitCode.OK
    assert app.results[1].final_answer and "And of Italy?" in app.results[1].final_answer
    follow_up = [r for r in server.provider.requests if "And of Italy?" in str(r.body)]
    assert follow_up and first.final_answer in str(follow_up[0].body["messages"])


async def test_q_leaves_the_task_running_and_attach_reopens_it_from_the_start(
    server: ServedTeam,
) -> None:
    server.provider.hold_after(3)
    app = MassGenApp(question=QUESTION, server=target(server))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(app.view.answers) == 3)
        task_id = app.remote_run.task_id if app.remote_run else None
        await pilot.press("ctrl+q")  # no "stop it?" question: nothing is stopped
        await until(pilot, lambda: not app.is_running)
    assert app.detached_from == task_id and task_id is not None
    assert server.status(task_id) == "running"  # the task goes on on the server
    await asyncio.sleep(1.5)

    again = MassGenApp(server=target(server), attach=task_id)
    async with again.run_test(size=SIZE) as pilot:
        # its events from the first: the agents and their answers, before it goes on
        await until(pilot, lambda: len(again.view.answers) == 3)
        assert again.view.question == QUESTION and again.running
        assert again.view.elapsed >= 1.5  # the run's time on the server, not since reopened
        server.provider.release()
        await until(pilot, lambda: len(again.results) == 1 and not again.running)
        await settled(pilot)
        assert again.view.status == "ok" and again.view.final_text.startswith("Final answer")
        # a follow-up after reopening goes on with the reopened conversation
        assert again.history == [(QUESTION, again.results[0].final_answer)]
    assert again.exit_code() == ExitCode.OK and again.detached_from is None


async def test_ctrl_c_cancels_the_task_on_the_server(server: ServedTeam) -> None:
    server.provider.hold_after(3)
    app = MassGenApp(question=QUESTION, server=target(server))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(app.view.answers) == 3)
        task_id = app.remote_run.task_id if app.remote_run else None
        await pilot.press("ctrl+c")
        await until(pilot, lambda: len(app.results) == 1 and not app.running)
        await settled(pilot)
        assert app.view.status == "cancelled"
    assert task_id is not None and server.status(task_id) == "cancelled"
    assert app.exit_code() == ExitCode.INTERRUPTED and app.detached_from is None


def keep(picture: str, name: str) -> None:
    """With ``$MASSGEN_SCREENSHOT_DIR``, the screen as SVG there (rsvg-convert to look)."""
    if os.environ.get("MASSGEN_SCREENSHOT_DIR"):
        Path(os.environ["MASSGEN_SCREENSHOT_DIR"], name).write_text(picture)


async def test_a_finished_task_is_reopened_in_full(server: ServedTeam) -> None:
    with Client(api_key=API_KEY, base_url=server.url) as client:
        task = client.tasks.create([{"role": "user", "content": QUESTION}])
        for _ in client.tasks.stream_events(task.id):
            pass
        answer = client.tasks.get_result(task.id).output
    app = MassGenApp(server=target(server), attach=task.id)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(app.results) == 1 and not app.running)
        await settled(pilot)
        view = app.view
        assert view.status == "ok" and view.final_text == answer and answer
        assert len(view.answers) == 3 and view.tally == {"agent1": 3}
        assert view.question == QUESTION and 0 < view.elapsed < 30  # the server's own time
        # the tokens, in the header and on each card, from the task's run_finished
        per_agent = [a.prompt_tokens + a.completion_tokens for a in view.agents.values()]
        assert all(per_agent) and sum(per_agent) == view.prompt_tokens + view.completion_tokens
        picture = app.export_screenshot()
    keep(picture, "attached.svg")
    assert "Final&#160;answer:&#160;What&#160;is&#160;the&#160;capital" in picture
    assert task.id in picture.replace("&#160;", " ")
    assert app.exit_code() == ExitCode.OK


async def test_an_unknown_task_closes_the_app_with_one_line(server: ServedTeam) -> None:
    app = MassGenApp(server=target(server), attach="task_0000")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: not app.is_running)
    assert app.remote_failure is not None
    assert app.remote_failure.code == ExitCode.USAGE
    assert "has no task task_0000" in app.remote_failure.message
