"""In a real terminal (tmux): ``massgen --server URL "question"`` opens the app on a task of a
real ``massgen serve`` (127.0.0.1, three agents over the fake Chat Completions server), draws
it live, ends with the final answer, and leaves that answer on stdout when quit."""

from __future__ import annotations

import shlex
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.chat_server import FakeChatServer
from tests.support.served_team import API_KEY, ServedTeam, served_team
from tests.tui.test_terminal import SIZE, Tmux, clean_env

QUESTION = "What is the capital of France?"
DEADLINE_S = 45.0

pytestmark = [
    pytest.mark.skipif(
        shutil.which("tmux") is None, reason="tmux is not installed: no real terminal to run in"
    ),
    pytest.mark.serial,  # a real terminal's timing: alone, after the parallel tests
]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServedTeam]:
    with FakeChatServer(ttft=0.2) as provider, served_team(tmp_path, provider) as s:
        yield s


def test_massgen_server_shows_the_task_live_in_the_app_and_ends_with_the_answer(
    tmp_path: Path, served: ServedTeam
) -> None:
    served.provider.hold_after(3)  # the first answers, then the run holds: "live" is certain
    massgen = shlex.join(
        [sys.executable, "-m", "massgen", "--server", served.url, "--api-key", API_KEY, QUESTION]
    )
    command = f"{massgen}; echo EXIT=$?; sleep {DEADLINE_S:.0f}"
    tmux = Tmux(tmp_path / "tmux.sock", clean_env(tmp_path, served.provider))
    deadline = time.monotonic() + DEADLINE_S
    try:
        tmux.start(command, SIZE)
        live = tmux.wait_for(
            lambda s: "New answer agent3.1" in s or ("agent1.1" in s and "agent3.1" in s),
            "the agents' answers, mid-run",
            deadline,
        )
        assert "server 127.0.0.1" in live and "task_" in live  # the header names the task
        assert "agent1 · a1" in live and "agent3 · a3" in live  # the server's agents as cards
        assert "Final answer:" not in live and "Traceback" not in live
        served.provider.release()
        done = tmux.wait_for(
            lambda s: (
                "Final answer: What is the capital of France?" in s and "Ask a follow-up" in s
            ),
            "the final answer",
            deadline,
        )
        assert "EXIT=" not in done  # still in the app
        tmux.keys("C-q")
        after = tmux.wait_for(lambda s: "EXIT=" in s, "massgen to exit", deadline)
    finally:
        tmux.kill()
    lines = [line.strip() for line in after.splitlines() if line.strip()]
    assert "EXIT=0" in lines, after
    exit_at = lines.index("EXIT=0")
    assert lines[exit_at - 1].startswith("Final answer: What is the capital of France?"), after
    assert "Traceback" not in after and "massgen: left task" not in after
    assert served.status(served.wait_for_task({"completed"})) == "completed"


def test_ctrl_q_leaves_the_task_running_and_massgen_attach_reopens_it(
    tmp_path: Path, served: ServedTeam
) -> None:
    served.provider.hold_after(3)
    base = [sys.executable, "-m", "massgen"]
    asked = shlex.join([*base, "--server", served.url, "--api-key", API_KEY, QUESTION])
    tmux = Tmux(tmp_path / "tmux.sock", clean_env(tmp_path, served.provider))
    deadline = time.monotonic() + DEADLINE_S
    try:
        tmux.start(f"{asked}; echo EXIT=$?; sleep {DEADLINE_S:.0f}", SIZE)
        tmux.wait_for(lambda s: "agent3.1" in s, "the agents' answers, mid-run", deadline)
        tmux.keys("C-q")  # no "stop it?" question: nothing is stopped
        left = tmux.wait_for(lambda s: "EXIT=" in s, "massgen to exit", deadline)
        task_id = served.wait_for_task({"running"})
        flat = "".join(left.splitlines())  # one line, wrapped at the pane's width
        assert f"massgen: left task {task_id} running on {served.url}" in flat, left
        assert f"massgen attach {task_id} reopens it" in flat and "EXIT=130" in flat
        tmux.kill()

        attach = shlex.join([*base, "attach", task_id, "--server", served.url])
        command = f"MASSGEN_API_KEY={API_KEY} {attach}; echo EXIT=$?; sleep {DEADLINE_S:.0f}"
        tmux.start(command, SIZE)
        tmux.wait_for(lambda s: "agent3.1" in s and "task_" in s, "the reopened task", deadline)
        served.provider.release()
        tmux.wait_for(lambda s: "Final answer: What is the capital" in s, "its answer", deadline)
        tmux.keys("C-q")
        after = tmux.wait_for(lambda s: "EXIT=" in s, "massgen to exit", deadline)
    finally:
        tmux.kill()
    lines = [line.strip() for line in after.splitlines() if line.strip()]
    assert "EXIT=0" in lines, after
    assert lines[lines.index("EXIT=0") - 1].startswith("Final answer: What is the capital")
    assert served.status(task_id) == "completed"
