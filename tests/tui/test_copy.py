"""Copying and screenshots: Ctrl+C copies a mouse selection (and cancels the run only when
nothing is selected), ``s`` saves an SVG of the screen into the session's folder (the
current directory without a session log), and in a real tmux ``y`` puts the final answer in
tmux's clipboard through OSC 52, or says what tmux needs."""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from massgen.config.loader import load_config_dict
from massgen.sessions.recorder import SessionRecorder
from massgen.tui.app import MassGenApp
from tests.tui.support import CONFIG, cards, finished, gated_team, quick_team, settled, until

SOME_CONFIG = load_config_dict(
    {"agents": [{"id": "a1", "backend": {"type": "vllm", "model": "m", "base_url": "http://x"}}]}
).config
REPO = Path(__file__).resolve().parents[2]


def toasts(app: MassGenApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def test_ctrl_c_copies_a_mouse_selection_and_cancels_only_without_one(monkeypatch):
    monkeypatch.delenv("TMUX", raising=False)
    gate = asyncio.Event()
    app = MassGenApp(gated_team(gate, [], []), CONFIG, question="Q")
    async with app.run_test(size=(120, 40)) as pilot:  # cards 43 columns wide
        await until(pilot, lambda: len(cards(app)) == 2 and app.running)
        await settled(pilot)
        card = cards(app)[0]  # a drag across its first line of text (below the status)
        top = card.content_region.y - card.region.y + card.HEAD_ROWS
        await pilot.hover(card, offset=(2, top))  # the mouse comes over the card first
        at = (card.region.x + 2, card.region.y + top)
        await until(pilot, lambda: app.screen.get_widget_and_offset_at(*at)[1] is not None)
        await pilot.mouse_down(card, offset=(2, top))
        await pilot.hover(card, offset=(38, top))
        await pilot.mouse_up(card, offset=(38, top))
        assert app.screen.get_selected_text() == "— turn 1: first answer —"
        marked = app.screen.get_component_rich_style("screen--selection").bgcolor
        line = card.render_line(card.HEAD_ROWS)  # the selection is drawn
        assert any("turn 1" in seg.text and seg.style.bgcolor == marked for seg in line)
        await pilot.press("ctrl+c")
        await until(pilot, lambda: app.clipboard == "— turn 1: first answer —")
        assert app.running  # the run goes on
        assert any(m.startswith("Selection sent to the terminal's clipboard") for m in toasts(app))
        app.screen.clear_selection()
        await pilot.press("ctrl+c")  # nothing selected: Ctrl+C cancels, as before
        await until(pilot, lambda: not app.running)
        assert app.last_status == "cancelled"
        gate.set()


async def test_s_saves_a_screenshot_into_the_session_folder(tmp_path: Path, monkeypatch):
    recorder = SessionRecorder(SOME_CONFIG, "test", log_dir=tmp_path / "logs")
    app = MassGenApp(quick_team("Paris, screenshotted."), CONFIG, question="Q", recorder=recorder)
    async with app.run_test(size=(100, 30)) as pilot:
        await finished(pilot)
        session = recorder.path
        assert session is not None
        await pilot.press("escape", "s")
        await until(pilot, lambda: list(session.glob("massgen-screenshot-*.svg")))
        (shot,) = session.glob("massgen-screenshot-*.svg")
        svg = shot.read_text()
        assert svg.startswith("<svg") and "screenshotted" in svg.replace("&#160;", " ")
        assert any(str(shot) in m for m in toasts(app))  # the toast names the file
        await pilot.press("s")  # a second one in the same second gets its own name
        await until(pilot, lambda: len(list(session.glob("massgen-screenshot-*.svg"))) == 2)
    recorder.close(0)
    monkeypatch.chdir(tmp_path)  # no session log: the current directory
    app = MassGenApp(quick_team(), CONFIG)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("escape", "s")
        await until(pilot, lambda: list(tmp_path.glob("massgen-screenshot-*.svg")))


APP_SCRIPT = """
import sys
sys.path.insert(0, {repo!r})
from massgen.tui.app import MassGenApp
from tests.tui.support import CONFIG, quick_team
MassGenApp(quick_team({final!r}), CONFIG, question="Q").run()
"""
FINAL = "Copied through tmux: OSC-52-WORKS"


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
@pytest.mark.serial  # a real terminal's timing: alone, after the parallel tests
@pytest.mark.parametrize("setting", ["on", "external"])
def test_y_in_tmux_copies_the_final_answer_as_osc_52(tmp_path: Path, setting: str) -> None:
    """tmux with ``set-clipboard on`` takes OSC 52 into its paste buffer (and passes it on to
    the terminal outside); with ``external`` (its default) it keeps it out, and the app says
    how to change that."""
    script = tmp_path / "app.py"
    script.write_text(APP_SCRIPT.format(repo=str(REPO), final=FINAL))
    socket = tmp_path / "tmux.sock"
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE", "DISPLAY")}
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path), TERM="xterm-256color")
    env.update(LANG="C.UTF-8", LC_ALL="C.UTF-8")

    def tmux(*args: str) -> str:
        done = subprocess.run(
            ["tmux", "-u", "-f", os.devnull, "-S", str(socket), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return done.stdout

    def wait_for(text: str) -> str:
        deadline = time.monotonic() + 40
        while text not in (screen := tmux("capture-pane", "-p", "-t", "app")):
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {text!r}; the terminal shows:\n{screen}")
            time.sleep(0.1)
        return screen

    command = f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}; sleep 30"
    tmux("new-session", "-d", "-s", "app", "-x", "120", "-y", "40", command)
    try:
        tmux("set-option", "-g", "set-clipboard", setting)
        wait_for("OSC-52-WORKS")
        wait_for("Ask a follow-up")
        tmux("send-keys", "-t", "app", "Escape")
        wait_for(" i type ")  # keys mode: y is a key, not a letter of a question
        tmux("send-keys", "-t", "app", "y")
        if setting == "on":
            deadline = time.monotonic() + 20
            while FINAL not in tmux("show-buffer"):
                if time.monotonic() > deadline:
                    pytest.fail("the final answer never reached tmux's paste buffer")
                time.sleep(0.1)
            wait_for("sent through tmux (OSC 52)")
        else:
            screen = wait_for("tmux keeps it out")
            assert "'set -g set-" in screen and "~/.tmux.conf" in screen  # what to change
            assert FINAL not in tmux("show-buffer")
    finally:
        tmux("kill-server")
