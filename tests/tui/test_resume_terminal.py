"""``massgen --resume`` in a real terminal (tmux): the list of recorded sessions comes up,
Enter picks one, the app opens with its question and answer on screen, and the next
question goes to the model with them."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.chat_server import FakeChatServer
from tests.tui.test_terminal import SIZE, Tmux, clean_env, pytestmark  # noqa: F401 (tmux needed)

DEADLINE_S = 40.0


@pytest.fixture
def provider() -> Iterator[FakeChatServer]:
    with FakeChatServer(ttft=0.05) as server:
        yield server


def test_resume_picks_a_session_in_a_list_and_goes_on_with_it(
    tmp_path: Path, provider: FakeChatServer
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    env = clean_env(tmp_path, provider)
    base = [sys.executable, "-m", "massgen", "-c", "three_agents_local_server"]
    for question in ("Name a zebra species", "Name a river"):
        recorded = subprocess.run(
            [*base, "--ui", "plain", question],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert recorded.returncode == 0, recorded.stderr
        if question.startswith("Name a zebra"):
            zebra = recorded.stdout.strip()
    provider.reset()

    massgen = shlex.join([sys.executable, "-m", "massgen", "--resume"])
    command = f"cd {shlex.quote(str(work))} && {massgen}; echo EXIT=$?; sleep {DEADLINE_S:.0f}"
    tmux = Tmux(tmp_path / "tmux.sock", env)
    deadline = time.monotonic() + DEADLINE_S
    try:
        tmux.start(command, SIZE)
        listing = tmux.wait_for(
            lambda s: "Sessions · 2" in s and "Name a zebra species" in s, "the list", deadline
        )
        lines = listing.splitlines()
        river = next(i for i, line in enumerate(lines) if "Name a river" in line)
        assert river < next(i for i, line in enumerate(lines) if "Name a zebra" in line)
        assert "1 part" in lines[river] and " ok " in lines[river]
        tmux.keys("Down")
        tmux.keys("Enter")
        opened = tmux.wait_for(
            lambda s: "Q: Name a zebra species" in s and "Ask a follow-up" in s,
            "the app with the picked conversation",
            deadline,
        )
        assert "Sessions ·" not in opened and "Traceback" not in opened
        tmux.keys("-l", "How fast does it run?")
        tmux.keys("Enter")
        screen = tmux.wait_for(
            lambda s: "Final answer: How fast does it run?" in s, "the follow-up's answer", deadline
        )
        assert "Q: Name a zebra species" in screen  # still on screen above the run
        tmux.keys("C-q")
        after = tmux.wait_for(lambda s: "EXIT=" in s, "massgen to exit", deadline)
        assert "EXIT=0" in after, after
    finally:
        tmux.kill()
    prompt = json.dumps(provider.requests[0].body["messages"])
    assert "Name a zebra species" in prompt and zebra in prompt
    assert "How fast does it run?" in prompt and "Name a river" not in prompt


def test_resume_with_no_session_recorded_says_so_in_one_line(
    tmp_path: Path, provider: FakeChatServer
) -> None:
    massgen = shlex.join([sys.executable, "-m", "massgen", "--resume"])
    command = f"{massgen}; echo EXIT=$?; sleep {DEADLINE_S:.0f}"
    tmux = Tmux(tmp_path / "tmux.sock", clean_env(tmp_path, provider))
    try:
        tmux.start(command, SIZE)
        screen = tmux.wait_for(lambda s: "EXIT=" in s, "massgen to exit", time.monotonic() + 20)
    finally:
        tmux.kill()
    lines = [line for line in screen.splitlines() if line.strip()]
    assert lines[0].startswith("massgen: error: no sessions in "), screen
    assert lines[1] == "EXIT=1"
