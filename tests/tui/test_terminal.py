"""Smoke test in a real terminal: ``massgen`` opens the app inside tmux, runs three agents
against the fake Chat Completions server side by side, takes a follow-up typed during the run
(queued), quits on ``Ctrl+Q`` and leaves the final answer on stdout.

The tmux server is private to the test (its own socket under ``tmp_path``, no config file),
so it starts with the test's clean environment and never touches a tmux the user runs.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from massgen.providers import PROVIDER_KEY_VARS
from tests.fakes.chat_server import CoordinationBrain, FakeChatServer, Reply

QUESTION = "What is the capital of France?"
SIZE = (140, 40)
#: The presentation the fake server streams (its default brain answers and votes).
FINAL_TEXT = "Paris is the capital of France, says the fake server."
DEADLINE_S = 30.0

pytestmark = [
    pytest.mark.skipif(
        shutil.which("tmux") is None, reason="tmux is not installed: no real terminal to run in"
    ),
    pytest.mark.serial,  # a real terminal's timing: alone, after the parallel tests
]


@pytest.fixture
def provider() -> Iterator[FakeChatServer]:
    brain = CoordinationBrain()

    def present_final_text(body: dict[str, Any]) -> Reply:
        return brain(body) if body.get("tools") else Reply(text=FINAL_TEXT)

    # slow enough (3 phases of >= 0.4 s) that a follow-up typed during the run is queued
    with FakeChatServer(ttft=0.4, tokens_per_second=200, brain=present_final_text) as server:
        yield server


class Tmux:
    """One detached session on a private tmux server."""

    def __init__(self, socket: Path, env: dict[str, str]) -> None:
        self.socket, self.env = socket, env
        self.session = "massgen-smoke"

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["tmux", "-u", "-f", os.devnull, "-S", str(self.socket), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=10,
            check=check,
        )

    def start(self, command: str, size: tuple[int, int]) -> None:
        width, height = size
        self("new-session", "-d", "-s", self.session, "-x", str(width), "-y", str(height), command)

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", self.session).stdout

    def keys(self, *keys: str) -> None:
        self("send-keys", "-t", self.session, *keys)

    def wait_for(self, condition: Callable[[str], bool], what: str, deadline: float) -> str:
        while True:
            screen = self.screen()
            if condition(screen):
                return screen
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}; the terminal shows:\n{screen}")
            time.sleep(0.1)

    def kill(self) -> None:
        self("kill-session", "-t", self.session, check=False)
        self("kill-server", check=False)


def clean_env(tmp_path: Path, provider: FakeChatServer) -> dict[str, str]:
    drop = {*PROVIDER_KEY_VARS, "TMUX", "TMUX_PANE"}
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in drop and not k.startswith(("TEXTUAL", "MASSGEN_"))
    }
    (tmp_path / "home").mkdir()
    (tmp_path / "config").mkdir()
    env.update(
        HOME=str(tmp_path / "home"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        MASSGEN_LOCAL_BASE_URL=provider.url,
        MASSGEN_LOCAL_MODEL="fake-model",
        LANG="C.UTF-8",
        LC_ALL="C.UTF-8",
        TERM="xterm-256color",  # of the tmux client; programs in the pane get tmux's own
        PYTHONUNBUFFERED="1",
    )
    return env


def test_the_app_runs_in_tmux_queues_a_follow_up_quits_on_ctrl_q_and_prints_the_answer(
    tmp_path: Path, provider: FakeChatServer
) -> None:
    work = tmp_path / "work"  # no .env or config file of the repository's can apply here
    work.mkdir()
    massgen = shlex.join(
        [sys.executable, "-m", "massgen", "-c", "three_agents_local_server", QUESTION]
    )
    # The pane stays open after massgen exits (sleep) so that its output can be read.
    command = f"cd {shlex.quote(str(work))} && {massgen}; echo EXIT=$?; sleep {DEADLINE_S:.0f}"
    tmux = Tmux(tmp_path / "tmux.sock", clean_env(tmp_path, provider))
    deadline = time.monotonic() + DEADLINE_S
    try:
        tmux.start(command, SIZE)
        started = tmux.wait_for(
            lambda s: "careful" in s and "inventive" in s, "the cards", deadline
        )
        assert "Traceback" not in started
        # Typing while the run goes is text for the input (not keys); /next queues it.
        tmux.keys("-l", "/next quick follow-up")
        tmux.keys("Enter")
        tmux.wait_for(lambda s: "queued: quick follow-up" in s, "the queued question", deadline)
        screen = tmux.wait_for(
            lambda s: FINAL_TEXT in s and "Ask a follow-up" in s and len(provider.requests) >= 14,
            "the follow-up to finish",
            deadline,
        )
        assert "Traceback" not in screen and "EXIT=" not in screen  # still in the app
        # All three cards side by side at 140x40: their titles on one line.
        titles = next(line for line in screen.splitlines() if "careful" in line)
        assert "balanced" in titles and "inventive" in titles
        tmux.keys("C-q")  # from the input: quits at once when no run is going
        after = tmux.wait_for(lambda s: "EXIT=" in s, "massgen to exit", deadline)
        lines = [line.strip() for line in after.splitlines() if line.strip()]
        assert "EXIT=0" in lines, after
        exit_at = lines.index("EXIT=0")
        # the last final answer is what massgen printed last, once the app had closed,
        # then where the session was saved
        assert exit_at >= 2 and lines[exit_at - 2].startswith(FINAL_TEXT), after
        assert lines[exit_at - 1].startswith("massgen: session saved: "), after
        assert "Final answer · winner" not in after  # the app's screen is gone
        assert "Traceback" not in after
    finally:
        tmux.kill()
    presentations = [r for r in provider.requests if not r.body.get("tools")]
    assert len(presentations) == 2 and len(provider.requests) == 14
    questions = " ".join(str(r.body["messages"]) for r in provider.requests[7:])
    assert "quick follow-up" in questions
