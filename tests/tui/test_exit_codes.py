"""``massgen`` in a real pseudo-terminal: the app's exit codes (massgen/exitcodes.py), what
reaches stderr when it crashes, what the session records, and the final answer printed on
quit with its control characters made visible.

Each test starts ``python -m massgen`` on a pty (so it opens the terminal app, as for a
user) against the fake Chat Completions server and presses keys by writing to the pty.
Textual draws on stderr, so stdout and stderr are both the pty; what massgen prints after
the app closes is what follows the app leaving the alternate screen.
"""

from __future__ import annotations

import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator
from fcntl import ioctl
from pathlib import Path
from typing import Any

import pytest

from massgen.sessions import store
from tests.fakes.chat_server import CoordinationBrain, FakeChatServer, Reply
from tests.tui.test_terminal import clean_env

CTRL_Q = b"\x11"
ANSI = re.compile(
    rb"\x1b\[[0-9;?<=>]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b."
)


class Session:
    """``massgen ARGS`` on a pty of ``size``; output collected by a thread."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path, size=(120, 40)) -> None:
        master, slave = pty.openpty()
        ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
        self.proc = subprocess.Popen(
            args,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        os.close(slave)
        self.master = master
        self.output = bytearray()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            self.output += data

    def text(self) -> str:
        """Everything written to the terminal, escape sequences removed."""
        return ANSI.sub(b"", bytes(self.output)).decode("utf-8", "replace")

    def press(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def wait_for(self, condition: Callable[[], bool], what: str, limit: float = 30.0) -> None:
        deadline = time.monotonic() + limit
        while not condition():
            if self.proc.poll() is not None:
                pytest.fail(
                    f"massgen exited ({self.proc.returncode}) waiting for {what}:\n{self.stderr()}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}; stderr:\n{self.stderr()}")
            time.sleep(0.05)

    def exit_code(self, limit: float = 30.0) -> int:
        try:
            code = self.proc.wait(timeout=limit)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        self.reader.join(timeout=5)
        os.close(self.master)
        return code

    def stderr(self) -> str:
        """What was printed once the app had left the alternate screen (the screen text
        while it is still up)."""
        raw = bytes(self.output)
        after = raw.rsplit(b"\x1b[?1049l", 1)[-1] if b"\x1b[?1049l" in raw else raw
        return ANSI.sub(b"", after).decode("utf-8", "replace").replace("\r\n", "\n")


STARTED: list[Session] = []


@pytest.fixture
def work(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "work"
    path.mkdir()
    yield path
    while STARTED:  # a failed test leaves no massgen running
        session = STARTED.pop()
        if session.proc.poll() is None:
            session.proc.kill()
            session.proc.wait(timeout=10)


def start(
    tmp_path: Path, work: Path, server: FakeChatServer, *extra: str, code: str = ""
) -> Session:
    env = clean_env(tmp_path, server)
    env["MASSGEN_LOG_DIR"] = str(tmp_path / "sessions")
    cli = ["-c", "three_agents_local_server", *extra]
    if code:  # run massgen from a wrapper that first does ``code`` (a fault to inject)
        args = [
            sys.executable,
            "-c",
            f"{code}\nimport sys\nfrom massgen.cli import main\nsys.argv = ['massgen', *{cli!r}]\nmain()",
        ]
    else:
        args = [sys.executable, "-m", "massgen", *cli]
    session = Session(args, env, work)
    STARTED.append(session)
    return session


def summary(tmp_path: Path) -> dict[str, Any]:
    (session,) = store.session_dirs(tmp_path / "sessions")
    return json.loads((session / store.SUMMARY).read_text())


def part_status(tmp_path: Path) -> str | None:
    dirs = store.session_dirs(tmp_path / "sessions") if (tmp_path / "sessions").exists() else []
    if not dirs or not (dirs[0] / store.SUMMARY).exists():
        return None
    try:
        parts = json.loads((dirs[0] / store.SUMMARY).read_text()).get("parts") or []
    except ValueError:
        return None
    return parts[-1].get("status") if parts else None


@pytest.fixture
def slow() -> Iterator[FakeChatServer]:
    with FakeChatServer(ttft=60) as server:
        yield server


def test_quitting_mid_run_asks_then_exits_130_and_the_session_says_interrupted(
    tmp_path, work, slow
):
    run = start(tmp_path, work, slow, "Why is the sky blue?")
    run.wait_for(lambda: len(slow.requests) >= 3, "the three agents' first calls")
    run.press(CTRL_Q)
    run.wait_for(lambda: "Stop it and quit?" in run.text(), "the question")
    run.press(b"y")
    assert run.exit_code() == 130
    recorded = summary(tmp_path)
    assert recorded["exit_status"] == 130 and recorded["status"] == "interrupted"
    assert "Traceback" not in run.stderr()


def test_a_run_whose_agents_all_fail_exits_2(tmp_path, work):
    with FakeChatServer(brain=lambda body: Reply(status=401, error_message="bad key")) as server:
        run = start(tmp_path, work, server, "Why is the sky blue?")
        run.wait_for(lambda: part_status(tmp_path) == "failed", "the run to fail")
        run.press(CTRL_Q)  # nothing runs: quits at once
        assert run.exit_code() == 2
    assert summary(tmp_path)["exit_status"] == 2
    assert "Traceback" not in run.stderr()


def test_a_run_that_times_out_exits_3(tmp_path, work, slow):
    run = start(tmp_path, work, slow, "--timeout", "1", "Why is the sky blue?")
    run.wait_for(lambda: part_status(tmp_path) == "timeout", "the run to time out")
    run.press(CTRL_Q)
    assert run.exit_code() == 3
    assert summary(tmp_path)["exit_status"] == 3


CRASH = """
from massgen.tui import scoreboard
draw = scoreboard.Scoreboard.draw
def broken(self, view):
    if view.answers:
        raise RuntimeError("boom in the scoreboard")
    draw(self, view)
scoreboard.Scoreboard.draw = broken
"""


@pytest.mark.parametrize("debug", [False, True])
def test_a_crash_of_the_app_is_one_line_exit_2_and_recorded(tmp_path, work, debug):
    # the presentation is slow: the app crashes (at the first answer) while the run goes
    with FakeChatServer(ttft=0.3) as server:
        extra = ["--debug"] if debug else []
        run = start(tmp_path, work, server, *extra, "Why is the sky blue?", code=CRASH)
        code = run.exit_code()
    stderr = run.stderr()
    errors = [line for line in stderr.splitlines() if line.startswith("massgen: error:")]
    assert code == 2, stderr  # with --debug too: the traceback is added, the code stays
    if debug:
        assert "Traceback" in stderr and "boom in the scoreboard" in stderr
    else:
        assert errors == [
            "massgen: error: RuntimeError: boom in the scoreboard (run with --debug for details)"
        ], stderr
        assert "Traceback" not in stderr
    recorded = summary(tmp_path)
    assert recorded["exit_status"] == 2 and recorded["status"] in ("cancelled", "interrupted")


def test_the_final_answer_printed_on_quit_cannot_drive_the_terminal(tmp_path, work):
    brain = CoordinationBrain()
    evil = "Paris \x1b]0;pwned\x07 \x1b[2J done"

    def answer(body: dict[str, Any]) -> Reply:
        return brain(body) if body.get("tools") else Reply(text=evil)

    with FakeChatServer(brain=answer) as server:
        run = start(tmp_path, work, server, "Capital?")
        run.wait_for(lambda: part_status(tmp_path) == "ok", "the run to finish")
        time.sleep(0.5)
        run.press(CTRL_Q)
        assert run.exit_code() == 0
    raw = bytes(run.output)
    assert b"\x1b]0;pwned" not in raw and b"\x1b[2J done" not in raw
    assert "Paris \\x1b]0;pwned\\x07 \\x1b[2J done" in run.stderr()  # printed after the app
